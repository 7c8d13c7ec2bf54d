"""Whole Keras models on the ops added for issue 14 (brief opsC): the layer -> edgeq's int8 quantizer ->
generated C on the host, byte for byte against LiteRT (and TFLM where it has the op); and one model on the
emulated Cortex-M4 (mps2-an386) through convert_and_flash.

* a bilinear UpSampling2D + Resizing decoder (RESIZE_BILINEAR, half pixel centers; LiteRT's 1/1024-pixel
  integer arithmetic, double rounding).
"""

from __future__ import annotations

import keras
import pytest

from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.frontend.tflite.reader import read_tflite
from kernels.harness import assert_bit_exact

pytestmark = pytest.mark.slow


def _kinds(tfl: bytes) -> set[str]:
    return {op.kind for op in read_tflite(tfl).ops}


def bilinear_decoder() -> keras.Model:
    keras.utils.set_random_seed(4)
    inp = keras.Input((12, 12, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D(2)(x)                                    # (6, 6, 8)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)          # (12, 12, 6)
    x = keras.layers.Resizing(9, 15, interpolation="bilinear")(x)          # non-integer ratios
    return keras.Model(inp, keras.layers.Conv2D(2, 3, padding="same")(x), name="bilinear_decoder")


def test_bilinear_decoder_on_host():
    tfl = assert_bit_exact(bilinear_decoder(), expect_ops={"RESIZE_BILINEAR", "CONV_2D"}, n=10)
    assert sum(op.kind == "RESIZE_BILINEAR" for op in read_tflite(tfl).ops) == 2


def test_bilinear_decoder_on_mps2_an386(tmp_path):
    bilinear_decoder().save(tmp_path / "bilinear_decoder.keras")
    r = convert_and_flash(tmp_path / "bilinear_decoder.keras", calib="random", runs=3, samples=8,
                          out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert r.report["board"]["name"] == "mps2-an386"
    assert v["bit_exact"] and v["mismatched_bytes"] == 0 and v["samples"] >= 8, v
    assert "RESIZE_BILINEAR" in r.report["model"]["ops"]
