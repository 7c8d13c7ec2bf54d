"""Models nobody tuned for (issue 5: the figures must "also hold for models no one here has tuned for").

The kernels' DSP paths and the overlapping memory planner were tuned on resnet8, kws ds-cnn and ad01.
tests/models/zoo.py builds seven small models with seeded random weights that have what those three
lack: odd channel counts (3, 5, 7, 13, 17, 21, 23, 78 ...), 5x5 / 1x7 / 7x1 / 1x5 kernels, dilation,
strides 2 and 3 on even and odd sizes, VALID and SAME, non-square inputs, depth multipliers 2 and 3,
grouped convolution, 1-D convolutions, concatenation, requantizing residual ADDs, odd-width dense layers.

Host (all models, 20 inputs): generated C byte-identical to LiteRT and TFLM; the M4 memory plan is
valid (no live buffers overlap except the planner's legal in-place / overlap pairs), at or above its
lower bound, and no larger than TFLM's arena. Boards (slow): the three most varied models on
mps2-an386 (Cortex-M4, DSP paths) and mps2-an385 (Cortex-M3, portable C), byte-identical to LiteRT.
`tools/generality.py` prints the docs/benchmarks.md table ("Models nobody tuned for").
"""

from __future__ import annotations

import pytest

# tests/models is on sys.path (pytest's rootdir import mode)
from zoo import ZOO, zoo_path, zoo_tflite

from edgeq.api import lower_tflite
from edgeq.passes.memory.planner import plan_violations


@pytest.fixture(scope="module", params=sorted(ZOO))
def zoo_model(request):
    return request.param, zoo_tflite(request.param)


def test_zoo_is_varied():
    """The zoo has the configurations it claims (so it cannot silently test something easier)."""
    from edgeq.frontend.tflite.reader import read_tflite

    seen = set()
    for name in ZOO:
        g = read_tflite(zoo_tflite(name))
        for op in g.ops:
            a = op.attrs
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = g.tensor(op.inputs[1]).shape
                x = g.tensor(op.inputs[0]).shape
                seen.add(("k", op.kind, w[1], w[2]))
                seen.add(("stride", a.get("stride_h"), a.get("stride_w")))
                seen.add(("dilation", a.get("dilation_h_factor", 1)))
                seen.add(("odd_c", op.kind, w[3] % 4 != 0))
                if op.kind == "CONV_2D" and x[3] != w[3]:
                    seen.add(("grouped",))
                if op.kind == "DEPTHWISE_CONV_2D" and w[3] != x[3]:
                    seen.add(("dm", w[3] // x[3]))
            seen.add(("op", op.kind))
    want = {("k", "CONV_2D", 5, 5), ("k", "CONV_2D", 1, 7), ("k", "CONV_2D", 7, 1), ("k", "DEPTHWISE_CONV_2D", 1, 5),
            ("k", "DEPTHWISE_CONV_2D", 5, 5), ("stride", 3, 3), ("stride", 2, 1), ("dilation", 2),
            ("odd_c", "CONV_2D", True), ("odd_c", "DEPTHWISE_CONV_2D", True), ("grouped",), ("dm", 2), ("dm", 3),
            ("op", "CONCATENATION"), ("op", "ADD"), ("op", "MEAN"), ("op", "MAX_POOL_2D"),
            ("op", "AVERAGE_POOL_2D"), ("op", "SOFTMAX"), ("op", "FULLY_CONNECTED")}
    assert want <= seen, sorted(want - seen)


def test_host_bit_exact_and_arena(zoo_model):
    from edgeq.quality.validate import validate

    name, tfl = zoo_model
    rep = validate(tfl, name=name, c_host=True, samples=20)
    for mode, cmp in rep.c_host.items():
        assert cmp.bit_exact, (name, mode, cmp.mismatched_bytes, cmp.first_bad_op)
    # the plan the M4 firmware uses (DSP kernels: im2col scratch, their overlap margins)
    g = lower_tflite(tfl, "litert", name, cpu="dsp")
    assert plan_violations(g) == []
    assert g.plan.lower_bound <= g.plan.size <= rep.arena["tflm"]["total"], (name, g.plan, rep.arena)


def test_odd_channel_depthwise_takes_the_dsp_path():
    """3x3 depthwise layers with 78 and 102 channels (not multiples of 4) run the DSP channel quads plus
    one padded quad (they fell back to the portable loop, 14 instructions per MAC on the M4)."""
    g = lower_tflite(zoo_tflite("mbv2_odd"), "litert", cpu="dsp")
    dw = [(g.tensor(op.outputs[0]).shape[3], dict(op.lowered.fields)["dsp_pack"] is not None)
          for op in g.ops if op.kind == "DEPTHWISE_CONV_2D"]
    assert dw == [(78, True), (78, True), (102, True), (68, True)]


# mbv2_odd: inverted residuals, odd-channel depthwise tails, requantizing ADDs, GAP; kws_kernels: 5x5 /
# 1x7 / 7x1 / dilated convs, depth multiplier 2 at stride 3 on a 49x10 input; grouped_dw: grouped conv,
# depth multiplier 3, 1x5 depthwise, VALID stride 2 on an even size.
BOARD_MODELS = ["mbv2_odd", "kws_kernels", "grouped_dw"]


@pytest.mark.slow
@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385"])
@pytest.mark.parametrize("name", BOARD_MODELS)
def test_on_board(name, board, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    r = convert_and_flash(zoo_path(name), board_name=board, runs=1, samples=3, out_dir=tmp_path).report
    assert r["validation"]["bit_exact"] and r["validation"]["samples"] == 3, r["validation"]
    cpu = "dsp" if board == "mps2-an386" else "portable"
    g = lower_tflite(zoo_tflite(name), "litert", cpu=cpu)
    assert r["memory"]["arena_bytes"] == g.plan.size
