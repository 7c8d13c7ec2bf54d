"""int16 GELU (16x8 scheme; firmware/kernels/int16_activations.c) against LiteRT's reference kernels: the
exact and the tanh-approximated transform, input ranges that put table samples in GELU's curved part and its
linear tails, and every 128th int16 value plus random ones. TFLM has no int16 GELU."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.frontend.tflite.reader import read_tflite
from harness import compare, random_inputs
from harness_int16 import tf_function_int16x8


@pytest.mark.parametrize("approximate", [False, True])
@pytest.mark.parametrize("spread", [0.5, 3.0, 12.0])
def test_int16_gelu_bit_exact(approximate, spread):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, 512), tf.float32)])
    def f(x):
        return tf.nn.gelu(x, approximate=approximate)

    rng = np.random.default_rng(int(spread * 10))
    tfl = tf_function_int16x8(f, [[(rng.standard_normal((1, 512)) * spread).astype(np.float32)] for _ in range(16)])
    g = read_tflite(tfl)
    (op,) = [op for op in g.ops if op.kind == "GELU"]
    assert g.tensor(op.inputs[0]).dtype == "int16" and op.attrs["approximate"] == approximate
    sweep = np.arange(-32768, 32768, 128, dtype=np.int16).reshape(1, 512)
    cmp = compare(tfl, [[sweep], [sweep + 64], [sweep + 127]] + random_inputs(tfl, 8), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.max_abs_diff, cmp.first_bad_op)
