"""k-means clustered weights with int16 activations (issue 12 §2, ``--scheme int16x8 --clusters K``): the flow
clusters the Keras kernels, then quantizes 16x8; the int16 lowering stores filters with at most 4 / 8 / 16 values
per output channel as 2- / 3- / 4-bit indices + per-channel codebooks of 4 / 8 / 16 entries (kernel tests:
tests/kernels/test_int16_codebook.py). resnet8 with 16, 8 and 4 clusters: bit-exact on the host and on the
emulated Cortex-M4, weights + constants well below the unclustered int16x8 build and falling with the width. digits (examples/digits, the 450 held-out digits in LiteRT): float / int16x8 / int16x8 c16.

    pytest -s tests/models/test_clusters_int16.py    # prints the figures docs/sub8.md quotes
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.api import quantize_model
from edgeq.errors import EdgeqError
from edgeq.files import cache_dir
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.registry import LowerCtx
from edgeq.passes.pipeline import compile_graph

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
from harness import compare, random_inputs  # noqa: E402

DIGITS = REPO / "examples" / "digits"


def _cached(src: Path, calib: str, **kw) -> bytes:
    """``quantize_model(src, calib, **kw)``, cached by the model, the options and the clustering / 16x8 code."""
    h = hashlib.sha256(src.read_bytes() + calib.encode() + repr(sorted(kw.items())).encode())
    for f in ("frontend/cluster.py", "frontend/int16.py", "flows/quantize.py"):
        h.update((REPO / "edgeq" / f).read_bytes())
    path = cache_dir() / "tflite" / f"clusters16x8-{h.hexdigest()[:24]}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = quantize_model(src, calib, **kw).tflite
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
    return path.read_bytes()


def _resnet8(clusters: int | None) -> bytes:
    kw = {"clusters": clusters} if clusters else {}
    return _cached(MLPERF / "resnet8.h5", "random", random_range=(0.0, 255.0), random_count=50, scheme="int16x8", **kw)


@pytest.fixture(scope="module")
def resnet8_c16() -> bytes:
    return _resnet8(16)


@pytest.mark.parametrize("clusters,bits", [(16, 4), (8, 3), (4, 2)])
def test_resnet8_int16x8_clusters_host(clusters, bits):
    """At most ``clusters`` int8 values per channel; the 3x3 convolutions (>= 64 weights a channel) and the dense
    layer take the codebook kernels with ``bits``-wide indices and 2^bits entries a channel, the 1x1 shortcuts and
    the 27-weight first conv stay int8; bit-exact with LiteRT and TFLM."""
    tfl = _resnet8(clusters)
    g = read_tflite(tfl)
    for op in g.ops:
        if op.kind in ("CONV_2D", "FULLY_CONNECTED"):
            assert g.tensor(op.inputs[0]).dtype == "int16"
            w = g.tensor(op.inputs[1]).data
            assert max(len(np.unique(w[c])) for c in range(w.shape[0])) <= clusters
    lows = [op.lowered for op in compile_graph(g, LowerCtx("litert", "dsp")).ops if op.lowered]
    kernels = [low.kernel for low in lows]
    assert kernels.count("edgeq_conv_s16_cb") == 6 and kernels.count("edgeq_fully_connected_s16_cb") == 1
    assert kernels.count("edgeq_conv_s16") == 3
    for low in lows:
        if low.kernel.endswith("_cb"):
            f = dict(low.fields)
            n = f["k_h"] * f["k_w"] * f["filter_in_c"] * f["out_c"] if "out_c" in f else \
                f["in_features"] * f["out_features"]
            channels = f.get("out_c", f.get("out_features"))
            assert f["cb_bits"] == bits and f["weights_cb"].values.nbytes == -(-n * bits // 8)
            assert f["codebook"].values.nbytes == channels << bits
    inputs = random_inputs(tfl, 8, seed=5)
    for r in ("litert", "tflm"):
        cmp = compare(tfl, inputs, r)
        assert cmp.bit_exact, (r, cmp.mismatched_bytes, cmp.first_bad_op)


@pytest.mark.parametrize("clusters,bits", [(8, 3), (4, 2)])
def test_resnet8_fit_names_packed_indices(clusters, bits, tiny_an386):
    """A board too small even with codebooks: the fit error's largest constant arrays are resnet8's 64x3x3x64
    filter as its ``bits``-bit codebook indices at their packed size (36,864 weights: 13,824 B at 3 bits, 9,216 B
    at 2), no int8 copy of it."""
    from edgeq.targets.fit import check_fit, estimate_graph

    g = compile_graph(read_tflite(_resnet8(clusters)), LowerCtx("litert", "dsp"))
    est = estimate_graph(g, tiny_an386(0x4000))
    top = est.largest_constants[0]
    assert top.name.endswith(f"({bits}-bit codebook indices)") and top.bytes == 36864 * bits // 8, top
    assert all(item.bytes < 36864 for item in est.largest_constants), est.largest_constants
    with pytest.raises(EdgeqError) as e:
        check_fit(est)
    detail = "\n".join(e.value.detail)
    assert f"({bits}-bit codebook indices): {36864 * bits // 8:,} B" in detail, detail


@pytest.mark.slow
def test_resnet8_int16x8_clusters_on_mps2_an386(resnet8_c16, tmp_path):
    """convert-and-flash on the emulated M4, int16x8 and 16, 8 and 4 clusters per layer (4-, 3- and 2-bit
    indices): bit-exact; weights + constants against the unclustered int16x8 build and falling with the index
    width, the arena within 2 % of int16x8's, instructions at most 1.3x int16x8's."""
    from edgeq.flows.convert_and_flash import convert_and_flash

    reports = {}
    for name, data in (("int16x8", _resnet8(None)), ("c16", resnet8_c16), ("c8", _resnet8(8)), ("c4", _resnet8(4))):
        p = tmp_path / f"resnet8_{name}.tflite"
        p.write_bytes(data)
        reports[name] = convert_and_flash(p, board_name="mps2-an386", runs=1, samples=4,
                                          out_dir=tmp_path / name).report
        assert reports[name]["validation"]["bit_exact"], (name, reports[name]["validation"])
    fig = {name: (r["memory"]["weights_bytes"], r["memory"]["arena_bytes"], r["latency"]["median"])
           for name, r in reports.items()}
    w, a, lt = fig["int16x8"]
    print("\nresnet8 mps2-an386 (weights + constants B, arena B, instructions median):")
    for name, (wc, ac, lc) in fig.items():
        print(f"  {name:8s} {wc:8,d} ({wc / w:.3f}x int16x8, {wc / fig['c16'][0]:.3f}x c16)  {ac:7,d}  "
              f"{lc:12,.0f} ({lc / lt:.3f}x int16x8, {lc / fig['c16'][2]:.3f}x c16)")
    for name in ("c16", "c8", "c4"):
        wc, ac, lc = fig[name]
        assert ac <= 1.02 * a, (name, ac, a)
        assert lc <= 1.3 * lt, (name, lc, lt)
    assert fig["c16"][0] <= 0.65 * w, fig
    # 3 and 2 bits save a quarter and a half of the 4-bit indices' bytes (and 8 / 12 codebook bytes a channel)
    assert fig["c4"][0] < fig["c8"][0] < fig["c16"][0], fig


def test_digits_float_int16x8_c16_accuracy():
    """examples/digits' CNN on its 450 held-out digits: float (Keras), int16x8 and int16x8 with 16 clusters per
    layer and per output channel (in LiteRT's reference kernels, calibrated on examples/digits/calib.npy); the
    clustered models' C bit-exact with LiteRT on all 450, their codebook kernels used."""
    from edgeq.frontend.data import Samples
    from edgeq.frontend.load import load_model
    from edgeq.quality.validate import validate

    src, calib = DIGITS / "digits_cnn.keras", str(DIGITS / "calib.npy")
    d = np.load(DIGITS / "test.npz")
    xte, yte = d["x"], d["y"]
    test = Samples("digits test", [xte], yte)
    acc = {"float": float(np.mean(load_model(src).keras_model.predict(xte, verbose=0).argmax(-1) == yte))}
    for name, kw in (("int16x8", {}), ("int16x8 c16", {"clusters": 16}),
                     ("int16x8 c16 per channel", {"clusters": 16, "clusters_per_channel": True})):
        tfl = _cached(src, calib, scheme="int16x8", **kw)
        rep = validate(tfl, data=test, samples=len(xte), c_host=bool(kw))
        acc[name] = rep.accuracy["quantized"]
        if kw:
            assert rep.c_host["litert"].bit_exact
            kernels = {op.lowered.kernel for op in compile_graph(read_tflite(tfl)).ops if op.lowered}
            assert kernels & {"edgeq_conv_s16_cb", "edgeq_fully_connected_s16_cb"}, kernels
    print("\ndigits (450 held-out) " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in acc.items()))
    assert acc["int16x8"] >= acc["float"] - 0.01
    assert acc["int16x8 c16"] >= acc["float"] - 0.05 and acc["int16x8 c16 per channel"] >= acc["float"] - 0.05


def test_int16x8_clusters_refused_elsewhere(tmp_path):
    """--clusters with a scheme other than int8 / int16x8 is one line naming both."""
    with pytest.raises(EdgeqError, match="int8 and int16x8 schemes, not --scheme int8x4"):
        quantize_model(DIGITS / "digits_cnn.keras", "random", scheme="int8x4", clusters=16)


def test_cli_quantize_int16x8_clusters_then_validate(tmp_path, capsys):
    """`edgeq quantize --scheme int16x8 --clusters 16 --clusters-per-channel`, then `validate --c-host`."""
    from edgeq.cli.main import main

    out = tmp_path / "d16c16.tflite"
    code = main(["quantize", str(DIGITS / "digits_cnn.keras"), "--calib", str(DIGITS / "calib.npy"), "--scheme",
                 "int16x8", "--clusters", "16", "--clusters-per-channel", "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "at most 16 values per output channel" in text and "int16x8 TFLite size" in text, text
    g = read_tflite(out.read_bytes())
    assert any(t.dtype == "int16" for t in g.tensors)
    code = main(["validate", str(out), "--c-host", "--samples", "10", "--data", str(DIGITS / "test.npz")])
    text = capsys.readouterr().out
    assert code == 0 and "bit-exact: 10/10 samples" in text, text


def _small_mixed(tmp_path) -> Path:
    """One of each codebook kernel variant: CONV_2D on the reordered layout (8 channels) and grouped (the plain
    window), DEPTHWISE_CONV_2D with 64 taps and depth multiplier 2, FULLY_CONNECTED, strides and padding mixed."""
    import keras

    L = keras.layers
    keras.utils.set_random_seed(4)
    inp = keras.Input((12, 11, 8), batch_size=1)
    x = L.Conv2D(7, 3, padding="same", activation="relu")(inp)             # reordered, odd channel count
    x = L.Conv2D(8, 3, strides=2, padding="valid", groups=1)(L.Concatenate()([x, x[..., :1]]))
    x = L.Conv2D(6, (3, 3), padding="same", groups=2, dilation_rate=1)(L.Concatenate()([x, x]))  # grouped, 72
    x = L.DepthwiseConv2D(8, depth_multiplier=2, padding="same")(x)
    y = L.Dense(5)(L.Flatten()(x))
    path = tmp_path / "mixed.keras"
    keras.Model(inp, y).save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("clusters,bits", [(16, 4), (6, 3), (3, 2)])
def test_codebook_kernels_on_mps2_an386(tmp_path, clusters, bits):
    """Every codebook kernel variant bit-exact on the emulated M4 (DSP build: the SMLAD dot product), with 4-, 3-
    and 2-bit indices."""
    from edgeq.flows.convert_and_flash import convert_and_flash

    tfl = quantize_model(_small_mixed(tmp_path), "random", scheme="int16x8", clusters=clusters).tflite
    lows = [op.lowered for op in compile_graph(read_tflite(tfl), LowerCtx("litert", "dsp")).ops if op.lowered]
    assert {"edgeq_conv_s16_cb", "edgeq_depthwise_conv_s16_cb", "edgeq_fully_connected_s16_cb"} <= \
        {low.kernel for low in lows}
    assert [dict(low.fields)["reordered"] for low in lows if low.kernel == "edgeq_conv_s16_cb"] == [1, 1, 0]
    assert {dict(low.fields)["cb_bits"] for low in lows if low.kernel.endswith("_cb")} == {bits}
    p = tmp_path / "mixed.tflite"
    p.write_bytes(tfl)
    rep = convert_and_flash(p, board_name="mps2-an386", runs=1, samples=6, out_dir=tmp_path / "fw").report
    assert rep["validation"]["bit_exact"], rep["validation"]
