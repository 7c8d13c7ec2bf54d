"""Whole Keras models with the activations the converter turns into GELU, EXP, LOG, PRELU (and LOGISTIC + MUL
for swish, MUL for hard_sigmoid): quantized by edgeq, generated C bit-exact with LiteRT on the host, and the
gelu/swish MLP bit-exact on the emulated Cortex-M4 (mps2-an386).

Not covered here: Keras elu (the converter leaves ELU in float, so the int8 model does not convert) and selu
(GREATER / SELECT, which edgeq has no kernels for yet)."""

import keras
import numpy as np
import pytest

from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.frontend.tflite.reader import read_tflite
from kernels.harness import assert_bit_exact

pytestmark = pytest.mark.slow


def gelu_swish_mlp(tanh_gelu: bool = True):
    """gelu, swish and (``tanh_gelu``: a lambda, which a saved .keras file cannot hold) tanh-approximated gelu."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((32,), batch_size=1)
    x = keras.layers.Dense(64, activation="gelu")(inp)
    x = keras.layers.Dense(48, activation="swish")(x)
    if tanh_gelu:
        x = keras.layers.Dense(32, activation=lambda v: keras.ops.gelu(v, approximate=True))(x)
    return keras.Model(inp, keras.layers.Dense(10)(x), name="gelu_swish_mlp")


def smooth_activations():
    keras.utils.set_random_seed(4)
    inp = keras.Input((6, 12), batch_size=1)
    x = keras.layers.Dense(16, activation="softplus")(inp)
    x = keras.layers.Dense(16, activation="hard_sigmoid")(x)
    x = keras.layers.Dense(16)(x)
    prelu = keras.layers.PReLU(shared_axes=[1])
    x = prelu(x)
    prelu.set_weights([np.linspace(-0.5, 0.8, 16, dtype=np.float32).reshape(1, 16)])
    x = keras.layers.Dense(8, activation="exponential")(x)
    return keras.Model(inp, keras.layers.Dense(4)(x), name="smooth_activations")


def test_gelu_swish_mlp_on_host():
    # TFLM has no int8 GELU: LiteRT only
    tfl = assert_bit_exact(gelu_swish_mlp(), expect_ops={"FULLY_CONNECTED", "GELU", "LOGISTIC", "MUL"}, n=30,
                           roundings=("litert",))
    assert sorted(op.attrs["approximate"] for op in read_tflite(tfl).ops if op.kind == "GELU") == [False, True]


def test_softplus_hard_sigmoid_prelu_exponential_on_host():
    # hard_sigmoid's ADD and RELU6 fold into its Dense and its MUL by 1/6 into the next one
    assert_bit_exact(smooth_activations(), expect_ops={"EXP", "LOG", "PRELU"}, roundings=("litert",),
                     n=30, scale=2.0)


def test_gelu_swish_mlp_on_mps2_an386(tmp_path):
    gelu_swish_mlp(tanh_gelu=False).save(tmp_path / "gelu_swish_mlp.keras")
    r = convert_and_flash(tmp_path / "gelu_swish_mlp.keras", calib="random", runs=3, samples=8,
                          out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert r.report["board"]["name"] == "mps2-an386"
    assert v["bit_exact"] and v["mismatched_bytes"] == 0 and v["samples"] >= 8, v
    assert "GELU" in r.report["model"]["ops"]
