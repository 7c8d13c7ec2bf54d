"""Clustered (codebook) filters with int16 activations (issue 12 §2, ``--scheme int16x8 --clusters K``): the
kernels edgeq_conv_s16_cb4 / edgeq_depthwise_conv_s16_cb4 / edgeq_fully_connected_s16_cb4 decode 4-bit indices
through a per-output-channel codebook (edgeq/passes/lower/int16/conv.py), byte for byte with LiteRT's reference
kernels on the 16x8 model of a k-means-clustered Keras layer (and TFLM, rounding "tflm"). K = 17 and 256 keep
plain int8 filters; per-tensor weights (one scale) take the same codebooks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from harness import row_channel_order_is_safe
from harness_int16 import assert_bit_exact16, int16x8_tflite
from edgeq.frontend.cluster import cluster_model


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def model_of(shape, layer):
    inp = keras.Input(shape, batch_size=1)
    return keras.Model(inp, layer(inp))


def lowered(tfl: bytes, kind: str):
    from edgeq.api import lower_tflite

    return next(op for op in lower_tflite(tfl, "litert").ops if op.kind == kind).lowered


def check(model, kind: str, k: int, *, per_channel_clusters: bool = False, per_channel: bool = True,
          n: int = 6) -> object:
    """Cluster ``model`` to ``k`` values, quantize 16x8, assert C == LiteRT (and TFLM), return the lowering."""
    clustered = cluster_model(model, k, per_channel=per_channel_clusters)
    tfl = int16x8_tflite(clustered, per_channel=per_channel)
    assert_bit_exact16(model_bytes=tfl, expect_ops={kind}, n=n)
    low = lowered(tfl, kind)
    packed = k <= 16
    assert low.kernel.endswith("_cb4") == packed, low.kernel
    f = dict(low.fields)
    if packed:
        assert f["weights"] is None and f["codebook"] is not None and f["weights_cb4"] is not None
        assert low.scratch_bytes > 0
    return low


CONV = [  # shape, filters, kernel, strides, padding, dilation, groups, act
    ((9, 8, 8), 6, 3, 1, "same", 1, 1, "relu"),        # 72 weights per channel
    ((10, 9, 8), 5, 3, 2, "valid", 1, 1, None),
    ((11, 10, 12), 4, (3, 2), (2, 1), "same", 1, 1, "relu6"),  # 72 weights per channel
    ((12, 12, 8), 3, 3, 1, "same", 2, 1, None),         # dilation
    ((7, 7, 16), 8, 3, 1, "same", 1, 2, None),          # groups 2: 72 weights per channel
    ((5, 4, 64), 7, 1, 1, "valid", 1, 1, None),         # 1x1, odd channel count
]


@pytest.mark.parametrize("shape,filters,kernel,strides,padding,dilation,groups,act", CONV)
@pytest.mark.parametrize("k", [2, 16])
def test_conv2d_codebook(shape, filters, kernel, strides, padding, dilation, groups, act, k):
    m = model_of(shape, keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                                            dilation_rate=dilation, groups=groups, activation=act))
    check(m, "CONV_2D", k)


@pytest.mark.parametrize("k,per_channel_clusters,per_channel", [
    (16, True, True), (16, False, False), (17, False, True), (256, False, True)])
def test_conv2d_variants(k, per_channel_clusters, per_channel):
    m = model_of((8, 8, 8), keras.layers.Conv2D(6, 3, padding="same", activation="relu"))
    check(m, "CONV_2D", k, per_channel_clusters=per_channel_clusters, per_channel=per_channel)


@pytest.mark.parametrize("shape,kernel,dm,strides,padding,dilation", [
    ((10, 10, 3), 8, 1, 1, "same", 1),       # 64 taps per channel
    ((11, 12, 2), (8, 9), 2, 2, "valid", 1),  # depth multiplier 2
    ((14, 14, 2), 8, 1, 1, "same", 2),       # dilation
])
@pytest.mark.parametrize("k", [2, 16])
def test_depthwise_codebook(shape, kernel, dm, strides, padding, dilation, k):
    m = model_of(shape, keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=dm,
                                                     dilation_rate=dilation))
    check(m, "DEPTHWISE_CONV_2D", k, per_channel_clusters=k == 16)


@pytest.mark.parametrize("k", [17, 256])
def test_depthwise_unpacked(k):
    m = model_of((10, 10, 3), keras.layers.DepthwiseConv2D(8, padding="same"))
    check(m, "DEPTHWISE_CONV_2D", k)


def test_depthwise_small_filter_stays_int8():
    """3x3 depthwise: 9 weights per channel, where a 16-byte codebook would cost more than it saves."""
    m = model_of((8, 8, 4), keras.layers.DepthwiseConv2D(3, padding="same"))
    tfl = int16x8_tflite(cluster_model(m, 16))
    assert_bit_exact16(model_bytes=tfl, expect_ops={"DEPTHWISE_CONV_2D"}, n=3, roundings=("litert",))
    assert not lowered(tfl, "DEPTHWISE_CONV_2D").kernel.endswith("_cb4")


@pytest.mark.parametrize("in_f,out_f,k,per_channel_clusters,per_channel", [
    (70, 12, 16, False, True), (64, 5, 2, True, True), (130, 9, 16, True, False), (70, 12, 17, False, True),
    (70, 12, 256, False, True)])
def test_fully_connected_codebook(in_f, out_f, k, per_channel_clusters, per_channel):
    m = model_of((in_f,), keras.layers.Dense(out_f, activation="relu"))
    check(m, "FULLY_CONNECTED", k, per_channel_clusters=per_channel_clusters, per_channel=per_channel, n=12)


def test_packed_bytes():
    """The indices are half a byte a weight plus 16 codebook bytes per channel; no int8 copy is emitted."""
    m = model_of((9, 8, 8), keras.layers.Conv2D(6, 3, padding="same"))
    low = check(m, "CONV_2D", 16, n=2)
    f = dict(low.fields)
    assert np.asarray(f["weights_cb4"].values).nbytes == 6 * 72 // 2
    assert np.asarray(f["codebook"].values).nbytes == 6 * 16


def _cb4_is_safe(geo: dict, in_c: int, out_c: int, chans, margin: int) -> bool:
    """edgeq_conv_s16_cb4 / edgeq_depthwise_conv_s16_cb4 (int16_conv.c) write output rows in raster order,
    within a row channel by channel: harness.row_channel_order_is_safe on int16 elements."""
    return row_channel_order_is_safe(geo, in_c, out_c, margin, 2, chans)


@pytest.mark.parametrize("in_hw,k,stride,padding,dilation", [
    ((6, 7), 3, 1, "SAME", 1), ((7, 6), 3, 2, "SAME", 1), ((8, 5), 2, 1, "VALID", 2), ((5, 5), 1, 1, "VALID", 1)])
def test_cb4_overlap_margin_is_safe(in_hw, k, stride, padding, dilation):
    """The per-row margin the lowering gives the _cb4 kernels holds for their read/write order (conv with 1 and
    2 groups, depthwise with depth multipliers 1 and 2), where the per-pixel margin does not always."""
    from edgeq.passes.lower.geometry import compute_out_size, compute_padding, raster_overlap_margin

    (in_h, in_w) = in_hw
    out_h, out_w = compute_out_size(padding, in_h, k, stride, dilation), compute_out_size(padding, in_w, k, stride,
                                                                                         dilation)
    geo = dict(batches=1, in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, k_h=k, k_w=k, stride_h=stride,
               stride_w=stride, dilation_h=dilation, dilation_w=dilation,
               pad_h=compute_padding(stride, dilation, in_h, k, out_h),
               pad_w=compute_padding(stride, dilation, in_w, k, out_w))
    unsafe_per_pixel = []
    cases = [(3, 3, lambda oc: range(3)), (4, 6, lambda oc: range(2 * (oc // 3), 2 * (oc // 3) + 2)),  # 2 groups
             (3, 3, lambda oc: (oc,)), (2, 4, lambda oc: (oc // 2,))]  # depthwise, multiplier 1 and 2
    for in_c, out_c, chans in cases:
        m = raster_overlap_margin(geo, in_c, out_c, 2, 2, per_row=True)
        assert _cb4_is_safe(geo, in_c, out_c, chans, m), (in_c, out_c, m)
        per_pixel = raster_overlap_margin(geo, in_c, out_c, 2, 2)
        unsafe_per_pixel.append(not _cb4_is_safe(geo, in_c, out_c, chans, per_pixel))
    assert any(unsafe_per_pixel) or k == 1
