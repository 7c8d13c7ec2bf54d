"""SUM (firmware/kernels/reduce.c, int16_reduce.c, float32_pooling.c) over many axis sets.

int8 and int16 are checked against TFLite Micro: LiteRT 2.3's reference SUM on quantized tensors returns
values that do not depend on the input (test_litert_reference_sum_ignores_its_input documents it, and fails
the day LiteRT fixes it), so SUM lowers for rounding "tflm" only. float32 is checked byte for byte against
LiteRT's reference (additions in the reference's order)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.references import LiteRT
from harness import compare, compile_host, random_inputs, tf_function_tflite
from harness_int16 import tf_function_int16x8

# name -> (input shape, axes, keepdims)
CASES = {
    "last": ((1, 6, 10), [-1], True),
    "last_dropped": ((1, 6, 10), [2], False),
    "middle": ((2, 5, 3, 4), [1], True),
    "hw": ((1, 4, 5, 6), [1, 2], False),
    "outer_and_inner": ((2, 3, 4, 5), [0, 3], True),
    "all": ((3, 4, 5), [0, 1, 2], False),
    "long": ((1, 300), [1], True),
}


def _function(shape, axes, keepdims):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def f(x):
        return tf.reduce_sum(x, axis=axes, keepdims=keepdims)

    return f


def _calib(shape, offset: float):
    rng = np.random.default_rng(5)
    return [[(rng.standard_normal(shape) + offset).astype(np.float32)] for _ in range(16)]


def _sum_op(tfl: bytes, dtype: str):
    g = read_tflite(tfl)
    (op,) = [op for op in g.ops if op.kind == "SUM"]
    assert g.tensor(op.inputs[0]).dtype == dtype
    return g, op


@pytest.mark.parametrize("name", sorted(CASES))
def test_int8_sum_matches_tflm(name):
    tfl = tf_function_tflite(_function(*CASES[name]), _calib(CASES[name][0], 0.4))
    g, op = _sum_op(tfl, "int8")
    assert g.tensor(op.inputs[0]).quant != g.tensor(op.outputs[0]).quant  # the rescaling path
    cmp = compare(tfl, random_inputs(tfl, 16), "tflm")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.max_abs_diff, cmp.first_bad_op)


def test_int8_sum_is_not_lowered_against_litert():
    tfl = tf_function_tflite(_function(*CASES["last"]), _calib(CASES["last"][0], 0.4))
    with pytest.raises(EdgeqError, match="--rounding tflm"):
        compile_host(tfl, "litert")


def test_litert_reference_sum_ignores_its_input():
    tfl = tf_function_tflite(_function(*CASES["last"]), _calib(CASES["last"][0], 0.4))
    ref = LiteRT(tfl)
    outs = {ref.run(x)[0].tobytes() for x in random_inputs(tfl, 6)}
    assert len(outs) == 1, "LiteRT's reference SUM now depends on its input: lower SUM for rounding litert too"


@pytest.mark.parametrize("name", ["last", "hw", "outer_and_inner", "long"])
def test_int16_sum_matches_tflm(name):
    """The 16x8 converter gives SUM its input's scale: TFLM adds the raw int16 values, saturating."""
    tfl = tf_function_int16x8(_function(*CASES[name]), _calib(CASES[name][0], 0.4))
    g, op = _sum_op(tfl, "int16")
    assert g.tensor(op.inputs[0]).quant == g.tensor(op.outputs[0]).quant
    cmp = compare(tfl, random_inputs(tfl, 16), "tflm")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.max_abs_diff, cmp.first_bad_op)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_sum_bytes(name):
    import tensorflow as tf

    f = _function(*CASES[name])
    tfl = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()
    _sum_op(tfl, "float32")
    _, host = compile_host(tfl, "litert")
    ref = LiteRT(tfl)
    rng = np.random.default_rng(9)
    shape = CASES[name][0]
    samples = [[(rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 5)).astype(np.float32)] for _ in range(8)]
    samples.append([np.full(shape, -0.0, np.float32)])  # the sign of a zero sum
    for x in samples:
        (ours,), (want,) = host.run(x), ref.run(x)
        assert np.asarray(ours).tobytes() == np.asarray(want).tobytes()


@pytest.mark.parametrize("zero_point", [0, -20])
def test_int8_sum_with_identical_quantization_matches_tflm(zero_point):
    """No converter output has it: a hand-built SUM whose input and output share scale and zero point adds
    the raw values and saturates."""
    from tensorflow.lite.python import schema_py_generated as s

    from harness import build_tflite

    opts = s.ReducerOptionsT()
    opts.keepDims = False
    q = dict(dtype="int8", scale=0.1, zero_point=zero_point)
    tfl = build_tflite([dict(shape=[2, 5, 7], **q), dict(shape=[1], dtype="int32", data=np.array([1], np.int32)),
                        dict(shape=[2, 7], **q)], [("SUM", [0, 1], [2], opts)], [0], [2])
    cmp = compare(tfl, random_inputs(tfl, 16), "tflm")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.max_abs_diff, cmp.first_bad_op)
