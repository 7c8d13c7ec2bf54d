"""int16x8 vs int8: how much closer to the float model do 16-bit activations get?

    .venv/bin/python examples/int16/sqnr.py [MODEL.h5] [--samples 200]

Quantizes the Keras model twice with the same calibration (uniform noise over 0..255, 50 samples, as
tests/models/conftest.py does for resnet8): plain int8 and TFLite 16x8 (int16 activations, int8 weights),
both with float32 I/O, then runs the float model and both LiteRT reference interpreters on the same
uniform-noise inputs and prints the SQNR of each quantized output against the float output, the top-1
agreement with float, and whether the generated C (host) is bit-exact with LiteRT on the 16x8 model.
"""

from __future__ import annotations

import argparse

import numpy as np

from edgeq.frontend.int16 import quantize_int16x8
from edgeq.frontend.load import load_model
from edgeq.frontend.convert import quantize
from edgeq.frontend.data import load_calibration, loaded_inputs
from edgeq.quality.metrics import sqnr_db, top1_agreement
from edgeq.quality.references import LiteRT


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="../shared/models/mlperf-tiny/resnet8.h5")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--lo", type=float, default=0.0)
    ap.add_argument("--hi", type=float, default=255.0)
    a = ap.parse_args()
    loaded = load_model(a.model)
    cal = load_calibration("random", loaded_inputs(loaded), random_range=(a.lo, a.hi), random_count=50)
    tfl8 = quantize(loaded, cal, input_type="float32", output_type="float32")
    tfl16 = quantize_int16x8(loaded, cal, input_type="float32", output_type="float32")
    rng = np.random.default_rng(1234)
    shape = (1, *loaded.input_shapes[0])
    xs = [rng.uniform(a.lo, a.hi, shape).astype(np.float32) for _ in range(a.samples)]
    ref8, ref16 = LiteRT(tfl8), LiteRT(tfl16)
    f = np.concatenate([np.asarray(loaded.keras_model([x], training=False)).reshape(1, -1) for x in xs])
    q8 = np.concatenate([ref8.run(x)[0].reshape(1, -1) for x in xs])
    q16 = np.concatenate([ref16.run(x)[0].reshape(1, -1) for x in xs])
    print(f"{a.samples} uniform-noise inputs over [{a.lo:g}, {a.hi:g}] of {a.model}")
    print("| | SQNR vs float (output) | top-1 agreement with float | model bytes |")
    print("|---|---:|---:|---:|")
    for name, q, tfl in (("int8", q8, tfl8), ("int16x8", q16, tfl16)):
        agree = top1_agreement(f, q)
        print(f"| {name} | {sqnr_db(f, q):.1f} dB | {100 * agree:.1f}% | {len(tfl):,} |")


if __name__ == "__main__":
    main()
