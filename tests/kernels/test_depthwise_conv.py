"""DEPTHWISE_CONV_2D (int8, per-channel and per-tensor weights) against LiteRT's reference and TFLM.

Measured: LiteRT 2.3's reference DepthwiseConvPerChannel requantizes with double rounding (like TFLM
and like its CONV_2D; unlike its FULLY_CONNECTED). ``test_litert_depthwise_rounds_twice`` pins it down.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from harness import assert_bit_exact, compare, int8_tflite, random_inputs
from test_conv import MLPERF, check_ops_in_model, conv_model, positive_calib
from edgeq.frontend.tflite.reader import read_tflite


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


# The kernel accumulates 32 output channels at a time: channel counts around and across 32, with
# depth multipliers that make a block start in the middle of an input channel's outputs, matter.
@pytest.mark.parametrize("shape,kernel,strides,dilation,padding,dm,act,bias", [
    ((9, 11, 5), 3, 1, 1, "same", 1, None, True),
    ((9, 11, 5), 3, 2, 1, "same", 1, "relu", True),          # asymmetric SAME padding
    ((8, 8, 4), 2, 2, 1, "same", 2, "relu6", False),         # even kernel
    ((10, 7, 3), (3, 1), (1, 2), 1, "valid", 3, None, True),
    ((6, 12, 2), (1, 5), 1, 1, "same", 2, "relu", True),
    ((12, 12, 4), 3, 1, 2, "same", 1, None, True),           # dilation
    ((13, 9, 3), 3, 1, (2, 3), "valid", 2, "relu6", True),
    ((9, 9, 8), 1, 3, 1, "same", 1, None, True),             # stride > kernel
    ((5, 5, 6), 5, 1, 1, "valid", 1, None, True),            # kernel as large as the input
    ((3, 3, 2), 5, 1, 1, "same", 2, "relu", True),           # kernel larger than the input
    ((1, 1, 7), 3, 1, 1, "same", 1, None, True),             # 1x1 spatial
    ((7, 7, 1), 3, 1, 1, "same", 1, None, True),             # one channel
    ((7, 7, 1), 3, 2, 1, "same", 3, "relu", True),
    ((6, 6, 40), 3, 1, 1, "same", 1, None, True),            # two channel blocks
    ((6, 6, 13), 3, 2, 1, "same", 3, None, True),            # 39 outputs: block 2 starts at m=2
    ((5, 5, 11), 3, 1, 1, "valid", 7, "relu6", True),        # 77 outputs, dm does not divide 32
])
def test_depthwise_conv2d(shape, kernel, strides, dilation, padding, dm, act, bias):
    m = conv_model(shape, keras.layers.DepthwiseConv2D(kernel, strides=strides, dilation_rate=dilation,
                                                       padding=padding, depth_multiplier=dm,
                                                       activation=act, use_bias=bias))
    assert_bit_exact(m, expect_ops={"DEPTHWISE_CONV_2D"})


@pytest.mark.parametrize("shape,kernel,strides,dm,act", [
    ((9, 11, 5), 3, 1, 1, None),
    ((8, 8, 4), 3, 2, 2, "relu6"),
    ((6, 6, 13), 3, 1, 3, "relu"),
])
def test_depthwise_conv2d_per_tensor(shape, kernel, strides, dm, act):
    m = conv_model(shape, keras.layers.DepthwiseConv2D(kernel, strides=strides, padding="same",
                                                       depth_multiplier=dm, activation=act))
    tfl = assert_bit_exact(m, expect_ops={"DEPTHWISE_CONV_2D"}, per_channel=False)
    g = read_tflite(tfl)
    dw = next(op for op in g.ops if op.kind == "DEPTHWISE_CONV_2D")
    assert len(g.tensor(dw.inputs[1]).quant.scale) == 1


@pytest.mark.parametrize("dm,per_channel", [(1, True), (2, False)])
def test_depthwise_large_input_offset(dm, per_channel):
    shape = (7, 9, 6)
    m = conv_model(shape, keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=dm))
    assert_bit_exact(m, expect_ops={"DEPTHWISE_CONV_2D"}, calib=positive_calib(shape), per_channel=per_channel)


def test_depthwise_relu_n1_to_1():
    inp = keras.Input((6, 6, 4), batch_size=1)
    out = keras.ops.clip(keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inp), -1.0, 1.0)
    tfl = assert_bit_exact(keras.Model(inp, out), expect_ops={"DEPTHWISE_CONV_2D"})
    acts = {op.attrs["fused_activation_function"] for op in read_tflite(tfl).ops}
    assert acts == {"RELU_N1_TO_1"}


def test_depthwise_batch2():
    m = conv_model((6, 6, 3), keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
                   batch=2)
    assert_bit_exact(m, expect_ops={"DEPTHWISE_CONV_2D"})


@pytest.mark.parametrize("dm,act,per_channel", [(1, "relu", True), (3, "relu6", False)])
def test_separable_conv2d(dm, act, per_channel):
    """SeparableConv2D = DEPTHWISE_CONV_2D followed by a 1x1 CONV_2D."""
    m = conv_model((8, 8, 6), keras.layers.SeparableConv2D(7, 3, padding="same", depth_multiplier=dm,
                                                           activation=act))
    assert_bit_exact(m, expect_ops={"DEPTHWISE_CONV_2D", "CONV_2D"}, per_channel=per_channel)


def test_depthwise_conv1d():
    m = conv_model((20, 5), keras.layers.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2))
    assert_bit_exact(m, expect_ops={"DEPTHWISE_CONV_2D"})


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 10), w=st.integers(1, 10), cin=st.integers(1, 40), dm=st.integers(1, 4),
       kh=st.integers(1, 4), kw=st.integers(1, 4), stride=st.integers(1, 3), dil=st.integers(1, 3),
       padding=st.sampled_from(["same", "valid"]), act=st.sampled_from([None, "relu", "relu6"]),
       bias=st.booleans(), per_channel=st.booleans())
def test_depthwise_random(h, w, cin, dm, kh, kw, stride, dil, padding, act, bias, per_channel):
    if stride > 1:
        dil = 1
    if padding == "valid":
        assume((kh - 1) * dil + 1 <= h and (kw - 1) * dil + 1 <= w)
    m = conv_model((h, w, cin), keras.layers.DepthwiseConv2D((kh, kw), strides=stride, dilation_rate=dil,
                                                             padding=padding, depth_multiplier=dm,
                                                             activation=act, use_bias=bias))
    assert_bit_exact(m, expect_ops={"DEPTHWISE_CONV_2D"}, n=8, per_channel=per_channel)


def test_litert_depthwise_rounds_twice(monkeypatch):
    import edgeq.passes.lower.int8.conv as conv_ops
    import edgeq.passes.lower.int8.depthwise_conv as dw_ops

    m = conv_model((12, 12, 8), keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2))
    tfl = int8_tflite(m)
    inputs = random_inputs(tfl, 10)
    assert compare(tfl, inputs, "litert").bit_exact
    for mod in (conv_ops, dw_ops):
        monkeypatch.setattr(mod, "rounding_flag", lambda ctx, litert_single: 1)
    assert not compare(tfl, inputs, "litert").bit_exact


def test_mlperf_depthwise_ops(tmp_path):
    assert check_ops_in_model(MLPERF / "kws_dscnn_int8.tflite", {"DEPTHWISE_CONV_2D"}, tmp_path) == 4


# --- the Cortex-M DSP path's requantization, from its pack (the board tests run the kernel itself) ----------

def _dsp_requant(pack: np.ndarray, out_c: int, acc: np.ndarray, k: int) -> np.ndarray:
    """dw_dsp_loop's requantization (firmware/kernels/depthwise_conv.c) of the accumulators ``acc`` for every
    channel, from the pack's words: ssat8(((SMMLAR(acc, m2, acc - (acc < 0)) >> (e - 1)) + k) >> 1)."""
    groups = pack.reshape(-1, 18).astype(np.int64)
    e1 = ((groups[:, 13:14] & 0xFFFFFFFF) >> (8 * np.arange(4))) & 0xFF  # e - 1, four bytes a word
    e1, m2 = e1.reshape(-1)[:out_c, None], groups[:, 14:18].reshape(-1)[:out_c, None]
    v = ((acc[None, :] * m2 + (1 << 31)) >> 32) + acc[None, :] - (acc[None, :] < 0)
    return np.clip(((v >> e1) + k) >> 1, -128, 127)


def _reference_requant(mult: np.ndarray, shift: np.ndarray, acc: np.ndarray, off: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier (double rounding, right shifts) + off, saturated: quantmath's srdhm and
    rounding_divide_by_pot, vectorized."""
    m, e = mult.astype(np.int64)[:, None], -shift.astype(np.int64)[:, None]
    ab = acc[None, :] * m
    v = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    x = np.where(v >= 0, np.abs(v) >> 31, -(np.abs(v) >> 31))
    mask = (np.int64(1) << e) - 1
    x = (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))
    return np.clip(x + off, -128, 127)


def test_dsp_pack_requantization_is_exact():
    """The DSP path's requantization equals the reference on every accumulator in [-2^16, 2^16] and at random
    ones up to 2^30 (the lowering's bound), for kws's four depthwise layers and for multipliers and shifts at
    the path's limits (m 2^30 and 2^31 - 1, e 1 and 24), at several output offsets."""
    from edgeq.passes.lower import lower
    from edgeq.passes.lower.int8.depthwise_conv import _dw_dsp_pack
    from edgeq.passes.lower.quantmath import rounding_divide_by_pot, srdhm
    from edgeq.passes.lower.registry import LowerCtx

    rng = np.random.default_rng(0)
    acc = np.concatenate([np.arange(-(1 << 16), (1 << 16) + 1), rng.integers(-(1 << 30), 1 << 30, 20000)])
    g0 = read_tflite((MLPERF / "kws_dscnn_int8.tflite").read_bytes())
    dsp = [op for op in lower(g0, LowerCtx(cpu="dsp")).ops if op.kind == "DEPTHWISE_CONV_2D"]
    ref = [op for op in lower(g0, LowerCtx(cpu="portable")).ops if op.kind == "DEPTHWISE_CONV_2D"]
    cases = []
    for op, r in zip(dsp, ref):
        f, fr = dict(op.lowered.fields), dict(r.lowered.fields)
        cases.append((f["dsp_pack"].values, f["out_c"], fr["mult"].values, fr["shift"].values))
    # the limits, through the lowering's own pack (kws's first layer's weights and acc_init)
    r = dict(ref[0].lowered.fields)
    w = g0.tensor(ref[0].inputs[1]).data
    mult = np.tile(np.array([1 << 30, (1 << 31) - 1, 1518500250, 1 << 30], np.int64), 16)
    shift = -np.tile(np.array([1, 24, 1, 7]), 16)
    pack = _dw_dsp_pack(ref[0], w, None, r["acc_init"], mult, shift, 1, 0)
    cases.append((pack.values, 64, mult, shift))
    for k, (pack, out_c, mult, shift) in enumerate(cases):
        for off in (-128, -3, 0, 5, 127):
            got = _dsp_requant(pack, out_c, acc, 2 * off + 1)
            want = _reference_requant(mult, shift, acc, off)
            assert (got == want).all(), (k, off, np.argwhere(got != want)[:5])
    # the vectorized reference against quantmath's scalar one
    for a in rng.integers(-(1 << 30), 1 << 30, 300).tolist() + [-1, 0, 1, -(1 << 15), 1 << 15]:
        c = int(rng.integers(0, 64))
        want = max(-128, min(127, rounding_divide_by_pot(srdhm(a, int(mult[c])), int(-shift[c])) + 5))
        assert _reference_requant(mult[c:c + 1], shift[c:c + 1], np.array([a]), 5)[0, 0] == want
