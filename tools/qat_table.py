"""The docs/qat.md table: float / PTQ with the best calibration / QAT on scikit-learn's digits.

    .venv/bin/python tools/qat_table.py [--out DIR] [--json F]

Data: examples/digits/train.py's split (1347 training, 450 held-out digits, seed 0). Cases:

* ``digits_cnn`` (examples/digits, trained 40 epochs at Adam 3e-3), int8 per-channel weights;
* ``dw_bn``, a depthwise-separable net with BatchNormalization and ReLU6 (trained here: 30 epochs at
  3e-3, seed 0), int8 per-tensor weights (the case that hurts PTQ on MobileNets);
* ``dw_bn`` with 4-bit weights ([-7, 7] per channel), with the recommended schedule and with a longer, hotter
  one (5 epochs at 1e-3): PTQ is ``quantize_model(scheme="int8x4")`` with the method QAT started from, QAT
  ``quantize_model(qat, None, scheme="int8x4")`` (the learned ranges and trained 4-bit weights kept), both
  int8x4 models in LiteRT, the QAT one byte for byte in the generated C too.

PTQ: ``compare_calibrations`` (every method, calibrated on the first 200 training digits, best by accuracy
on the 450 held-out digits), its int8 model in LiteRT. QAT: ``qat_model`` (10 % of the original epochs,
1 % of the original learning rate, cosine-annealed; initial ranges from the method most accurate on the
held-out digits), then ``quantize_model`` of the QAT model without calibration data, its int8 model in
LiteRT and, byte for byte, in the generated C (``validate(c_host=True)``) on all 450 digits.
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


def dw_bn_model(xtr, ytr, epochs: int = 30):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    for ch in (32, 64):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
        x = keras.layers.Conv2D(ch, 1, use_bias=False)(x)
        x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    out = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    m = keras.Model(inp, out, name="dw_bn")
    m.compile(optimizer=keras.optimizers.Adam(3e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    m.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0)
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the models (default: a temporary one)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from train import load_digits_split

    from edgeq.flows.qat import qat_model
    from edgeq.flows.quantize import quantize_model
    from edgeq.frontend.data import Samples
    from edgeq.frontend.load import load_model
    from edgeq.quality.calibrations import compare_calibrations
    from edgeq.quality.validate import validate

    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="edgeq-qat-table-"))
    out.mkdir(parents=True, exist_ok=True)
    (xtr, ytr), (xte, yte) = load_digits_split(0)
    np.savez(out / "train.npz", x=xtr, y=ytr)
    np.savez(out / "test.npz", x=xte, y=yte)
    np.save(out / "calib.npy", xtr[:200])
    dw_bn_model(xtr, ytr).save(out / "dw_bn.keras")
    test = Samples("digits test", [xte], yte)
    cases = [("digits_cnn", DIGITS / "digits_cnn.keras", "int8", True, 4, 3e-5),
             ("dw_bn", out / "dw_bn.keras", "int8", False, 3, 3e-5),
             ("dw_bn", out / "dw_bn.keras", "int8x4", True, 3, 3e-5),
             ("dw_bn", out / "dw_bn.keras", "int8x4", True, 5, 1e-3)]
    rows = []
    for name, path, scheme, per_channel, epochs, lr in cases:
        keras_model = load_model(path).keras_model
        float_acc = float(np.mean(keras_model.predict(xte, verbose=0).argmax(-1) == yte))
        weights = ("4-bit" if scheme == "int8x4" else "int8") + (" per-channel" if per_channel else " per-tensor")
        row = {"model": name, "weights": weights, "float": float_acc, "epochs": epochs, "lr": lr}
        r = qat_model(path, out / "train.npz", val=out / "test.npz", epochs=epochs, lr=lr, scheme=scheme,
                      per_channel=per_channel, progress=lambda e: print(f"  {name} epoch {e.epoch}/{e.epochs} "
                                                                      f"loss {e.loss:.4f}", file=sys.stderr))
        qat_path = out / f"{name}-{scheme}-{'pc' if per_channel else 'pt'}-{epochs}-{lr:g}-qat.keras"
        qat_path.write_bytes(r.keras)
        row["qat_start"] = r.calibration
        if scheme == "int8":
            c = compare_calibrations(path, str(out / "calib.npy"), data=out / "test.npz", samples=450,
                                     per_channel=per_channel)
            best = next(x for x in c.rows if x["method"] == c.best)
            row.update(ptq=best["accuracy"], ptq_method=c.best, measured="int8 model in LiteRT")
            tflite = quantize_model(qat_path, None, per_channel=per_channel).tflite
            rep = validate(tflite, data=test, c_host=True, samples=450)
            row.update(qat=rep.accuracy["quantized"], bit_exact=rep.c_host["litert"].bit_exact)
        else:
            ptq = quantize_model(path, str(out / "calib.npy"), scheme="int8x4", calibration=r.calibration).tflite
            row.update(ptq=validate(ptq, data=test, samples=450).accuracy["quantized"], ptq_method=r.calibration)
            rep = validate(quantize_model(qat_path, None, scheme="int8x4").tflite, data=test, c_host=True, samples=450)
            row.update(qat=rep.accuracy["quantized"], measured="int8x4 model in LiteRT",
                       bit_exact=rep.c_host["litert"].bit_exact)
        rows.append(row)
        print(row, file=sys.stderr)
    print("| model | weights | float | PTQ | QAT | QAT schedule | measured on | C bit-exact |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        exact = "-" if r["bit_exact"] is None else ("yes, 450/450" if r["bit_exact"] else "NO")
        print(f"| {r['model']} | {r['weights']} | {100 * r['float']:.2f}% | {100 * r['ptq']:.2f}% ({r['ptq_method']}) "
              f"| {100 * r['qat']:.2f}% | {r['epochs']} epochs, lr {r['lr']:g}, from {r['qat_start']} "
              f"| {r['measured']} | {exact} |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
