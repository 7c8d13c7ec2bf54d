"""Clustered weights on the shared MLPerf Tiny models (issue 12): every index width the lowerings have, end to
end on emulated boards, bit-exact or not, with the constant bytes and instructions against int8's.

    PYTHONPATH=. .venv/bin/python tools/clusters_sweep.py [--ks 4 16 32 128] [--boards mps2-an386 mps2-an385]
        [--per-channel] [--json F]

Each model (resnet8, kws_dscnn, ad01 from ../shared/models/mlperf-tiny, calibrated as tests/models/conftest.py
does: 50 random samples over the reference input ranges, ad01 on its real sample input) is quantized as int8 and with ``quantize --clusters K`` for each K,
then built and validated on each board (``convert_and_flash``: 3 samples byte for byte against LiteRT on the
device, one timed run). Prints a table: which kernels took codebooks at which widths, weights + constants,
instructions, and the ratios to int8.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
# model -> (file, calibration: random samples over this input range, or a data file), as tests/models/conftest.py
MODELS = {"resnet8": ("resnet8.h5", (0.0, 255.0)), "kws_dscnn": ("kws_dscnn.keras", (-123.0, 26.0)),
          "ad01": ("ad01.h5", "ad01_sample_input_40x640_f32.bin")}


def codebook_widths(tfl: bytes) -> dict[str, list[int]]:
    """kernel -> the cb_bits of its codebook layers (DSP build)."""
    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower.registry import LowerCtx
    from edgeq.passes.pipeline import compile_graph

    out: dict[str, list[int]] = {}
    for op in compile_graph(read_tflite(tfl), LowerCtx("litert", "dsp")).ops:
        f = dict(op.lowered.fields) if op.lowered else {}
        if f.get("cb_bits"):
            out.setdefault(op.lowered.kernel, []).append(f["cb_bits"])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[4, 16, 32, 128])
    ap.add_argument("--boards", nargs="+", default=["mps2-an386"])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--per-channel", action="store_true", help="--clusters-per-channel")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgeq.flows.convert_and_flash import convert_and_flash
    from edgeq.flows.quantize import quantize_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            file, calib = MODELS[name]
            cal = dict(calib=str(MLPERF / calib)) if isinstance(calib, str) else \
                dict(calib="random", random_range=calib, random_count=50)
            for k in [None, *a.ks]:
                tfl = quantize_model(MLPERF / file, **cal, clusters=k,
                                     clusters_per_channel=a.per_channel and k is not None).tflite
                path = Path(tmp) / f"{name}-{k}.tflite"
                path.write_bytes(tfl)
                widths = codebook_widths(tfl)
                for board in a.boards:
                    rep = convert_and_flash(path, board_name=board, runs=1, samples=3,
                                            out_dir=Path(tmp) / f"{name}-{k}-{board}").report
                    row = {"model": name, "clusters": k, "board": board, "codebooks": widths,
                           "weights_bytes": rep["memory"]["weights_bytes"], "code_bytes": rep["memory"]["code_bytes"],
                           "instructions": int(rep["latency"]["median"]),
                           "bit_exact": bool(rep["validation"]["bit_exact"])}
                    rows.append(row)
                    print(row, file=sys.stderr, flush=True)
    print("| model | board | clusters | codebook layers (kernel: widths) | weights + constants | vs int8 | "
          "instructions | vs int8 | bit-exact |")
    print("|---|---|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        base = next(b for b in rows if b["model"] == r["model"] and b["board"] == r["board"] and b["clusters"] is None)
        cb = "; ".join(f"{k.removeprefix('edgeq_')}: {','.join(map(str, sorted(set(v))))} x{len(v)}"
                       for k, v in sorted(r["codebooks"].items())) or "-"
        print(f"| {r['model']} | {r['board']} | {r['clusters'] or 'int8'} | {cb} | {r['weights_bytes']:,} | "
              f"{r['weights_bytes'] / base['weights_bytes']:.3f}x | {r['instructions']:,} | "
              f"{r['instructions'] / base['instructions']:.3f}x | {'yes' if r['bit_exact'] else 'NO'} |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
