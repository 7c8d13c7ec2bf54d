"""int32 comparisons, ADD and SELECT / SELECT_V2 (firmware/kernels/index_ops.c) bit-exact with LiteRT on
int32 models: the index arithmetic the converter emits around a GATHER (Keras Embedding wraps negative
ids with LESS, ADD and SELECT; tests/kernels/test_gather.py runs that pattern in int8 models)."""

from __future__ import annotations

import numpy as np
import pytest

from harness import compare

SHAPE = (1, 6, 5)


def _int32_tflite(fn, n_inputs: int = 1) -> bytes:
    import tensorflow as tf

    f = tf.function(fn, input_signature=[tf.TensorSpec(SHAPE, tf.int32)] * n_inputs)
    return tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()


def _samples(n_inputs: int, n: int = 12) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(3)
    extremes = np.array([-(2**31), 2**31 - 1, -1, 0, 1], np.int32)
    out = []
    for k in range(n):
        xs = [rng.integers(-4, 4, SHAPE).astype(np.int32) for _ in range(n_inputs)]
        if k % 3 == 0:  # the int32 range's ends: the sum wraps in both
            xs = [rng.choice(extremes, SHAPE).astype(np.int32) for _ in range(n_inputs)]
        out.append(xs)
    return out


def _check(tfl: bytes, kinds: set[str], n_inputs: int) -> None:
    from edgeq.frontend.tflite.reader import read_tflite

    got = {op.kind for op in read_tflite(tfl).ops}
    assert kinds <= got, f"converted ops {sorted(got)}, not {sorted(kinds)}"
    cmp = compare(tfl, _samples(n_inputs), "litert")
    assert cmp.bit_exact, f"{cmp.mismatched_bytes} of {cmp.total_bytes} bytes differ; {cmp.first_bad_op}"


COMPARE = {"LESS": lambda a, b: a < b, "LESS_EQUAL": lambda a, b: a <= b, "GREATER": lambda a, b: a > b,
           "GREATER_EQUAL": lambda a, b: a >= b, "EQUAL": lambda a, b: a == b, "NOT_EQUAL": lambda a, b: a != b}


@pytest.mark.parametrize("kind", sorted(COMPARE))
@pytest.mark.parametrize("operand", ("tensor", "scalar"))
def test_compare_and_select(kind, operand):
    import tensorflow as tf

    cmp = COMPARE[kind]
    if operand == "scalar":
        tfl = _int32_tflite(lambda a, b: tf.where(cmp(a, 1), a + 7, b), 2)
    else:
        tfl = _int32_tflite(lambda a, b: tf.where(cmp(a, b), a, b + 3), 2)
    _check(tfl, {kind, "ADD"}, 2)
    from edgeq.frontend.tflite.reader import read_tflite

    assert {op.kind for op in read_tflite(tfl).ops} & {"SELECT", "SELECT_V2"}


def test_add_tensors_wraps():
    _check(_int32_tflite(lambda a, b: a + b, 2), {"ADD"}, 2)
