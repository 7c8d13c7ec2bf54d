"""The docs/sub8.md accuracy table: what training recovers below 8 bits, on scikit-learn's digits (real labels).

    .venv/bin/python tools/sub8_table.py [--out DIR] [--json F] [--models digits_cnn,dw_bn]   # about 4 min

Data: examples/digits/train.py's split (1347 training, 450 held-out digits, seed 0); PTQ calibrated on the
first 200 training digits with minmax. Models: ``digits_cnn`` (examples/digits) and ``dw_bn``, the
depthwise-separable net with BatchNormalization and ReLU6 of tools/qat_table.py (trained here, 30 epochs),
the case where 4-bit weights and clustering cost accuracy after training.

Rows, every accuracy measured on the 450 held-out digits in LiteRT's reference kernels, the generated C
checked byte for byte against LiteRT on all 450 (``validate(c_host=True)``) for the QAT / fine-tuned rows:

* float (Keras), int8 PTQ, int8x4 PTQ (``quantize_model(scheme="int8x4")``);
* int8x4 QAT: ``qat_model(scheme="int8x4")`` (5 epochs, lr 1e-3 cosine-annealed, 4-bit fake-quantized
  weights and learned ranges), then ``quantize_model(qat, None, scheme="int8x4")``: its learned ranges and
  trained 4-bit weights in the int8x4 model;
* c16 PTQ (``quantize_model(clusters=16)``: 16 k-means values per layer, then int8) and c16 fine-tuned
  (``qat_model(clusters=16)``: the same clustering, assignment fixed, centroids and ranges trained, 5 epochs
  at 1e-3, then ``quantize_model(qat, None, clusters=16)``).
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
DIGITS = ROOT / "examples" / "digits"
sys.path.insert(0, str(DIGITS))
sys.path.insert(0, str(ROOT / "tools"))

EPOCHS, LR = 5, 1e-3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the models (default: a temporary one)")
    ap.add_argument("--json")
    ap.add_argument("--models", default="digits_cnn,dw_bn")
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from qat_table import dw_bn_model
    from train import load_digits_split

    from edgeq.flows.qat import qat_model
    from edgeq.flows.quantize import quantize_model
    from edgeq.frontend.data import Samples
    from edgeq.frontend.load import load_model
    from edgeq.quality.validate import validate

    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="edgeq-sub8-table-"))
    out.mkdir(parents=True, exist_ok=True)
    (xtr, ytr), (xte, yte) = load_digits_split(0)
    np.savez(out / "train.npz", x=xtr, y=ytr)
    np.savez(out / "test.npz", x=xte, y=yte)
    np.save(out / "calib.npy", xtr[:200])
    test = Samples("digits test", [xte], yte)
    paths = {"digits_cnn": DIGITS / "digits_cnn.keras", "dw_bn": out / "dw_bn.keras"}
    models = a.models.split(",")
    if "dw_bn" in models:
        dw_bn_model(xtr, ytr).save(paths["dw_bn"])

    def litert(tflite: bytes, c_host: bool = False) -> tuple[float, str]:
        rep = validate(tflite, data=test, samples=len(xte), c_host=c_host)
        exact = "-" if not c_host else ("yes, 450/450" if rep.c_host["litert"].bit_exact else "NO")
        return rep.accuracy["quantized"], exact

    rows = []
    for name in models:
        path = paths[name]
        keras_model = load_model(path).keras_model
        row = {"model": name, "float": float(np.mean(keras_model.predict(xte, verbose=0).argmax(-1) == yte))}
        row["int8"], _ = litert(quantize_model(path, str(out / "calib.npy")).tflite)
        row["int8x4_ptq"], _ = litert(quantize_model(path, str(out / "calib.npy"), scheme="int8x4").tflite)
        row["c16_ptq"], _ = litert(quantize_model(path, str(out / "calib.npy"), clusters=16).tflite)
        for key, kw, qkw in (("int8x4_qat", {"scheme": "int8x4"}, {"scheme": "int8x4"}),
                             ("c16_tuned", {"clusters": 16}, {"clusters": 16})):
            r = qat_model(path, out / "train.npz", val=out / "test.npz", epochs=EPOCHS, lr=LR, calibration="minmax",
                          progress=lambda e: print(f"  {name} {key} epoch {e.epoch}/{e.epochs} loss {e.loss:.4f}",
                                                   file=sys.stderr), **kw)
            qat_path = out / f"{name}-{key}.keras"
            qat_path.write_bytes(r.keras)
            row[key], row[f"{key}_c_exact"] = litert(quantize_model(qat_path, None, **qkw).tflite, c_host=True)
        rows.append(row)
        print(row, file=sys.stderr)
    print("| model | float | int8 PTQ | int8x4 PTQ | int8x4 QAT | c16 PTQ | c16 fine-tuned "
          "| C bit-exact (QAT, c16 tuned) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['model']} | {100 * r['float']:.2f}% | {100 * r['int8']:.2f}% | {100 * r['int8x4_ptq']:.2f}% "
              f"| {100 * r['int8x4_qat']:.2f}% | {100 * r['c16_ptq']:.2f}% | {100 * r['c16_tuned']:.2f}% "
              f"| {r['int8x4_qat_c_exact']}, {r['c16_tuned_c_exact']} |")
    print(f"\nQAT and c16 fine-tuning: {EPOCHS} epochs on the 1347 training digits, Adam lr {LR:g} cosine-annealed, "
          "initial ranges minmax; every accuracy is the quantized .tflite in LiteRT on the 450 held-out digits.")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
