"""Whole Keras models on the ops added for issue 14 (brief opsC): the layer -> edgeq's int8 quantizer ->
generated C on the host, byte for byte against LiteRT (and TFLM where it has the op); and one model on the
emulated Cortex-M4 (mps2-an386) through convert_and_flash.

* a bilinear UpSampling2D + Resizing decoder (RESIZE_BILINEAR, half pixel centers; LiteRT's 1/1024-pixel
  integer arithmetic, double rounding);
* a reflect-padded conv net with depth-to-space, space-to-depth, a symmetric pad and a flip (MIRROR_PAD,
  DEPTH_TO_SPACE, SPACE_TO_DEPTH, REVERSE_V2);
* an l2-normalised embedding (L2_NORMALIZATION), on the host only (its Lambda does not load from a .keras file
  in safe mode); on the board, L2_NORMALIZATION and LOGICAL_AND / OR / NOT come as a converted tf.function
  (a quantized .tflite passes through convert_and_flash).
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


def mirror_flip_net() -> keras.Model:
    """Reflect padding before a valid conv, a sub-pixel (depth-to-space) upsampling, space-to-depth, a
    symmetric pad and a flip: MIRROR_PAD, DEPTH_TO_SPACE, SPACE_TO_DEPTH, REVERSE_V2 between convolutions,
    all keras.ops (a .keras file holds them)."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((8, 8, 3), batch_size=1)
    x = keras.ops.pad(inp, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)                      # (8, 8, 8)
    x = keras.ops.depth_to_space(x, 2)                                        # (16, 16, 2)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)  # (8, 8, 8)
    x = keras.ops.space_to_depth(x, 2)                                        # (4, 4, 32)
    x = keras.ops.pad(x, [[0, 0], [2, 0], [0, 2], [0, 0]], mode="symmetric")
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)                      # (4, 4, 4)
    x = keras.ops.flip(x, axis=2)
    return keras.Model(inp, keras.layers.Conv2D(2, 1)(x), name="mirror_flip_net")


MIRROR_FLIP_OPS = {"MIRROR_PAD", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "REVERSE_V2", "CONV_2D"}


def test_mirror_flip_net_on_host():
    tfl = assert_bit_exact(mirror_flip_net(), expect_ops=MIRROR_FLIP_OPS, n=10)
    assert sorted(op.attrs["mode"] for op in read_tflite(tfl).ops if op.kind == "MIRROR_PAD") == [0, 1]


def test_mirror_flip_net_on_mps2_an386(tmp_path):
    mirror_flip_net().save(tmp_path / "mirror_flip_net.keras")
    r = convert_and_flash(tmp_path / "mirror_flip_net.keras", calib="random", runs=3, samples=8,
                          out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert r.report["board"]["name"] == "mps2-an386"
    assert v["bit_exact"] and v["mismatched_bytes"] == 0 and v["samples"] >= 8, v
    assert MIRROR_FLIP_OPS - {"CONV_2D"} <= set(r.report["model"]["ops"])


def l2_embedding_net() -> keras.Model:
    """A metric-learning head: Dense layers, then tf.math.l2_normalize (one int8 L2_NORMALIZATION; Keras 3's
    UnitNormalization converts to SQUARE / SUM / RSQRT in float instead)."""
    import tensorflow as tf

    keras.utils.set_random_seed(6)
    inp = keras.Input((24,), batch_size=1)
    x = keras.layers.Dense(32, activation="relu")(inp)
    x = keras.layers.Dense(16)(x)
    return keras.Model(inp, keras.layers.Lambda(lambda v: tf.math.l2_normalize(v, axis=-1))(x), name="l2_embedding")


def test_l2_embedding_net_on_host():
    assert_bit_exact(l2_embedding_net(), expect_ops={"L2_NORMALIZATION", "FULLY_CONNECTED"}, n=20)


def l2_logical_tflite() -> bytes:
    """An int8 .tflite with L2_NORMALIZATION and LOGICAL_AND / OR / NOT (masking the normalised rows), for
    the board: its Lambda-free form is a tf.function, converted by the harness."""
    import numpy as np
    import tensorflow as tf

    from kernels.harness import tf_function_tflite

    def fn(x):
        keep = tf.logical_or(tf.logical_not(tf.logical_and(x > 0.0, x < 1.0)), x < -0.5)
        return tf.math.l2_normalize(x, axis=-1) * tf.cast(keep, tf.float32)

    f = tf.function(fn, input_signature=[tf.TensorSpec((1, 6, 16), tf.float32)])
    rng = np.random.default_rng(7)
    return tf_function_tflite(f, [[rng.standard_normal((1, 6, 16)).astype(np.float32)] for _ in range(16)])


L2_LOGICAL_OPS = {"L2_NORMALIZATION", "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT"}


def test_l2_logical_on_host():
    assert_bit_exact(None, model_bytes=l2_logical_tflite(), expect_ops=L2_LOGICAL_OPS, n=12)


def test_l2_logical_on_mps2_an386(tmp_path):
    path = tmp_path / "l2_logical.tflite"
    path.write_bytes(l2_logical_tflite())
    r = convert_and_flash(path, runs=3, samples=8, out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert r.report["board"]["name"] == "mps2-an386"
    assert v["bit_exact"] and v["mismatched_bytes"] == 0 and v["samples"] >= 8, v
    assert L2_LOGICAL_OPS <= set(r.report["model"]["ops"])
