"""int8 vs int8x4 (4-bit weights, issue 12 §1): sizes and instructions on mps2-an386, accuracy on digits.

    PYTHONPATH=. .venv/bin/python tools/int8x4_table.py [--out DIR] [--json F] [--skip-device]

MLPerf Tiny resnet8 and kws_dscnn, calibrated on 50 random samples over the reference models' input ranges
(as tests/models/conftest.py): int8 by edgeq's converter path (``quantize_model``), int8x4 by
``quantize_int8x4`` on the same samples; each built for mps2-an386 (``convert_and_flash``: 5 samples
validated byte for byte on the emulated Cortex-M4, one timed run, instructions counted by QEMU): .tflite
bytes, constant data (weights + constants, as the build counts them), whole-image flash, arena, instructions.

Digits (examples/digits/train.py's split: 1347 training, 450 held-out; calibration: the first 200 training
digits, minmax): digits_cnn (examples/digits) and dw_bn (tools/qat_table.py's depthwise-separable net), the
float Keras model, int8 PTQ and int8x4 PTQ in LiteRT's reference kernels on the 450 held-out digits, and
the int8x4 model's generated C compared byte for byte with LiteRT on all 450 (``validate(c_host=True)``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
sys.path.insert(0, str(ROOT / "examples" / "digits"))
sys.path.insert(0, str(ROOT / "tools"))


def mlperf_rows(out: Path, device: bool) -> list[dict]:
    from edgeq.flows.convert_and_flash import convert_and_flash
    from edgeq.flows.quantize import quantize_model
    from edgeq.frontend.data import load_calibration, loaded_inputs
    from edgeq.frontend.int4 import quantize_int8x4
    from edgeq.frontend.load import load_model

    rows = []
    for name, file, rng in (("resnet8", "resnet8.h5", (0.0, 255.0)), ("kws_dscnn", "kws_dscnn.keras", (-123.0, 26.0))):
        loaded = load_model(MLPERF / file)
        cal = load_calibration("random", loaded_inputs(loaded), random_range=rng, random_count=50)
        models = {"int8": quantize_model(MLPERF / file, "random", random_range=rng, random_count=50).tflite,
                  "int8x4": quantize_int8x4(loaded, cal)}
        for scheme, data in models.items():
            path = out / f"{name}-{scheme}.tflite"
            path.write_bytes(data)
            row = {"model": name, "scheme": scheme, "tflite_bytes": len(data)}
            if device:
                r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=5, out_dir=out / path.stem).report
                m = r["memory"]
                row.update(constants=m["weights_bytes"], flash=m["flash_bytes"], arena=m["arena_bytes"],
                           instructions=int(r["latency"]["median"]), bit_exact=r["validation"]["bit_exact"])
            rows.append(row)
            print(row, file=sys.stderr)
    return rows


def digits_rows(out: Path) -> list[dict]:
    from train import load_digits_split
    from qat_table import dw_bn_model

    from edgeq.flows.quantize import quantize_model
    from edgeq.frontend.data import Samples, load_calibration, loaded_inputs
    from edgeq.frontend.int4 import quantize_int8x4
    from edgeq.frontend.load import load_model
    from edgeq.quality.validate import validate

    (xtr, ytr), (xte, yte) = load_digits_split(0)
    np.save(out / "calib.npy", xtr[:200])
    dw_bn_model(xtr, ytr).save(out / "dw_bn.keras")
    test = Samples("digits test", [xte], yte)
    rows = []
    for name, path in (("digits_cnn", ROOT / "examples" / "digits" / "digits_cnn.keras"), ("dw_bn", out / "dw_bn.keras")):
        loaded = load_model(path)
        row = {"model": name, "float": float(np.mean(loaded.keras_model.predict(xte, verbose=0).argmax(-1) == yte))}
        row["int8"] = validate(quantize_model(path, str(out / "calib.npy")).tflite, data=test,
                               samples=450).accuracy["quantized"]
        cal = load_calibration(str(out / "calib.npy"), loaded_inputs(loaded))
        rep = validate(quantize_int8x4(loaded, cal), data=test, c_host=True, samples=450)
        row.update(int8x4=rep.accuracy["quantized"], c_bit_exact=rep.c_host["litert"].bit_exact)
        rows.append(row)
        print(row, file=sys.stderr)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the models (default: a temporary one)")
    ap.add_argument("--json")
    ap.add_argument("--skip-device", action="store_true", help="sizes of the .tflite files only, no build")
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="edgeq-int8x4-table-"))
    out.mkdir(parents=True, exist_ok=True)
    ml = mlperf_rows(out, not a.skip_device)
    dg = digits_rows(out)
    print("| model | scheme | .tflite | constants | flash | arena | instructions | bit-exact |")
    print("|---|---|---|---|---|---|---|---|")
    for r in ml:
        if "flash" in r:
            print(f"| {r['model']} | {r['scheme']} | {r['tflite_bytes']:,} | {r['constants']:,} | {r['flash']:,} "
                  f"| {r['arena']:,} | {r['instructions']:,} | {'yes' if r['bit_exact'] else 'NO'} |")
        else:
            print(f"| {r['model']} | {r['scheme']} | {r['tflite_bytes']:,} | - | - | - | - | - |")
    for name in ("resnet8", "kws_dscnn"):
        r8, r4 = (next(r for r in ml if r["model"] == name and r["scheme"] == s) for s in ("int8", "int8x4"))
        if "flash" in r8:
            print(f"\n{name} int8x4 / int8: constants {r4['constants'] / r8['constants']:.3f}x, instructions "
                  f"{r4['instructions'] / r8['instructions']:.3f}x, .tflite {r4['tflite_bytes'] / r8['tflite_bytes']:.3f}x")
    print("\n| digits model | float | int8 PTQ | int8x4 PTQ | int8x4 C bit-exact (450) |")
    print("|---|---|---|---|---|")
    for r in dg:
        print(f"| {r['model']} | {100 * r['float']:.2f}% | {100 * r['int8']:.2f}% | {100 * r['int8x4']:.2f}% "
              f"| {'yes' if r['c_bit_exact'] else 'NO'} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"mlperf": ml, "digits": dg}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
