"""Weight-only int8 in the float32 kernels (firmware/kernels/float32_{conv,fully_connected,batch_matmul}.c).

Each model is a small float32 graph (``tf.function``) quantized by ai-edge-quantizer's weight-only recipe
(edgeq.frontend.weight_only: int8 weights, per channel or per tensor, each behind a DEQUANTIZE). LiteRT's
reference runs the DEQUANTIZE and then its float kernel; the generated C reads the int8 weights and computes
``(float)w * scale[c]`` inside the kernel, in the reference's accumulation order: the bytes must be the
reference's, on every shape here (conv with stride / padding / dilation / bias / fused activation, grouped-free
1x1, depthwise with a depth multiplier, fully connected with batches, batch matmul with broadcast batches).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.frontend.weight_only import weight_only_tflite
from edgeq.passes.pipeline import lower_tflite
from edgeq.quality.compare import ByteCompare
from edgeq.quality.references import LiteRT

from harness import compile_host, row_channel_order_is_safe
from test_float32_ops import float_inputs

N_SAMPLES = 12


def _spec(*shape):
    import tensorflow as tf

    return tf.TensorSpec(shape, tf.float32)


def _models():
    """name -> (tf.function, the weighted op kind it must contain)."""
    import tensorflow as tf

    rng = np.random.default_rng(11)

    def c(*shape, scale=0.3):
        # channels of very different magnitudes, so per-channel and per-tensor scales differ
        w = rng.standard_normal(shape) * scale
        return (w * np.geomspace(0.05, 2.0, shape[-1])).astype(np.float32)

    w1, b1, w2, w3 = c(3, 3, 5, 6), c(6), c(1, 2, 6, 4), c(1, 1, 4, 7)
    wd, bd, wd2 = c(3, 3, 4, 2), c(8), c(2, 3, 8, 1)
    wf, bf, wf2 = c(40, 7), c(7), c(7, 3)
    wb = c(2, 6, 5)

    @tf.function(input_signature=[_spec(1, 9, 11, 5)])
    def conv(x):  # SAME stride 2 + bias + RELU6; VALID dilated without bias; 1x1
        y = tf.nn.relu6(tf.nn.conv2d(x, w1, 2, "SAME") + b1)
        y = tf.nn.conv2d(y, w2, 1, "VALID", dilations=[1, 2])
        return tf.nn.conv2d(y, w3, 1, "SAME")

    @tf.function(input_signature=[_spec(1, 8, 7, 4)])
    def depthwise(x):  # depth multiplier 2, SAME, stride 2, bias, RELU; then dilated VALID
        y = tf.nn.relu(tf.nn.depthwise_conv2d(x, wd, [1, 2, 2, 1], "SAME") + bd)
        return tf.nn.depthwise_conv2d(y, wd2, [1, 1, 1, 1], "VALID", dilations=[1, 1])

    @tf.function(input_signature=[_spec(3, 40)])
    def fully_connected(x):  # three batches, bias, RELU; a second without bias
        return tf.matmul(tf.nn.relu(tf.matmul(x, wf) + bf), wf2)

    @tf.function(input_signature=[_spec(2, 3, 6)])
    def batch_matmul(x):
        return tf.matmul(x, wb)

    return {"conv": (conv, "CONV_2D"), "depthwise": (depthwise, "DEPTHWISE_CONV_2D"),
            "fully_connected": (fully_connected, "FULLY_CONNECTED"), "batch_matmul": (batch_matmul, "BATCH_MATMUL")}


_CACHE: dict[tuple[str, bool], bytes] = {}


def weight_only_model(name: str, per_channel: bool) -> bytes:
    import tensorflow as tf

    if (name, per_channel) not in _CACHE:
        f, kind = _models()[name]
        conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        model = weight_only_tflite(conv.convert(), per_channel=per_channel)
        g = read_tflite(model)
        weights = [g.tensor(op.inputs[0]) for op in g.ops if op.kind == "DEQUANTIZE"]
        assert kind in {op.kind for op in g.ops} and weights and all(w.dtype == "int8" and w.is_const for w in weights)
        assert all(w.quant.per_channel == per_channel for w in weights if w.shape[w.quant.axis] > 1)
        _CACHE[name, per_channel] = model
    return _CACHE[name, per_channel]


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("name", ["conv", "depthwise", "fully_connected", "batch_matmul"])
def test_int8_weight_kernels_are_bit_exact(name, per_channel):
    model = weight_only_model(name, per_channel)
    g, host = compile_host(model, "litert")
    # the DEQUANTIZEs are gone: every weighted op reads int8 weights and per-channel scales, no float weights
    assert "DEQUANTIZE" not in {op.kind for op in g.ops}
    for op in g.ops:
        fields = dict(op.lowered.fields)
        if "weights" in fields or "scales" in fields:
            assert fields.get("weights") is None and fields["scales"].values.dtype == np.float32
    ref = LiteRT(model)
    cmp = ByteCompare(ref.name)
    for i, x in enumerate(float_inputs(model, N_SAMPLES)):
        cmp.add(i, host.run(x), ref.run(x))
    assert cmp.bit_exact, (name, cmp.float_max_abs_diff, cmp.mismatched_bytes)


def test_a_dequantized_weight_read_by_another_op_stays_a_dequantize():
    """Only CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / BATCH_MATMUL weights fold: a DEQUANTIZE whose
    float tensor another op also reads stays an op (it dequantizes into the arena at run time)."""
    import dataclasses

    from edgeq.passes.graph.weights import fold_weight_dequantize

    g = read_tflite(weight_only_model("fully_connected", True))
    folded = fold_weight_dequantize(g)
    assert [op.kind for op in folded.ops] == [op.kind for op in g.ops if op.kind != "DEQUANTIZE"]
    deq = next(op for op in g.ops if op.kind == "DEQUANTIZE")
    fc = next(op for op in g.ops if op.kind == "FULLY_CONNECTED" and deq.outputs[0] in op.inputs)
    # also an output of the model: it must stay
    kept = fold_weight_dequantize(dataclasses.replace(g, outputs=(*g.outputs, deq.outputs[0])))
    assert deq in kept.ops and fc in kept.ops
    lowered = lower_tflite(weight_only_model("fully_connected", True))
    assert {op.kind for op in lowered.ops} == {"FULLY_CONNECTED"}


def _s8w_conv_is_safe(geo: dict, in_c: int, out_c: int, margin: int) -> bool:
    """edgeq_conv_f32_s8w (float32_conv.c) writes rows in raster order, in a row channel by channel:
    harness.row_channel_order_is_safe on float32 elements."""
    return row_channel_order_is_safe(geo, in_c, out_c, margin, 4)


@pytest.mark.parametrize("case", [
    dict(in_hw=(6, 7), k=3, stride=1, padding="SAME", dilation=1),
    dict(in_hw=(7, 6), k=3, stride=2, padding="SAME", dilation=1),
    dict(in_hw=(8, 5), k=2, stride=1, padding="VALID", dilation=2),
    dict(in_hw=(5, 5), k=1, stride=1, padding="VALID", dilation=1),
], ids=["same-s1", "same-s2", "valid-dilated", "1x1"])
def test_weight_only_conv_overlap_margin_is_safe(case):
    """The per-row overlap margin the lowering gives edgeq_conv_f32_s8w (geometry.raster_overlap_margin
    with per_row) holds for the kernel's read/write order, where the per-pixel margin of the float kernel
    (edgeq_conv_f32) does not."""
    from edgeq.passes.lower.geometry import compute_out_size, compute_padding, raster_overlap_margin

    (in_h, in_w), k, s, pad, d = case["in_hw"], case["k"], case["stride"], case["padding"], case["dilation"]
    out_h, out_w = compute_out_size(pad, in_h, k, s, d), compute_out_size(pad, in_w, k, s, d)
    geo = dict(batches=1, in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, k_h=k, k_w=k, stride_h=s, stride_w=s,
               dilation_h=d, dilation_w=d, pad_h=compute_padding(s, d, in_h, k, out_h),
               pad_w=compute_padding(s, d, in_w, k, out_w))
    pixel_margin_unsafe = []
    for in_c, out_c in ((3, 3), (2, 5), (5, 2)):
        m = raster_overlap_margin(geo, in_c, out_c, 4, 4, per_row=True)
        assert _s8w_conv_is_safe(geo, in_c, out_c, m), (case, in_c, out_c, m)
        pixel_margin_unsafe.append(not _s8w_conv_is_safe(geo, in_c, out_c, raster_overlap_margin(geo, in_c, out_c, 4, 4)))
    assert any(pixel_margin_unsafe) or case["k"] == 1, case
