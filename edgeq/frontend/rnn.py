"""Keras 3 LSTM models -> int8 TFLite with one fused UNIDIRECTIONAL_SEQUENCE_LSTM per layer.

The TFLite converter segfaults on a Keras 3 ``LSTM`` (TensorFlow 2.21) and, from a concrete function,
keeps its weights as resource variables; unrolled, every step gets its own copy of the weights. The
converter does fuse one thing: a function carrying the attributes Keras 2 gives its LSTM backend
(``api_implements = "lstm_<id>"``, inputs ``(x, h0, c0, kernel, recurrent_kernel, bias)``, outputs
``(last, sequence, h, c, runtime)``) becomes one UNIDIRECTIONAL_SEQUENCE_LSTM, quantized by the int8
spec (int16 cell state, Q3.12 gates). :func:`fused_lstm_model` rebuilds a Keras 3 model with each LSTM
replaced by a layer calling such a function with the same weights (the rest of the model is cloned with
its weights), so no Keras 2 (``tf_keras``) install is needed.

:func:`quantize_rnn` runs that conversion in a child process: a converter crash (a segfault) becomes an
EdgeqError, never the death of edgeq's own process. ``python -m edgeq.frontend.rnn`` is the child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.convert import float_tflite_bytes, quantize
from edgeq.frontend.data import Samples
from edgeq.frontend.load import LoadedModel, load_model
from edgeq.frontend.runtime import import_keras, import_tf

# Recurrent layers edgeq knows by class name; only LSTM is converted to a fused op so far.
RECURRENT_LAYERS = ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "RNN", "ConvLSTM1D", "ConvLSTM2D",
                    "ConvLSTM3D")


@dataclass(frozen=True)
class RnnConversion:
    """The int8 model (fused LSTMs, int8 I/O, batch 1) and the float32 model of the same rebuilt graph."""

    int8: bytes
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


def _check_lstm(layer: Any) -> None:
    cfg = layer.get_config()
    problems = []
    if cfg.get("activation") != "tanh":
        problems.append(f"activation {cfg.get('activation')!r} (the fused op computes tanh)")
    if cfg.get("recurrent_activation") != "sigmoid":
        problems.append(f"recurrent_activation {cfg.get('recurrent_activation')!r} (the fused op computes sigmoid)")
    for flag in ("go_backwards", "stateful", "return_state"):
        if cfg.get(flag):
            problems.append(f"{flag}=True")
    if problems:
        raise EdgeqError(f"LSTM layer {layer.name!r} cannot become a fused int8 LSTM",
                         detail=problems,
                         hint="use LSTM(units, return_sequences=...) with the default activations")


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


def _fused_lstm_layer(source: Any) -> Any:
    """A Keras 3 layer computing ``source`` (a built LSTM) through the fusable function."""
    tf, keras = import_tf(), import_keras()
    kernel, recurrent, *rest = source.get_weights()
    bias = rest[0] if rest else np.zeros(kernel.shape[1], np.float32)
    units, sequences = int(source.units), bool(source.return_sequences)
    function = tf.function(_standard_lstm, autograph=False, experimental_attributes={
        "api_implements": f"lstm_{uuid.uuid4()}", "api_preferred_device": "CPU",
        "time_major": False, "go_backwards": False})

    class FusedLSTM(keras.layers.Layer):
        def __init__(self) -> None:
            super().__init__(name=source.name)
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


def fused_lstm_model(model: Any) -> Any:
    """``model`` (Keras 3, built) with every LSTM replaced by a layer the converter fuses into one
    UNIDIRECTIONAL_SEQUENCE_LSTM; other layers are cloned with their weights. Raises EdgeqError for
    recurrent layers other than LSTM and for LSTM settings the fused op does not compute."""
    keras = import_keras()
    others = sorted({name for name in recurrent_layers(model) if name != "LSTM"})
    if others:
        raise EdgeqError(f"{', '.join(others)} layers are not supported yet (LSTM is)",
                         hint="replace them by LSTM layers, or keep them out of the model deployed")
    clones: dict[int, Any] = {}

    def clone(layer: Any) -> Any:
        if isinstance(layer, keras.layers.LSTM):
            _check_lstm(layer)
            return _fused_lstm_layer(layer)
        new = layer.__class__.from_config(layer.get_config())
        clones[id(new)] = layer
        return new

    try:
        rebuilt = keras.models.clone_model(model, clone_function=clone)
    except EdgeqError:
        raise
    except Exception as error:  # cloning re-traces the model; its errors come in many types
        raise EdgeqError(f"edgeq could not rebuild {model.name!r} with fused LSTMs: {error}",
                         hint="a Functional or Sequential model of built-in layers can be rebuilt") from None
    for layer in rebuilt.layers:
        source = clones.get(id(layer))
        if source is not None and source.weights:
            layer.set_weights(source.get_weights())
    return rebuilt


def convert_rnn(loaded: LoadedModel, calib: Samples, *, per_channel: bool = True,
                calibration: str = "minmax", progress: Callable[[int, int], None] | None = None) -> RnnConversion:
    """In this process: rebuild ``loaded`` with fused LSTMs and convert it (int8 and float32)."""
    assert loaded.keras_model is not None, "a Keras-kind LoadedModel carries its Keras model"
    rebuilt = replace(loaded, keras_model=fused_lstm_model(loaded.keras_model))
    int8 = quantize(rebuilt, calib, per_channel=per_channel, calibration=calibration, progress=progress)
    return RnnConversion(int8, float_tflite_bytes(rebuilt))


def quantize_rnn(loaded: LoadedModel, calib: Samples, *, per_channel: bool = True,
                 calibration: str = "minmax", progress: Callable[[int, int], None] | None = None,
                 timeout: float = 1800.0) -> RnnConversion:
    """:func:`convert_rnn` in a child process (the TFLite converter can crash): the int8 model with one
    UNIDIRECTIONAL_SEQUENCE_LSTM per LSTM layer, and the float32 model (for its size).

    ``loaded`` is a Keras model (``kind`` "keras" or "h5"); it is saved to a temporary ``.keras`` file for
    the child. ``progress(done, total)`` is called as the child feeds calibration samples.
    """
    if loaded.keras_model is None:
        raise EdgeqError(f"{loaded.path} is not a Keras model; recurrent models are converted from Keras",
                         hint="pass the .keras/.h5 file")
    with tempfile.TemporaryDirectory(prefix="edgeq-rnn-") as tmp:
        work = Path(tmp)
        model_file = work / "model.keras"
        loaded.keras_model.save(model_file)
        np.savez(work / "calib.npz", *calib.inputs)
        request = {"model": str(model_file), "calib": str(work / "calib.npz"), "source": calib.source,
                   "representative": calib.representative, "per_channel": per_channel,
                   "calibration": calibration, "name": str(loaded.path), "out": str(work)}
        (work / "request.json").write_text(json.dumps(request))
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        child = subprocess.Popen([sys.executable, "-m", "edgeq.frontend.rnn", str(work / "request.json")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("progress ") and progress is not None:
                    done, total = (int(v) for v in line.split()[1:3])
                    progress(done, total)
            stderr = child.communicate(timeout=timeout)[1]
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise EdgeqError(f"converting {loaded.path} took more than {timeout:.0f} s and was stopped") from None
        error_file = work / "error.json"
        if child.returncode == 0:
            return RnnConversion((work / "int8.tflite").read_bytes(), (work / "float32.tflite").read_bytes())
        if error_file.is_file():
            e = json.loads(error_file.read_text())
            raise EdgeqError(e["what"], detail=e.get("detail") or (), hint=e.get("hint"))
        tail = [line for line in stderr.strip().splitlines() if line.strip()][-3:]
        how = (f"was killed by {signal.Signals(-child.returncode).name}" if child.returncode < 0
               else f"exited with status {child.returncode}")
        raise EdgeqError(f"the TFLite conversion of {loaded.path} {how}",
                         detail=tail,
                         hint="edgeq's own process is unharmed; report the model (its layers and TensorFlow "
                              "version) so the rebuild can be fixed")


def _child(request_path: str) -> int:
    """The child process: read the request, convert, write int8.tflite and float32.tflite (or error.json)."""
    request = json.loads(Path(request_path).read_text())
    out = Path(request["out"])
    try:
        loaded = load_model(request["model"])
        with np.load(request["calib"]) as archive:
            inputs = [archive[f"arr_{i}"] for i in range(len(archive.files))]
        calib = Samples(request["source"], inputs, representative=request["representative"])
        loaded = replace(loaded, path=Path(request["name"]))

        def progress(done: int, total: int) -> None:
            print(f"progress {done} {total}", flush=True)

        result = convert_rnn(loaded, calib, per_channel=request["per_channel"],
                             calibration=request["calibration"], progress=progress)
    except EdgeqError as error:
        (out / "error.json").write_text(json.dumps({"what": error.what, "detail": list(error.detail),
                                                    "hint": error.hint}))
        return 3
    (out / "int8.tflite").write_bytes(result.int8)
    (out / "float32.tflite").write_bytes(result.float32)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
