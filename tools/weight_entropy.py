"""How far lossless coding could shrink a model's constant tensors: the bound behind docs/benchmarks.md's
"ad01's whole-image flash target cannot be met with int8 weights".

    .venv/bin/python tools/weight_entropy.py ../shared/models/mlperf-tiny/ad01_int8.tflite [--budget 241032]

For each constant tensor of the int8 model (weights and biases, the bytes any exact int8 deployment must hold),
prints its stored bytes, its order-0 entropy (the Shannon bound of any coder that codes each value on its own,
with per-tensor statistics: Huffman, arithmetic, ANS) and what zlib -9 and LZMA (xz -9e, which also finds repeats
and context) make of its bytes. With --budget: what is left of a whole-image flash budget for code, vectors and
constants after the best of those codings of the weights alone.
"""

from __future__ import annotations

import argparse
import lzma
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeq.frontend.tflite.reader import read_tflite_file  # noqa: E402


def entropy_bytes(values: np.ndarray) -> float:
    """Order-0 Shannon bound in bytes of coding ``values`` one at a time with their own histogram."""
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum() / 8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--budget", type=int, help="whole-image flash budget in bytes")
    a = ap.parse_args(argv)
    g = read_tflite_file(a.model)
    rows = []
    for t in g.tensors:
        if t.data is None or t.data.size < 64 or t.dtype not in ("int8", "int32", "int16"):
            continue
        raw = np.ascontiguousarray(t.data).tobytes()
        rows.append((t.name[:48], t.dtype, len(raw), entropy_bytes(t.data.reshape(-1)),
                     len(zlib.compress(raw, 9)), len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))))
    print(f"{'tensor':48} {'type':5} {'bytes':>9} {'entropy':>9} {'zlib-9':>9} {'xz-9e':>9}")
    for r in rows:
        print(f"{r[0]:48} {r[1]:5} {r[2]:9,} {r[3]:9,.0f} {r[4]:9,} {r[5]:9,}")
    tot = [sum(r[i] for r in rows) for i in range(2, 6)]
    print(f"{'total':48} {'':5} {tot[0]:9,} {tot[1]:9,.0f} {tot[2]:9,} {tot[3]:9,}")
    best = min(tot[1:])
    print(f"best lossless bound: {best:,.0f} B ({best / tot[0]:.3f}x the stored bytes)")
    if a.budget:
        print(f"budget {a.budget:,} B - weights at that bound = {a.budget - best:,.0f} B for code, vectors, "
              "requantization constants and the decoder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
