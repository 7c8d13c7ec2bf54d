"""The issue-14 zoo (tests/models/zoo_layers.py): Keras layers and architectures beyond plain CNNs, int8 by
edgeq's own frontend, generated C byte for byte against LiteRT on the host (and TFLM where it registers
every op); a fast subset on the emulated Cortex-M4 (mps2-an386) through convert_and_flash.

The suite runs a fast subset: every model on the host but EfficientNetB0 (4 M weights: its generated
model_data.c alone takes ~30 s to compile per build, and quantizing it takes minutes on a cold cache), and
four small models on the board. The whole zoo on the host and the boards, with instructions, arena and flash:
``tools/zoo_layers.py`` (docstring there); EfficientNetB0 on mps2-an386, bit-exact with its 8.65 MB of
weights in the board's PSRAM (~3 min): ``tools/zoo_layers.py efficientnet_b0 --samples 3``.

Models that fail today only because an op is being added in this round (issue 14: opsA, opsB) are listed
in XFAIL, strict: each flips to a failure, to be removed from the list, when its ops merge.
"""

from __future__ import annotations

import numpy as np
import pytest

# tests/models is on sys.path (pytest's rootdir import mode)
from zoo_layers import ZOO, build, host_compare, set_bn_statistics, zoo_layers_path, zoo_layers_tflite

from edgeq.api import lower_tflite
from edgeq.passes.memory.planner import plan_violations

# The one place listing the models that wait for this round's ops.
XFAIL: dict[str, str] = {}


def _params(names):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=XFAIL[n])) if n in XFAIL else n
            for n in names]


def test_zoo_has_the_issue_14_architectures():
    """At least 12 architectures, among them every one issue 14 names."""
    want = {"mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "tiny_transformer",
            "upsampling_autoencoder", "layernorm_mlp", "conv1d_transpose_decoder", "embedding_classifier"}
    assert want <= set(ZOO) and len(ZOO) >= 12
    assert set(XFAIL) <= set(ZOO)


def test_bn_statistics_are_each_layers_input_statistics():
    """After set_bn_statistics, every BatchNormalization's moving mean / variance are those of its input
    (inference mode, all earlier layers normalized): checked on the first, a middle and the last of
    MobileNet's 27, against sub-models computing the input."""
    import keras

    model, x = build("mobilenet_v1")
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    for bn in (bns[0], bns[len(bns) // 2], bns[-1]):
        a = np.asarray(keras.Model(model.inputs, bn.input).predict(x, verbose=0), np.float64)
        a = a.reshape(-1, a.shape[-1])
        _, _, mean, var = bn.get_weights()
        np.testing.assert_allclose(mean, a.mean(0), atol=1e-4 * max(1.0, np.abs(a.mean(0)).max()))
        np.testing.assert_allclose(var, a.var(0), rtol=1e-3, atol=1e-6)
    # and it is what keeps the activations alive: the class probabilities differ between inputs
    assert model.predict(x, verbose=0).std(axis=0).max() > 1e-3 and set_bn_statistics(model, x) == 27


# the long command's only (tools/zoo_layers.py)
LONG = {"efficientnet_b0"}


@pytest.mark.parametrize("name", _params(sorted(set(ZOO) - LONG)))
def test_host_bit_exact(name):
    """Generated C == LiteRT byte for byte on the model's own data and random inputs; == TFLM too where TFLM
    registers every op; the M4 (DSP) memory plan valid, at or above its lower bound and no larger than
    TFLM's arena (issue 5's arena target, on architectures nobody tuned the planner for)."""
    res = host_compare(name)
    for ref in ("litert", "tflm"):
        if ref in res:
            cmp = res[ref]
            assert cmp.bit_exact and cmp.samples == 6, (name, ref, cmp.mismatched_bytes, cmp.first_bad_op)
    g = lower_tflite(zoo_layers_tflite(name), "litert", name, cpu="dsp")
    assert plan_violations(g) == [] and g.plan.lower_bound <= g.plan.size
    if "tflm_arena" in res:
        assert g.plan.size <= res["tflm_arena"], (name, g.plan.size, res["tflm_arena"])


def test_validate_c_host_skips_tflm_where_it_lacks_ops():
    """`validate --c-host` on models with ops TFLM does not register (TILE from UpSampling2D, SELECT from the
    Embedding id wrap) compares with LiteRT and says why not with TFLM (TFLM used to abort loading them)."""
    from edgeq.quality.validate import validate

    for name, lacking in (("upsampling_autoencoder", "TILE"), ("embedding_classifier", "SELECT")):
        rep = validate(zoo_layers_tflite(name), name=name, c_host=True, samples=3)
        assert list(rep.c_host) == ["litert"] and rep.c_host["litert"].bit_exact and rep.ok
        assert rep.c_host_skipped == {"tflm": f"TFLite Micro registers no {lacking}"}


# Small and varied, quick under QEMU: nearest upsampling (RESHAPE + TILE), int32 token ids through the
# converter's id wrap and GATHER, Conv1DTranspose (TRANSPOSE_CONV), a 28-layer MobileNet at 96x96.
BOARD_MODELS = ["upsampling_autoencoder", "embedding_classifier", "conv1d_transpose_decoder", "mobilenet_v1",
                "tiny_transformer", "layernorm_mlp", "misc_layers"]


@pytest.mark.slow
@pytest.mark.parametrize("name", _params(BOARD_MODELS))
def test_on_mps2_an386(name, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    r = convert_and_flash(zoo_layers_path(name), board_name="mps2-an386", runs=1, samples=3, out_dir=tmp_path).report
    assert r["validation"]["bit_exact"] and r["validation"]["samples"] == 3, r["validation"]
    assert r["memory"]["arena_bytes"] == lower_tflite(zoo_layers_tflite(name), "litert", cpu="dsp").plan.size
