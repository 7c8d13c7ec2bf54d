"""The pathological Keras models of tests/robustness/test_pathological.py, as files, for those tests and for the
sweep (tests/tools/sweep.py): untrained weights with vanishing activations, all-zero layers, NaN and Inf
weights (.keras and .h5), a zero-sized layer, two branches summed by an ADD, and the enormous layers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

PATHOLOGICAL = ("vanishing", "zeros", "nan", "nan_h5", "inf", "inf_h5", "zero_units", "add")


def write_pathological(d: Path) -> Path:
    """Write every model of :data:`PATHOLOGICAL` into ``d`` (``nan_h5`` is ``nan.h5``, the others
    ``NAME.keras``); returns ``d``."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)

    # an untrained MobileNetV2-like block whose classifier output spans almost nothing
    x = inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(6.0)(y)
    y = layers.Conv2D(8, 1, use_bias=False)(y)
    x = layers.Add()([x, y])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(5, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-9))(x)
    keras.Model(inp, layers.Softmax()(x)).save(d / "vanishing.keras")

    # all-zero Conv and Dense layers (kernel and bias)
    x = inp = keras.Input((6, 6, 2))
    x = layers.Conv2D(4, 3, kernel_initializer="zeros", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(3, kernel_initializer="zeros")(x)
    keras.Model(inp, x).save(d / "zeros.keras")

    # NaN / Inf weights, .keras and .h5
    def small():
        i = keras.Input((6,))
        return keras.Model(i, layers.Dense(3, name="out")(layers.Dense(4, name="hidden")(i)))

    for what, value, pos in (("nan", np.nan, (0, 0)), ("inf", np.inf, (1, 2))):
        m = small()
        w = m.get_layer("hidden").get_weights()
        w[0][pos] = value
        m.get_layer("hidden").set_weights(w)
        m.save(d / f"{what}.keras")
        m.save(d / f"{what}.h5")

    # a zero-sized layer: Dense(units=0) in the file's config (Keras refuses to build one, so edit the file)
    small().save(d / "ok.keras")
    with zipfile.ZipFile(d / "ok.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    cfg = json.loads(members["config.json"])
    for layer in cfg["config"]["layers"]:
        if layer["config"].get("name") == "hidden":
            layer["config"]["units"] = 0
    members["config.json"] = json.dumps(cfg).encode()
    with zipfile.ZipFile(d / "zero_units.keras", "w") as z:
        for n, data in members.items():
            z.writestr(n, data)

    # two branches whose sum is an ADD (for the output-scale limit)
    a, b = keras.Input((8,)), keras.Input((8,))
    keras.Model([a, b], layers.Add()([layers.Dense(8)(a), layers.Dense(8)(b)])).save(d / "add.keras")
    return d


def pathological_file(d: Path, name: str) -> Path:
    """The file of model ``name`` written by :func:`write_pathological` or :func:`write_huge`."""
    return d / (f"{name[:-3]}.h5" if name.endswith("_h5") else f"{name}.keras")


def write_huge(path: Path, inputs: int = 512, units: int = 9000) -> Path:
    """One Dense layer of ``inputs`` x ``units`` weights (default 4.6 M: 18 MB of float32, 4.6 MB as int8)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    i = keras.Input((inputs,))
    keras.Model(i, layers.Dense(units, name="huge")(i)).save(path)
    return path
