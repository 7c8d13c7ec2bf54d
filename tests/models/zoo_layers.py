"""The issue-14 zoo: Keras layers and architectures beyond plain CNNs, int8 through edgeq's own frontend.

Issue 5's zoo (tests/models/zoo.py) stresses convolution geometry; this one stresses *layers*: the
keras.applications MobileNet, MobileNetV2, MobileNetV3Small and EfficientNetB0 at 96x96, a tiny
transformer block, autoencoders and decoders, LayerNorm, embeddings, the activation functions and the
shape / reduction / elementwise layers a user's model may have. Each model is small (the whole zoo
quantizes in a few minutes once, then comes from the cache).

Weights are seeded random. Random BatchNorm statistics make activations vanish through depth (the int8
softmax input scale of a 28-layer MobileNet ends below 2^-26), so :func:`set_bn_statistics` sets every
BatchNormalization's moving mean and variance from the activations it sees on the model's data, layer by
layer in graph order (each layer after the ones before it are fixed): the network then normalizes as a
trained one does, and the int8 scales are realistic.

The data (:func:`data`) is synthetic and seeded: *smooth random images* (a sum of a few random
low-frequency 2-D cosines per channel plus a little noise, in the range the model expects), smooth random
sequences the same way in 1-D, standard-normal feature vectors, and uniform token ids below the vocabulary
size. The same data calibrates the quantizer (``quantize_model(path, <.npy>)``) and sets the BatchNorm
statistics.

    from zoo_layers import ZOO, zoo_layers_tflite
    tfl = zoo_layers_tflite("mobilenet_v2")   # int8 .tflite bytes, cached by content hash
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np

from edgeq.files import cache_dir

CALIB_COUNT = 32


def _keras():
    import keras

    return keras


# --- data -------------------------------------------------------------------------------------------

def smooth_images(n: int, shape: tuple[int, int, int], low: float, high: float, seed: int) -> np.ndarray:
    """``n`` smooth random images ``(n, h, w, c)`` in [low, high]: per channel a sum of 4 random
    low-frequency 2-D cosines (1 to 3 periods across the image), plus 2% noise."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    out = np.zeros((n, h, w, c))
    for k in range(4):
        fy, fx = rng.uniform(0.5, 3.0, (2, n, 1, 1, c))
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1, c))
        amp = rng.uniform(0.3, 1.0, (n, 1, 1, c))
        out += amp * np.cos(2 * np.pi * (fy * yy[None, :, :, None] + fx * xx[None, :, :, None]) + phase)
    out += 0.02 * rng.standard_normal(out.shape)
    lo, hi = out.min(axis=(1, 2, 3), keepdims=True), out.max(axis=(1, 2, 3), keepdims=True)
    return (low + (high - low) * (out - lo) / (hi - lo)).astype(np.float32)


def smooth_sequences(n: int, shape: tuple[int, int], seed: int) -> np.ndarray:
    """``n`` smooth random sequences ``(n, steps, features)``, roughly unit scale (cosines + noise)."""
    rng = np.random.default_rng(seed)
    steps, f = shape
    t = np.arange(steps)[None, :, None] / steps
    out = np.zeros((n, steps, f))
    for k in range(3):
        freq = rng.uniform(0.5, 4.0, (n, 1, f))
        out += rng.uniform(0.3, 1.0, (n, 1, f)) * np.cos(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, (n, 1, f)))
    return (out + 0.1 * rng.standard_normal(out.shape)).astype(np.float32)


# --- models: each returns (keras.Model, data kind) ----------------------------------------------------
# data kinds: ("images", low, high), ("sequences",), ("normal",), ("tokens", vocab)

def mobilenet_v1():
    """keras.applications.MobileNet, alpha 0.25, 96x96x3, 10 classes (depthwise-separable stack, ReLU6,
    BatchNorm folded into the convolutions, GAP, a 1x1 conv classifier, RESHAPE, softmax)."""
    keras = _keras()
    return (keras.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None, classes=10),
            ("images", -1.0, 1.0))


def mobilenet_v2():
    """keras.applications.MobileNetV2, alpha 0.35, 96x96x3, 10 classes (inverted residuals, ADDs)."""
    keras = _keras()
    return (keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10),
            ("images", -1.0, 1.0))


def mobilenet_v3_small():
    """keras.applications.MobileNetV3Small, alpha 0.75, 96x96x3, 10 classes, no preprocessing layer
    (hard-swish, squeeze-and-excitation: MEAN, hard-sigmoid as ReLU6 arithmetic, MUL)."""
    keras = _keras()
    return (keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), alpha=0.75, weights=None, classes=10,
                                                include_preprocessing=False),
            ("images", -1.0, 1.0))


def efficientnet_b0():
    """keras.applications.EfficientNetB0, 96x96x3, 10 classes (its own Rescaling + Normalization, swish as
    LOGISTIC + MUL, squeeze-and-excitation, MBConv residuals). Input 0..255."""
    keras = _keras()
    return (keras.applications.EfficientNetB0(input_shape=(96, 96, 3), weights=None, classes=10),
            ("images", 0.0, 255.0))


def tiny_transformer():
    """One transformer encoder block on 16 tokens of width 32: MultiHeadAttention (2 heads, key_dim 16),
    residual + LayerNormalization, a gelu MLP (64), residual + LayerNormalization, GAP, softmax."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((16, 32))
    a = L.MultiHeadAttention(num_heads=2, key_dim=16)(inp, inp)
    x = L.LayerNormalization()(L.Add()([inp, a]))
    h = L.Dense(64, activation="gelu")(x)
    h = L.Dense(32)(h)
    x = L.LayerNormalization()(L.Add()([x, h]))
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inp, L.Dense(5, activation="softmax")(x), name="tiny_transformer"), ("sequences",)


def upsampling_autoencoder():
    """Conv autoencoder 32x32x1: stride-2 convs down to 8x8x16, UpSampling2D (nearest: RESHAPE + TILE)
    back up with convs between, BatchNorm, sigmoid output."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((32, 32, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.UpSampling2D()(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = L.UpSampling2D()(x)
    out = L.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inp, out, name="upsampling_autoencoder"), ("images", 0.0, 1.0)


def unet_tiny():
    """A two-level U-Net 24x24x3: MaxPooling2D, Conv2DTranspose (stride 2), a nearest Resizing layer
    (RESIZE_NEAREST_NEIGHBOR), skip Concatenates, BatchNorm, 2-class per-pixel softmax. (Bilinear
    upsampling, RESIZE_BILINEAR, has no C kernel: tests/cli/test_unsupported_layers.py uses it.)"""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((24, 24, 3))
    e1 = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    e2 = L.Conv2D(12, 3, padding="same", use_bias=False)(L.MaxPooling2D()(e1))
    e2 = L.ReLU()(L.BatchNormalization()(e2))
    b = L.Conv2D(16, 3, padding="same", activation="relu")(L.MaxPooling2D()(e2))  # 6x6
    d2 = L.Conv2DTranspose(12, 3, strides=2, padding="same", activation="relu")(b)  # 12x12
    d2 = L.Conv2D(12, 3, padding="same", activation="relu")(L.Concatenate()([d2, e2]))
    d1 = L.Resizing(24, 24, interpolation="nearest")(d2)
    d1 = L.Conv2D(8, 3, padding="same", activation="relu")(L.Concatenate()([d1, e1]))
    return keras.Model(inp, L.Conv2D(2, 1, activation="softmax")(d1), name="unet_tiny"), ("images", 0.0, 1.0)


def layernorm_mlp():
    """An MLP on 20 features: Dense(gelu) -> LayerNormalization -> Dense(swish) -> LayerNormalization ->
    Dense softmax."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((20,))
    x = L.LayerNormalization()(L.Dense(32, activation="gelu")(inp))
    x = L.LayerNormalization()(L.Dense(32, activation="swish")(x))
    return keras.Model(inp, L.Dense(4, activation="softmax")(x), name="layernorm_mlp"), ("normal",)


def mlp_gelu_swish():
    """The MLP of :func:`layernorm_mlp` with BatchNormalization in place of LayerNormalization (folded into
    the Dense layers), so gelu (GELU) and swish (LOGISTIC + MUL) are exercised on their own."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((20,))
    x = L.Activation("gelu")(L.BatchNormalization()(L.Dense(32)(inp)))
    x = L.Activation("swish")(L.BatchNormalization()(L.Dense(32)(x)))
    return keras.Model(inp, L.Dense(4, activation="softmax")(x), name="mlp_gelu_swish"), ("normal",)


def conv1d_transpose_decoder():
    """A 1-D decoder 8x6 -> 32x2: two Conv1DTranspose stride 2 (TRANSPOSE_CONV behind RESHAPEs), ReLU,
    a Conv1D head."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((8, 6))
    x = L.Conv1DTranspose(12, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.Conv1DTranspose(8, 5, strides=2, padding="same", activation="relu")(x)
    return keras.Model(inp, L.Conv1D(2, 3, padding="same")(x), name="conv1d_transpose_decoder"), ("sequences",)


def embedding_classifier():
    """Text classifier: int32 token ids (20 of a 50-word vocabulary) -> Embedding(16) -> GAP and GMP
    concatenated -> Dense relu -> softmax (LESS / ADD / SELECT wrap negative ids, GATHER, MEAN, REDUCE_MAX)."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((20,), dtype="int32")
    x = L.Embedding(50, 16)(inp)
    x = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)])
    x = L.Dense(16, activation="relu")(x)
    return keras.Model(inp, L.Dense(3, activation="softmax")(x), name="embedding_classifier"), ("tokens", 50)


def misc_layers():
    """Shape and reduction layers: Cropping1D/2D, Permute, RepeatVector, GlobalMaxPooling1D/2D, Flatten,
    Reshape, and the merge layers Maximum, Minimum, Subtract, Concatenate."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((12, 10, 4))
    a = L.GlobalMaxPooling2D()(L.Permute((2, 1, 3))(L.Cropping2D(((1, 2), (2, 1)))(inp)))
    b = L.GlobalMaxPooling1D()(L.Cropping1D((3, 5))(L.Reshape((120, 4))(inp)))
    c = L.Flatten()(L.RepeatVector(3)(L.Dense(4)(L.Flatten()(inp))))
    out = L.Concatenate()([L.Maximum()([a, b]), L.Minimum()([a, b]), L.Subtract()([a, b]), c])
    return keras.Model(inp, out, name="misc_layers"), ("images", -1.0, 1.0)


def shape_layers():
    """:func:`misc_layers` without Maximum / Minimum: Cropping1D/2D, Permute, RepeatVector,
    GlobalMaxPooling1D/2D, Subtract, Concatenate."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((12, 10, 4))
    a = L.GlobalMaxPooling2D()(L.Permute((2, 1, 3))(L.Cropping2D(((1, 2), (2, 1)))(inp)))
    b = L.GlobalMaxPooling1D()(L.Cropping1D((3, 5))(L.Reshape((120, 4))(inp)))
    c = L.Flatten()(L.RepeatVector(3)(L.Dense(4)(L.Flatten()(inp))))
    out = L.Concatenate()([L.Subtract()([a, b]), c, a])
    return keras.Model(inp, out, name="shape_layers"), ("images", -1.0, 1.0)


def dense_activations():
    """Dense layers with selu, softplus, hard_sigmoid and PReLU, concatenated. (Keras' elu converts to a float
    ELU island that LiteRT 2.3's reference resolver cannot run, so no model with it can be checked against
    the reference: edgeq keeps it float, see docs/benchmarks.md.)"""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((24,))
    outs = [L.Dense(8, activation=a)(inp) for a in ("selu", "softplus", "hard_sigmoid")]
    outs.append(L.PReLU()(L.Dense(8)(inp)))
    return keras.Model(inp, L.Concatenate()(outs), name="dense_activations"), ("normal",)


def dense_integer_activations():
    """Dense layers with the activations int8 kernels compute today: hard_sigmoid, PReLU, LeakyReLU,
    relu6, tanh, sigmoid, hard_swish; concatenated."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((24,))
    outs = [L.Dense(8, activation=a)(inp) for a in ("hard_sigmoid", "relu6", "tanh", "sigmoid", "hard_swish")]
    outs.append(L.PReLU()(L.Dense(8)(inp)))
    outs.append(L.LeakyReLU(0.2)(L.Dense(8)(inp)))
    return keras.Model(inp, L.Concatenate()(outs), name="dense_integer_activations"), ("normal",)


ZOO = {f.__name__: f for f in (
    mobilenet_v1, mobilenet_v2, mobilenet_v3_small, efficientnet_b0, tiny_transformer, upsampling_autoencoder,
    unet_tiny, layernorm_mlp, mlp_gelu_swish, conv1d_transpose_decoder, embedding_classifier, misc_layers,
    shape_layers, dense_activations, dense_integer_activations)}


def data(kind: tuple, input_shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """``n`` samples of ``kind`` (see the module doc) for an input of per-sample shape ``input_shape``."""
    if kind[0] == "images":
        return smooth_images(n, input_shape, kind[1], kind[2], seed)
    if kind[0] == "sequences":
        return smooth_sequences(n, input_shape, seed)
    if kind[0] == "tokens":
        return np.random.default_rng(seed).integers(0, kind[1], (n, *input_shape)).astype(np.int32)
    return np.random.default_rng(seed).standard_normal((n, *input_shape)).astype(np.float32)


# --- weights ------------------------------------------------------------------------------------------

def _randomize(model, seed: int) -> None:
    """Seeded variety on top of Keras' initializers: biases N(0, 0.1), BatchNorm gamma U(0.5, 1.5) and beta
    N(0, 0.2) (its moving statistics come from the data, :func:`set_bn_statistics`)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            ws = layer.get_weights()  # gamma, beta, moving mean, moving variance
            gamma = rng.uniform(0.5, 1.5, ws[0].shape)
            beta = rng.normal(0, 0.2, ws[1].shape)
            layer.set_weights([gamma.astype(np.float32), beta.astype(np.float32), *ws[2:]])
        elif getattr(layer, "bias", None) is not None and hasattr(layer.bias, "shape"):
            layer.bias.assign(rng.normal(0, 0.1, tuple(layer.bias.shape)).astype(np.float32))


def set_bn_statistics(model, x: np.ndarray) -> int:
    """Set each BatchNormalization's moving mean and variance to the mean and variance of its input on
    ``x`` (over every axis but its own), layer by layer in graph order: each layer's statistics are those
    of its input once the layers before it normalize with theirs. One forward pass in training mode does
    exactly that (there every BatchNormalization normalizes with the statistics of the batch), with
    momentum 0 (the moving statistics become the batch's) and dropout off (training mode would drop).
    Returns the number of layers set."""
    bns = [layer for layer in model._flatten_layers() if type(layer).__name__ == "BatchNormalization"]
    drops = [layer for layer in model._flatten_layers() if type(layer).__name__ == "Dropout"]
    saved = [layer.momentum for layer in bns], [layer.rate for layer in drops]
    for layer in bns:
        layer.momentum = 0.0
    for layer in drops:
        layer.rate = 0.0
    try:
        model(x, training=True)
    finally:
        for layer, m in zip(bns, saved[0]):
            layer.momentum = m
        for layer, r in zip(drops, saved[1]):
            layer.rate = r
    return len(bns)


def build(name: str, seed: int = 0):
    """The Keras model ``name`` with seeded weights and data-set BatchNorm statistics, and its calibration
    data ``(CALIB_COUNT, *input_shape)``."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    model, kind = ZOO[name]()
    _randomize(model, seed + 1)
    x = data(kind, tuple(model.inputs[0].shape[1:]), CALIB_COUNT, seed + 2)
    set_bn_statistics(model, x)
    return model, x


def _key(name: str, seed: int) -> str:
    """Content hash of what makes the model: its builder's source, the shared data / weights code, the seed
    (an edit to one model rebuilds that model only)."""
    shared = (smooth_images, smooth_sequences, data, _randomize, set_bn_statistics, build)
    text = "".join(inspect.getsource(f) for f in (ZOO[name], *shared)) + f"{CALIB_COUNT}:{name}:{seed}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def zoo_layers_path(name: str, seed: int = 0) -> Path:
    """The int8 .tflite of zoo model ``name`` (edgeq's frontend, calibrated on the model's data), cached by
    content hash (:func:`_key`). The Keras model and its data are kept beside it (``.keras``,
    ``.npy``)."""
    from edgeq.api import quantize_model

    path = cache_dir() / "zoo_layers" / f"{name}-{_key(name, seed)}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        model, x = build(name, seed)
        model.save(path.with_suffix(".keras"))
        np.save(path.with_suffix(".npy"), x)
        result = quantize_model(path.with_suffix(".keras"), str(path.with_suffix(".npy")))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(result.tflite)
        tmp.rename(path)
    return path


def zoo_layers_tflite(name: str, seed: int = 0) -> bytes:
    """int8 .tflite bytes of zoo model ``name`` (see :func:`zoo_layers_path`)."""
    return zoo_layers_path(name, seed).read_bytes()


def keras_path(name: str, seed: int = 0) -> Path:
    """The cached Keras model of ``name`` (quantizing it first if needed)."""
    return zoo_layers_path(name, seed).with_suffix(".keras")


# --- checks shared by the tests and tools/zoo_layers.py -----------------------------------------------

def check_inputs(name: str, n: int, seed: int = 0) -> list[list[np.ndarray]]:
    """``n`` inputs for the int8 model: half the model's own data (quantized as its input needs), half
    random over the whole input type (token ids: valid ids)."""
    from edgeq.frontend.data import Samples
    from edgeq.quality.validate import model_inputs

    path = zoo_layers_path(name, seed)
    tfl = path.read_bytes()
    own = Samples("zoo data", [np.load(path.with_suffix(".npy"))])
    return model_inputs(tfl, own, n - n // 2) + model_inputs(tfl, None, n // 2, seed=seed + 1)


def host_compare(name: str, n: int = 6, seed: int = 0) -> dict:
    """Generated C on the host, byte for byte against LiteRT's reference kernels ("litert") and, when TFLM
    registers every op of the model, against TFLM with its rounding ("tflm", and TFLM's own arena report
    "tflm_arena"; else the ops it lacks, "tflm_missing"). ByteCompare per reference."""
    import sys

    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.quality.op_coverage import tflm_builtins
    from edgeq.quality.references import TFLM

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
    from harness import compare  # the kernel tests' host comparison (first bad op named on a mismatch)

    tfl = zoo_layers_tflite(name, seed)
    inputs = check_inputs(name, n, seed)
    out = {"litert": compare(tfl, inputs, "litert")}
    missing = sorted({op.kind for op in read_tflite(tfl).ops} - set(tflm_builtins()))
    if missing:
        out["tflm_missing"] = missing
    else:
        out["tflm"] = compare(tfl, inputs, "tflm")
        out["tflm_arena"] = TFLM(tfl).arena_bytes()["total"]
    return out
