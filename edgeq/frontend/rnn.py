"""Keras 3 recurrent models -> int8 (or int16x8) TFLite the C backend runs, with every weight stored once.

What the TFLite converter (TensorFlow 2.21) does with each Keras 3 recurrent layer, and what edgeq asks of it:

* ``LSTM``: the converter segfaults on the layer itself. It does fuse a function carrying the attributes
  Keras 2 gives its LSTM backend (``api_implements = "lstm_<id>"``, inputs ``(x, h0, c0, kernel,
  recurrent_kernel, bias)``, outputs ``(last, sequence, h, c, runtime)``) into one
  UNIDIRECTIONAL_SEQUENCE_LSTM, quantized by the int8 spec (int16 cell state, Q3.12 gates): each LSTM is
  replaced by a layer calling such a function with the same weights.
* ``GRU`` and ``SimpleRNN``: TFLite has no GRU builtin, its UNIDIRECTIONAL_SEQUENCE_RNN has no full-int8
  kernel in LiteRT (float and hybrid only) and the converter fuses neither; the layer as written (a
  ``while`` loop) segfaults the converter. With ``unroll=True`` (same weights, same computation) it
  converts to the unrolled graph: UNPACK of the steps, per step FULLY_CONNECTED, LOGISTIC, TANH, ADD,
  SUB, MUL (and SPLIT / STRIDED_SLICE for the GRU's default implementation 2; edgeq unrolls GRUs with
  implementation 1, see :func:`_unrolled_layer`), PACK of the outputs. Every step's FULLY_CONNECTED reads
  the same weight tensor, and edgeq's code generator emits identical arrays once.
* ``Bidirectional``: LiteRT's BIDIRECTIONAL_SEQUENCE_LSTM/RNN have no full-int8 kernel either, and Keras
  reverses the backward outputs with REVERSE_V2. It is rebuilt as its two directions (each as above, the
  backward one a forward layer with the backward weights on the time-reversed input) with the time axis
  reversed by ``x[:, ::-1]`` (a STRIDED_SLICE of stride -1), then merged (concat, sum, ave, mul).
* int16x8: the converter has no 16x8 quantization for the fused LSTM, so every layer is unrolled
  (:func:`rebuild_rnn_model` with ``fused_lstm=False``); stateful layers are refused (:func:`check_int16x8`).

:func:`rebuild_rnn_model` makes these replacements (the rest of the model is cloned with its weights), so
no Keras 2 (``tf_keras``) install is needed. :func:`quantize_rnn` runs the conversion in edgeq's worker
process (:mod:`edgeq.isolation`): a converter crash (a segfault) becomes an EdgeqError, never the death of
edgeq's own process.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.convert import float_tflite_bytes, quantize
from edgeq.frontend.data import Samples
from edgeq.frontend.int16 import quantize_int16x8
from edgeq.frontend.load import LoadedModel, load_model
from edgeq.frontend.runtime import import_keras, import_tf
from edgeq.frontend.state import keras_state_pairs, sequence_state_samples

# Recurrent layers edgeq knows by class name; the first four are rebuilt for the converter.
RECURRENT_LAYERS = ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "RNN", "ConvLSTM1D", "ConvLSTM2D",
                    "ConvLSTM3D")
REBUILT_LAYERS = ("LSTM", "GRU", "SimpleRNN", "Bidirectional")


@dataclass(frozen=True)
class RnnConversion:
    """The quantized model (int8: fused LSTMs, unrolled GRUs and SimpleRNNs, int8 I/O, batch 1; int16x8:
    every layer unrolled, int16 I/O) and the float32 model of the same rebuilt graph."""

    quantized: bytes
    float32: bytes


def _layers(model: Any) -> list[Any]:
    """Every layer of a Keras model, nested models and wrappers' inner layers included."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers"):
            out += _layers(layer)
        for attr in ("layer", "forward_layer", "backward_layer"):
            inner = getattr(layer, attr, None)
            if inner is not None:
                out.append(inner)
    return out


def recurrent_layers(model: Any) -> list[str]:
    """Class names of the model's recurrent layers (LSTM, GRU, Bidirectional, ...), in layer order."""
    return [type(layer).__name__ for layer in _layers(model) if type(layer).__name__ in RECURRENT_LAYERS]


def needs_rnn_conversion(loaded: LoadedModel) -> bool:
    """Whether ``loaded`` is a Keras model with recurrent layers: the quantize flow then calls
    :func:`quantize_rnn` instead of :func:`edgeq.frontend.convert.quantize`."""
    return loaded.keras_model is not None and bool(recurrent_layers(loaded.keras_model))


def _check_recurrent(layer: Any) -> None:
    """Refuse settings no stateless batch-1 conversion computes (and, for an LSTM, what its fused op does not)."""
    cfg = layer.get_config()
    kind = type(layer).__name__
    problems = []
    if kind == "LSTM":
        if cfg.get("activation") != "tanh":
            problems.append(f"activation {cfg.get('activation')!r} (the fused op computes tanh)")
        if cfg.get("recurrent_activation") != "sigmoid":
            problems.append(f"recurrent_activation {cfg.get('recurrent_activation')!r} (the fused op computes sigmoid)")
    for flag in ("stateful", "return_state"):
        if cfg.get(flag):
            problems.append(f"{flag}=True")
    if problems:
        raise EdgeqError(f"{kind} layer {layer.name!r} cannot be converted for the C backend",
                         detail=problems,
                         hint=f"use {kind}(units, return_sequences=...)"
                              + (" with the default activations" if kind == "LSTM" else ""))


def _standard_lstm(inputs: Any, init_h: Any, init_c: Any, kernel: Any, recurrent_kernel: Any, bias: Any):
    """Keras 2's ``standard_lstm`` signature and results (the converter replaces the body by the fused op;
    the body computes the same, so the rebuilt float model equals the original)."""
    tf = import_tf()
    steps = tf.transpose(inputs, [1, 0, 2])

    def step(state, x):
        h, c = state
        z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
        zi, zf, zc, zo = tf.split(z, 4, axis=1)
        c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zc)
        h = tf.sigmoid(zo) * tf.tanh(c)
        return h, c

    hs, cs = tf.scan(step, steps, initializer=(init_h, init_c))
    return hs[-1], tf.transpose(hs, [1, 0, 2]), hs[-1], cs[-1], tf.constant(0.0, name="runtime")


def _fused_lstm_layer(source: Any, name: str | None = None) -> Any:
    """A Keras 3 layer computing ``source`` (a built LSTM, read forwards) through the fusable function."""
    tf, keras = import_tf(), import_keras()
    kernel, recurrent, *rest = source.get_weights()
    bias = rest[0] if rest else np.zeros(kernel.shape[1], np.float32)
    units, sequences = int(source.units), bool(source.return_sequences)
    function = tf.function(_standard_lstm, autograph=False, experimental_attributes={
        "api_implements": f"lstm_{uuid.uuid4()}", "api_preferred_device": "CPU",
        "time_major": False, "go_backwards": False})

    class FusedLSTM(keras.layers.Layer):
        def __init__(self) -> None:
            super().__init__(name=name or source.name)
            self.weights_ = [self.add_weight(shape=w.shape, initializer="zeros", trainable=False, name=n)
                             for w, n in ((kernel, "kernel"), (recurrent, "recurrent_kernel"), (bias, "bias"))]
            for var, value in zip(self.weights_, (kernel, recurrent, bias)):
                var.assign(value)

        def call(self, x: Any, mask: Any = None, training: Any = None) -> Any:
            zeros = tf.zeros((tf.shape(x)[0], units), x.dtype)
            last, sequence, _, _, _ = function(x, zeros, zeros, *(tf.convert_to_tensor(w) for w in self.weights_))
            return sequence if sequences else last

        def compute_output_shape(self, shape: Any) -> Any:
            return (shape[0], shape[1], units) if sequences else (shape[0], units)

    return FusedLSTM()


def _unrolled_layer(source: Any, input_shape: Any, name: str | None = None) -> Any:
    """A copy of ``source`` (a built GRU, SimpleRNN, or LSTM for int16x8) with ``unroll=True`` and read
    forwards, with its weights: the converter turns it into the unrolled op graph."""
    cfg = dict(source.get_config(), unroll=True, go_backwards=False, name=name or source.name)
    if type(source).__name__ == "LSTM":
        cfg["implementation"] = 1  # one matmul per gate (the weights' slices are constants): no SPLIT
    if type(source).__name__ == "GRU":
        # Implementation 2 (one input matmul, then SPLIT into the gates) is what Keras unrolls by default,
        # but when the first step's reset gate multiplies only zeros (reset_after=False, or a zero recurrent
        # bias: every freshly built GRU) that SPLIT keeps an unused output, and the quantizer then leaves it
        # in float (measured, not on every run). Implementation 1 (one matmul per gate: the same dot
        # products) lets the converter drop the unused gate; the graph has no SPLIT.
        cfg["implementation"] = 1
    layer = type(source).from_config(cfg)
    layer.build(tuple(input_shape))
    layer.set_weights(source.get_weights())
    return layer


def _forward_layer(source: Any, input_shape: Any, name: str | None = None, fused_lstm: bool = True) -> Any:
    """The convertible replacement of one recurrent layer (read forwards, whatever its go_backwards); an
    LSTM becomes the fused op's layer, or is unrolled like a GRU when not ``fused_lstm``."""
    _check_recurrent(source)
    if type(source).__name__ == "LSTM" and fused_lstm:
        return _fused_lstm_layer(source, name)
    return _unrolled_layer(source, input_shape, name)


def _reverse_time(x: Any) -> Any:
    # a STRIDED_SLICE of stride -1 (the C backend has it; REVERSE_V2, which tf.reverse gives, it has not)
    return x[:, ::-1]


def _directional_layer(source: Any, input_shape: Any, fused_lstm: bool = True) -> Any:
    """``source`` (LSTM, GRU or SimpleRNN) as the converter can take it; a ``go_backwards`` layer runs
    forwards on the time-reversed input (its outputs are then in reversed time order, as Keras gives them)."""
    if not source.get_config().get("go_backwards"):
        return _forward_layer(source, input_shape, fused_lstm=fused_lstm)
    keras = import_keras()
    inner = _forward_layer(source, input_shape, name=f"{source.name}_forwards", fused_lstm=fused_lstm)

    class Backwards(keras.layers.Layer):
        def __init__(self) -> None:
            super().__init__(name=source.name)
            self.inner = inner

        def call(self, x: Any, mask: Any = None, training: Any = None) -> Any:
            return self.inner(_reverse_time(x))

        def compute_output_shape(self, shape: Any) -> Any:
            return self.inner.compute_output_shape(shape)

    return Backwards()


_MERGES = ("concat", "sum", "ave", "mul")


def _bidirectional_layer(source: Any, fused_lstm: bool = True) -> Any:
    """``source`` (a built Bidirectional) as its two directions, each convertible, merged as Keras does."""
    keras = import_keras()
    kind = type(source.forward_layer).__name__
    if kind not in ("LSTM", "GRU", "SimpleRNN"):
        raise EdgeqError(f"Bidirectional layer {source.name!r} wraps a {kind}; LSTM, GRU and SimpleRNN are supported")
    mode = source.merge_mode
    if mode not in _MERGES:
        raise EdgeqError(f"Bidirectional layer {source.name!r} has merge_mode={mode!r}",
                         hint=f"use merge_mode {', '.join(repr(m) for m in _MERGES)}")
    shape = source.input.shape if hasattr(source, "input") else None
    in_shape = tuple(shape) if shape is not None else None
    fwd_src, bwd_src = source.forward_layer, source.backward_layer
    forward = _forward_layer(fwd_src, in_shape, name=f"{source.name}_forward", fused_lstm=fused_lstm)
    backward = _forward_layer(bwd_src, in_shape, name=f"{source.name}_backward", fused_lstm=fused_lstm)
    sequences = bool(fwd_src.return_sequences)
    units = int(fwd_src.units)

    class TwoDirections(keras.layers.Layer):
        def __init__(self) -> None:
            super().__init__(name=source.name)
            self.forward, self.backward = forward, backward

        def call(self, x: Any, mask: Any = None, training: Any = None) -> Any:
            y = self.forward(x)
            y_rev = self.backward(_reverse_time(x))
            if sequences:  # the backward outputs come in reversed time order; Keras flips them back
                y_rev = _reverse_time(y_rev)
            if mode == "concat":
                return keras.ops.concatenate([y, y_rev], axis=-1)
            if mode == "sum":
                return y + y_rev
            if mode == "ave":
                return (y + y_rev) / 2
            return y * y_rev

        def compute_output_shape(self, shape: Any) -> Any:
            n = 2 * units if mode == "concat" else units
            return (shape[0], shape[1], n) if sequences else (shape[0], n)

    return TwoDirections()


STATEFUL_LAYERS = ("LSTM", "GRU", "SimpleRNN")


def stateful_layers(model: Any) -> list[Any]:
    """The model's ``stateful=True`` recurrent layers (a Bidirectional's inner layers included)."""
    return [layer for layer in _layers(model) if type(layer).__name__ in RECURRENT_LAYERS
            and layer.get_config().get("stateful")]


def state_input_names(layer: Any) -> list[str]:
    """The explicit-state model's input names for a stateful layer's states (``h``, and ``c`` for an
    LSTM); the output feeding each back is named ``new_<name>`` (see edgeq.frontend.state)."""
    if type(layer).__name__ == "LSTM":
        return [f"state_{layer.name}_h", f"state_{layer.name}_c"]
    return [f"state_{layer.name}"]


def _explicit_state_layer(source: Any, input_shape: Any) -> Any:
    """A stateless copy of ``source`` (a built ``stateful=True`` LSTM, GRU or SimpleRNN) unrolled, that takes
    its initial states and returns its final ones (``return_state``): what the stateful layer computes
    in one call, with the state it keeps between calls made explicit."""
    kind = type(source).__name__
    cfg = source.get_config()
    problems = [f"{flag}=True" for flag in ("go_backwards", "return_state") if cfg.get(flag)]
    if kind not in STATEFUL_LAYERS:
        problems.append(f"a stateful {kind} (LSTM, GRU and SimpleRNN can be stateful)")
    if problems:
        raise EdgeqError(f"stateful {kind} layer {source.name!r} cannot be converted for the C backend",
                         detail=problems, hint=f"use {kind}(units, stateful=True, return_sequences=...)")
    cfg = dict(cfg, stateful=False, return_state=True, unroll=True, name=f"{source.name}_explicit_state")
    if kind in ("GRU", "LSTM"):
        cfg["implementation"] = 1  # one matmul per gate: no SPLIT (see _unrolled_layer)
    layer = type(source).from_config(cfg)
    layer.build(tuple(input_shape))
    layer.set_weights(source.get_weights())
    return layer


def explicit_state_model(model: Any) -> Any:
    """``model`` with each ``stateful=True`` recurrent layer made explicit: the model gains an input per state
    (``state_<layer>``, or ``state_<layer>_h`` and ``_c`` for an LSTM: zeros are the reset state) and an
    output ``new_<input name>`` giving the state after the call, which the caller feeds back into the input
    for the next call (the generated C does it itself, see edgeq.frontend.state); the layer is unrolled
    (LSTMs too: the fused LSTM op keeps its cell state to itself) and the model's outputs become a dict
    (``output_<i>`` in the original order, then the new states) so that the exported signature names
    them. Returns the model unchanged when it has no stateful layer."""
    keras = import_keras()
    stateful = stateful_layers(model)
    if not stateful:
        return model
    inputs = [keras.Input(shape=tuple(x.shape[1:]), name=x.name, dtype=x.dtype) for x in model.inputs]
    states: dict[int, list[Any]] = {}
    new_states: dict[str, Any] = {}
    for layer in stateful:
        states[id(layer)] = [keras.Input(shape=(int(layer.units),), name=n) for n in state_input_names(layer)]

    def operation(op: Any) -> Any:
        kind = type(op).__name__
        if id(op) not in states:  # the stateless recurrent layers, as rebuild_rnn_model replaces them
            if kind == "Bidirectional":
                return _bidirectional_layer(op)
            if kind in REBUILT_LAYERS:
                return _directional_layer(op, tuple(op.input.shape))
            return op

        def call(x: Any, *args: Any, **kwargs: Any) -> Any:
            explicit = _explicit_state_layer(op, (1, *x.shape[1:]))
            y, *finals = explicit(x, initial_state=states[id(op)])
            for state_in, final in zip(states[id(op)], finals):
                new_states[f"new_{state_in.name}"] = final
            return y

        return call

    graph = model if hasattr(model, "_nodes_by_depth") else getattr(model, "_functional", None)
    unreachable = [layer.name for layer in stateful if layer not in getattr(model, "layers", [])]
    if graph is None or unreachable:
        raise EdgeqError(f"edgeq could not make the state of {model.name!r} explicit",
                         detail=[f"stateful layers inside nested models or wrappers: {', '.join(unreachable)}"]
                         if unreachable else [],
                         hint="a Functional or Sequential model with its stateful layers at the top level can be "
                              "converted")
    outputs = graph._run_through_graph(inputs if len(inputs) > 1 else inputs[0], operation_fn=operation)
    flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    result = {f"output_{i}": y for i, y in enumerate(flat)}
    result.update(new_states)
    state_inputs = [x for layer in stateful for x in states[id(layer)]]
    return keras.Model(inputs + state_inputs, result, name=f"{model.name}_explicit_state")


def rebuild_rnn_model(model: Any, fused_lstm: bool = True) -> Any:
    """``model`` (Keras 3, built, fixed time steps) with every LSTM replaced by a layer the converter fuses
    into one UNIDIRECTIONAL_SEQUENCE_LSTM (unrolled like the GRUs when not ``fused_lstm``: the int16x8
    scheme, which has no fused LSTM), every GRU and SimpleRNN unrolled, and every Bidirectional split
    into its two directions (see the module docstring); other layers are cloned with their weights. The
    rebuilt float model computes what ``model`` computes. A model with ``stateful=True`` layers is rebuilt
    with their state explicit (:func:`explicit_state_model`: one call of the rebuilt model, its new states
    fed back, computes one call of the stateful one). Raises EdgeqError for other recurrent layers (RNN
    with a custom cell, ConvLSTM) and for settings no conversion computes."""
    keras = import_keras()
    others = sorted({name for name in recurrent_layers(model) if name not in REBUILT_LAYERS})
    if others:
        raise EdgeqError(f"{', '.join(others)} layers are not supported yet ({', '.join(REBUILT_LAYERS)} are)",
                         hint="replace them by LSTM or GRU layers, or keep them out of the model deployed")
    if stateful_layers(model):
        return explicit_state_model(model)
    clones: dict[int, Any] = {}

    def clone(layer: Any) -> Any:
        kind = type(layer).__name__
        if kind == "Bidirectional":
            return _bidirectional_layer(layer, fused_lstm)
        if kind in REBUILT_LAYERS:
            return _directional_layer(layer, tuple(layer.input.shape), fused_lstm)
        new = layer.__class__.from_config(layer.get_config())
        clones[id(new)] = layer
        return new

    try:
        rebuilt = keras.models.clone_model(model, clone_function=clone)
    except EdgeqError:
        raise
    except Exception as error:  # cloning re-traces the model; its errors come in many types
        raise EdgeqError(f"edgeq could not rebuild {model.name!r} for conversion: {error}",
                         hint="a Functional or Sequential model of built-in layers with a fixed number of time "
                              "steps can be rebuilt") from None
    for layer in rebuilt.layers:
        source = clones.get(id(layer))
        if source is not None and source.weights:
            layer.set_weights(source.get_weights())
    return rebuilt


SCHEMES = ("int8", "int16x8")


def check_int16x8(model: Any, name: str) -> None:
    """Refuse, naming the layers, the recurrent layers ``--scheme int16x8`` cannot take: a stateful layer's
    state would be an int16 input fed from an int16 output, which edgeq's state feedback (int8 / uint8) does
    not take. The rest converts unrolled (measured with TensorFlow 2.21: the converter has no 16x8
    quantization for the fused UNIDIRECTIONAL_SEQUENCE_LSTM, "Quantization to 16x8-bit not yet supported for
    op", so LSTMs are unrolled too) into int16 FULLY_CONNECTED, LOGISTIC, TANH, ADD, SUB, MUL, UNPACK and
    PACK, all of which the C backend has."""
    problems = [f"{type(layer).__name__} layer {layer.name!r}: stateful=True (its fed-back state would be int16; "
                "edgeq feeds back int8 and uint8 states)" for layer in stateful_layers(model)]
    if problems:
        raise EdgeqError(f"{name} has recurrent layers --scheme int16x8 does not take", detail=problems,
                         hint="quantize it with --scheme int8 (stateful layers included), or make the layers "
                              "stateless for int16x8")


def convert_rnn(loaded: LoadedModel, calib: Samples, *, per_channel: bool = True,
                calibration: str = "minmax", progress: Callable[[int, int], None] | None = None,
                scheme: str = "int8") -> RnnConversion:
    """In this process: rebuild ``loaded`` (:func:`rebuild_rnn_model`) and convert it (``scheme``: int8 or
    int16x8, and float32)."""
    assert loaded.keras_model is not None, "a Keras-kind LoadedModel carries its Keras model"
    assert scheme in SCHEMES, scheme
    if scheme == "int16x8":
        check_int16x8(loaded.keras_model, str(loaded.path))
    model = rebuild_rnn_model(loaded.keras_model, fused_lstm=scheme == "int8")
    extra = model.inputs[len(loaded.input_names):]  # the state inputs of stateful layers
    rebuilt = replace(loaded, keras_model=model,
                      input_shapes=loaded.input_shapes + [tuple(x.shape[1:]) for x in extra],
                      input_dtypes=loaded.input_dtypes + [np.dtype("float32")] * len(extra),
                      input_names=loaded.input_names + [x.name for x in extra])
    if extra:  # the state inputs: calibrated on the states the float model reaches over the frames
        calib = replace(calib, inputs=sequence_state_samples(model, calib.inputs, keras_state_pairs(model)))
    if scheme == "int16x8":
        data = quantize_int16x8(rebuilt, calib, per_channel=per_channel, progress=progress)
    else:
        data = quantize(rebuilt, calib, per_channel=per_channel, calibration=calibration, progress=progress)
    return RnnConversion(data, float_tflite_bytes(rebuilt))


def quantize_rnn(loaded: LoadedModel, calib: Samples, *, per_channel: bool = True,
                 calibration: str = "minmax", progress: Callable[[int, int], None] | None = None,
                 timeout: float | None = None, scheme: str = "int8") -> RnnConversion:
    """:func:`convert_rnn` in edgeq's worker process (:mod:`edgeq.isolation`: the TFLite converter can crash):
    the quantized model (int8: one UNIDIRECTIONAL_SEQUENCE_LSTM per LSTM direction, GRUs and SimpleRNNs
    unrolled; int16x8: every layer unrolled, stateful layers refused by :func:`check_int16x8`), and the
    float32 model.

    ``loaded`` is a Keras model (``kind`` "keras" or "h5"); it is saved to a temporary ``.keras`` file for
    the worker. ``progress(done, total)`` is called as the worker feeds calibration samples.
    """
    if loaded.keras_model is None:
        raise EdgeqError(f"{loaded.path} is not a Keras model; recurrent models are converted from Keras",
                         hint="pass the .keras/.h5 file")
    if scheme == "int16x8":  # before the worker starts: a refusal needs no converter
        check_int16x8(loaded.keras_model, str(loaded.path))
    with tempfile.TemporaryDirectory(prefix="edgeq-rnn-") as tmp:
        model_file = Path(tmp) / "model.keras"
        loaded.keras_model.save(model_file)

        def reported(value: Any) -> None:
            if progress is not None and isinstance(value, tuple) and value[0] == "progress":
                progress(value[1], value[2])

        try:
            return isolation.call("edgeq.frontend.rnn:convert_rnn_file", str(model_file), str(loaded.path), calib,
                                  per_channel, calibration, scheme, stage=f"the conversion of the recurrent model "
                                  f"{loaded.path}", tool="the TFLite converter", timeout=timeout, on_report=reported)
        except isolation.WorkerCrashed as crash:
            layers = ", ".join(dict.fromkeys(recurrent_layers(loaded.keras_model)))
            raise crash.located(f"(recurrent layers: {layers}): the rebuild for the converter needs fixing"
                                ) from None


def convert_rnn_file(model_file: str, name: str, calib: Samples, per_channel: bool, calibration: str,
                     scheme: str) -> RnnConversion:
    """:func:`convert_rnn` of the Keras model saved in ``model_file`` (``name``: the user's path), in this
    process (edgeq's worker); progress is reported as ``("progress", done, total)``."""
    loaded = replace(load_model(model_file), path=Path(name))
    return convert_rnn(loaded, calib, per_channel=per_channel, calibration=calibration, scheme=scheme,
                       progress=lambda done, total: isolation.report(("progress", done, total)))
