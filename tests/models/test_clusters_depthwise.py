"""Clustered DEPTHWISE_CONV_2D filters (issue 12 §2) end to end: a small Keras model with DepthwiseConv2D layers
(3x3, depth multiplier 2, stride 2, 5x5) through ``quantize --clusters K`` and the C backend, bit-exact with
LiteRT's reference on the emulated Cortex-M4 (mps2-an386: the DSP path of edgeq_depthwise_conv_cb, the pack
rebuilt from the indices; the depth-multiplier-2 layer on the portable kernel). Kernel tests in
tests/kernels/test_depthwise_codebook.py.

What pays: a layer clustered to K values and quantized per channel holds each channel's own int8 values (its
scale's), at most k_h * k_w of them; codebook_fields keeps the int8 filter unless indices, the shared codebooks
and the map come to at most 7/8 of the int8 bytes (depthwise_conv.DW_CB_MOST_OF_INT8: the decode costs code
and a pack rebuilt at each call). At K = 16 the 3x3 layers here stay int8 (4-bit indices, the channels' value sets
too far apart to share 16-entry codebooks: the dm 2 one would save 1/10 of its bytes), the 5x5 one pays; at K = 4
every layer does (2-bit indices)."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.flows.quantize import quantize_model
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.registry import LowerCtx
from edgeq.passes.pipeline import compile_graph


def _depthwise_model(path: Path) -> Path:
    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 6), batch_size=1)
    x = L.Conv2D(16, 1, activation="relu")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(5, padding="same")(x)
    keras.Model(inp, L.Dense(5)(L.Flatten()(x))).save(path)
    return path


@pytest.mark.parametrize("k,want", [
    (16, [("edgeq_depthwise_conv_s8_dsp", None), ("edgeq_depthwise_conv_s8", None), ("edgeq_depthwise_conv_s8_dsp", None),
          ("edgeq_depthwise_conv_cb_dsp_any", 4)]),
    (4, [("edgeq_depthwise_conv_cb_dsp", 2), ("edgeq_depthwise_conv_cb", 2), ("edgeq_depthwise_conv_cb_dsp", 2),
         ("edgeq_depthwise_conv_cb_dsp_any", 2)]),
])
def test_clustered_depthwise_on_mps2_an386(tmp_path, k, want):
    tfl = quantize_model(_depthwise_model(tmp_path / "dw.keras"), "random", clusters=k).tflite
    lows = [op.lowered for op in compile_graph(read_tflite(tfl), LowerCtx("litert", "dsp")).ops if op.lowered]
    got = [(low.kernel, dict(low.fields).get("cb_bits")) for low in lows if "depthwise" in low.kernel]
    assert got == want, got
    p = tmp_path / "dw.tflite"
    p.write_bytes(tfl)
    r = convert_and_flash(p, board_name="mps2-an386", runs=1, samples=5, out_dir=tmp_path / "fw").report
    assert r["validation"]["bit_exact"] and r["validation"]["samples"] == 5, r["validation"]
