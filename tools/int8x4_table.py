"""int8 vs int8x4 (4-bit weights) vs k-means clustered weights (issue 12): flash, instructions, SQNR, accuracy.

    PYTHONPATH=. .venv/bin/python tools/int8x4_table.py [--out DIR] [--json F] [--boards mps2-an386,mps2-an385]

MLPerf Tiny resnet8 and kws_dscnn, calibrated on 50 random samples over the reference models' input ranges
(as tests/models/conftest.py): int8 by edgeq's converter path (``quantize_model``), int8x4 by
``quantize_int8x4`` on the same samples; each built for mps2-an386 (``convert_and_flash``: 5 samples
validated byte for byte on the emulated Cortex-M4, one timed run, instructions counted by QEMU): .tflite
bytes, constant data (weights + constants, as the build counts them), whole-image flash, arena, instructions,
and the SQNR of the model's output against the float Keras model on the 50 calibration samples (random data:
it ranks the schemes, it is no accuracy; the "4-bit weights, float Keras" row is the float model with only its
kernels rounded to 4 bits, what the weights alone cost). ``c16`` / ``c64`` / ``c256``: ``quantize --clusters`` with 16 /
64 / 256 clusters per layer (k-means, then int8 as ``int8``: 4-bit, 6-bit and no codebook indices).

Digits (examples/digits/train.py's split: 1347 training, 450 held-out; calibration: the first 200 training
digits, minmax): digits_cnn (examples/digits) and dw_bn (tools/qat_table.py's depthwise-separable net), the
float Keras model, int8 PTQ, int8x4 PTQ and 16 / 64 / 256 clusters + int8 PTQ in LiteRT's reference kernels on the
450 held-out digits, and the int8x4, 16- and 64-cluster models' generated C compared byte for byte with LiteRT on
all 450 (``validate(c_host=True)``).
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


def schemes(path: Path, calib: str, **random) -> dict[str, bytes]:
    """The five models of ``path``: int8, int8x4, 16, 64 and 256 clusters per layer (``quantize --clusters K``:
    k-means, then int8, the model marked as clustered), on the same calibration."""
    from edgeq.flows.quantize import quantize_model
    from edgeq.frontend.data import load_calibration, loaded_inputs
    from edgeq.frontend.int4 import quantize_int8x4
    from edgeq.frontend.load import load_model

    loaded = load_model(path)
    cal = load_calibration(calib, loaded_inputs(loaded), **random)
    return {"int8": quantize_model(path, calib, **random).tflite,
            "int8x4": quantize_int8x4(loaded, cal),
            **{f"c{k}": quantize_model(path, calib, clusters=k, **random).tflite for k in (16, 64, 256)}}


def fake_quant_4bit_sqnr(path: Path, inputs: np.ndarray) -> float:
    """SQNR of the float Keras model with only its kernels rounded to 4 bits (symmetric per output channel,
    [-7, 7], batch norm not folded) against the float model: what 4-bit weights cost before any integer
    arithmetic, to read the int8x4 row's SQNR against."""
    import keras

    from edgeq.frontend.load import load_model
    from edgeq.quality.metrics import sqnr_db

    model = load_model(path).keras_model
    ref = model.predict(inputs, verbose=0)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            w = keras.ops.convert_to_numpy(layer.kernel)
            s = np.abs(w).reshape(-1, w.shape[-1]).max(axis=0) / 7
            layer.kernel.assign(np.round(w / np.where(s > 0, s, 1)) * s)
    return float(sqnr_db(ref, model.predict(inputs, verbose=0)))


def mlperf_rows(out: Path, boards: list[str]) -> list[dict]:
    from edgeq.flows.convert_and_flash import convert_and_flash
    from edgeq.frontend.data import load_calibration, loaded_inputs
    from edgeq.frontend.load import load_model
    from edgeq.quality.validate import validate

    rows = []
    for name, file, rng in (("resnet8", "resnet8.h5", (0.0, 255.0)), ("kws_dscnn", "kws_dscnn.keras", (-123.0, 26.0))):
        random = {"random_range": rng, "random_count": 50}
        cal = load_calibration("random", loaded_inputs(load_model(MLPERF / file)), **random)
        rows.append({"model": name, "scheme": "4-bit weights, float Keras", "sqnr_db":
                     fake_quant_4bit_sqnr(MLPERF / file, cal.inputs[0])})
        for scheme, data in schemes(MLPERF / file, "random", **random).items():
            path = out / f"{name}-{scheme}.tflite"
            path.write_bytes(data)
            rep = validate(data, keras_file=MLPERF / file, data=cal, samples=50)
            row = {"model": name, "scheme": scheme, "tflite_bytes": len(data), "sqnr_db": rep.fidelity[0]["sqnr_db"]}
            if not boards:
                rows.append(row)
            for board in boards:
                r = convert_and_flash(path, board_name=board, runs=1, samples=5,
                                      out_dir=out / f"{path.stem}-{board}").report
                m = r["memory"]
                rows.append(dict(row, board=board, constants=m["weights_bytes"], flash=m["flash_bytes"],
                                 arena=m["arena_bytes"], instructions=int(r["latency"]["median"]),
                                 bit_exact=r["validation"]["bit_exact"]))
                print(rows[-1], file=sys.stderr)
    return rows


def digits_rows(out: Path) -> list[dict]:
    from train import load_digits_split
    from qat_table import dw_bn_model

    from edgeq.frontend.data import Samples
    from edgeq.frontend.load import load_model
    from edgeq.quality.validate import validate

    (xtr, ytr), (xte, yte) = load_digits_split(0)
    np.save(out / "calib.npy", xtr[:200])
    dw_bn_model(xtr, ytr).save(out / "dw_bn.keras")
    test = Samples("digits test", [xte], yte)
    rows = []
    for name, path in (("digits_cnn", ROOT / "examples" / "digits" / "digits_cnn.keras"), ("dw_bn", out / "dw_bn.keras")):
        keras_model = load_model(path).keras_model
        row = {"model": name, "float": float(np.mean(keras_model.predict(xte, verbose=0).argmax(-1) == yte))}
        for scheme, data in schemes(path, str(out / "calib.npy")).items():
            rep = validate(data, data=test, c_host=scheme in ("int8x4", "c16", "c64"), samples=450)
            row[scheme] = rep.accuracy["quantized"]
            if scheme in ("int8x4", "c16", "c64"):
                row[f"{scheme}_c_bit_exact"] = rep.c_host["litert"].bit_exact
        rows.append(row)
        print(row, file=sys.stderr)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the models (default: a temporary one)")
    ap.add_argument("--json")
    ap.add_argument("--boards", default="mps2-an386",
                    help="comma-separated emulated boards to build for (mps2-an385: the portable kernels, whose int8 "
                         "build has no int16 weight copies); empty: .tflite sizes and SQNR only")
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="edgeq-int8x4-table-"))
    out.mkdir(parents=True, exist_ok=True)
    boards = [b for b in a.boards.split(",") if b]
    ml = mlperf_rows(out, boards)
    dg = digits_rows(out)
    print("| model | board | scheme | .tflite | constants | flash | arena | instructions | SQNR vs float | bit-exact |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in ml:
        if "flash" not in r:
            size = f"{r['tflite_bytes']:,}" if "tflite_bytes" in r else "-"
            print(f"| {r['model']} | - | {r['scheme']} | {size} | - | - | - | - | {r['sqnr_db']:.1f} dB | - |")
            continue
        print(f"| {r['model']} | {r['board']} | {r['scheme']} | {r['tflite_bytes']:,} | {r['constants']:,} "
              f"| {r['flash']:,} | {r['arena']:,} | {r['instructions']:,} | {r['sqnr_db']:.1f} dB "
              f"| {'yes' if r['bit_exact'] else 'NO'} |")
    for board in boards:
        for name in ("resnet8", "kws_dscnn"):
            r8 = next(r for r in ml if r["model"] == name and r["scheme"] == "int8" and r.get("board") == board)
            for sch in ("int8x4", "c16", "c64", "c256"):
                r4 = next(r for r in ml if r["model"] == name and r["scheme"] == sch and r.get("board") == board)
                print(f"\n{name} on {board}, {sch} / int8: constants {r4['constants'] / r8['constants']:.3f}x, "
                      f"instructions {r4['instructions'] / r8['instructions']:.3f}x, "
                      f".tflite {r4['tflite_bytes'] / r8['tflite_bytes']:.3f}x")
    print("\n| digits model | float | int8 PTQ | int8x4 PTQ | 16 clusters | 64 clusters | 256 clusters "
          "| C bit-exact (int8x4, c16, c64; 450) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in dg:
        exact = "/".join("yes" if r[f"{s}_c_bit_exact"] else "NO" for s in ("int8x4", "c16", "c64"))
        print(f"| {r['model']} | {100 * r['float']:.2f}% | {100 * r['int8']:.2f}% | {100 * r['int8x4']:.2f}% "
              f"| {100 * r['c16']:.2f}% | {100 * r['c64']:.2f}% | {100 * r['c256']:.2f}% | {exact} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"mlperf": ml, "digits": dg}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
