"""The DSP convolution's small-channel gathers (issue 15), on the emulated Cortex-M4 (mps2-an386), bytes compared
with LiteRT: 1x1 stride-1 windows with in_c a multiple of 8 (conv.c conv_im2col: the pixel's in_c bytes widened
as they are, without the window arithmetic) and windows inside the input whose rows are not whole words, as the
first 3-channel convolution's (conv_im2col_packed: the rows packed by word copies and widened in one aligned
run), each under both DSP loops (s4_pairs 0: conv_dsp_pair, widening the weights in the K loop; 8: pixel-pair
groups) and both requantizations (dsp_me, and the generic one from mult / shift)."""

import sys
from pathlib import Path

import keras
import pytest

from edgeq.flows.convert_and_flash import convert_and_flash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import int8_tflite  # noqa: E402

pytestmark = pytest.mark.slow


def _small_1x1() -> keras.Model:
    """1x1 convs chained on a 7x7 map (an odd pixel count): in_c 8, 16 and 32 (the direct gather; k_pad = in_c)
    beside in_c 4 and 12 (not whole pairs of words: the window path), out_c even and odd, ReLU (clamp
    [-128, 127]: SSAT alone) and ReLU6 / no activation (other clamps: conv_rq_other), a stride-2 1x1 (the
    window path) and 3x3 convs (in_c 3: conv_im2col_packed inside, staged at the edges; in_c 7)."""
    L = keras.layers
    keras.utils.set_random_seed(11)
    inp = keras.Input((7, 7, 3), batch_size=1)
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)  # in_c 3: packed rows
    x = L.Conv2D(8, 1, activation="relu")(x)                    # in_c 4
    x = L.Conv2D(12, 1, activation="relu6")(x)                  # in_c 8: direct
    x = L.Conv2D(16, 1)(x)                                      # in_c 12
    x = L.Conv2D(32, 1, activation="relu")(x)                   # in_c 16: direct
    x = L.Conv2D(7, 1, activation="relu")(x)                    # in_c 32: direct, odd out_c
    y = L.Conv2D(8, 3, padding="same")(x)                       # in_c 7
    y = L.Conv2D(5, 1, strides=2, activation="relu")(L.Conv2D(8, 1)(y))  # in_c 8 direct; stride 2: window path
    return keras.Model(inp, y)


def _packed_rows() -> keras.Model:
    """Windows of rows that are not whole words, k_pad <= 64 (conv_im2col_packed inside the input, the staged
    gather at its edges): in_c 3 3x3 stride 2 (MobileNet's first conv: 9-byte rows), in_c 1 5x5 (5-byte rows),
    2 3x3 (6), 5 3x3 stride 2 (15), 6 3x3 (18, k_pad 56), 7 3x3 (21, K 63) and 2 5x5 (10, K 50)."""
    L = keras.layers
    keras.utils.set_random_seed(12)
    inp = keras.Input((17, 15, 3), batch_size=1)
    x = L.Conv2D(1, 3, strides=2, padding="same", activation="relu")(inp)  # 9x8x1
    x = L.Conv2D(2, 5, padding="same")(x)
    x = L.Conv2D(5, 3, padding="same", activation="relu6")(x)
    x = L.Conv2D(6, 3, strides=2, padding="same")(x)                       # 5x4x6
    x = L.Conv2D(7, 3, padding="same", activation="relu")(x)
    x = L.Conv2D(2, 3, padding="same")(x)
    x = L.Conv2D(9, 5, padding="same")(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("model", [_small_1x1, _packed_rows])
@pytest.mark.parametrize("pairs", [0, 8])
def test_small_channel_gathers_bit_exact_on_mps2_an386(model, pairs, tmp_path, monkeypatch):
    import edgeq.passes.lower.int8.conv as conv_ops

    monkeypatch.setattr(conv_ops, "S8_DSP_PAIRS", (pairs,))
    path = tmp_path / "m.tflite"
    path.write_bytes(int8_tflite(model()))
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=8, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]


@pytest.mark.parametrize("model", [_small_1x1, _packed_rows])
def test_small_channel_gathers_generic_requant_on_mps2_an386(model, tmp_path, monkeypatch):
    """Without dsp_me (conv_rq_other's requantization from mult / shift), per-tensor weights."""
    import edgeq.passes.lower.int8.conv as conv_ops

    monkeypatch.setattr(conv_ops, "_conv_dsp_requant", lambda *a, **k: None)
    path = tmp_path / "m.tflite"
    path.write_bytes(int8_tflite(model(), per_channel=False))
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=8, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]
