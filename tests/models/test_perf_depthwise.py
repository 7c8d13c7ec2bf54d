"""DEPTHWISE_CONV_2D's Cortex-M DSP path (firmware/kernels/depthwise_conv.c ``dw_dsp``) on the emulated boards.

Its weights stay int8 in flash (issue 15): the pack holds k_h * k_w weight words per 4 channels, per channel
acc_init and the multiplier (as 2 m - 2^32), and the 4 right shifts (less one) as the bytes of one word,
nothing else (``test_dsp_pack_holds_int8_weights``). 3x3 windows run an unrolled loop
(edgeq_depthwise_conv_s8_dsp), every other window of 2 to 49 taps a loop over tap pairs
(edgeq_depthwise_conv_s8_dsp_any), so that a model links only the bodies its layers run.

The host tests (tests/kernels/test_depthwise_conv.py) only build the portable path; the DSP path is
compiled for mps2-an386 (Cortex-M4) and must stay byte-identical to LiteRT there, and mps2-an385
(Cortex-M3, no DSP) must keep running the portable path on the same generated C. One-op models cover
the window/padding/clamp/offset variants the DSP path handles (and ones it must leave to the portable
path), then kws_dscnn (four 3x3 depthwise layers) runs on both boards, and the streaming DS-CNN stand-in
(tools/streaming_dscnn.py, four (3, 1) depthwise layers) on the Cortex-M4.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))

from harness import int8_tflite  # noqa: E402
from paths import MLPERF  # noqa: E402
from edgeq.flows.convert_and_flash import convert_and_flash  # noqa: E402

pytestmark = pytest.mark.slow

BOARDS = ("mps2-an386", "mps2-an385")
KWS_DW_BUDGET = 250_500  # instructions per 3x3 depthwise layer of kws_dscnn on mps2-an386 (72,000 MACs)


def _dsp_packs(tfl: bytes) -> list[bool]:
    """For each DEPTHWISE_CONV_2D: does the lowering emit the DSP path's constants?"""
    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower import lower

    g = lower(read_tflite(tfl))
    return [dict(op.lowered.fields)["dsp_pack"] is not None for op in g.ops if op.kind == "DEPTHWISE_CONV_2D"]


def _with_fused_activation(tfl: bytes, act: int) -> bytes:
    """The model with every op's fused activation set to ``act`` (tflite ActivationFunctionType): our
    quantizer calibrates outputs after the activation, so act_min > -128 and act_max < 127 together
    (the DSP path's bytewise clamp) only come from an activation the calibration did not see."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(tfl, 0)
    for sg in m.subgraphs:
        for op in sg.operators:
            if hasattr(op.builtinOptions, "fusedActivationFunction"):
                op.builtinOptions.fusedActivationFunction = act
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _dw_model(c: int, out_scale: float, w_range: int = 2) -> bytes:
    """A one-op 3x3 'same' DEPTHWISE_CONV_2D on a 5x6xc input with per-tensor scales chosen directly (a
    Keras calibration does not reach every requantization): x 0.05, w 0.01, output out_scale."""
    from harness import build_tflite
    from tensorflow.lite.python import schema_py_generated as s

    rng = np.random.default_rng(c)
    opts = s.DepthwiseConv2DOptionsT()
    opts.padding, opts.strideW, opts.strideH, opts.depthMultiplier = s.Padding.SAME, 1, 1, 1
    opts.dilationWFactor = opts.dilationHFactor = 1
    tensors = [
        {"shape": [1, 5, 6, c], "dtype": "int8", "scale": 0.05, "zero_point": -4},
        {"shape": [1, 3, 3, c], "dtype": "int8", "scale": 0.01, "zero_point": 0,
         "data": rng.integers(-w_range, w_range + 1, (1, 3, 3, c), dtype=np.int8)},
        {"shape": [c], "dtype": "int32", "scale": 0.0005, "zero_point": 0,
         "data": rng.integers(-50, 50, c).astype(np.int32)},
        {"shape": [1, 5, 6, c], "dtype": "int8", "scale": out_scale, "zero_point": 2},
    ]
    return build_tflite(tensors, [("DEPTHWISE_CONV_2D", [0, 1, 2], [3], opts)], [0], [3])


def _model(shape, calib_scale=1.0, positive=False, per_channel=True, fused=None, **kw):
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape, batch_size=1)
    m = keras.Model(inp, keras.layers.DepthwiseConv2D(**kw)(inp))
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((32, *shape)).astype(np.float32) * calib_scale
    if positive:
        calib = np.abs(calib)
    tfl = int8_tflite(m, calib=calib, per_channel=per_channel)
    return tfl if fused is None else _with_fused_activation(tfl, fused)


CASES = {
    # (model kwargs, DSP path expected)
    "same_s1_relu": (dict(shape=(7, 5, 8), kernel_size=3, padding="same", activation="relu"), True),
    "relu_n1_to_1_clamped": (dict(shape=(6, 6, 12), kernel_size=3, padding="same", fused=2), True),
    "relu6_clamped_below": (dict(shape=(5, 5, 8), kernel_size=3, padding="same", fused=3), True),
    "same_s2_no_bias": (dict(shape=(5, 7, 4), kernel_size=3, strides=2, padding="same", use_bias=False), True),
    "valid_dilated": (dict(shape=(9, 8, 16), kernel_size=3, dilation_rate=2, padding="valid"), True),
    "tiny_input": (dict(shape=(1, 2, 8), kernel_size=3, padding="same"), True),
    "per_tensor_large_input_offset": (dict(shape=(6, 5, 8), kernel_size=3, padding="same", positive=True,
                                           per_channel=False), True),
    "dm2_portable": (dict(shape=(6, 5, 4), kernel_size=3, padding="same", depth_multiplier=2), False),
    # out_c % 4 != 0: the quads, then one padded group for the last 1-3 channels (only a padded group
    # when out_c < 4), including the bytewise clamp and border windows reading the zero-point buffer
    "channels_6_tail_2": (dict(shape=(6, 5, 6), kernel_size=3, padding="same"), True),
    "channels_3_tail_only": (dict(shape=(5, 6, 3), kernel_size=3, strides=2, padding="same"), True),
    "channels_13_clamped": (dict(shape=(7, 6, 13), kernel_size=3, padding="same", fused=2), True),
    "channels_78_valid_dilated": (dict(shape=(8, 9, 78), kernel_size=3, dilation_rate=2, padding="valid"), True),
    "k5_same": (dict(shape=(6, 6, 8), kernel_size=5, padding="same"), True),
    "k3x1_valid_s2_tail_1": (dict(shape=(9, 3, 13), kernel_size=(3, 1), strides=2, padding="valid"), True),
    "k1x1_portable": (dict(shape=(4, 4, 8), kernel_size=1), False),  # one tap: no pair to loop over
    "k8x8_portable": (dict(shape=(9, 9, 8), kernel_size=8, padding="same"), False),  # 64 taps > 49
}


# scales set directly: the requantization's shift at the edges of the DSP path
DIRECT = {
    "left_shift_portable": (dict(c=8, out_scale=0.0003), False),  # 0.0005 / 0.0003 = 0.83 * 2^1
    "right_shift_1": (dict(c=12, out_scale=0.002, w_range=20), True),  # 0.25 = 0.5 * 2^-1: e = 1
}


def test_dsp_pack_holds_int8_weights():
    """With --cpu dsp the lowering emits only the pack (no int8 weight array, bias, acc_init, mult, shift):
    per 4 channels 4 + 9 + 1 + 4 words: acc_init, the 36 int8 weights, the 4 right shifts less one as bytes,
    the multipliers as 2 m - 2^32."""
    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower import lower
    from edgeq.passes.lower.registry import LowerCtx

    tfl = read_tflite((MLPERF / "kws_dscnn_int8.tflite").read_bytes())
    g = lower(tfl, LowerCtx(cpu="dsp"))
    dws = [op for op in g.ops if op.kind == "DEPTHWISE_CONV_2D"]
    portable = [op for op in lower(tfl, LowerCtx(cpu="portable")).ops if op.kind == "DEPTHWISE_CONV_2D"]
    assert len(dws) == 4
    for op, ref in zip(dws, portable):
        f = dict(op.lowered.fields)
        assert op.lowered.kernel == "edgeq_depthwise_conv_s8_dsp"
        assert all(f[k] is None for k in ("weights", "bias", "acc_init", "mult", "shift"))
        c = f["out_c"]
        assert f["dsp_pack"].values.size == (c + 3) // 4 * (4 + 9 + 1 + 4)
        w = g.tensor(op.inputs[1]).data.reshape(9, c)
        pack = f["dsp_pack"].values.reshape(-1, 18)
        words = pack[:, 4:13].astype(np.uint32)
        bytes_ = np.stack([(words >> (8 * k)) & 0xFF for k in range(4)], axis=-1).astype(np.uint8).view(np.int8)
        g0 = bytes_[0]  # channels 0..3: taps (0, 1) of c0 c1, then of c2 c3, ..., tap 8 of c0..c3
        assert list(g0[0]) == [w[0, 0], w[0, 1], w[1, 0], w[1, 1]]
        assert list(g0[1]) == [w[0, 2], w[0, 3], w[1, 2], w[1, 3]]
        assert list(g0[8]) == list(w[8, :4])
        r = dict(ref.lowered.fields)
        e = (pack[:, 13:14].astype(np.uint32) >> (8 * np.arange(4, dtype=np.uint32))) & 0xFF
        assert list(e.reshape(-1)[:c] + 1) == list(-r["shift"].values)
        m2 = pack[:, 14:18].reshape(-1)[:c].astype(np.int64)
        assert list((m2 + (1 << 32)) // 2) == list(r["mult"].values)


@pytest.mark.parametrize("name", list(CASES) + list(DIRECT))
def test_depthwise_one_op_on_boards(name, tmp_path):
    if name in DIRECT:
        kw, dsp = DIRECT[name]
        tfl = _dw_model(**kw)
    else:
        kw, dsp = CASES[name]
        tfl = _model(**kw)
    assert _dsp_packs(tfl) == [dsp]
    if not dsp:
        return  # left to the portable path, which the host tests cover and this change did not touch
    path = tmp_path / f"dw_{name}.tflite"
    path.write_bytes(tfl)
    for board in BOARDS:
        r = convert_and_flash(path, board_name=board, runs=1, samples=10, out_dir=tmp_path / board).report
        assert r["validation"]["bit_exact"], (board, r["validation"])


# (h, w, c, strides, dilation, padding, activation), at most 8 (the bench's inputs): channel counts around the
# groups of 4 (tails of 1-3 channels, a lone padded group) up to the DSP path's 256 (253: padded to 256),
# both paddings, strides and dilations
MANY = [(5, 4, 2, 2, 1, "same", "relu"), (6, 3, 5, 1, 2, "same", "relu6"), (3, 7, 7, 1, 1, "valid", None),
        (5, 5, 16, 2, 1, "valid", "relu"), (7, 4, 37, 1, 1, "same", None), (3, 4, 64, 2, 1, "same", "relu6"),
        (5, 6, 100, 1, 2, "same", None), (3, 3, 253, 1, 1, "same", "relu")]


def test_depthwise_many_shapes_on_boards(tmp_path):
    """The DSP path on many shapes at once (one model, a branch per shape, random weights and biases so that
    the per-channel shifts of a group differ), byte-equal to LiteRT on the Cortex-M4 and the Cortex-M33."""
    keras.utils.set_random_seed(3)
    L = keras.layers
    ins = [keras.Input((h, w, c), batch_size=1) for h, w, c, *_ in MANY]
    outs = [L.DepthwiseConv2D(3, strides=s, dilation_rate=d, padding=pad, activation=act,
                              depthwise_initializer=keras.initializers.RandomNormal(stddev=0.5),
                              bias_initializer=keras.initializers.RandomNormal(stddev=0.3))(x)
            for x, (_, _, _, s, d, pad, act) in zip(ins, MANY)]
    tfl = int8_tflite(keras.Model(ins, outs))
    assert _dsp_packs(tfl) == [True] * len(MANY)
    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower import lower

    shifts = np.concatenate([dict(op.lowered.fields)["dsp_pack"].values.reshape(-1, 18)[:, 13]
                             for op in lower(read_tflite(tfl)).ops if op.kind == "DEPTHWISE_CONV_2D"])
    e = (shifts.astype(np.uint32)[:, None] >> (8 * np.arange(4, dtype=np.uint32))) & 0xFF
    assert (e.min(axis=1) != e.max(axis=1)).sum() >= 10  # groups whose 4 shifts are not all equal
    path = tmp_path / "dw_many.tflite"
    path.write_bytes(tfl)
    for board in ("mps2-an386", "mps2-an505"):
        r = convert_and_flash(path, board_name=board, runs=1, samples=10, out_dir=tmp_path / board).report
        assert r["validation"]["bit_exact"], (board, r["validation"])


# (h, w, c, window, strides, dilation, padding, activation), at most 8 (the bench's inputs): windows other than
# 3x3 (the any-window loop): odd tap counts (a lone tap) and even ones (pairs only, down to 2 taps), 1-D windows
# either way, up to the path's 49 taps (7x7) and 40 (kws-style 10x4), strides, dilations, channel tails
MANY_WINDOWS = [(9, 1, 12, (3, 1), 1, 1, "same", "relu"), (1, 9, 6, (1, 3), (1, 2), 1, "same", None),
                (6, 5, 7, (2, 2), 1, 1, "valid", "relu6"), (7, 6, 20, 5, 2, 1, "same", None),
                (12, 5, 16, (10, 4), 1, 1, "same", "relu"), (8, 8, 5, 7, 1, 1, "same", None),
                (10, 3, 33, (5, 1), 1, (2, 1), "same", "relu"), (5, 6, 253, (1, 2), 1, 1, "valid", None)]


def test_depthwise_any_window_many_shapes_on_boards(tmp_path):
    """The DSP path's any-window loop on many windows at once (one model, a branch per shape, random weights
    and biases), byte-equal to LiteRT on the Cortex-M4 and the Cortex-M33; its pack holds k_h * k_w weight words
    per group of 4 channels."""
    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower import lower
    from edgeq.passes.lower.registry import LowerCtx

    keras.utils.set_random_seed(4)
    L = keras.layers
    ins = [keras.Input((h, w, c), batch_size=1) for h, w, c, *_ in MANY_WINDOWS]
    outs = [L.DepthwiseConv2D(k, strides=s, dilation_rate=d, padding=pad, activation=act,
                              depthwise_initializer=keras.initializers.RandomNormal(stddev=0.5),
                              bias_initializer=keras.initializers.RandomNormal(stddev=0.3))(x)
            for x, (_, _, _, k, s, d, pad, act) in zip(ins, MANY_WINDOWS)]
    tfl = int8_tflite(keras.Model(ins, outs))
    g = lower(read_tflite(tfl), LowerCtx(cpu="dsp"))
    dws = [op for op in g.ops if op.kind == "DEPTHWISE_CONV_2D"]
    assert [op.lowered.kernel for op in dws] == ["edgeq_depthwise_conv_s8_dsp_any"] * len(MANY_WINDOWS)
    for op in dws:
        f = dict(op.lowered.fields)
        assert f["dsp_pack"].values.size == (f["out_c"] + 3) // 4 * (f["k_h"] * f["k_w"] + 9)
    path = tmp_path / "dw_windows.tflite"
    path.write_bytes(tfl)
    for board in ("mps2-an386", "mps2-an505"):
        r = convert_and_flash(path, board_name=board, runs=1, samples=10, out_dir=tmp_path / board).report
        assert r["validation"]["bit_exact"], (board, r["validation"])


def test_depthwise_any_window_in_row_bands_on_board(tmp_path):
    """The any-window body on row slices (edgeq/passes/memory/bands.py): a high-resolution chain with a 5x5 and
    a strided (3, 1) depthwise layer runs as one banded group, byte-equal to LiteRT on the M4 at the arena the
    plan gives."""
    from test_bands import _groups, _head

    from edgeq.api import lower_tflite

    keras.utils.set_random_seed(5)
    L = keras.layers
    inp = keras.Input((24, 20, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu6")(inp)
    x = L.DepthwiseConv2D(5, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu6")(x)
    x = L.DepthwiseConv2D((3, 1), strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu6")(x)
    tfl = int8_tflite(keras.Model(inp, _head(x)))
    g = lower_tflite(tfl, "litert", cpu="dsp")
    kernels = {op.id: op.lowered.kernel for op in g.ops if op.lowered is not None}
    assert [[kernels[i] for i in grp.ops].count("edgeq_depthwise_conv_s8_dsp_any") for grp in _groups(g)] == [2]
    path = tmp_path / "dw_bands.tflite"
    path.write_bytes(tfl)
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=4, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]
    assert r["memory"]["arena_bytes"] == g.plan.size


def test_depthwise_int4_any_window_on_board(tmp_path):
    """int4 filters (the int8x4 scheme) on the DSP path's any-window loop: the kernel rebuilds the pack from
    the packed filter (a (3, 1) window with a channel tail, a 5x5 one with stride 2), byte-equal to LiteRT."""
    from test_int4 import dw4

    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower import lower
    from edgeq.passes.lower.registry import LowerCtx

    for name, model in (("k3x1", dw4(9, 4, 10, 1, 3, 1, seed=5)),
                        ("k5x5", dw4(9, 8, 8, 1, 5, 5, stride=(2, 2), act="relu", seed=6))):
        (op,) = lower(read_tflite(model), LowerCtx(cpu="dsp")).ops
        f = dict(op.lowered.fields)
        assert op.lowered.kernel == "edgeq_depthwise_conv_s4" and f["dsp_pack_s4"] is not None
        path = tmp_path / f"dw4_{name}.tflite"
        path.write_bytes(model)
        r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=10, out_dir=tmp_path / name).report
        assert r["validation"]["bit_exact"], (name, r["validation"])


# the streaming DS-CNN stand-in on mps2-an386 when pinned (tools/streaming_dscnn.py; its four (3, 1) depthwise
# layers ran the portable kernel before the any-window loop: 902,800 instructions, 9,072 B of code; the small-conv
# im2col paths added 220 B of code and took 3 K instructions off)
STREAMING_INSTRUCTIONS_M4 = 630_560
STREAMING_CODE_M4 = 7_960


def test_streaming_dscnn_depthwise_on_m4(tmp_path):
    """The streaming DS-CNN stand-in's (3, 1) depthwise layers run the DSP path only: the portable depthwise
    kernel is not linked, its inference code fits in 8 KiB, byte-equal to LiteRT."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    import streaming_dscnn

    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.passes.lower import lower
    from edgeq.passes.lower.registry import LowerCtx

    path = streaming_dscnn.path()
    g = lower(read_tflite(path.read_bytes()), LowerCtx(cpu="dsp"))
    assert [op.lowered.kernel for op in g.ops if op.kind == "DEPTHWISE_CONV_2D"] == \
        ["edgeq_depthwise_conv_s8_dsp_any"] * 4
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=2, out_dir=tmp_path).report
    assert r["validation"]["bit_exact"], r["validation"]
    assert r["memory"]["code_bytes"] <= STREAMING_CODE_M4 <= 8192, r["memory"]["code_bytes"]
    assert r["latency"]["median"] <= 1.005 * STREAMING_INSTRUCTIONS_M4, r["latency"]["median"]


def test_kws_depthwise_on_boards(tmp_path):
    path = MLPERF / "kws_dscnn_int8.tflite"
    assert _dsp_packs(path.read_bytes()) == [True] * 4
    lat = {}
    for board in BOARDS:
        r = convert_and_flash(path, board_name=board, runs=1, samples=10, out_dir=tmp_path / board).report
        assert r["validation"]["bit_exact"], (board, r["validation"])
        lat[board] = {p["op"]: p["count"] for p in r["profile"] if p["kind"] == "DEPTHWISE_CONV_2D"}
    for op, n in lat["mps2-an386"].items():
        # DSP path vs portable path (about 1.0 M instructions per layer before this path existed)
        assert n < 0.4 * lat["mps2-an385"][op], (op, n, lat["mps2-an385"][op])
        # int8 weights in flash: 248,000-248,040 instructions per layer when pinned (249,080-249,120 before the
        # driver walked the output pixel by pixel; 251,120 with 25-word groups, 247,000 with int16 weights)
        assert n <= KWS_DW_BUDGET, (op, n)


def test_avg_pool_on_boards(tmp_path):
    """AVERAGE_POOL_2D (kws's global pool follows its depthwise layers): the DSP path sums four channels
    per word in int16 lanes (windows of at most 256 taps), the rest channel by channel; whole-row windows
    run as one span. Covers channel tails (6, 10), a 400-tap window (scalar), SAME windows clipped at the
    border with a fused RELU (clamp), and a global pool over whole rows."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    a, b, c = keras.Input((20, 20, 6), batch_size=1), keras.Input((9, 7, 10), batch_size=1), \
        keras.Input((5, 13, 8), batch_size=1)
    outs = [L.AveragePooling2D(20)(a), L.ReLU()(L.AveragePooling2D(3, 2, padding="same")(b)),
            L.AveragePooling2D((5, 13))(c), L.AveragePooling2D((2, 13))(c)]
    path = tmp_path / "avg_pool.tflite"
    path.write_bytes(int8_tflite(keras.Model([a, b, c], outs)))
    for board in BOARDS:
        r = convert_and_flash(path, board_name=board, runs=1, samples=10, out_dir=tmp_path / board).report
        assert r["validation"]["bit_exact"], (board, r["validation"])
