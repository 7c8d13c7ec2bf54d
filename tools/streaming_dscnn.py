"""A stand-in for issue 15's held-out streaming wake-word model: a DS-CNN on a 30x1x40 input (30 frames of 40
features, the features as channels, the convolutions 1-D along time as (k, 1) Conv2D / DepthwiseConv2D).
MLPerf Tiny's DS-CNN layout (64 channels: a strided first convolution, four depthwise-separable blocks, each
layer BatchNorm + ReLU, average pool, 12 classes) at streaming size. Seeded weights and BatchNorm statistics
from data as in tests/models/zoo_layers.py; quantized by edgeq (int8, calibrated on the same 32 sequences);
the .tflite is cached by content hash.

    .venv/bin/python tools/streaming_dscnn.py          # prints the path of the int8 .tflite
    edgeq convert-and-flash "$(.venv/bin/python tools/streaming_dscnn.py)" --board mps2-an386 --runs 1 --samples 2
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))

SHAPE = (30, 1, 40)
SEED = 0


def streaming_dscnn():
    import keras

    L = keras.layers
    inp = keras.Input(SHAPE)
    x = L.Conv2D(64, (5, 1), strides=(2, 1), padding="same", use_bias=False)(inp)
    x = L.ReLU()(L.BatchNormalization()(x))
    for _ in range(4):
        x = L.DepthwiseConv2D((3, 1), padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(64, 1, use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D((x.shape[1], 1))(x)
    x = L.Dense(12, activation="softmax")(L.Flatten()(x))
    return keras.Model(inp, x, name="streaming_dscnn")


def path() -> Path:
    """The cached int8 .tflite (built and quantized on first use)."""
    import zoo_layers as Z

    from edgeq.api import quantize_model
    from edgeq.files import cache_dir

    shared = (streaming_dscnn, Z.smooth_sequences, Z._randomize, Z.set_bn_statistics)
    key = hashlib.sha256(("".join(inspect.getsource(f) for f in shared) + f"{SHAPE}:{SEED}:{Z.CALIB_COUNT}")
                         .encode()).hexdigest()[:24]
    out = cache_dir() / "heldout" / f"streaming_dscnn-{key}.tflite"
    if not out.exists():
        import keras

        out.parent.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(SEED)
        model = streaming_dscnn()
        Z._randomize(model, SEED + 1)
        x = Z.smooth_sequences(Z.CALIB_COUNT, (SHAPE[0], SHAPE[2]), SEED + 2).reshape(-1, *SHAPE)
        Z.set_bn_statistics(model, x)
        model.save(out.with_suffix(".keras"))
        np.save(out.with_suffix(".npy"), x)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(quantize_model(out.with_suffix(".keras"), str(out.with_suffix(".npy"))).tflite)
        tmp.rename(out)
    return out


if __name__ == "__main__":
    print(path())
