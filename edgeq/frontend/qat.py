"""Quantization-aware training models on Keras 3: fake quantization that mirrors TFLite's int8 spec.

:func:`wrap` rebuilds a float Keras model as a QAT model that computes, in float, what the int8 TFLite
model will compute:

* **weights** of Conv2D, DepthwiseConv2D and Dense are rounded, in the forward pass, to the grid the TFLite
  converter gives them: symmetric, ``scale = max|w| / 127`` per output channel (per tensor with
  ``per_channel=False``), integers in ``[-127, 127]`` (``[-7, 7]`` with ``weight_bits=4``). The gradient
  passes straight through the rounding (``w + stop_gradient(round(w) - w)``). No fake-quant *op* is
  put on the weights: the converter quantizes the exported weights itself, and weights already on its
  grid come out as exactly these integers (a FakeQuantWithMinMaxVarsPerChannel op on a Dense kernel
  makes the converter fail: the kernel is transposed after being quantized on its last axis).
* **BatchNormalization** after a Conv2D / DepthwiseConv2D / Dense (its only consumer) is folded into the
  layer's kernel and bias the way the converter folds it (``k * gamma / sqrt(var + eps)`` per output
  channel, ``beta + (b - mean) * gamma / sqrt(var + eps)``), with the moving statistics frozen, before the
  weights are rounded: the int8 model has the folded weights, so those are what training must see.
* **activations** are fake-quantized per tensor, asymmetric, with ``tf.quantization.
  fake_quant_with_min_max_vars`` (8 bits, the full range) at the points the converter quantizes: every
  model input, and the output of each Conv2D / DepthwiseConv2D / Dense / Add *after* its fused
  activation (a ReLU / ReLU6 that is the op's only consumer is fused, as the converter fuses it), of
  GlobalAveragePooling2D (MEAN), Concatenate and of activations that are not fused. The inputs of a
  Concatenate are not fake-quantized on their own: the converter gives every CONCATENATION input the
  output's quantization (a fake-quant op on an input is overridden), so they must feed nothing else. The range ``[min, max]`` is two
  trainable weights (the op's gradient trains them). Softmax and sigmoid outputs have the fixed range
  the int8 kernels require (scale 1/256, zero point -128); tanh 1/128, 0. Ops whose int8 output must
  share the input's quantization (max / average pooling, reshape, flatten, padding, dropout) get none.

The TFLite converter reads FakeQuantWithMinMaxVars ops and gives each tensor exactly that range (with or
without a representative dataset), so ``edgeq quantize`` of a QAT model makes an int8 model with the
learned ranges. With ``weight_bits=4`` the weights are on the int8x4 grid and ``edgeq quantize --scheme
int8x4`` keeps them and the learned ranges (:func:`edgeq.frontend.int4.quantize_qat_int8x4`, which takes
the float graph of :func:`without_activation_quantization`); :func:`check_conversion` refuses a scheme or
granularity other than the trained one.

**Clustered weights** (``wrap(clusters=K)``, ``edgeq qat --clusters K``): each weighted layer's (folded)
kernel is k-means clustered once (:func:`edgeq.frontend.cluster.kmeans_codebook`, per layer or per output
channel); the layer then holds the centroids (trainable) and each weight's centroid index (fixed), and its
kernel is the centroids gathered through the indices, rounded to the int8 grid as above. The centroids
train, not the assignment (as TF-MOT's weight clustering does: a centroid's gradient is the sum of its
members'), because the assignment is what keeps at most K values per layer / channel, which the 4-bit
codebook lowering needs, while moving the centroids recovers most of what the clustering cost; keeping
them fixed would leave only the biases and ranges to train.

The layers are Keras 3 classes registered under the package name ``edgeq``: after :func:`custom_objects`
has run, ``keras.models.load_model`` reads a saved QAT model (``edgeq.frontend.load`` calls it first).
Keras is imported only when :func:`custom_objects` runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.cluster import check_clusters, kmeans_codebook
from edgeq.frontend.runtime import import_keras, import_tf

PACKAGE = "edgeq"
WEIGHT_BITS = (8, 4)
# fixed output ranges of the activations whose int8 kernels have a fixed output quantization
FIXED_RANGES = {"softmax": (0.0, 255.0 / 256.0), "sigmoid": (0.0, 255.0 / 256.0), "tanh": (-1.0, 127.0 / 128.0)}
FUSABLE = ("relu", "relu6", "linear")
MIN_WIDTH = 1e-6  # a fake-quant range narrower than this is widened (a tensor that is always 0)

# Keras layer classes by role
_WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense")
_SAME_SCALE = ("MaxPooling2D", "AveragePooling2D", "Flatten", "Reshape", "Dropout", "ZeroPadding2D")
_FREE_SCALE = ("GlobalAveragePooling2D", "Add", "Concatenate")
_ACTIVATIONS = ("ReLU", "Activation", "Softmax")


@dataclass(frozen=True)
class Point:
    """A fake-quantized activation: the FakeQuant layer's name and the tensor it follows (a layer name,
    or ``input:<name>``); ``fixed`` ranges are not trained."""

    layer: str
    after: str
    fixed: bool


def weight_qmax(bits: int) -> int:
    """The largest integer of a symmetric ``bits``-bit weight grid (127 for 8 bits, 7 for 4)."""
    if bits not in WEIGHT_BITS:
        raise EdgeqError(f"{bits}-bit weights are not supported", hint="use 8 (int8) or 4 (int8x4)")
    return 2 ** (bits - 1) - 1


def round_to_grid(w: np.ndarray, qmax: int, channel_axes: tuple[int, ...] | None) -> np.ndarray:
    """NumPy reference of the weight fake quantization: ``w`` on its symmetric grid, scale ``max|w| / qmax``
    over ``channel_axes`` (the axes reduced for one scale per output channel; None: one for the tensor)."""
    w = np.asarray(w, np.float32)
    m = np.max(np.abs(w), axis=channel_axes, keepdims=True)
    s = np.where(m > 0, m / np.float32(qmax), np.float32(1)).astype(np.float32)
    v = w / s
    return (np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -qmax, qmax) * s).astype(np.float32)


@functools.cache
def custom_objects() -> dict[str, Any]:
    """Define and register (under the package ``edgeq``) the QAT layers; returns ``{name: class}`` for
    ``keras.models.load_model(..., custom_objects=...)``. Imports Keras (the first call only)."""
    keras, tf = import_keras(), import_tf()
    ops = keras.ops
    register = keras.saving.register_keras_serializable(package=PACKAGE)

    @register
    class NonPositive(keras.constraints.Constraint):
        """Keeps a fake-quant minimum at or below 0 (the int8 range always holds 0)."""

        def __call__(self, w):
            return ops.minimum(w, 0.0)

    @register
    class FakeQuant(keras.layers.Layer):
        """Per-tensor asymmetric int8 fake quantization of an activation, range ``[min, max]``."""

        def __init__(self, lo: float = 0.0, hi: float = 1.0, fixed: bool = False, **kwargs):
            super().__init__(**kwargs)
            self.lo, self.hi, self.fixed = float(lo), float(hi), bool(fixed)
            self.enabled = True  # False while observing float activations (eager calls only)

        def build(self, input_shape):
            trainable = not self.fixed
            self.min = self.add_weight(name="min", shape=(), initializer=keras.initializers.Constant(self.lo),
                                       trainable=trainable, constraint=NonPositive())
            self.max = self.add_weight(name="max", shape=(), initializer=keras.initializers.Constant(self.hi),
                                       trainable=trainable, constraint=keras.constraints.NonNeg())

        def call(self, x):
            if not self.enabled:
                return x
            return tf.quantization.fake_quant_with_min_max_vars(x, self.min, self.max, num_bits=8,
                                                                narrow_range=False)

        def set_range(self, lo: float, hi: float) -> None:
            lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
            if hi - lo < MIN_WIDTH:
                hi = lo + MIN_WIDTH
            self.min.assign(lo)
            self.max.assign(hi)

        def get_config(self):
            return {**super().get_config(), "lo": self.lo, "hi": self.hi, "fixed": self.fixed}

    @register
    class QuantWeights(keras.layers.Layer):
        """Conv2D, DepthwiseConv2D or Dense (``kind`` ``conv``, ``depthwise``, ``dense``) whose kernel is
        rounded to TFLite's symmetric weight grid in the forward pass (straight-through gradient), with a
        bias and a fused activation (relu, relu6 or linear)."""

        def __init__(self, kind: str, kernel_shape, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                     activation="linear", weight_bits: int = 8, per_channel: bool = True, clusters: int = 0,
                     cluster_per_channel: bool = False, **kwargs):
            super().__init__(**kwargs)
            self.kind, self.kernel_shape = kind, tuple(int(d) for d in kernel_shape)
            self.strides, self.padding = tuple(strides), padding
            self.dilation_rate, self.activation = tuple(dilation_rate), activation
            self.weight_bits, self.per_channel = int(weight_bits), bool(per_channel)
            self.clusters, self.cluster_per_channel = int(clusters), bool(cluster_per_channel)
            self.qmax = weight_qmax(self.weight_bits)
            self.enabled = True

        def build(self, input_shape):
            if self.clusters:  # the kernel is the trained centroids gathered through the fixed assignment
                rows = int(np.prod(self.kernel_shape)) // self.channels
                books = self.channels if self.cluster_per_channel else 1
                self.centroids = self.add_weight(name="centroids", shape=(books, self.clusters), initializer="zeros")
                self.assignment = self.add_weight(name="assignment", shape=(rows, self.channels), dtype="int32",
                                                  initializer="zeros", trainable=False)
            else:
                self.kernel = self.add_weight(name="kernel", shape=self.kernel_shape, initializer="zeros")
            self.bias = self.add_weight(name="bias", shape=(self.channels,), initializer="zeros")

        def set_kernel(self, kernel: np.ndarray, seed: int = 0) -> None:
            """Give the layer the float ``kernel``; a clustered layer k-means it (per layer or per output
            channel, :func:`edgeq.frontend.cluster.kmeans_codebook`) into its centroids and assignment."""
            kernel = np.asarray(kernel, np.float32).reshape(self.kernel_shape)
            if not self.clusters:
                self.kernel.assign(kernel)
                return
            flat = kernel.reshape(-1, self.channels)
            books = np.zeros((self.centroids.shape[0], self.clusters), np.float32)
            index = np.zeros(flat.shape, np.int32)
            columns = [flat[:, c] for c in range(self.channels)] if self.cluster_per_channel else [flat]
            for b, values in enumerate(columns):
                centers, labels = kmeans_codebook(values, self.clusters, seed)
                books[b, :centers.size] = centers
                if self.cluster_per_channel:
                    index[:, b] = labels
                else:
                    index[:] = labels
            self.centroids.assign(books)
            self.assignment.assign(index)

        def float_kernel(self):
            """The float kernel before rounding: the kernel, or each weight's centroid (its gradient, summed
            over the weights of a cluster, trains the centroid, as TF-MOT's weight clustering does)."""
            if not self.clusters:
                return self.kernel
            books = self.centroids.shape[0]
            offset = (np.arange(self.channels, dtype=np.int32) * self.clusters if books > 1
                      else np.zeros(self.channels, np.int32))
            flat = ops.take(ops.reshape(self.centroids, (-1,)), self.assignment + offset)
            return ops.reshape(flat, self.kernel_shape)

        @property
        def channels(self) -> int:
            if self.kind == "depthwise":
                return self.kernel_shape[2] * self.kernel_shape[3]
            return self.kernel_shape[-1]

        def quantized_kernel(self):
            k = self.float_kernel()
            if not self.enabled:
                return k
            flat = ops.reshape(k, (-1, self.channels))  # one column per output channel
            m = ops.max(ops.abs(flat), axis=0) if self.per_channel else ops.max(ops.abs(flat))
            s = ops.where(m > 0, m / float(self.qmax), ops.ones_like(m))
            v = flat / s
            q = ops.clip(ops.sign(v) * ops.floor(ops.abs(v) + 0.5), -self.qmax, self.qmax) * s
            return k + ops.stop_gradient(ops.reshape(q, self.kernel_shape) - k)

        def call(self, x):
            k = self.quantized_kernel()
            if self.kind == "dense":
                y = ops.matmul(x, k)
            elif self.kind == "conv":
                y = ops.conv(x, k, strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate)
            else:
                y = ops.depthwise_conv(x, k, strides=self.strides, padding=self.padding,
                                       dilation_rate=self.dilation_rate)
            y = y + self.bias
            if self.activation == "relu":
                return ops.relu(y)
            if self.activation == "relu6":
                return ops.relu6(y)
            return y

        def get_config(self):
            return {**super().get_config(), "kind": self.kind, "kernel_shape": self.kernel_shape,
                    "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                    "activation": self.activation, "weight_bits": self.weight_bits,
                    "per_channel": self.per_channel, "clusters": self.clusters,
                    "cluster_per_channel": self.cluster_per_channel}

    return {f"{PACKAGE}>{c.__name__}": c for c in (NonPositive, FakeQuant, QuantWeights)} | {
        c.__name__: c for c in (NonPositive, FakeQuant, QuantWeights)}


def is_qat_model(model: Any) -> bool:
    """Whether a Keras model has edgeq's fake-quantization layers."""
    classes = tuple(set(custom_objects().values()))
    return any(isinstance(layer, classes) for layer in getattr(model, "layers", ()))


def trained_weight_bits(model: Any) -> int | None:
    """The weight bit width a QAT model was trained with (8 or 4), None for a model without QuantWeights."""
    bits = {layer.weight_bits for layer in model.layers if isinstance(layer, custom_objects()["QuantWeights"])}
    return max(bits) if bits else None


def trained_clusters(model: Any) -> tuple[int, bool] | None:
    """``(K, per_channel)`` of a QAT model fine-tuned with clustered weights (``wrap(clusters=K)``), else None."""
    found = {(layer.clusters, layer.cluster_per_channel) for layer in model.layers
             if isinstance(layer, custom_objects()["QuantWeights"]) and layer.clusters}
    return max(found) if found else None


def check_clusters_kept(model: Any, clusters: int, per_channel: bool) -> None:
    """Refuse ``edgeq quantize --clusters K [--clusters-per-channel]`` of a QAT model not fine-tuned with that
    clustering (k-means would run again over its trained weights)."""
    trained = trained_clusters(model)
    asked = f"--clusters {clusters}" + (" --clusters-per-channel" if per_channel else "")
    if trained is None:
        raise EdgeqError(f"{model.name} was not fine-tuned with clustered weights; {asked} would cluster its trained "
                         "weights again",
                         hint=f"fine-tune the float model with edgeq qat {asked}, or quantize this one without "
                              "--clusters")
    if trained != (clusters, per_channel):
        have = f"--clusters {trained[0]}" + (" --clusters-per-channel" if trained[1] else "")
        raise EdgeqError(f"{model.name} was fine-tuned with {have}; {asked} would cluster it again",
                         hint=f"quantize it with {have}")


def check_conversion(model: Any, per_channel: bool, weight_bits: int = 8) -> None:
    """Refuse to convert a QAT model with a weight granularity or bit width other than the one it was trained
    with (the converter would round the trained weights again, onto another grid)."""
    layers = [layer for layer in model.layers if isinstance(layer, custom_objects()["QuantWeights"])]
    trained = {layer.per_channel for layer in layers}
    if trained and trained != {per_channel}:
        have = "per-channel" if True in trained else "per-tensor"
        raise EdgeqError(f"{model.name} was trained with {have} weights; converting it "
                         f"{'per-channel' if per_channel else 'per-tensor'} would round them onto another grid",
                         hint=f"quantize it with --granularity {have}")
    bits = trained_weight_bits(model)
    if bits is not None and bits != weight_bits:
        scheme = {8: "int8", 4: "int8x4"}
        raise EdgeqError(f"{model.name} was trained with {bits}-bit weights (edgeq qat --scheme {scheme[bits]}); "
                         f"--scheme {scheme[weight_bits]} would round them onto the {weight_bits}-bit grid",
                         hint=f"quantize it with --scheme {scheme[bits]}, or train it again with "
                              f"edgeq qat --scheme {scheme[weight_bits]}")


def without_activation_quantization(model: Any) -> Any:
    """The QAT ``model`` with every FakeQuant layer replaced by an Identity of the same name (the weights are
    still rounded to their trained grid): the float graph the int8x4 quantizer takes, whose tensors are
    those of the QAT model's conversion without its QUANTIZE / DEQUANTIZE pairs. Shares the QuantWeights
    layers (and their weights) with ``model``."""
    keras = import_keras()
    fq = custom_objects()["FakeQuant"]

    def clone(layer: Any) -> Any:
        return keras.layers.Identity(name=layer.name) if isinstance(layer, fq) else layer

    return keras.models.clone_model(model, clone_function=clone)


def fake_quant_layers(model: Any) -> list[Any]:
    """The model's FakeQuant layers, in graph order."""
    fq = custom_objects()["FakeQuant"]
    return [layer for layer in model.layers if isinstance(layer, fq)]


def set_enabled(model: Any, enabled: bool) -> None:
    """Turn all fake quantization of ``model`` on or off (off: the float model; eager calls only)."""
    classes = (custom_objects()["FakeQuant"], custom_objects()["QuantWeights"])
    for layer in model.layers:
        if isinstance(layer, classes):
            layer.enabled = enabled


# --------------------------------------------------------------------------------------------------
# Wrapping a float model


def _activation_name(layer: Any) -> str | None:
    """The activation a layer applies: a name of FUSABLE or FIXED_RANGES, or None for anything else."""
    keras = import_keras()
    kind = type(layer).__name__
    if kind == "ReLU":
        plain = float(layer.negative_slope) == 0 and float(layer.threshold) == 0
        if plain and layer.max_value is None:
            return "relu"
        if plain and layer.max_value is not None and float(layer.max_value) == 6.0:
            return "relu6"
        return None
    if kind == "Softmax":
        return "softmax" if layer.axis in (-1, [-1]) else None
    fn = getattr(layer, "activation", None)
    if fn is None:
        return "linear"
    name = keras.activations.serialize(fn)
    name = name if isinstance(name, str) else (name or {}).get("config", name)
    if not isinstance(name, str):
        return None
    if name == "softmax" and kind == "Activation":
        return "softmax"
    return name if name in FUSABLE or name in FIXED_RANGES else None


def _consumers(model: Any) -> dict[str, list[Any]]:
    """Layer name -> the layers (of ``model``) that take its output."""
    inside = {id(layer) for layer in model.layers}
    out: dict[str, list[Any]] = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for node in layer._inbound_nodes:  # Keras 3 Operation / Node: the graph edges
            for tensor in node.arguments.keras_tensors:
                producer = tensor._keras_history.operation
                if id(producer) in inside and layer not in out[producer.name]:
                    out[producer.name].append(layer)
    return out


def problems(model: Any) -> list[str]:
    """Every layer :func:`wrap` cannot fake-quantize, one line each (empty if it can wrap them all)."""
    keras = import_keras()
    bad = []
    consumers = _consumers(model)
    for layer in model.layers:
        kind = type(layer).__name__
        why = None
        if kind == "Concatenate":
            producers = [t._keras_history.operation for t in layer._inbound_nodes[0].arguments.keras_tensors]
            shared = [p.name for p in producers if type(p).__name__ not in (*_WEIGHTED, *_FREE_SCALE, *_ACTIVATIONS,
                                                                              "BatchNormalization")
                      or consumers.get(p.name) != [layer]]
            if shared:
                why = (f"its inputs {', '.join(shared)} feed other layers too or come from an input or a pooling "
                       "(the converter gives every CONCATENATION input the output's quantization)")
        elif kind == "InputLayer" or kind in _SAME_SCALE or kind in _FREE_SCALE:
            why = None
        elif kind in _WEIGHTED:
            if getattr(layer, "data_format", "channels_last") != "channels_last":
                why = "only channels_last"
            elif getattr(layer, "groups", 1) != 1:
                why = "grouped convolution"
            elif _activation_name(layer) is None:
                why = f"activation {keras.activations.serialize(layer.activation)!r} has no int8 form here"
            elif kind == "Dense" and len(layer.input.shape) != 2:
                why = "Dense on a rank-3+ input"
        elif kind == "BatchNormalization":
            producers = [t._keras_history.operation for t in layer._inbound_nodes[0].arguments.keras_tensors]
            p = producers[0] if len(producers) == 1 else None
            if p is None or type(p).__name__ not in _WEIGHTED or consumers.get(p.name) != [layer]:
                why = "BatchNormalization is folded only after a Conv2D / DepthwiseConv2D / Dense it alone follows"
            elif layer.axis not in (-1, len(layer.input.shape) - 1, [-1], [len(layer.input.shape) - 1]):
                why = "BatchNormalization on an axis other than the channels"
            elif _activation_name(p) != "linear":
                why = f"the {p.name} before it has an activation"
        elif kind in _ACTIVATIONS:
            if _activation_name(layer) is None:
                why = "this activation has no int8 form here (relu, relu6, softmax, sigmoid, tanh do)"
        else:
            why = "no fake quantization for this layer type"
        if why is not None:
            bad.append(f"{layer.name} ({kind}): {why}")
    return bad


def wrap(model: Any, *, weight_bits: int = 8, per_channel: bool = True, clusters: int = 0,
         cluster_per_channel: bool = False) -> tuple[Any, list[Point]]:
    """The QAT form of a float Keras model (Functional or Sequential; see the module doc) and its
    fake-quant points. Every activation range starts at ``[0, 1]``: set them from calibration
    (:func:`fake_quant_layers`). An EdgeqError lists every layer that cannot be wrapped.

    ``clusters`` K (2..256, 8-bit weights only): each weighted layer's kernel (BatchNormalization folded in)
    is k-means clustered to K centroids per layer (per output channel with ``cluster_per_channel``); the
    assignment of every weight to its centroid is fixed and the centroids train, so the model keeps at most
    K values per layer / channel through training, and its int8 model at most K per channel."""
    keras = import_keras()
    objs = custom_objects()
    FakeQuant, QuantWeights = objs["FakeQuant"], objs["QuantWeights"]
    weight_qmax(weight_bits)
    if clusters:
        check_clusters(clusters)
        if weight_bits != 8:
            raise EdgeqError("--clusters fine-tunes 8-bit (int8) weights, not 4-bit ones",
                             hint="leave out --scheme int8x4 (int8), or --clusters")
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    if not isinstance(model, keras.Model) or not hasattr(model, "_run_through_graph"):
        raise EdgeqError("quantization-aware training takes a Functional or Sequential Keras model",
                         hint="build the model with keras.Input and layer calls, or keras.Sequential")
    bad = problems(model)
    if bad:
        raise EdgeqError(f"fake quantization cannot wrap {len(bad)} layer(s) of {model.name}", detail=bad,
                         hint="replace these layers (or fold them into their neighbours) in the float model")
    consumers = _consumers(model)
    folded = {}  # BN layer name -> the weighted layer it folds into
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            folded[layer.name] = layer._inbound_nodes[0].arguments.keras_tensors[0]._keras_history.operation

    def effective_consumers(layer: Any) -> list[Any]:
        out = consumers.get(layer.name, [])
        if len(out) == 1 and out[0].name in folded:
            return consumers.get(out[0].name, [])
        return out

    def fused_into_consumer(layer: Any) -> bool:
        """A linear conv / dense / add whose only consumer is a ReLU or ReLU6 (the converter fuses it)."""
        kind = type(layer).__name__
        if kind not in _WEIGHTED and kind != "Add":
            return False
        if kind != "Add" and _activation_name(layer) != "linear":
            return False
        out = effective_consumers(layer)
        return (len(out) == 1 and type(out[0]).__name__ in _ACTIVATIONS
                and _activation_name(out[0]) in ("relu", "relu6"))

    points: list[Point] = []
    names = {layer.name for layer in model.layers}

    def fq(after: str, lo: float = 0.0, hi: float = 1.0, fixed: bool = False) -> Any:
        base = f"fq_{after}".replace(":", "_")
        name, k = base, 1
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.add(name)
        points.append(Point(name, after, fixed))
        return FakeQuant(lo=lo, hi=hi, fixed=fixed, name=name)

    weighted = {}  # weighted layer name -> its QuantWeights (with BN folded in)
    for layer in model.layers:
        if type(layer).__name__ in _WEIGHTED:
            bn = next((b for b, p in folded.items() if p is layer), None)
            weighted[layer.name] = _quant_weights(QuantWeights, layer, bn and model.get_layer(bn),
                                                  weight_bits, per_channel, clusters, cluster_per_channel)

    def clone(layer: Any) -> Any:
        if layer.name in weighted:
            return weighted[layer.name]
        if layer.name in folded:
            return layer  # never called: call() passes its input through (it is folded into its producer)
        return layer.__class__.from_config(layer.get_config())

    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name.split(":")[0]) for t in model.inputs]
    input_fq = {id(t): fq(f"input:{t.name}")(t) for t in inputs}

    def call(layer: Any, *args, **kwargs):
        args = keras.tree.map_structure(lambda t: input_fq.get(id(t), t), args)
        if layer.name in folded:
            y = args[0]  # folded into the layer before it
            source = folded[layer.name]
        else:
            y = layer(*args, **kwargs)
            source = model.get_layer(layer.name)  # the float layer (``layer`` may be its QuantWeights)
        kind = type(source).__name__
        if kind in _SAME_SCALE or (kind in _ACTIVATIONS and _activation_name(source) == "linear"):
            return y
        if layer.name not in folded and consumers.get(layer.name) and \
                len(consumers[layer.name]) == 1 and consumers[layer.name][0].name in folded:
            return y  # the BN after it is folded in: quantized after the BN
        if fused_into_consumer(source):
            return y
        if [type(c).__name__ for c in consumers.get(layer.name, [])] == ["Concatenate"]:
            return y  # quantized by the concatenation's range (the converter shares it with every input)
        name = _activation_name(source) if kind in _ACTIVATIONS or kind in _WEIGHTED else "linear"
        if name in FIXED_RANGES:
            return fq(source.name, *FIXED_RANGES[name], fixed=True)(y)
        return fq(source.name)(y)

    # a weighted layer whose activation is not fusable runs linear, then the activation on its own
    split = [n for n, q in weighted.items() if _activation_name(model.get_layer(n)) in FIXED_RANGES]

    def call_split(layer: Any, *args, **kwargs):
        if layer.name not in split:
            return call(layer, *args, **kwargs)
        args = keras.tree.map_structure(lambda t: input_fq.get(id(t), t), args)
        y = fq(layer.name)(layer(*args, **kwargs))
        act = _activation_name(model.get_layer(layer.name))
        y = keras.layers.Activation(act, name=f"{layer.name}_{act}")(y)
        return fq(f"{layer.name}_{act}", *FIXED_RANGES[act], fixed=True)(y)

    structure = keras.tree.pack_sequence_as(model.input, inputs)
    with_inputs = keras.models.clone_model(model, input_tensors=structure, clone_function=clone,
                                           call_function=call_split)
    # the other supported layers hold no weights: their clones from the config are the same layers
    return keras.Model(structure, with_inputs.output, name=f"{model.name}_qat"), points


def _quant_weights(cls: Any, layer: Any, bn: Any | None, weight_bits: int, per_channel: bool, clusters: int = 0,
                   cluster_per_channel: bool = False) -> Any:
    """A QuantWeights layer holding ``layer``'s kernel and bias with ``bn`` folded in, built."""
    kind = {"Conv2D": "conv", "DepthwiseConv2D": "depthwise", "Dense": "dense"}[type(layer).__name__]
    kernel = np.asarray(layer.kernel.numpy(), np.float32)
    channels = kernel.shape[2] * kernel.shape[3] if kind == "depthwise" else kernel.shape[-1]
    bias = np.asarray(layer.bias.numpy(), np.float32) if layer.use_bias else np.zeros(channels, np.float32)
    if bn is not None:
        gamma = bn.gamma.numpy() if bn.scale else np.ones(channels, np.float32)
        beta = bn.beta.numpy() if bn.center else np.zeros(channels, np.float32)
        factor = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
        kernel = kernel * factor.reshape(kernel.shape[2], kernel.shape[3]) if kind == "depthwise" else kernel * factor
        bias = beta + (bias - bn.moving_mean.numpy()) * factor
    extra = {} if kind == "dense" else {"strides": layer.strides, "padding": layer.padding,
                                        "dilation_rate": layer.dilation_rate}
    q = cls(kind=kind, kernel_shape=kernel.shape, activation=_activation_name(layer) if bn is None and
            _activation_name(layer) in FUSABLE else "linear", weight_bits=weight_bits, per_channel=per_channel,
            clusters=clusters, cluster_per_channel=cluster_per_channel, name=layer.name, **extra)
    q.build(None)
    q.set_kernel(kernel)
    q.bias.assign(bias.astype(np.float32))
    return q
