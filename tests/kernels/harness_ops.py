"""Hand-built one-op models for the element-wise, comparison, select and cast kernels: random broadcast
shapes, random scales and zero points, inputs for every element type (bool and int32 included), and the
byte comparison with LiteRT (and TFLM) of harness.compare.

    tfl = one_op("MAXIMUM", [x1, x2], y)      # x1, x2, y: tensor dicts as harness.build_tflite takes
    check(tfl, inputs_for(tfl, rng), ("litert", "tflm"))

The random-model tests draw ``cases(n)`` models; ``EDGEQ_OPS_ROUNDS=k`` multiplies that by k for a longer
run outside ``make test``, e.g.
    EDGEQ_OPS_ROUNDS=20 python -m pytest -q tests/kernels/test_minimum_maximum.py tests/kernels/test_compare.py \
        tests/kernels/test_squared_difference.py tests/kernels/test_div.py
"""

from __future__ import annotations

import os

import numpy as np

from harness import build_tflite, compare, compile_host
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.compare import ByteCompare
from edgeq.quality.references import TFLM, LiteRT

INT_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767), "uint8": (0, 255)}


def cases(n: int) -> range:
    """``n`` random models per test in the suite, ``n * EDGEQ_OPS_ROUNDS`` for a long run."""
    return range(n * max(1, int(os.environ.get("EDGEQ_OPS_ROUNDS", "1"))))


def broadcast_shapes(rng, n: int = 2, max_rank: int = 4, max_dim: int = 5) -> tuple[list[tuple], tuple]:
    """``n`` operand shapes that broadcast (numpy rules, right-aligned, some of lower rank) to the returned
    output shape: each output dimension is taken by at least one operand, the others are 1 there."""
    rank = int(rng.integers(1, max_rank + 1))
    out = tuple(int(d) for d in rng.integers(1, max_dim + 1, rank))
    shapes = [[d if rng.random() < 0.6 else 1 for d in out] for _ in range(n)]
    for d, extent in enumerate(out):
        if all(s[d] != extent for s in shapes):
            shapes[int(rng.integers(n))][d] = extent
    result = []
    for s in shapes:
        drop = int(rng.integers(0, rank))  # up to this many leading 1s left out (lower rank, right-aligned)
        while drop and len(s) > 1 and s[0] == 1:
            s, drop = s[1:], drop - 1
        result.append(tuple(s))
    if all(len(s) < rank for s in result):  # the output's rank is some operand's (the converter's shapes)
        result[0] = (1,) * (rank - len(result[0])) + result[0]
    return result, out


def tensor(shape, dtype: str, rng=None, scale=None, zero_point=None, name=None) -> dict:
    """A tensor dict; int8 / int16 / uint8 get a scale and zero point (random when ``rng`` is given and they
    are not; int16 zero points are 0, as the 16x8 scheme's)."""
    d = {"shape": list(shape), "dtype": dtype}
    if name:
        d["name"] = name
    if dtype in INT_RANGES:
        lo, hi = INT_RANGES[dtype]
        if scale is None:
            scale = float(np.float32(rng.uniform(0.002, 0.2) if dtype != "int16" else rng.uniform(1e-5, 1e-3)))
        if zero_point is None:
            zero_point = 0 if dtype == "int16" else int(rng.integers(lo + 20, hi - 20))
        d["scale"], d["zero_point"] = scale, zero_point
    return d


def one_op(kind: str, inputs: list[dict], output: dict, options=None) -> bytes:
    """A model of one ``kind`` op; inputs with ``data`` are constants, the others model inputs."""
    tensors = [*inputs, output]
    var = [i for i, t in enumerate(inputs) if "data" not in t]
    return build_tflite(tensors, [(kind, list(range(len(inputs))), [len(inputs)], options)], var, [len(inputs)])


def random_value(rng, t, n_specials: int = 8) -> np.ndarray:
    """One input for tensor ``t`` (an edgeq Tensor): the full integer range, both bools, small int32s with
    ties, floats with equal pairs, zeros, signed zeros and large values."""
    shape = t.shape
    if t.dtype in INT_RANGES:
        lo, hi = INT_RANGES[t.dtype]
        return rng.integers(lo, hi + 1, shape).astype(t.dtype)
    if t.dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if t.dtype == "int32":
        return rng.integers(-6, 7, shape).astype(np.int32)
    if t.dtype == "int64":
        return rng.integers(-(2**40), 2**40, shape).astype(np.int64)
    assert t.dtype == "float32", t.dtype
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    flat = x.reshape(-1)
    specials = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e30, -1e30], np.float32)[:n_specials]
    k = min(flat.size // 3, specials.size)
    flat[:k] = specials[:k]
    # a few values rounded to a coarse grid, so two operands are often equal
    m = flat.size // 3
    flat[k:k + m] = np.round(flat[k:k + m])
    return x


def inputs_for(tfl: bytes, rng, n: int = 6) -> list[list[np.ndarray]]:
    g = read_tflite(tfl)
    return [[random_value(rng, g.tensor(tid)) for tid in g.inputs] for _ in range(n)]


def check(tfl: bytes, inputs, roundings=("litert", "tflm"), exact: bool = True) -> None:
    """Generated C equals each reference byte for byte (``exact``; else integer outputs byte for byte and
    float32 outputs within FLOAT_RTOL)."""
    for r in roundings:
        if not exact:
            _, host = compile_host(tfl, r)
            ref = LiteRT(tfl) if r == "litert" else TFLM(tfl)
            within = ByteCompare(ref.name)
            for i, x in enumerate(inputs):
                within.add(i, host.run(x), ref.run(x))
            assert within.ok, f"[{r}] {within.float_summary()}; {within.ok_samples}/{within.samples} samples ok"
            continue
        cmp = compare(tfl, inputs, r)
        assert cmp.bit_exact and cmp.mismatched_bytes == 0, (f"[{r}] {cmp.exact_samples}/{cmp.samples} samples exact, {cmp.mismatched_bytes} of "
                               f"{cmp.total_bytes} bytes differ (max |diff| {cmp.max_abs_diff}); "
                               f"first bad op: {cmp.first_bad_op}")
