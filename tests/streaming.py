"""Models with state kept across invokes, for the streaming tests (tests/models/test_streaming.py, the
protocol's fault and fuzz tests): built once and cached on disk by a hash of this file's source.

* ``streaming_kws``: a streaming keyword spotter (Keras, explicit state): each call takes one 10-coefficient
  MFCC frame; two Conv1D layers of kernel 3 read ring buffers of their last 2 input frames (``state_0``,
  ``state_1``), fed back from the outputs ``new_state_0`` / ``new_state_1``.
* ``stateful_rnn(kind)``: ``Input(batch (1, 2, 8)) -> {LSTM, GRU, SimpleRNN}(12, stateful=True) -> Dense(4)``,
  converted by edgeq's RNN path (state made explicit, calibrated over the frames as one sequence).
* ``ring_tflite``: a hand-built three-op ring buffer whose new state has another scale and zero point than
  the state input (the feedback then requantizes); no TensorFlow needed to read it.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from pathlib import Path

import numpy as np

from edgeq.files import cache_dir

FRAMES = 50


def _cached(key: str, make) -> bytes:
    h = hashlib.sha256((inspect.getsource(sys.modules[__name__]) + key).encode()).hexdigest()[:20]
    path = cache_dir() / "streaming" / f"{key}-{h}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(make())
        tmp.rename(path)
    return path.read_bytes()


def kws_keras_model():
    import keras

    keras.utils.set_random_seed(3)
    frame = keras.Input((1, 10), name="mfcc")
    s0 = keras.Input((2, 10), name="state_0")
    s1 = keras.Input((2, 16), name="state_1")
    w0 = keras.layers.Concatenate(axis=1)([s0, frame])  # the last 3 frames
    h = keras.layers.Conv1D(16, 3, activation="relu", name="conv0")(w0)  # (1, 1, 16)
    w1 = keras.layers.Concatenate(axis=1)([s1, h])
    h = keras.layers.Conv1D(16, 3, activation="relu", name="conv1")(w1)
    probs = keras.layers.Dense(12, activation="softmax", name="probs")(keras.layers.Flatten()(h))
    new0 = keras.layers.Cropping1D((1, 0), name="new_state_0")(w0)  # the ring buffer moves on by a frame
    new1 = keras.layers.Cropping1D((1, 0), name="new_state_1")(w1)
    return keras.Model([frame, s0, s1], {"probs": probs, "new_state_0": new0, "new_state_1": new1},
                       name="streaming_kws")


def streaming_kws() -> bytes:
    def make() -> bytes:
        sys.path.insert(0, str(Path(__file__).parent / "kernels"))
        from harness import int8_tflite

        model = kws_keras_model()
        rng = np.random.default_rng(0)
        calib = [rng.standard_normal((64, 1, 10)).astype(np.float32),
                 rng.standard_normal((64, 2, 10)).astype(np.float32),
                 np.abs(rng.standard_normal((64, 2, 16))).astype(np.float32)]
        return int8_tflite(model, calib)

    return _cached("streaming_kws", make)


def stateful_keras_model(kind: str):
    import keras

    keras.utils.set_random_seed(5)
    x = keras.Input(batch_shape=(1, 2, 8), name="frames")
    h = getattr(keras.layers, kind)(12, stateful=True, name="rnn")(x)
    return keras.Model(x, keras.layers.Dense(4, name="probs")(h), name=f"stateful_{kind.lower()}")


def rnn_frames(n: int = FRAMES, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 2, 8)).astype(np.float32)


def stateful_rnn(kind: str) -> bytes:
    def make() -> bytes:
        from edgeq.frontend.data import Samples
        from edgeq.frontend.load import LoadedModel
        from edgeq.frontend.rnn import quantize_rnn

        model = stateful_keras_model(kind)
        loaded = LoadedModel(Path(f"{model.name}.keras"), "keras", model, None, None, [(2, 8)],
                             [np.dtype("float32")], ["frames"])
        return quantize_rnn(loaded, Samples("frames", [rnn_frames(64, seed=1)])).quantized

    return _cached(f"stateful_{kind}", make)


def ring_tflite() -> bytes:
    """frame int8[1, 1, 4] and state_0 int8[1, 2, 4] -> window = concat(state_0, frame) (the output),
    new_state_0 = QUANTIZE(window[:, 1:]) to scale 0.07, zero point -5 (the state input has 0.05, 3)."""
    def make() -> bytes:
        sys.path.insert(0, str(Path(__file__).parent / "kernels"))
        from harness import build_tflite
        from tensorflow.lite.python import schema_py_generated as s

        q = dict(scale=0.05, zero_point=3)
        tensors = [
            dict(name="frame", shape=[1, 1, 4], dtype="int8", **q),
            dict(name="state_0", shape=[1, 2, 4], dtype="int8", **q),
            dict(name="window", shape=[1, 3, 4], dtype="int8", **q),
            dict(name="begin", shape=[3], dtype="int32", data=np.array([0, 1, 0], np.int32)),
            dict(name="end", shape=[3], dtype="int32", data=np.array([1, 3, 4], np.int32)),
            dict(name="strides", shape=[3], dtype="int32", data=np.array([1, 1, 1], np.int32)),
            dict(name="tail", shape=[1, 2, 4], dtype="int8", **q),
            dict(name="new_state_0", shape=[1, 2, 4], dtype="int8", scale=0.07, zero_point=-5),
        ]
        concat = s.ConcatenationOptionsT()
        concat.axis = 1
        ops = [("CONCATENATION", [1, 0], [2], concat),
               ("STRIDED_SLICE", [2, 3, 4, 5], [6], s.StridedSliceOptionsT()),
               ("QUANTIZE", [6], [7], None)]
        return build_tflite(tensors, ops, inputs=[0, 1], outputs=[2, 7])

    return _cached("ring", make)
