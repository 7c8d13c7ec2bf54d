"""Run a 16x8 (int16 activations) model on an emulated board and print its cost.

    .venv/bin/python examples/int16/board.py [MODEL.h5] [--board mps2-an386] [--samples 10]

Converts the Keras model with TFLite's 16x8 scheme (calibration: 50 samples of uniform noise over
--random-range, default 0..255; int16 I/O), generates C, builds the bench firmware, runs it under QEMU
and prints: bit-exactness against LiteRT's reference kernels on --samples random int16 inputs, QEMU
instruction count per inference (-icount, deterministic), per-op instructions, arena and flash bytes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from edgeq.api import lower_tflite, model_manifest
from edgeq.targets.bench import latency, run_device
from edgeq.targets.select import target_for
from edgeq.targets.protocol import open_device
from edgeq.targets.boards import load_board
from edgeq.codegen.emit import generate
from edgeq.frontend.int16 import quantize_int16x8
from edgeq.frontend.load import load_model
from edgeq.frontend.data import load_calibration, loaded_inputs
from edgeq.quality.references import LiteRT


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="../shared/models/mlperf-tiny/resnet8.h5")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--random-range", default="0,255", help="LO,HI of the uniform calibration noise")
    a = ap.parse_args()
    lo, hi = (float(v) for v in a.random_range.split(","))
    loaded = load_model(a.model)
    cal = load_calibration("random", loaded_inputs(loaded), random_range=(lo, hi), random_count=50)
    tfl = quantize_int16x8(loaded, cal)
    board = load_board(a.board)
    g = lower_tflite(tfl, "litert", Path(a.model).stem, "dsp" if board.cpu.dsp else "portable")
    rng = np.random.default_rng(1)
    inputs = [[rng.integers(-32768, 32768, g.tensor(t).shape).astype(np.int16) for t in g.inputs]
              for _ in range(a.samples)]
    with tempfile.TemporaryDirectory() as tmp:
        lib = generate(g, Path(tmp) / "model", prefix="model", manifest=model_manifest(tfl, g, "litert"))
        target = target_for(board)
        build = target.build(lib.dir, Path(tmp) / "fw")
        with target.session(build.elf) as port, open_device(port, timeout=5.0, invoke_timeout=300.0) as dev:
            run = run_device(dev, sha256=build.model_sha256, inputs=inputs, runs=3, profile=True)
    ref = LiteRT(tfl)
    exact = sum(all(np.frombuffer(o, w.dtype).tobytes() == w.tobytes() for o, w in zip(outs, ref.run(x)))
                for x, outs in zip(inputs, run.outputs))
    lat = latency(board, run.counts, None)
    print(f"{a.model} (16x8) on {board.name}: {exact}/{len(inputs)} outputs bit-exact with LiteRT")
    print(f"{lat.unit}: {lat.median:,.0f} per inference")
    m = build.memory
    print(f"arena {m.arena_bytes:,} B, weights + constants {m.weights_bytes:,} B, "
          f"code {m.code_bytes:,} B, stack high-water {run.stack_used} B")
    for op, c in zip([o for o in g.ops if o.lowered is not None], run.profile):
        print(f"  {op.id:3d} {op.kind:18s} {op.lowered.kernel:28s} {board.counter_to_unit(c):14,.0f}")


if __name__ == "__main__":
    main()
