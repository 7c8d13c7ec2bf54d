"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int16 activations (TFLite 16x8) against LiteRT's
reference kernels (and TFLM, rounding "tflm"), byte for byte.

Measured (see edgeq/passes/lower/int16/conv.py): the convolutions requantize
their int64 accumulator with MultiplyByQuantizedMultiplier(int64_t, ...) (16-bit reduced multiplier,
one rounding); LiteRT's FULLY_CONNECTED uses the full q31 multiplier with single rounding —
``test_fc_requantizes_with_q31_single_rounding`` shows the reduced multiplier fails there — while TFLM's
FULLY_CONNECTED uses the reduced one.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from harness import random_inputs
from harness_int16 import assert_bit_exact16, int16x8_tflite


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def model_of(shape, *layers):
    inp = keras.Input(shape, batch_size=1)
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def conv_fields(tfl: bytes) -> dict:
    from edgeq.api import lower_tflite

    g = lower_tflite(tfl, "litert")
    return dict(next(op for op in g.ops if op.kind == "CONV_2D").lowered.fields)


# in_c 6: the generic kernel (int32 window sums); in_c 8: the reordered SXTB16/SMLAD layout
@pytest.mark.parametrize("in_c,kernel,strides,padding,act,dilation,path", [
    (6, 3, 1, "same", "relu", 1, (0, 1)),
    (6, 5, 2, "valid", "relu6", 1, (0, 1)),
    (6, (2, 3), (2, 1), "same", "relu", 1, (0, 1)),
    (8, 3, 2, "same", None, 1, (1, 1)),
    (8, 3, 1, "same", None, 2, (1, 1)),
    (128, 3, 1, "same", None, 1, (1, 0)),   # large weight sums: per-tap int64 accumulation
    (600, 2, 1, "same", None, 1, (0, 0)),   # filter depth > 508: the plain int64 kernel
])
def test_conv2d(in_c, kernel, strides, padding, act, dilation, path):
    m = model_of((5 if in_c > 100 else 11, 4 if in_c > 100 else 10, in_c),
                 keras.layers.Conv2D(8 if in_c < 100 else 4, kernel, strides=strides, padding=padding,
                                     activation=act, dilation_rate=dilation))
    tfl = assert_bit_exact16(m, expect_ops={"CONV_2D"}, n=8)
    f = conv_fields(tfl)
    assert (f["reordered"], f["acc32"]) == path


@pytest.mark.parametrize("shape,k,dm,strides,padding,act,kernel", [
    ((9, 9, 5), 3, 1, 1, "same", "relu", "edgeq_depthwise_conv_s16_acc"),
    ((9, 9, 5), 3, 2, 2, "valid", None, "edgeq_depthwise_conv_s16_acc"),
    # 1,600 taps: the window sums may leave int32, so the plain int64 kernel
    ((41, 40, 2), 40, 1, 1, "valid", None, "edgeq_depthwise_conv_s16"),
])
def test_depthwise_conv2d(shape, k, dm, strides, padding, act, kernel):
    from edgeq.api import lower_tflite

    m = model_of(shape, keras.layers.DepthwiseConv2D(k, strides=strides, padding=padding, depth_multiplier=dm,
                                                     activation=act))
    tfl = assert_bit_exact16(m, expect_ops={"DEPTHWISE_CONV_2D"}, n=10)
    g = lower_tflite(tfl, "litert")
    assert next(op for op in g.ops if op.kind == "DEPTHWISE_CONV_2D").lowered.kernel == kernel


def test_fully_connected():
    m = model_of((70,), keras.layers.Dense(12, activation="relu"))
    assert_bit_exact16(m, expect_ops={"FULLY_CONNECTED"}, n=20)


def test_fully_connected_per_tensor():
    m = model_of((33,), keras.layers.Dense(9))
    tfl = int16x8_tflite(m, per_channel=False)
    from edgeq.frontend.tflite.reader import read_tflite

    g = read_tflite(tfl)
    fc = next(op for op in g.ops if op.kind == "FULLY_CONNECTED")
    assert len(g.tensor(fc.inputs[1]).quant.scale) == 1
    assert_bit_exact16(model_bytes=tfl, n=20)


@pytest.mark.parametrize("per_channel", [True, False])
def test_fc_requantizes_with_q31_single_rounding(per_channel):
    """Measurement: LiteRT's 16x8 FULLY_CONNECTED output equals the q31 single-rounding requantization of
    its accumulator on every sample, and the convolutions' reduced int64 requantizer differs on some."""
    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower.int16.conv import reduce_multiplier
    from edgeq.passes.lower.quantmath import mul_by_qm_single, quantize_multiplier
    from edgeq.quality.references import LiteRT

    m = model_of((64,), keras.layers.Dense(10))
    tfl = int16x8_tflite(m, scale=30.0, per_channel=per_channel)
    g = read_tflite(tfl)
    fc = next(op for op in g.ops if op.kind == "FULLY_CONNECTED")
    x, w, y = g.tensor(fc.inputs[0]), g.tensor(fc.inputs[1]), g.tensor(fc.outputs[0])
    bias = g.tensor(fc.inputs[2]).data.astype(np.int64) if len(fc.inputs) > 2 and fc.inputs[2] >= 0 else 0
    ws = np.broadcast_to(np.array(w.quant.scale), (10,))
    pairs = [quantize_multiplier(float(x.quant.scale[0]) * float(s) / float(y.quant.scale[0])) for s in ws]
    ref = LiteRT(tfl, preserve_all=True)
    q31_ok, reduced_ok, n = 0, 0, 0
    for sample in random_inputs(tfl, 200):
        ref.run(sample)
        acc = w.data.astype(np.int64) @ ref.tensor(x.id).reshape(-1).astype(np.int64) + bias
        got = ref.tensor(y.id).reshape(-1)
        q31 = np.clip([mul_by_qm_single(int(a), m_, s_) for a, (m_, s_) in zip(acc, pairs)], -32768, 32767)
        red = []
        for a, (m_, s_) in zip(acc, pairs):
            r, t = reduce_multiplier(m_, s_)
            red.append((int(a) * r + (1 << (t - 1))) >> t)
        q31_ok += np.array_equal(q31, got)
        reduced_ok += np.array_equal(np.clip(red, -32768, 32767), got)
        n += 1
    assert q31_ok == n and reduced_ok < n, (q31_ok, reduced_ok, n)
