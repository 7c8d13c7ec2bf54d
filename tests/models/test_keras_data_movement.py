"""Whole Keras models built on the data-movement and index ops (issue 14 part A): the layer -> edgeq's int8
quantizer -> generated C on the host, byte for byte against LiteRT; and one on the emulated Cortex-M4.

* an UpSampling2D autoencoder (UpSampling2D nearest converts to RESHAPE + TILE + RESHAPE + TILE + RESHAPE);
* an Embedding + GlobalAveragePooling1D text classifier: the Keras input is int32 token ids, which the
  converter keeps int32 and unquantized (edgeq's generated model takes int32 ids), then LESS / ADD / SELECT
  wrap negative ids before the GATHER of the int8 table;
* a Permute / Cropping1D / Cropping2D / RepeatVector model (TRANSPOSE, STRIDED_SLICE, TILE).

LiteRT 2.3's BUILTIN_REF resolver registers no int8 TILE (version 3) although its one TILE kernel takes
int8: edgeq's reference loads such a model with TILE as version 2 (edgeq.quality.references.REF_SAME_KERNEL),
in the tests, in validate and in convert_and_flash alike.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

from paths import REPO
from edgeq.frontend.tflite.reader import read_tflite

sys.path.insert(0, str(REPO / "tests" / "kernels"))  # the kernel harness and its helpers
from harness import compare, int8_tflite, random_inputs  # noqa: E402
from test_gather import int_input_tflite, token_ids  # noqa: E402
from test_strided_copy import assert_tile_model_exact  # noqa: E402


def _ops(tfl: bytes) -> set[str]:
    return {op.kind for op in read_tflite(tfl).ops}


def upsampling_autoencoder() -> keras.Model:
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.UpSampling2D(2)(x)
    return keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same")(x), name="upsampling_ae")


def text_classifier(vocab: int = 200, length: int = 16) -> keras.Model:
    keras.utils.set_random_seed(2)
    ids = keras.Input((length,), batch_size=1, dtype="int32")
    x = keras.layers.Embedding(vocab, 12)(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(ids, keras.layers.Dense(3, activation="softmax")(x), name="text_classifier")


def permute_crop(repeat: bool = True) -> keras.Model:
    keras.utils.set_random_seed(3)
    inp = keras.Input((10, 8, 3), batch_size=1)
    x = keras.layers.Permute((2, 1, 3))(inp)                   # (8, 10, 3)
    x = keras.layers.Cropping2D(((1, 1), (2, 1)))(x)           # (6, 7, 3)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)        # (4, 5, 4)
    x = keras.layers.Reshape((20, 4))(x)
    x = keras.layers.Cropping1D((2, 3))(x)                     # (15, 4)
    x = keras.layers.Permute((2, 1))(x)                        # (4, 15)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6)(x)
    if repeat:
        x = keras.layers.RepeatVector(3)(x)                    # (3, 6)
        x = keras.layers.Dense(2)(x)
    return keras.Model(inp, x, name="permute_crop" + ("_repeat" if repeat else ""))


def test_upsampling_autoencoder_bit_exact_on_host():
    tfl = int8_tflite(upsampling_autoencoder())
    assert {"TILE", "CONV_2D", "MAX_POOL_2D"} <= _ops(tfl)
    assert_tile_model_exact(tfl)


def test_text_classifier_bit_exact_on_host():
    m = text_classifier()
    tfl = int_input_tflite(m, [np.random.default_rng(0).integers(0, 200, (32, 16)).astype(np.int32)])
    g = read_tflite(tfl)
    assert {"GATHER", "MEAN", "FULLY_CONNECTED"} <= _ops(tfl)
    x = g.tensor(g.inputs[0])
    assert (x.dtype, x.quant) == ("int32", None)  # the model takes the token ids as they are
    cmp = compare(tfl, token_ids((1, 16), 200, 24), "litert")
    assert cmp.bit_exact, f"{cmp.mismatched_bytes} of {cmp.total_bytes} bytes differ; {cmp.first_bad_op}"


def test_permute_crop_repeat_bit_exact_on_host():
    tfl = int8_tflite(permute_crop())
    assert {"TRANSPOSE", "STRIDED_SLICE", "TILE"} <= _ops(tfl)
    assert_tile_model_exact(tfl)


def test_permute_crop_bit_exact_with_the_reference_kernels():
    tfl = int8_tflite(permute_crop(repeat=False))
    assert {"TRANSPOSE", "STRIDED_SLICE"} <= _ops(tfl)
    for r in ("litert", "tflm"):
        cmp = compare(tfl, random_inputs(tfl, 12), r)
        assert cmp.bit_exact, f"[{r}] {cmp.mismatched_bytes} of {cmp.total_bytes} bytes differ; {cmp.first_bad_op}"


@pytest.mark.slow
@pytest.mark.parametrize("build", [permute_crop, upsampling_autoencoder])
def test_bit_exact_on_mps2_an386(build, tmp_path):
    """convert_and_flash validates on the device against LiteRT's reference kernels (BUILTIN_REF), TILE
    included."""
    from edgeq.flows.convert_and_flash import convert_and_flash

    path = tmp_path / "model.tflite"
    path.write_bytes(int8_tflite(build()))
    r = convert_and_flash(path, board_name="mps2-an386", runs=3, samples=6, out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert v["bit_exact"] and v["mismatched_bytes"] == 0 and v["samples"] >= 6, v
