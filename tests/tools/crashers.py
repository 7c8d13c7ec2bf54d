"""Native crashes on purpose, for the isolation tests (tests/cli/test_isolation.py): functions and classes
the worker runs in place of edgeq's own (the test redirects the call), each dying the way native code does
(a NULL read through ctypes: SIGSEGV; ``abort()``: SIGABRT), after printing to fd 2 as a tool would."""

from __future__ import annotations

import ctypes
import os
import time

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.references import LiteRTHere, TFLMHere


def _say(text: str) -> None:
    os.write(2, (text + "\n").encode())  # straight to fd 2, as C++ code writes


def segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV in native code


def abort() -> None:
    ctypes.CDLL(None).abort()  # libc abort(): SIGABRT, as a failed TFLITE_CHECK


def converter_crash(*args, **kwargs) -> bytes:
    """The TFLite converter's death: an MLIR diagnostic naming a layer, then SIGSEGV."""
    _say('loc(fused["MatMul:", "functional_1/dense_1/MatMul@__inference_serving_default_77"]): converting')
    segfault()
    return b""


def loader_abort(*args, **kwargs) -> None:
    _say("HDF5-DIAG: Error detected in HDF5 (1.14.2): native says hello")
    abort()


def hang(*args, **kwargs) -> None:
    time.sleep(600)


def _has(model: bytes, kind: str) -> bool:
    return any(op.kind == kind for op in read_tflite(model).ops)


class LiteRTCrashingOnSoftmax(LiteRTHere):
    """LiteRT whose Prepare dies (SIGABRT) on any model holding a SOFTMAX, as a failed TFLITE_CHECK does."""

    def __init__(self, model: bytes, preserve_all: bool = False):
        if _has(model, "SOFTMAX"):
            _say("tensorflow/lite/kernels/internal/quantization_util.cc:117 multiplier > 0 was not true.")
            abort()
        super().__init__(model, preserve_all)


class TFLMCrashingOnFullyConnected(TFLMHere):
    """TFLite Micro whose Invoke dies (SIGSEGV) on a model holding a FULLY_CONNECTED."""

    def run(self, inputs):
        if _has(self.model, "FULLY_CONNECTED"):
            segfault()
        return super().run(inputs)
