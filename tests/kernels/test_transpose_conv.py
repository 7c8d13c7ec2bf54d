"""TRANSPOSE_CONV (Keras Conv2DTranspose) vs LiteRT reference kernels and TFLM, byte for byte.

Measured facts these tests pin down (see edgeq/passes/lower/int8/transpose_conv.py):
  - both references requantize with double rounding (a single-rounding kernel fails here);
  - the multiplier is computed in double (test_multiplier_is_computed_in_double fails with a float32
    product), the fused activation is applied (test_fused_activation_clamps fails without it);
  - a non-zero Keras bias becomes input 3 (an all-zero one is dropped by the converter, and then the
    activation stays a separate op).
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from harness import assert_bit_exact, int8_tflite
from edgeq.frontend.tflite.reader import read_tflite

OPS = {"TRANSPOSE_CONV"}


def _model(in_shape, filters, kernel, strides, padding, bias=True, act=None, seed=0, **kw):
    inp = keras.Input(in_shape, batch_size=1)
    layer = keras.layers.Conv2DTranspose(filters, kernel, strides=strides, padding=padding,
                                         use_bias=bias, activation=act, **kw)
    out = layer(inp)
    rng = np.random.default_rng(seed)
    w = layer.get_weights()
    fan_in = np.prod(w[0].shape[:2]) * w[0].shape[3]
    new = [rng.standard_normal(w[0].shape).astype(np.float32) / np.sqrt(fan_in)]
    if bias:  # non-zero: the converter drops an all-zero bias
        new.append(rng.standard_normal(w[1].shape).astype(np.float32) * 0.5)
    layer.set_weights(new)
    return keras.Model(inp, out)


def _patched(tfl: bytes, edit) -> bytes:
    """Edit the converted flatbuffer (as an object tree) to reach configurations Keras cannot emit."""
    from tensorflow.lite.tools import flatbuffer_utils as fu

    m = fu.convert_bytearray_to_object(bytearray(tfl))
    edit(m.subgraphs[0], m)
    return bytes(fu.convert_object_to_bytearray(m))


@pytest.mark.parametrize("in_shape,filters,kernel,strides,padding,bias,act", [
    ((5, 6, 3), 4, 3, 2, "same", True, None),
    ((5, 6, 3), 4, 3, 2, "same", True, "relu"),
    ((4, 4, 7), 5, 3, 1, "valid", True, "relu6"),
    ((3, 5, 2), 3, 2, 3, "valid", True, None),
    ((3, 3, 1), 1, 5, 2, "same", True, "relu"),      # 1 channel in and out
    ((6, 4, 8), 9, 4, 2, "same", False, None),       # no bias, even kernel
    ((2, 3, 5), 6, 1, 3, "valid", True, None),       # stride > kernel: gaps in the output
    ((4, 5, 3), 2, (3, 5), (1, 2), "same", True, None),
    ((1, 1, 4), 3, 3, 1, "valid", True, None),       # 1x1 input
    ((1, 1, 3), 2, 1, 1, "same", True, "relu6"),     # 1x1 everything
    ((7, 3, 4), 4, 5, 3, "same", True, "relu"),
    ((3, 3, 3), 2, 4, 3, "valid", True, None),
    ((2, 2, 16), 17, 5, 1, "same", True, None),      # kernel larger than the input
    ((3, 4, 2), 3, (1, 4), (3, 1), "valid", True, None),
])
def test_conv2d_transpose(in_shape, filters, kernel, strides, padding, bias, act):
    assert_bit_exact(_model(in_shape, filters, kernel, strides, padding, bias, act), expect_ops=OPS)


@pytest.mark.parametrize("kernel,strides,padding,output_padding", [
    (3, 2, "same", 0),    # output 9x9 from 5x5: padding from the op's output size, not the input
    (3, 2, "same", 1),
    (2, 3, "valid", 2),   # extra rows/cols at the end receive only the bias
    (4, 3, "same", 1),
])
def test_output_padding(kernel, strides, padding, output_padding):
    m = _model((5, 4, 3), 4, kernel, strides, padding, output_padding=output_padding)
    assert_bit_exact(m, expect_ops=OPS)


@pytest.mark.parametrize("act", [None, "relu"])
def test_per_tensor_weights(act):
    m = _model((4, 5, 6), 5, 3, 2, "same", act=act, seed=3)
    assert_bit_exact(m, expect_ops=OPS, per_channel=False)


def test_wide_input_range():
    m = _model((4, 4, 8), 8, 3, 2, "valid", act="relu", seed=4)
    assert_bit_exact(m, expect_ops=OPS, scale=8.0)


# Fused activations with a clamp that bites: Keras calibrates the output of a fused RELU to [0, max],
# so the clamp coincides with the int8 range. Moving the output zero point (and scale) makes it count.
@pytest.mark.parametrize("act,out_scale,out_zp", [
    ("RELU", None, 0), ("RELU", 0.02, -30), ("RELU6", 0.03, -100), ("RELU_N1_TO_1", None, 3),
    ("RELU_N1_TO_1", 0.05, -7),
])
def test_fused_activation_clamps(act, out_scale, out_zp):
    codes = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
    base = int8_tflite(_model((5, 4, 6), 5, 3, 2, "same", act="relu", seed=5))

    def edit(sg, m):
        op = sg.operators[0]
        op.builtinOptions.fusedActivationFunction = codes[act]
        q = sg.tensors[op.outputs[0]].quantization
        q.zeroPoint = [out_zp]
        if out_scale is not None:
            q.scale = [out_scale]

    tfl = _patched(base, edit)
    op = read_tflite(tfl).ops[0]
    assert op.kind == "TRANSPOSE_CONV" and op.attrs["fused_activation_function"] == act
    assert_bit_exact(None, model_bytes=tfl, expect_ops=OPS)


# (filter scale, accumulator) pairs for input scale 0.05 and output scale 0.07 where a multiplier from
# float32(input_scale * filter_scale) requantizes to a different int8 than the all-double one.
_PRECISION_CASES = [(0.0013112269807606936, -80611), (0.0012057527201250196, 47024),
                    (0.00133246008772403, 74073), (0.0030496190302073956, -14919),
                    (0.004470163024961948, 30222), (0.001291179098188877, 121981),
                    (0.004251055419445038, -35073), (0.004894142504781485, -13015)]


def test_multiplier_is_computed_in_double():
    n = len(_PRECISION_CASES)
    base = int8_tflite(_model((1, 1, 1), n, 1, 1, "valid", seed=6))

    def edit(sg, m):
        op = sg.operators[0]
        w, x, b = (sg.tensors[i] for i in op.inputs[1:4])
        y = sg.tensors[op.outputs[0]]
        x.quantization.scale, x.quantization.zeroPoint = [0.05], [0]
        y.quantization.scale, y.quantization.zeroPoint = [0.07], [0]
        w.quantization.scale = [s for s, _ in _PRECISION_CASES]
        m.buffers[w.buffer].data = np.zeros(n, np.int8).view(np.uint8)  # output = requant(bias)
        m.buffers[b.buffer].data = np.array([a for _, a in _PRECISION_CASES], np.int32).view(np.uint8)

    assert_bit_exact(None, model_bytes=_patched(base, edit), expect_ops=OPS, n=2)


def test_batch_of_two():
    """batch > 1 (converted here: the harness converts batch-1 models)."""
    import tensorflow as tf

    inp = keras.Input((4, 3, 5), batch_size=2)
    layer = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same")
    m = keras.Model(inp, layer(inp))
    w, b = layer.get_weights()
    layer.set_weights([w, b + 0.3])
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(16):
            yield [rng.standard_normal((2, 4, 3, 5)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    assert_bit_exact(None, model_bytes=conv.convert(), expect_ops=OPS)


@settings(max_examples=8, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), cin=st.integers(1, 9), cout=st.integers(1, 9),
       kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       padding=st.sampled_from(["same", "valid"]), act=st.sampled_from([None, "relu", "relu6"]),
       seed=st.integers(0, 1000))
def test_random_configs(h, w, cin, cout, kh, kw, sh, sw, padding, act, seed):
    m = _model((h, w, cin), cout, (kh, kw), (sh, sw), padding, True, act, seed=seed)
    assert_bit_exact(m, expect_ops=OPS, n=8)


def test_unsupported_configurations_are_reported():
    from edgeq.ir import Graph, Op, Quant, Tensor
    from edgeq.passes.lower import unsupported_ops

    shape = Tensor(0, "shape", (4,), "int32", data=np.array([1, 8, 8, 2], np.int32))
    w = Tensor(1, "w", (2, 3, 3, 3), "int8", Quant((0.01, 0.02), (0, 0)), data=np.ones((2, 3, 3, 3), np.int8))
    w_zp = Tensor(1, "w", (2, 3, 3, 3), "int8", Quant((0.01,), (5,)), data=np.ones((2, 3, 3, 3), np.int8))
    x = Tensor(2, "x", (1, 4, 4, 3), "int8", Quant((0.1,), (0,)))
    x16 = Tensor(2, "x", (1, 4, 4, 3), "int16", Quant((0.1,), (0,)))
    y = Tensor(3, "y", (1, 8, 8, 2), "int8", Quant((0.2,), (0,)))
    y16 = Tensor(3, "y", (1, 8, 8, 2), "int16", Quant((0.2,), (0,)))
    attrs = {"padding": "SAME", "stride_w": 2, "stride_h": 2, "fused_activation_function": "NONE"}
    op = Op(0, "TRANSPOSE_CONV", (0, 1, 2), (3,), attrs)
    for tensors, why in (((shape, w, x16, y16), "int16"), ((shape, w_zp, x, y), "symmetric")):
        bad = unsupported_ops(Graph(tensors, (op,), (2,), (3,)))
        assert len(bad) == 1 and why in bad[0][2], bad
    assert unsupported_ops(Graph((shape, w, x, y), (op,), (2,), (3,))) == []
