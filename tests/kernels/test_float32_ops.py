"""float32 kernels (firmware/kernels/float32_*.c) against LiteRT's reference kernels and TFLM.

Each model is a small float32 TFLite graph (no quantization) built from a ``tf.function``; the generated C
runs on the host on many random inputs (normal, wide-range and special values) and every output must be
within the stated tolerance (edgeq.quality.compare.FLOAT_RTOL: max |diff| <= 1e-5 x max(1, max |ref|)).
Ops that are single IEEE operations per element or follow the reference's accumulation order are also
checked bit for bit where they must be (see ``EXACT``); SOFTMAX, LOGISTIC and TANH use edgeq's own exp.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.compare import FLOAT_RTOL, ByteCompare, float_error

from harness import compile_host

N_SAMPLES = 24


def _float_tflite(f) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    return conv.convert()


def _spec(*shape):
    import tensorflow as tf

    return tf.TensorSpec(shape, tf.float32)


def _const(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _models():
    """name -> (tf.function, op kinds it must convert to, bit-exact expected)."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    w_conv = _const(rng, 3, 3, 5, 6)
    b_conv = _const(rng, 6)
    w_conv2 = _const(rng, 1, 2, 6, 4)
    w_dw = _const(rng, 3, 3, 4, 2)
    b_dw = _const(rng, 8)
    w_fc = _const(rng, 40, 7)
    b_fc = _const(rng, 7)
    c_bcast = _const(rng, 1, 1, 6)

    @tf.function(input_signature=[_spec(1, 9, 11, 5)])
    def conv(x):  # SAME stride 2 + bias + RELU6 fused; VALID dilated conv without bias
        y = tf.nn.relu6(tf.nn.conv2d(x, w_conv, 2, "SAME") + b_conv)
        return tf.nn.conv2d(y, w_conv2, 1, "VALID", dilations=[1, 2])

    @tf.function(input_signature=[_spec(1, 8, 7, 4)])
    def depthwise(x):  # depth multiplier 2, SAME, stride 2, bias, RELU; a second with dilation
        y = tf.nn.relu(tf.nn.depthwise_conv2d(x, w_dw, [1, 2, 2, 1], "SAME") + b_dw)
        return tf.nn.depthwise_conv2d(x, w_dw[:, :, :, :1], [1, 1, 1, 1], "VALID", dilations=[2, 2]), y

    @tf.function(input_signature=[_spec(1, 40)])
    def fully_connected(x):
        return tf.tanh(tf.matmul(x, w_fc) + b_fc), tf.matmul(x, w_fc)

    @tf.function(input_signature=[_spec(1, 4, 5, 6), _spec(1, 4, 5, 6), _spec(1, 1, 5, 1)])
    def binary(a, b, c):  # ADD with fused RELU, SUB, MUL with a broadcast constant and a broadcast input
        return tf.nn.relu(a + b), a - b, a * c_bcast, c * b, c - a

    @tf.function(input_signature=[_spec(1, 9, 10, 3)])
    def pooling(x):
        return (tf.nn.avg_pool2d(x, 3, 2, "SAME"), tf.nn.max_pool2d(x, [2, 3], [2, 1], "VALID"),
                tf.reduce_mean(x, axis=[1, 2]), tf.reduce_mean(x, axis=[2], keepdims=True))

    @tf.function(input_signature=[_spec(1, 5, 6), _spec(1, 5, 2)])
    def shape_ops(a, b):
        return tf.concat([a, b], axis=-1), tf.pad(a, [[0, 0], [1, 2], [0, 3]]), \
            tf.pad(b, [[0, 0], [2, 0], [1, 1]], constant_values=-1.5)

    @tf.function(input_signature=[_spec(2, 13)])
    def transcendental(x):
        return tf.nn.softmax(x), tf.sigmoid(x * 4.0), tf.tanh(x), tf.nn.softmax(x * 0.25)

    @tf.function(input_signature=[_spec(1, 3, 4, 5)])
    def activations(x):
        return tf.nn.relu(x), tf.nn.relu6(x), tf.nn.leaky_relu(x, 0.1), x * tf.nn.relu6(x + 3.0) / 6.0

    @tf.function(input_signature=[_spec(1, 6, 7, 5)])
    def gather(x):  # STRIDED_SLICE (negative stride), RESIZE_NEAREST_NEIGHBOR, REDUCE_MAX / REDUCE_MIN
        return (x[:, 1:5, ::-2, 1:4], tf.image.resize(x, [9, 13], method="nearest"),
                tf.reduce_max(x, axis=[1, 2]), tf.reduce_min(x, axis=[3], keepdims=True))

    @tf.function(input_signature=[_spec(1, 3, 4, 5)])
    def relu_n1_to_1(x):
        return tf.clip_by_value(x, -1.0, 1.0)

    return {
        "conv": (conv, {"CONV_2D"}, True),
        "depthwise": (depthwise, {"DEPTHWISE_CONV_2D"}, True),
        "fully_connected": (fully_connected, {"FULLY_CONNECTED", "TANH"}, False),
        "binary": (binary, {"ADD", "SUB", "MUL"}, True),
        "pooling": (pooling, {"AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN"}, True),
        "shape_ops": (shape_ops, {"CONCATENATION", "PAD"}, True),
        "transcendental": (transcendental, {"SOFTMAX", "LOGISTIC", "TANH"}, False),
        "activations": (activations, {"RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH"}, True),
        "gather": (gather, {"STRIDED_SLICE", "RESIZE_NEAREST_NEIGHBOR", "REDUCE_MAX", "REDUCE_MIN"}, True),
        "relu_n1_to_1": (relu_n1_to_1, {"RELU_N1_TO_1"}, True),
    }


NAMES = ["conv", "depthwise", "fully_connected", "binary", "pooling", "shape_ops", "transcendental", "activations",
         "gather", "relu_n1_to_1"]
LITERT_ONLY = {"relu_n1_to_1"}  # TFLM has no RELU_N1_TO_1 kernel (it fails to allocate the model)


_CACHE: dict[str, bytes] = {}


def _model(name: str) -> tuple[bytes, bool]:
    f, kinds, exact = _models()[name]
    if name not in _CACHE:
        _CACHE[name] = _float_tflite(f)
    tfl = _CACHE[name]
    got = {op.kind for op in read_tflite(tfl).ops}
    assert kinds <= got, f"{name} converted to {sorted(got)}, missing {sorted(kinds - got)}"
    assert all(read_tflite(tfl).tensor(t).dtype == "float32" for op in read_tflite(tfl).ops for t in op.outputs)
    return tfl, exact


def float_inputs(model: bytes, n: int, seed: int = 3) -> list[list[np.ndarray]]:
    """Normal, wide-range (x 30) and special values (+-0, tiny, exact ties of the ops' constants)."""
    g = read_tflite(model)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        sample = []
        for tid in g.inputs:
            shape = g.tensor(tid).shape
            x = rng.standard_normal(shape).astype(np.float32) * np.float32([1.0, 30.0, 0.01][k % 3])
            flat = x.reshape(-1)
            idx = rng.choice(flat.size, max(1, flat.size // 8), replace=False)
            flat[idx] = rng.choice(np.float32([0.0, -0.0, 1e-30, -3.0, 3.0, 6.0, -9.0, 1.0, -1.0]), idx.size)
            sample.append(x)
        out.append(sample)
    return out


@pytest.mark.parametrize("name,rounding", [(n, r) for n in NAMES for r in ("litert", "tflm")
                                           if not (r == "tflm" and n in LITERT_ONLY)])
def test_float32_op_within_tolerance(name, rounding):
    from edgeq.quality.references import TFLM, LiteRT

    tfl, exact = _model(name)
    _, host = compile_host(tfl, rounding)
    ref = LiteRT(tfl) if rounding == "litert" else TFLM(tfl)
    cmp = ByteCompare(ref.name)
    for i, x in enumerate(float_inputs(tfl, N_SAMPLES)):
        ours, want = host.run(x), ref.run(x)
        cmp.add(i, ours, want)
        for a, b in zip(ours, want):
            assert float_error(a, b)[1] <= FLOAT_RTOL, (name, i, float_error(a, b))
    assert cmp.ok and cmp.float_outputs >= 1, cmp.float_summary()
    if exact and rounding == "litert":
        # same operations in the same order as the reference: identical bytes on IEEE hardware
        assert cmp.bit_exact, (name, cmp.float_max_abs_diff, cmp.mismatched_bytes)


def test_tolerance_rejects_a_wrong_float():
    """The comparison itself: one float off by more than the tolerance fails the sample, NaN must meet NaN."""
    ref = [np.array([0.5, -2.0, 100.0], np.float32)]
    cmp = ByteCompare("x")
    assert cmp.add(0, [ref[0] + np.float32([0, 0, 5e-4])], ref)  # 5e-4 <= 1e-5 * 100 = 1e-3
    assert not cmp.add(1, [ref[0] + np.float32([0, 2e-3, 0])], ref)
    assert not cmp.add(2, [np.array([np.nan, -2.0, 100.0], np.float32)], ref)
    assert not cmp.ok and cmp.first_bad_sample == 1 and "OUT OF TOLERANCE" in cmp.float_summary()
    ints = ByteCompare("y")
    assert not ints.add(0, [np.array([1, 2], np.int8)], [np.array([1, 3], np.int8)])  # ints: bytes
