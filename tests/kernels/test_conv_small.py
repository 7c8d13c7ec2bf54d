"""The DSP convolution's small-channel paths (issue 15): 1x1 stride-1 convolutions with few input channels
(conv.c conv_dsp_pair with conv_1x1_pair: no im2col, a pixel pair's words widened straight from the input) and
windows whose rows are not whole words, as the first 3-channel convolution's (conv_im2col_packed: the rows packed
by word copies, widened in one aligned run). The lowering's choice (s4_pairs 0 only) is checked here; the kernel
runs on the emulated Cortex-M4 (mps2-an386), bytes compared with LiteRT over many shapes (in_c 4 .. 32 and
k_pad padding, odd out_c, odd pixel counts, the SSAT-only and the other requantizations, S8_1X1_MAX_IN_C
raised to 32 so every in_c takes it; in_c 1 .. 7 windows of 3x3 and 5x5, strides 1 and 2)."""

import sys
from pathlib import Path

import keras
import pytest

from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.api import lower_tflite

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import int8_tflite  # noqa: E402


def _small_1x1() -> keras.Model:
    """Every 1x1 shape class the path takes, chained: in_c 4 (k_pad 8: a zero block), 8, 12 (k_pad 16: a
    zero block), 16 and 32, out_c even and odd, a 7x7 map (odd pixel count), ReLU (clamp [-128, 127]: SSAT
    alone) and ReLU6 / no activation (other clamps: conv_rq_other); 3x3 convs feeding them (in_c 3:
    conv_im2col_packed; in_c 7) and a stride-2 1x1 (im2col)."""
    L = keras.layers
    keras.utils.set_random_seed(11)
    inp = keras.Input((7, 7, 3), batch_size=1)
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)  # im2col kernel
    x = L.Conv2D(8, 1, activation="relu")(x)                    # in_c 4, k_pad 8
    x = L.Conv2D(12, 1, activation="relu6")(x)                  # in_c 8
    x = L.Conv2D(16, 1)(x)                                      # in_c 12, k_pad 16
    x = L.Conv2D(32, 1, activation="relu")(x)                   # in_c 16
    x = L.Conv2D(7, 1, activation="relu")(x)                    # in_c 32, odd out_c
    y = L.Conv2D(8, 3, padding="same")(x)                       # in_c 7: im2col
    y = L.Conv2D(5, 1, strides=2, activation="relu")(L.Conv2D(8, 1)(y))  # stride 2: im2col, odd out_c
    return keras.Model(inp, y)


def _choices(tfl: bytes, cpu: str) -> list[tuple[str, int, int, tuple]]:
    """(kernel, k_h, in_c, s4_pairs options) of each CONV_2D."""
    g = lower_tflite(tfl, "litert", cpu=cpu)
    out = []
    for op in g.ops:
        if op.kind == "CONV_2D":
            f = dict(op.lowered.fields)
            out.append((op.lowered.kernel, f["k_h"], f["in_c"],
                        tuple(dict(o[1])["s4_pairs"] for o in op.lowered.scratch_options)))
    return out


def test_lowering_keeps_pairs_0_for_small_1x1(monkeypatch):
    """1x1 stride 1, in_c a multiple of 4 and at most S8_1X1_MAX_IN_C: the DSP kernel with s4_pairs 0 only (no
    pixel-pair groups for upgrade-scratch); other shapes keep their options; portable: edgeq_conv_s8."""
    import edgeq.passes.lower.int8.conv as conv_ops

    tfl = int8_tflite(_small_1x1())
    got = _choices(tfl, "dsp")
    assert all(k == "edgeq_conv_s8_im2col" for k, *_ in got)
    # in_c 4 and 8 (stride 1) of the 1x1 convs at the default bound; the rest (in_c 12 .. 32, the stride-2
    # 1x1, the 3x3 convs) keep the pixel-pair groups
    assert [(c, o) for _, kh, c, o in got if o == (0,)] == [(4, (0,)), (8, (0,)), (8, (0,))]
    assert sum(len(o) > 1 for *_, o in got) == len(got) - 3
    monkeypatch.setattr(conv_ops, "S8_1X1_MAX_IN_C", 32)
    assert sum(o == (0,) for *_, o in _choices(tfl, "dsp")) == 6  # every stride-1 1x1
    assert all(k == "edgeq_conv_s8" for k, *_ in _choices(tfl, "portable"))


def _packed_rows() -> keras.Model:
    """Windows of rows that are not whole words, k_pad <= 64 (conv_im2col_packed inside the input, the staged
    or tap-by-tap gather at its edges): in_c 3 3x3 stride 2 (MobileNet's first conv: 9-byte rows), in_c 1 5x5
    (5), 2 3x3 (6), 5 3x3 stride 2 (15), 6 3x3 (18, k_pad 56), 7 3x3 (21, K 63) and 2 5x5 (10, K 50)."""
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


@pytest.mark.slow
@pytest.mark.parametrize("pairs", [0, 8])
def test_packed_rows_bit_exact_on_mps2_an386(pairs, tmp_path, monkeypatch):
    """Both DSP loops (s4_pairs 0: conv_dsp_pair; 8: pixel-pair groups) over conv_im2col_packed's windows."""
    import edgeq.passes.lower.int8.conv as conv_ops

    monkeypatch.setattr(conv_ops, "S8_DSP_PAIRS", (pairs,))
    path = tmp_path / "packed_rows.tflite"
    path.write_bytes(int8_tflite(_packed_rows()))
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=8, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]


@pytest.mark.slow
@pytest.mark.parametrize("per_channel", [True, False])
def test_conv_1x1_bit_exact_on_mps2_an386(per_channel, tmp_path, monkeypatch):
    import edgeq.passes.lower.int8.conv as conv_ops

    monkeypatch.setattr(conv_ops, "S8_1X1_MAX_IN_C", 32)
    path = tmp_path / "small_1x1.tflite"
    path.write_bytes(int8_tflite(_small_1x1(), per_channel=per_channel))
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=8, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]


@pytest.mark.slow
def test_conv_1x1_generic_requant_on_mps2_an386(tmp_path, monkeypatch):
    """Without dsp_me (conv_rq_other's generic requantization from mult / shift)."""
    import edgeq.passes.lower.int8.conv as conv_ops

    monkeypatch.setattr(conv_ops, "S8_1X1_MAX_IN_C", 32)
    monkeypatch.setattr(conv_ops, "_conv_dsp_requant", lambda *a, **k: None)
    path = tmp_path / "small_1x1.tflite"
    path.write_bytes(int8_tflite(_small_1x1()))
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=8, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]
