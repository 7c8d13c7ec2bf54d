"""Small, varied Keras models nobody tuned the kernels or the planner for (issue 5: "the figures also
hold for models no one here has tuned for").

Random (seeded) weights, random calibration over a stated input range, quantized by edgeq's own frontend
(``edgeq.api.quantize_model(path, "random", random_range=...)``) and cached on disk by the hash of this
file and the model's name. Each model stresses configurations the MLPerf Tiny models do not have: odd
channel counts (not multiples of 4, so the DSP kernels' quads / pairs have tails), 5x5, 1x7 and 7x1
kernels, dilation, strides 2 and 3 with even and odd sizes, VALID and SAME, non-square inputs, depthwise
multipliers, 1-D convolutions, concatenation, residual ADDs that requantize, odd-width dense layers.

    from zoo import ZOO, zoo_tflite
    tfl = zoo_tflite("mbv2_odd")   # int8 .tflite bytes
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgeq.files import cache_dir


def _keras():
    import keras

    return keras


def _bn_relu6(x, L):
    x = L.BatchNormalization()(x)
    return L.ReLU(6.0)(x)


def mbv2_odd():
    """MobileNetV2-style: stride-2 stem, inverted residuals (expansion 6, ReLU6, stride-2 depthwise,
    residual ADD), 13 / 17 / 23 channels, GAP + dense + softmax."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((32, 32, 3))
    x = _bn_relu6(L.Conv2D(13, 3, strides=2, padding="same", use_bias=False)(inp), L)

    def block(x, out_c, stride, expand=6):
        in_c = x.shape[-1]
        y = _bn_relu6(L.Conv2D(in_c * expand, 1, use_bias=False)(x), L)
        y = _bn_relu6(L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y), L)
        y = L.BatchNormalization()(L.Conv2D(out_c, 1, use_bias=False)(y))
        return L.Add()([x, y]) if stride == 1 and in_c == out_c else y

    x = block(x, 13, 1)
    x = block(x, 17, 2)
    x = block(x, 17, 1)
    x = block(x, 23, 2, expand=4)
    x = _bn_relu6(L.Conv2D(37, 1, use_bias=False)(x), L)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(10, activation="softmax")(x)
    return keras.Model(inp, out, name="mbv2_odd"), (0.0, 1.0)


def kws_kernels():
    """A 49x10x1 (KWS-shaped) input through 5x5 VALID stride (2,1), 1x7 and 7x1 SAME, a 3x3 conv with
    dilation 2, a 5x5 depthwise with multiplier 2 at stride 3, 7 / 5 / 13 channels, flatten + dense."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((49, 10, 1))
    x = L.Conv2D(7, 5, strides=(2, 1), padding="valid", activation="relu")(inp)  # 23x6x7
    x = L.Conv2D(5, (1, 7), padding="same", activation="relu")(x)
    x = L.BatchNormalization()(L.Conv2D(13, (7, 1), padding="same")(x))
    x = L.ReLU()(x)
    x = L.Conv2D(11, 3, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(5, strides=3, depth_multiplier=2, padding="same", activation="relu")(x)  # 8x2x22
    x = L.Flatten()(x)
    out = L.Dense(12, activation="softmax")(x)
    return keras.Model(inp, out, name="kws_kernels"), (-4.0, 4.0)


def inception_odd():
    """Inception-style branches (1x1, 3x3, 5x5, max-pool + 1x1) concatenated on channels, average pool,
    a stride-3 VALID conv on an even size, GAP + dense."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((24, 24, 5))
    b1 = L.Conv2D(3, 1, activation="relu")(inp)
    b2 = L.Conv2D(7, 3, padding="same", activation="relu")(inp)
    b3 = L.Conv2D(5, 5, padding="same", activation="relu")(inp)
    b4 = L.MaxPooling2D(3, strides=1, padding="same")(inp)
    b4 = L.Conv2D(6, 1, activation="relu")(b4)
    x = L.Concatenate()([b1, b2, b3, b4])  # 21 channels
    x = L.AveragePooling2D(2)(x)  # 12x12
    x = L.Conv2D(19, 3, strides=3, padding="valid", activation="relu")(x)  # 4x4
    x = L.Conv2D(9, 2, strides=2, padding="valid", activation="relu")(x)  # 2x2, even kernel
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(6)(x)
    return keras.Model(inp, out, name="inception_odd"), (-1.0, 1.0)


def resnet_nonsquare():
    """Non-square odd input 15x17x3; residual blocks whose ADD requantizes two differently scaled
    inputs, a 1x1 stride-2 projection shortcut, ReLU after the ADD, max-pool with odd sizes."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((15, 17, 3))
    x = L.Conv2D(9, 3, strides=2, padding="same", activation="relu")(inp)  # 8x9x9
    y = L.Conv2D(9, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(9, 3, padding="same")(y)
    x = L.ReLU()(L.Add()([x, y]))
    s = L.Conv2D(15, 1, strides=2)(x)
    y = L.Conv2D(15, 3, strides=2, padding="same", activation="relu")(x)
    y = L.Conv2D(15, 3, padding="same")(y)
    x = L.ReLU()(L.Add()([s, y]))  # 4x5x15
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = L.Flatten()(x)
    out = L.Dense(7, activation="softmax")(x)
    return keras.Model(inp, out, name="resnet_nonsquare"), (0.0, 255.0)


def conv1d_audio():
    """1-D convolutions over a 128-sample, 3-channel signal: kernel 7 stride 2, dilated kernel 5,
    a depthwise-separable 1-D block (SeparableConv1D), max-pool, global average, dense."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((128, 3))
    x = L.Conv1D(13, 7, strides=2, padding="same", activation="relu")(inp)  # 64x13
    x = L.Conv1D(17, 5, dilation_rate=2, padding="valid", activation="relu")(x)  # 56x17
    x = L.MaxPooling1D(2)(x)  # 28
    x = L.SeparableConv1D(21, 3, padding="same", activation="relu")(x)
    x = L.Conv1D(7, 3, strides=3, padding="valid", activation="relu")(x)  # 9x7
    x = L.GlobalAveragePooling1D()(x)
    out = L.Dense(5, activation="softmax")(x)
    return keras.Model(inp, out, name="conv1d_audio"), (-2.0, 2.0)


def dense_odd():
    """Dense only, odd widths (37 -> 29 -> 13 -> 7 -> 3), ReLU / none / softmax."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((37,))
    x = L.Dense(29, activation="relu")(inp)
    x = L.Dense(13, activation="relu")(x)
    x = L.Dense(7)(x)
    out = L.Dense(3, activation="softmax")(x)
    return keras.Model(inp, out, name="dense_odd"), (-3.0, 3.0)


def grouped_dw():
    """Grouped convolution (groups 4), depthwise multipliers 1 and 3 with odd channel counts, stride 2
    on an even size with VALID padding, average pool, dense."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((18, 18, 8))
    x = L.Conv2D(12, 3, groups=4, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(x)  # 8x8x12
    x = L.Conv2D(7, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=3, padding="same", activation="relu")(x)  # 8x8x21
    x = L.DepthwiseConv2D((1, 5), strides=(1, 2), padding="same")(x)  # 8x4x21
    x = L.AveragePooling2D(2)(x)
    x = L.Flatten()(x)
    out = L.Dense(9, activation="softmax")(x)
    return keras.Model(inp, out, name="grouped_dw"), (-1.0, 1.0)


ZOO = {f.__name__: f for f in (mbv2_odd, kws_kernels, inception_odd, resnet_nonsquare, conv1d_audio,
                               dense_odd, grouped_dw)}


def _randomize(model, seed: int) -> None:
    """Seeded weights with varied scales (kernels of different magnitude, non-trivial batch-norm
    statistics) so that requantization multipliers differ across channels and layers."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if type(layer).__name__ == "BatchNormalization":
                # gamma, beta, moving mean, moving variance
                k = len(new)
                v = [rng.uniform(0.5, 2.0, w.shape), rng.normal(0, 0.3, w.shape), rng.normal(0, 0.3, w.shape),
                     rng.uniform(0.3, 3.0, w.shape)][k]
            elif w.ndim == 1:
                v = rng.normal(0, 0.2, w.shape)
            else:
                fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
                v = rng.normal(0, 1.0, w.shape) * np.sqrt(2.0 / max(fan_in, 1))
                v *= rng.uniform(0.3, 3.0, w.shape[-1:])  # per-output-channel scale spread
            new.append(v.astype(np.float32))
        layer.set_weights(new)


def build(name: str, seed: int = 0):
    """The Keras model ``name`` with seeded random weights, and its calibration input range."""
    import keras

    keras.utils.set_random_seed(seed)
    model, rng = ZOO[name]()
    _randomize(model, seed + 1)
    return model, rng


def zoo_tflite(name: str, seed: int = 0) -> bytes:
    """int8 .tflite of zoo model ``name`` via edgeq's frontend (random calibration over its range),
    cached by the hash of this file + name + seed."""
    from edgeq.api import quantize_model

    key = hashlib.sha256(Path(__file__).read_bytes() + f"{name}:{seed}".encode()).hexdigest()[:24]
    path = cache_dir() / "zoo" / f"{name}-{key}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        model, rng = build(name, seed)
        src = path.with_suffix(".keras")
        model.save(src)
        data = quantize_model(src, "random", random_range=rng, random_count=64).tflite
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
    return path.read_bytes()


def zoo_path(name: str, seed: int = 0) -> Path:
    """The cached .tflite file of ``name`` (for flows that take a path)."""
    zoo_tflite(name, seed)
    key = hashlib.sha256(Path(__file__).read_bytes() + f"{name}:{seed}".encode()).hexdigest()[:24]
    return cache_dir() / "zoo" / f"{name}-{key}.tflite"
