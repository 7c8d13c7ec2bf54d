"""CAST (firmware/kernels/cast.c) byte for byte against LiteRT's reference kernel (and TFLM for the 20 pairs of
int8, int16, int32, float32 and bool it takes) for every pair of int8, uint8, int16, int32, int64, float32 and
bool: integers over the source's whole range (wrapping into narrower types), floats with fractions of both signs
within the destination's range (outside it C++ leaves the cast undefined), signed zeros and NaN to bool; and the
converter's EQUAL + CAST of ``keras.ops.cast(keras.ops.equal(a, b), "float32")``."""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest

from harness import compare
from harness_ops import check, one_op, random_value, tensor
from edgeq.frontend.tflite.reader import read_tflite

TYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool")
RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1),
          "int64": (-(2**62), 2**62)}
SHAPE = (3, 40)


def _inputs(src: str, dst: str, rng) -> list[list[np.ndarray]]:
    out = []
    for k in range(4):
        if src == "float32":
            lo, hi = RANGES.get(dst, (-1e6, 1e6))
            lo, hi = max(lo, -1e6), min(hi, 1e6)
            x = rng.uniform(lo, hi, SHAPE).astype(np.float32)
            x.reshape(-1)[:8] = np.array([0.0, -0.0, 0.5, -0.5, 0.999, -0.999, 1.0, -1.0], np.float32)
            if dst == "uint8":
                x = np.abs(x)
            if dst == "bool" and k == 0:
                x.reshape(-1)[8:10] = np.nan
        elif src in RANGES:
            lo, hi = RANGES[src]
            x = rng.integers(lo, hi, SHAPE, endpoint=True).astype(src)
            x.reshape(-1)[:2] = (lo, hi)
        else:
            x = random_value(rng, type("T", (), {"dtype": src, "shape": SHAPE})())
        out.append([x])
    return out


PAIRS = [(a, b) for a in TYPES for b in TYPES if a != b]
# the pairs the installed TFLM's CAST takes (measured: it refuses every pair with uint8 or int64)
TFLM_TYPES = ("int8", "int16", "int32", "float32", "bool")


@pytest.mark.parametrize("src,dst", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_cast_pair(src, dst):
    rng = np.random.default_rng(zlib.crc32(f"{src}{dst}".encode()))
    q = lambda d: tensor(SHAPE, d, rng)  # noqa: E731  (quantization is ignored by CAST)
    tfl = one_op("CAST", [q(src)], q(dst))
    xs = _inputs(src, dst, rng)
    for r in ("litert", "tflm") if {src, dst} <= set(TFLM_TYPES) else ("litert",):
        cmp = compare(tfl, xs, r)
        assert cmp.mismatched_bytes == 0 and cmp.bit_exact, f"[{r}] {cmp.mismatched_bytes} bytes differ"


def test_keras_equal_cast_float32():
    import tensorflow as tf

    a, b = keras.Input((4, 6)), keras.Input((4, 6))
    m = keras.Model([a, b], keras.ops.cast(keras.ops.equal(a, b), "float32"))
    tfl = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    assert {"EQUAL", "CAST"} <= {op.kind for op in read_tflite(tfl).ops}
    rng = np.random.default_rng(0)
    xs = []
    for _ in range(4):  # half the pairs equal
        y = rng.integers(-2, 3, (1, 4, 6)).astype(np.float32)
        xs.append([y + rng.integers(0, 2, (1, 4, 6)).astype(np.float32), y])
    check(tfl, xs)
