"""ARG_MAX and ARG_MIN (firmware/kernels/*arg_min_max.c) bit-exact with LiteRT and TFLM, int8 and float32
input, int32 and int64 output (TFLM writes int32 only). Inputs with many ties (few distinct values) check that the first of equal
extremes wins, as std::greater / std::less from element 0 give it. LiteRT has no int16 ARG_MAX/ARG_MIN
(its Eval takes float32, uint8, int8, int32 and bool), so edgeq has none."""

from __future__ import annotations

import numpy as np
import pytest

from harness import assert_bit_exact, compare, random_inputs, tf_function_tflite

CASES = [((1, 10), -1), ((1, 4, 6), 1), ((1, 4, 6), 2), ((1, 3, 4, 5), 3), ((1, 3, 4, 5), 1), ((2, 7), 0),
         ((1, 1, 9), 2)]


def _fn(kind: str, axis: int, out):
    import tensorflow as tf

    op = tf.math.argmax if kind == "ARG_MAX" else tf.math.argmin
    return lambda x: op(x, axis=axis, output_type=out)


@pytest.mark.parametrize("out", ("int32", "int64"))
@pytest.mark.parametrize("kind", ("ARG_MAX", "ARG_MIN"))
@pytest.mark.parametrize("dtype", ("int8", "float32"))
@pytest.mark.parametrize("shape,axis", CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_arg_min_max(shape, axis, dtype, kind, out):
    import tensorflow as tf

    f = tf.function(_fn(kind, axis, getattr(tf, out)), input_signature=[tf.TensorSpec(shape, tf.float32)])
    rng = np.random.default_rng(0)
    if dtype == "int8":
        # the int8 model's output is the int index itself (the converter leaves it unquantized)
        calib = [[rng.standard_normal(shape).astype(np.float32)] for _ in range(16)]
        tfl = tf_function_tflite(f, calib)
        inputs = random_inputs(tfl, 10) + [[rng.integers(-2, 2, shape).astype(np.int8)] for _ in range(10)]
    else:
        conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        tfl = conv.convert()
        inputs = [[rng.integers(-2, 2, shape).astype(np.float32)] for _ in range(10)]  # ties
        inputs += [[rng.standard_normal(shape).astype(np.float32)] for _ in range(10)]
    roundings = ("litert", "tflm") if out == "int32" else ("litert",)  # TFLM's Invoke fails on int64 output
    assert_bit_exact(None, model_bytes=tfl, expect_ops={kind}, roundings=roundings)
    for r in roundings:
        assert compare(tfl, inputs, r).bit_exact, r
