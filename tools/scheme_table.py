"""Flash, RAM and speed of float32, weight-only int8 and int8 on a board (docs/weight_only.md's table).

    .venv/bin/python tools/scheme_table.py [--board mps2-an386] [--models resnet8,kws_dscnn] [--json F]
    .venv/bin/python tools/scheme_table.py --soft-float     # weight-only vs int8 on mps2-an385 (no FPU)
    .venv/bin/python tools/scheme_table.py --hybrid         # a dynamic-range model: edgeq's form vs LiteRT's
    .venv/bin/python tools/scheme_table.py --trace          # weight-only models: which ops differ from LiteRT

Each (model, scheme) goes through ``convert_and_flash`` (quantize, validate, generate, build, run on the
board, outputs checked against LiteRT on the device): float32 and weight-only from the Keras model in
../shared/models/mlperf-tiny (weight-only: ai-edge-quantizer, per-channel int8 weights), int8 from the
MLPerf Tiny int8 .tflite there (passed through). Columns: the image's flash bytes (whole image, and the
model's constant data: weights, biases, scales, params), RAM for the model (arena + measured stack
high-water mark) and the median instructions per inference (QEMU -icount, as the bench reports them).
``--soft-float`` builds kws_dscnn's weight-only model for mps2-an385 (Cortex-M3, no FPU) with
``allow_soft_float`` and its int8 model, and prints the instruction ratio quoted by the refusal
(edgeq.frontend.islands.SOFT_FLOAT_RATIO).
``--hybrid`` converts examples/digits/digits_cnn.keras to a dynamic-range .tflite (the TFLite converter with
Optimize.DEFAULT and no representative data) and compares, on the 450 held-out digits, LiteRT running it with
its hybrid kernels against LiteRT running the weight-only form edgeq deploys (quality.compare.float_error's
relative difference, and top-1 agreement).
``--trace`` quantizes each model weight-only, runs the generated C on the host and LiteRT's reference on a few
random inputs and prints, per op, how many output elements of the C differ from LiteRT's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models" / "mlperf-tiny"
KERAS = {"resnet8": "resnet8.h5", "kws_dscnn": "kws_dscnn.keras"}
INT8 = {"resnet8": "resnet8_int8.tflite", "kws_dscnn": "kws_dscnn_int8.tflite"}


def measure(model: str, scheme: str, board: str, out: Path, runs: int, allow_soft_float: bool = False) -> dict:
    from edgeq.flows.convert_and_flash import convert_and_flash

    path = MODELS / (INT8[model] if scheme == "int8" else KERAS[model])
    r = convert_and_flash(path, board_name=board, scheme="int8" if scheme == "int8" else scheme, runs=runs,
                          samples=2, out_dir=out / f"{model}-{scheme}-{board}", allow_soft_float=allow_soft_float)
    m = r.memory
    return {"model": model, "scheme": r.model.scheme, "board": board, "flash_bytes": m.flash_bytes,
            "weights_bytes": m.weights_bytes, "arena_bytes": m.arena_bytes, "stack_bytes": m.stack_bytes,
            "ram_bytes": m.arena_bytes + (m.stack_bytes or 0), "instructions": r.latency.median,
            "unit": r.latency.unit, "device_ok": r.ok}


def hybrid_difference(out: Path) -> None:
    import numpy as np
    import tensorflow as tf

    from edgeq.flows.quantize import quantize_model
    from edgeq.frontend.runtime import import_keras
    from edgeq.quality.compare import float_error
    from edgeq.quality.references import LiteRT

    converter = tf.lite.TFLiteConverter.from_keras_model(
        import_keras().models.load_model(ROOT / "examples" / "digits" / "digits_cnn.keras"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "digits_hybrid.tflite"
    path.write_bytes(converter.convert())
    deployed = quantize_model(path, None)
    x = np.load(ROOT / "examples" / "digits" / "test.npz")["x"].astype(np.float32)
    ours, hybrid = LiteRT(deployed.tflite), LiteRT(path.read_bytes())
    errs, agree = [], 0
    for k in range(len(x)):
        a, b = ours.run([x[k:k + 1]])[0], hybrid.run([x[k:k + 1]])[0]
        errs.append(float_error(a, b)[1])
        agree += int(np.argmax(a) == np.argmax(b))
    print(f"digits_cnn dynamic-range, {len(x)} samples: weight-only form vs LiteRT hybrid kernels: relative "
          f"difference max {max(errs):.3g}, median {float(np.median(errs)):.3g}; top-1 agreement {agree}/{len(x)}")


def trace_differences(models: list[str], samples: int = 3) -> None:
    import numpy as np

    from edgeq.codegen.emit import generate
    from edgeq.flows.quantize import quantize_model
    from edgeq.passes.pipeline import lower_tflite
    from edgeq.quality.references import LiteRT
    from edgeq.targets.host import HostModel

    for model in models:
        wo = quantize_model(MODELS / KERAS[model], None, scheme="weight-only").tflite
        g = lower_tflite(wo)
        host = HostModel(generate(g, Path(tempfile.mkdtemp(prefix="edgeq-trace-")) / "lib"))
        ref = LiteRT(wo, preserve_all=True)
        rng = np.random.default_rng(1)
        shape = ref.interp.get_input_details()[0]["shape"]
        diffs = {k: 0 for k in range(len(g.ops))}
        for _ in range(samples):
            x = rng.uniform(0, 1, shape).astype(np.float32)
            _, seen = host.trace([x])
            ref.run([x])
            for k, op in enumerate(g.ops):
                theirs = ref.interp.get_tensor(op.outputs[0]).reshape(-1)
                diffs[k] += int(np.sum(np.frombuffer(seen[k], np.float32) != theirs))
        print(f"{model} weight-only, {samples} random inputs: elements differing from LiteRT per op: "
              + ", ".join(f"{k} {g.ops[k].kind} {n}" for k, n in diffs.items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--models", default="resnet8,kws_dscnn")
    ap.add_argument("--schemes", default="float32,weight-only,int8")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--soft-float", action="store_true", help="kws_dscnn weight-only vs int8 on mps2-an385")
    ap.add_argument("--hybrid", action="store_true", help="a dynamic-range model vs the weight-only form")
    ap.add_argument("--trace", action="store_true", help="weight-only models: per-op differences from LiteRT")
    ap.add_argument("--out", help="build folder (default: a temporary one)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="edgeq-scheme-table-"))
    if a.hybrid:
        hybrid_difference(out)
        return 0
    if a.trace:
        trace_differences(a.models.split(","))
        return 0
    rows = []
    if a.soft_float:
        for scheme in ("weight-only", "int8"):
            rows.append(measure("kws_dscnn", scheme, "mps2-an385", out, 1, allow_soft_float=True))
    else:
        for model in a.models.split(","):
            for scheme in a.schemes.split(","):
                rows.append(measure(model, scheme, a.board, out, a.runs))
    print(f"{'model':10} {'scheme':12} {'board':11} {'flash B':>9} {'weights B':>10} {'arena B':>9} {'stack B':>8} "
          f"{'RAM B':>8} {'instructions':>13} device")
    for r in rows:
        print(f"{r['model']:10} {r['scheme']:12} {r['board']:11} {r['flash_bytes']:9,} {r['weights_bytes']:10,} "
              f"{r['arena_bytes']:9,} {r['stack_bytes'] or 0:8,} {r['ram_bytes']:8,} {r['instructions']:13,.0f} "
              f"{'ok' if r['device_ok'] else 'MISMATCH'}")
    if a.soft_float:
        print(f"soft-float cost: weight-only / int8 instructions on mps2-an385 = "
              f"{rows[0]['instructions'] / rows[1]['instructions']:.1f}x")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["device_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
