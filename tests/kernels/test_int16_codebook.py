"""Clustered (codebook) filters with int16 activations (issue 12 §2, ``--scheme int16x8 --clusters K``): the
kernels edgeq_conv_s16_cb / edgeq_depthwise_conv_s16_cb / edgeq_fully_connected_s16_cb decode 2-, 3- or 4-bit
indices (at most 4, 8 or 16 values in every output channel: K = 2..4, 5..8, 9..16) through a per-output-channel
codebook of 2^bits entries (edgeq/passes/lower/int16/conv.py, edgeq_unpack_cb), byte for byte with LiteRT's
reference kernels on the 16x8 model of a k-means-clustered Keras layer (and TFLM, rounding "tflm"). Filters whose
channels' indices start mid-byte (3 bits over 99 or 81 weights a channel, 2 bits over 70) are among the cases.
K = 17 and 256 keep plain int8 filters, unless the model is marked as clustered (quantize --clusters): then 17 to
128 values take 5- to 7-bit indices where they pay (test_wide_codebook); per-tensor weights (one scale) take the
same codebooks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from harness import row_channel_order_is_safe
from harness_int16 import assert_bit_exact16, int16x8_tflite
from edgeq.frontend.cluster import cluster_model, mark_clustered
from edgeq.frontend.tflite.reader import read_tflite


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def model_of(shape, layer):
    inp = keras.Input(shape, batch_size=1)
    return keras.Model(inp, layer(inp))


def lowered(tfl: bytes, kind: str):
    from edgeq.api import lower_tflite

    return next(op for op in lower_tflite(tfl, "litert").ops if op.kind == kind).lowered


def bits_for(k: int) -> int:
    """The index width of a filter clustered to ``k`` values (at most k int8 values in each channel)."""
    return max(2, (k - 1).bit_length())


def check(model, kind: str, k: int, *, per_channel_clusters: bool = False, per_channel: bool = True,
          n: int = 6, mark: bool = False) -> object:
    """Cluster ``model`` to ``k`` values, quantize 16x8 (``mark``: and mark it clustered, as quantize --clusters
    does: the opt-in to 5- to 7-bit indices), assert C == LiteRT (and TFLM), return the lowering; a codebook
    filter (k <= 16, or up to 128 when marked) has bits_for(k)-wide indices, ceil(weights * bits / 8) index
    bytes, 2^bits entries a channel and no int8 copy."""
    clustered = cluster_model(model, k, per_channel=per_channel_clusters)
    tfl = int16x8_tflite(clustered, per_channel=per_channel)
    if mark:
        tfl = mark_clustered(tfl, k, per_channel_clusters)
    assert_bit_exact16(model_bytes=tfl, expect_ops={kind}, n=n)
    low = lowered(tfl, kind)
    packed = k <= (128 if mark else 16)
    assert low.kernel.endswith("_cb") == packed, low.kernel
    f = dict(low.fields)
    if packed:
        bits, out_c = bits_for(k), f["out_c"] if "out_c" in f else f["out_features"]
        w = read_tflite(tfl).tensor(next(op for op in read_tflite(tfl).ops if op.kind == kind).inputs[1])
        assert f["weights"] is None and f["cb_bits"] == bits, (f["cb_bits"], bits)
        assert f["weights_cb"].name.endswith("_idx") and f["weights_cb"].values.nbytes == -(-w.numel * bits // 8)
        assert f["codebook"].values.shape == (out_c, 1 << bits)
        assert low.scratch_bytes > 0
    else:
        assert "cb_bits" not in f and "weights_cb" not in f
    return low


CONV = [  # shape, filters, kernel, strides, padding, dilation, groups, act, K values (index widths)
    ((9, 8, 8), 6, 3, 1, "same", 1, 1, "relu", (3, 16)),        # 72 weights per channel; 2 and 4 bits
    ((10, 9, 8), 5, 3, 2, "valid", 1, 1, None, (8, 16)),
    ((11, 10, 12), 4, (3, 2), (2, 1), "same", 1, 1, "relu6", (4, 5)),  # 72 weights per channel
    ((12, 12, 8), 3, 3, 1, "same", 2, 1, None, (6, 16)),        # dilation
    ((7, 7, 16), 8, 3, 1, "same", 1, 2, None, (2, 8)),          # groups 2: 72 weights per channel
    ((5, 4, 64), 7, 1, 1, "valid", 1, 1, None, (7, 16)),        # 1x1, odd channel count
    ((8, 7, 12), 5, 3, 1, "same", 1, 1, None, (3, 7)),          # reordered, 108 weights: channels start mid-byte
    ((7, 8, 11), 4, 3, (2, 1), "same", 1, 1, "relu", (4, 8)),   # 99 weights per channel (plain window)
]


@pytest.mark.parametrize("shape,filters,kernel,strides,padding,dilation,groups,act,k",
                         [(*c[:-1], k) for c in CONV for k in c[-1]])
def test_conv2d_codebook(shape, filters, kernel, strides, padding, dilation, groups, act, k):
    m = model_of(shape, keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                                            dilation_rate=dilation, groups=groups, activation=act))
    check(m, "CONV_2D", k)


@pytest.mark.parametrize("k,per_channel_clusters,per_channel", [
    (16, True, True), (16, False, False), (17, False, True), (256, False, True)])
def test_conv2d_variants(k, per_channel_clusters, per_channel):
    m = model_of((8, 8, 8), keras.layers.Conv2D(6, 3, padding="same", activation="relu"))
    check(m, "CONV_2D", k, per_channel_clusters=per_channel_clusters, per_channel=per_channel)


@pytest.mark.parametrize("shape,kernel,dm,strides,padding,dilation,k", [
    (*c[:-1], k) for c in (
        ((10, 10, 3), 8, 1, 1, "same", 1, (4, 16)),        # 64 taps per channel
        ((11, 12, 2), (8, 9), 2, 2, "valid", 1, (3, 8)),   # depth multiplier 2
        ((14, 14, 2), 8, 1, 1, "same", 2, (6, 16)),        # dilation
        ((11, 10, 3), 9, 1, (1, 2), "same", 1, (4, 8)),    # 81 taps: channels start mid-byte at 2 and 3 bits
    ) for k in c[-1]])
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
    assert not lowered(tfl, "DEPTHWISE_CONV_2D").kernel.endswith("_cb")


@pytest.mark.parametrize("in_f,out_f,k,per_channel_clusters,per_channel", [
    (70, 12, 16, False, True), (64, 5, 2, True, True), (130, 9, 16, True, False), (70, 12, 17, False, True),
    (70, 12, 256, False, True), (70, 7, 4, False, True), (67, 6, 3, True, False), (70, 5, 8, False, True),
    (99, 4, 7, True, True), (66, 3, 12, False, False)])
def test_fully_connected_codebook(in_f, out_f, k, per_channel_clusters, per_channel):
    m = model_of((in_f,), keras.layers.Dense(out_f, activation="relu"))
    check(m, "FULLY_CONNECTED", k, per_channel_clusters=per_channel_clusters, per_channel=per_channel, n=12)


@pytest.mark.parametrize("kind,layer,shape,k", [
    ("CONV_2D", keras.layers.Conv2D(5, 3, padding="same"), (6, 6, 32), 32),     # 288 weights a channel: 5 bits
    ("CONV_2D", keras.layers.Conv2D(3, 3, strides=2), (7, 7, 40), 64),          # 360: 6 bits, odd out_c
    ("DEPTHWISE_CONV_2D", keras.layers.DepthwiseConv2D(10, padding="same"), (12, 12, 3), 20),  # 100 taps
    ("FULLY_CONNECTED", keras.layers.Dense(4), (300,), 40),                     # 6 bits
    ("CONV_2D", keras.layers.Conv2D(3, 3, activation="relu"), (5, 5, 120), 100),  # 1080 weights: 7 bits
])
def test_wide_codebook(kind, layer, shape, k):
    """In a model marked as clustered, 17 to 128 values a channel take 5- to 7-bit indices (one little-endian
    stream, 2^bits entries a channel) where they take fewer bytes than int8: byte for byte with LiteRT and
    TFLM; unmarked, the same filter stays int8 (test_conv2d_variants' K = 17)."""
    check(model_of(shape, layer), kind, k, mark=True, n=4)


def test_wide_codebook_needs_enough_weights():
    """5-bit indices with 32 entries a channel cost more than 72 int8 weights a channel: plain int8 kept."""
    m = model_of((8, 8, 8), keras.layers.Conv2D(6, 3, padding="same"))
    tfl = mark_clustered(int16x8_tflite(cluster_model(m, 24)), 24, False)
    assert not lowered(tfl, "CONV_2D").kernel.endswith("_cb")


@pytest.mark.parametrize("k,idx_bytes,cb_bytes", [(4, 6 * 72 // 4, 6 * 4), (8, 6 * 72 * 3 // 8, 6 * 8),
                                                   (16, 6 * 72 // 2, 6 * 16)])
def test_packed_bytes(k, idx_bytes, cb_bytes):
    """The indices take 2, 3 or 4 bits a weight plus 4, 8 or 16 codebook bytes per channel; no int8 copy is
    emitted (6 channels of 72 weights: 108 + 24, 162 + 48, 216 + 96 bytes, from 432 at int8)."""
    m = model_of((9, 8, 8), keras.layers.Conv2D(6, 3, padding="same"))
    low = check(m, "CONV_2D", k, n=2)
    f = dict(low.fields)
    assert np.asarray(f["weights_cb"].values).nbytes == idx_bytes
    assert np.asarray(f["codebook"].values).nbytes == cb_bytes


def _cb_is_safe(geo: dict, in_c: int, out_c: int, chans, margin: int) -> bool:
    """edgeq_conv_s16_cb / edgeq_depthwise_conv_s16_cb (int16_conv.c) write output rows in raster order,
    within a row channel by channel: harness.row_channel_order_is_safe on int16 elements."""
    return row_channel_order_is_safe(geo, in_c, out_c, margin, 2, chans)


@pytest.mark.parametrize("in_hw,k,stride,padding,dilation", [
    ((6, 7), 3, 1, "SAME", 1), ((7, 6), 3, 2, "SAME", 1), ((8, 5), 2, 1, "VALID", 2), ((5, 5), 1, 1, "VALID", 1)])
def test_cb_overlap_margin_is_safe(in_hw, k, stride, padding, dilation):
    """The per-row margin the lowering gives the _cb kernels holds for their read/write order (conv with 1 and
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
        assert _cb_is_safe(geo, in_c, out_c, chans, m), (in_c, out_c, m)
        per_pixel = raster_overlap_margin(geo, in_c, out_c, 2, 2)
        unsafe_per_pixel.append(not _cb_is_safe(geo, in_c, out_c, chans, per_pixel))
    assert any(unsafe_per_pixel) or k == 1
