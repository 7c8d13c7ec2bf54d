"""int8x4 whole models (issue 12 §1): int8 activations, int4 weights made by edgeq.frontend.int4.quantize_int8x4
(ai-edge-quantizer with edgeq's activation ranges).

resnet8 and kws_dscnn are bit-exact with LiteRT's reference on the host and on the emulated Cortex-M4
(mps2-an386: edgeq_conv_s4_im2col and the depthwise DSP path), and the issue's targets are pinned against
the int8 model of the same calibration built the same way (conftest's resnet8_edgeq / kws_edgeq): instructions
at most 1.3x int8's, and constant data at most FLASH_RATIO times int8's: the issue's 0.55x for resnet8 (0.529
measured; 0.563 in an earlier main, 0.604 while the int4 convolution kept 16 bytes of
requantization constants a channel), kws's measured 0.611 plus a margin (0.634 in an earlier main, 0.749 with those constants): the
int4 convolution keeps int8's per-channel constants (acc_init and dsp_me, 9 bytes a channel), and these and
the params structs, which both schemes carry, are what is left above half (printed with -s). A
mix of conv / depthwise / dense shapes exercises the DSP kernels' branches on the device; the user errors close
the file.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.errors import EdgeqError
from edgeq.files import cache_dir
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.frontend.data import Samples, load_calibration, loaded_inputs
from edgeq.frontend.int4 import quantize_int8x4
from edgeq.frontend.load import LoadedModel, load_model
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.pipeline import compile_graph
from edgeq.passes.lower.registry import LowerCtx
from edgeq.targets.fit import check_fit, estimate_graph

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
from harness import compare, random_inputs  # noqa: E402

pytestmark = pytest.mark.slow


def _int8x4(model_path: Path, random_range: tuple[float, float], count: int = 50) -> bytes:
    """quantize_int8x4 on ``count`` random samples (as conftest's int8 fixtures: same data), cached by the
    content of the model, the options and edgeq/frontend/int4.py."""
    h = hashlib.sha256(model_path.read_bytes())
    h.update(repr((random_range, count)).encode() + (REPO / "edgeq" / "frontend" / "int4.py").read_bytes())
    path = cache_dir() / "tflite" / f"int8x4-{h.hexdigest()[:24]}.tflite"
    if not path.exists():
        loaded = load_model(model_path)
        cal = load_calibration("random", loaded_inputs(loaded), random_range=random_range, random_count=count)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(quantize_int8x4(loaded, cal))
        tmp.rename(path)
    return path.read_bytes()


@pytest.fixture(scope="session")
def resnet8_x4() -> bytes:
    return _int8x4(MLPERF / "resnet8.h5", (0.0, 255.0))


@pytest.fixture(scope="session")
def kws_x4() -> bytes:
    return _int8x4(MLPERF / "kws_dscnn.keras", (-123.0, 26.0))


MODELS = {"resnet8": ("resnet8_x4", "resnet8_edgeq"), "kws_dscnn": ("kws_x4", "kws_edgeq")}
FLASH_RATIO = {"resnet8": 0.55, "kws_dscnn": 0.62}  # the 0.55 (0.529 measured) / 0.611 measured


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8x4_model_is_int4_and_smaller(name, request):
    x4, x8 = (request.getfixturevalue(f) for f in MODELS[name])
    g = read_tflite(x4)
    filters = [g.tensor(op.inputs[1]) for op in g.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert filters and all(w.dtype == "int4" and w.data.min() >= -8 and w.data.max() <= 7 for w in filters)
    assert all(g.tensor(i).dtype == "int8" for i in (*g.inputs, *g.outputs))
    g8 = read_tflite(x8)
    filters8 = [g8.tensor(op.inputs[1]) for op in g8.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert sum(w.nbytes for w in filters) <= 0.51 * sum(w.nbytes for w in filters8)  # packed: half a byte each
    assert len(x4) < len(x8)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8x4_host_bit_exact(name, request):
    x4 = request.getfixturevalue(MODELS[name][0])
    cmp = compare(x4, random_inputs(x4, 8), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.first_bad_op)


def _flash(tflite: bytes, path: Path) -> dict:
    path.write_bytes(tflite)
    return convert_and_flash(path, board_name="mps2-an386", runs=1, samples=5, out_dir=path.parent / path.stem).report


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8x4_on_mps2_an386(name, request, tmp_path, capsys):
    """Bit-exact on the Cortex-M4; constant data and instructions against int8 built the same way (the same
    board and build; see the module docstring). The figures are printed with -s."""
    x4, x8 = (request.getfixturevalue(f) for f in MODELS[name])
    r4 = _flash(x4, tmp_path / f"{name}_x4.tflite")
    r8 = _flash(x8, tmp_path / f"{name}_int8.tflite")
    assert r4["validation"]["bit_exact"], r4["validation"]
    assert r8["validation"]["bit_exact"], r8["validation"]
    w4, w8 = r4["memory"]["weights_bytes"], r8["memory"]["weights_bytes"]
    l4, l8 = r4["latency"]["median"], r8["latency"]["median"]
    with capsys.disabled():
        print(f"\n{name} int8x4 mps2-an386: weights+constants {w4} B / int8 {w8} B = {w4 / w8:.3f}x, "
              f"instructions {l4} / {l8} = {l4 / l8:.3f}x, code {r4['memory']['code_bytes']} B "
              f"(int8 {r8['memory']['code_bytes']} B)")
    assert w4 <= FLASH_RATIO[name] * w8, (w4, w8)
    assert l4 <= 1.3 * l8, (l4, l8)


# --- the DSP kernels' branches on the device ----------------------------------------------------------

def _mix() -> keras.Model:
    """in_c 3 (K 27 padded to 32), a stride-2 3x3 with an odd pixel count (7x7), 1x1s (in_c 12 / 6, odd
    out_c 5), dilation, a depthwise 3x3 (DSP path, out_c 5: a padded lane group), a depthwise with
    multiplier 2 (portable), a 5x5 depthwise (portable) and a dense layer with an odd input size."""
    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input((14, 14, 3), batch_size=1)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.Conv2D(12, 3, strides=2, padding="same")(x)
    x = L.Conv2D(6, 1, activation="relu6")(x)
    x = L.Conv2D(5, 1)(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="same")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="valid")(x)
    x = L.DepthwiseConv2D(5, padding="same", activation="relu")(x)
    x = L.Flatten()(x)
    x = L.Dense(7)(x)
    return keras.Model(inp, x)


def _keras_int8x4(model: keras.Model, n: int = 32) -> bytes:
    loaded = LoadedModel(Path(f"{model.name}.keras"), "keras", model, None, None,
                         [tuple(i.shape[1:]) for i in model.inputs], [np.dtype("float32")] * len(model.inputs),
                         [i.name for i in model.inputs])
    rng = np.random.default_rng(3)
    cal = Samples("test", [rng.uniform(-1.0, 1.0, (n, *i.shape[1:])).astype(np.float32) for i in model.inputs])
    return quantize_int8x4(loaded, cal)


@pytest.fixture(scope="module")
def mix_x4() -> bytes:
    return _keras_int8x4(_mix())


@pytest.mark.parametrize("pairs", [1, 3])
def test_int8x4_mix_generic_requant_and_groups_on_dsp(mix_x4, pairs, tmp_path, monkeypatch):
    """edgeq_conv_s4_im2col's other ways on the device: without dsp_me (the generic requantization of the
    accumulators, 16 times the sums, brought back to them) and with groups of 1 and 3 pixel pairs (a shorter
    last group on the 7x7 and 14x14 outputs)."""
    import edgeq.passes.lower.int8.conv as conv_ops

    monkeypatch.setattr(conv_ops, "S4_DSP_PAIRS", (pairs,))
    if pairs == 1:
        monkeypatch.setattr(conv_ops, "_conv_dsp_requant", lambda *a, **k: None)
    path = tmp_path / "mix_x4.tflite"
    path.write_bytes(mix_x4)
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=5, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385", "mps3-an547"])
def test_int8x4_mix_on_boards(mix_x4, board, tmp_path):
    """The Cortex-M4 runs the DSP kernels, the Cortex-M3 the portable ones (edgeq_conv_s4 on the device), the
    Cortex-M55 the DSP conv (its only constants there: the --cpu mve build)."""
    kernels = [op.lowered.kernel for op in compile_graph(read_tflite(mix_x4), LowerCtx("litert", "dsp")).ops
               if op.lowered is not None]
    assert {"edgeq_conv_s4_im2col", "edgeq_depthwise_conv_s4", "edgeq_fully_connected_s4"} <= set(kernels)
    path = tmp_path / "mix_x4.tflite"
    path.write_bytes(mix_x4)
    r = convert_and_flash(path, board_name=board, runs=1, samples=5, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]


# --- user errors ----------------------------------------------------------------------------------------

def test_int8x4_without_weighted_layers_is_refused():
    L = keras.layers
    inp = keras.Input((4, 4, 3), batch_size=1)
    model = keras.Model(inp, L.MaxPooling2D(2)(L.Activation("relu")(inp)))
    with pytest.raises(EdgeqError, match="no layer that int8x4 gives 4-bit weights") as e:
        _keras_int8x4(model)
    assert "--scheme int8" in e.value.hint


def test_fit_names_largest_arrays_at_packed_size(resnet8_x4, tiny_an386):
    """A board too small even at 4 bits: the fit error names the largest constant arrays at their packed size
    (resnet8's largest filter, 64x3x3x64 values: 18,432 bytes packed)."""
    board = tiny_an386(0x8000)
    for cpu in ("dsp", "portable"):
        g = compile_graph(read_tflite(resnet8_x4), LowerCtx("litert", cpu))
        with pytest.raises(EdgeqError) as e:
            check_fit(estimate_graph(g, board))
        text = "\n".join(e.value.detail)
        assert "largest constant arrays" in text and ("(int4, packed" in text or "(4-bit, packed" in text)
        assert "18,432 B" in text


# --- calibration ------------------------------------------------------------------------------------------

def test_int8x4_activation_ranges_are_edgeqs(monkeypatch):
    """The activation ranges come from edgeq's calibration methods (minmax: the observed min and max, so the
    input's scale is its range / 255; percentile narrows the outlier-stretched ones), the weights are int4
    either way; the quantizer runs in edgeq's worker, reporting the observation's progress."""
    from edgeq import isolation

    L = keras.layers
    keras.utils.set_random_seed(2)
    inp = keras.Input((6, 6, 2), batch_size=1)
    model = keras.Model(inp, L.Dense(3)(L.Flatten()(L.Conv2D(4, 3, activation="relu")(inp))))
    loaded = LoadedModel(Path("small.keras"), "keras", model, None, None, [(6, 6, 2)], [np.dtype("float32")],
                         [model.inputs[0].name])
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (40, 6, 6, 2)).astype(np.float32)
    x[3, 2, 2, 0] = 40.0  # one outlier
    cal = Samples("test", [x])
    minmax = read_tflite(quantize_int8x4(loaded, cal))
    lo, hi = min(float(x.min()), 0.0), float(x.max())
    assert minmax.tensor(minmax.inputs[0]).quant.scale[0] == pytest.approx((hi - lo) / 255, rel=1e-5)
    monkeypatch.setenv("EDGEQ_ISOLATION", "process")
    seen = []
    try:
        pct = read_tflite(quantize_int8x4(loaded, cal, method="percentile:99", progress=lambda d, t: seen.append((d, t))))
    finally:
        isolation.shutdown()
    assert seen[-1] == (40, 40)
    assert pct.tensor(pct.inputs[0]).quant.scale[0] < 0.2 * minmax.tensor(minmax.inputs[0]).quant.scale[0]
    assert all(pct.tensor(op.inputs[1]).dtype == "int4" for op in pct.ops if op.kind in ("CONV_2D", "FULLY_CONNECTED"))


def test_int8x4_keeps_named_layers_at_int8():
    """Partial quantization: the layers named by their output tensor keep int8 weights, the rest int4, and the
    mixed model is bit-exact on the host; an unknown name is an error."""
    L = keras.layers
    keras.utils.set_random_seed(4)
    inp = keras.Input((8, 8, 3), batch_size=1)
    x = L.Conv2D(6, 3, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    model = keras.Model(inp, L.Dense(4)(L.Flatten()(L.Conv2D(5, 1)(x))))
    loaded = LoadedModel(Path("mixed.keras"), "keras", model, None, None, [(8, 8, 3)], [np.dtype("float32")],
                         [model.inputs[0].name])
    cal = Samples("test", [np.random.default_rng(1).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32)])
    from edgeq.frontend.convert import float_tflite_bytes

    fg = read_tflite(float_tflite_bytes(loaded))
    dw_out = next(fg.tensor(op.outputs[0]).name for op in fg.ops if op.kind == "DEPTHWISE_CONV_2D")
    x4 = quantize_int8x4(loaded, cal, keep_int8=[dw_out])
    g = read_tflite(x4)
    dtypes = {op.kind: g.tensor(op.inputs[1]).dtype for op in g.ops if op.kind != "RESHAPE"}
    assert dtypes == {"CONV_2D": "int4", "DEPTHWISE_CONV_2D": "int8", "FULLY_CONNECTED": "int4"}
    assert compare(x4, random_inputs(x4, 6), "litert").bit_exact
    with pytest.raises(EdgeqError, match="outputs 'nope'"):
        quantize_int8x4(loaded, cal, keep_int8=["nope"])


def test_validate_c_host_int8x4_skips_tflm_for_per_channel_int4_dense():
    """validate --c-host on an int8x4 model: bytes equal to LiteRT; TFLM, which refuses a per-channel int4
    FULLY_CONNECTED, is skipped with the reason instead of failing."""
    from edgeq.quality.validate import validate

    x4 = _keras_int8x4(keras.Sequential([keras.Input((6,), batch_size=1), keras.layers.Dense(5)]))
    rep = validate(x4, c_host=True, samples=8)
    assert rep.c_host["litert"].bit_exact
    assert "per-channel int4" in rep.c_host_skipped["tflm"]


def test_int8x4_tflite_passes_as_int8(resnet8_x4, resnet8_edgeq):
    """An int8x4 .tflite goes through the .tflite loading path as an int8 model (its INT4 tensors are
    weights); has_int4_weights tells the two apart."""
    from edgeq.frontend.int4 import has_int4_weights
    from edgeq.frontend.tflite.kind import int8_problems, tflite_scheme

    assert tflite_scheme(resnet8_x4) == "int8" and not int8_problems(resnet8_x4)
    assert has_int4_weights(resnet8_x4) and not has_int4_weights(resnet8_edgeq)


def test_int8x4_from_a_float_tflite(tmp_path, mix_x4):
    """A float .tflite is quantized to int8x4 as the Keras model it came from; an int8 one has no float
    weights left to quantize (the error says so)."""
    from edgeq.frontend.convert import float_tflite_bytes

    model = _mix()
    loaded = LoadedModel(Path("mix.keras"), "keras", model, None, None, [(14, 14, 3)], [np.dtype("float32")],
                         [model.inputs[0].name])
    (tmp_path / "mix_float.tflite").write_bytes(float_tflite_bytes(loaded))
    (tmp_path / "mix_x4.tflite").write_bytes(mix_x4)
    rng = np.random.default_rng(3)
    cal = Samples("test", [rng.uniform(-1.0, 1.0, (32, 14, 14, 3)).astype(np.float32)])
    a, b = read_tflite(quantize_int8x4(load_model(tmp_path / "mix_float.tflite"), cal)), read_tflite(mix_x4)
    assert [op.kind for op in a.ops] == [op.kind for op in b.ops]
    for oa, ob in zip(a.ops, b.ops):
        assert a.tensor(oa.outputs[0]).quant == b.tensor(ob.outputs[0]).quant
        if len(oa.inputs) > 1 and a.tensor(oa.inputs[1]).is_const:
            assert np.array_equal(a.tensor(oa.inputs[1]).data, b.tensor(ob.inputs[1]).data)
    with pytest.raises(EdgeqError, match="no float model"):
        quantize_int8x4(load_model(tmp_path / "mix_x4.tflite"), cal)
