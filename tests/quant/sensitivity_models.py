"""Models for the sensitivity-analysis and partial-quantization tests (imported by tests/quant/test_*.py).

``planted_model`` is a small classifier with one layer planted to be hard to quantize: in every output
channel of ``outlier_dense`` one weight is 500x the others, on an input (a unit of the layer before) that
is always 0. That input adds nothing to the float output, but per-channel int8 weights are scaled to the outlier, so all
the other weights of the channel round to 0 and the int8 layer computes garbage. The analysis must rank
that layer first, and keeping it (only it) in float32 must bring the model back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLANTED = "outlier_dense"


def planted_model(directory: Path) -> tuple[Path, Path]:
    """Writes ``planted.keras`` and its calibration data ``calib.npy`` into ``directory``."""
    import keras

    directory.mkdir(parents=True, exist_ok=True)
    model_path, calib_path = directory / "planted.keras", directory / "calib.npy"
    if model_path.exists() and calib_path.exists():
        return model_path, calib_path
    rng = np.random.default_rng(7)
    model = keras.Sequential([
        keras.Input((16,), name="features"),
        keras.layers.Dense(24, activation="relu", name="first_dense"),
        keras.layers.Dense(32, activation="relu", name=PLANTED),
        keras.layers.Dense(10, name="head"),
        keras.layers.Softmax(),
    ])
    w1 = rng.normal(0, 0.4, (16, 24)).astype(np.float32)
    w1[:, 0] = 0.0  # first_dense's unit 0 is always 0 (zero weights, zero bias): the planted outlier sits on it
    model.get_layer("first_dense").set_weights([w1, np.zeros(24, np.float32)])
    w2 = rng.normal(0, 0.1, (24, 32)).astype(np.float32)
    w2[0] = 50.0
    model.get_layer(PLANTED).set_weights([w2, np.full(32, 0.05, np.float32)])
    model.get_layer("head").set_weights([rng.normal(0, 0.5, (32, 10)).astype(np.float32), np.zeros(10, np.float32)])
    x = rng.uniform(-1, 1, (200, 16)).astype(np.float32)
    tmp = directory / "planted.tmp.keras"
    model.save(tmp)
    np.save(calib_path, x)
    tmp.rename(model_path)
    return model_path, calib_path
