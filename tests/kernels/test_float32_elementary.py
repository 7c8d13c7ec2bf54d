"""float32 SQUARE, FLOOR and ROUND (firmware/kernels/float32_elementary.c) against LiteRT and TFLM.

The three are exact in float, so the generated C must give LiteRT's values, not merely close ones: the
outputs are compared as bytes here (after the harness's tolerance check), on random inputs plus values
placed on halves (ROUND's ties go to even: 0.5 -> 0, 1.5 -> 2, -2.5 -> -2), negative fractions (FLOOR
-0.25 -> -1), zeros of both signs and magnitudes of 2^23 and above (already integers).

LiteRT 2.3's reference resolver (BUILTIN_REF) registers no ROUND: ROUND is checked against TFLM and
against LiteRT's builtin resolver, whose optimized Round keeps the sign of a zero (-0.5 -> -0.0) where the
reference RoundToNearest (TFLM, edgeq) gives +0.0: equal values, compared as values there, as bytes with TFLM.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from harness import assert_bit_exact, compile_host
from edgeq.quality.references import TFLM, LiteRT
from test_strided_copy import _tfl

FNS = {"SQUARE": tf.square, "FLOOR": tf.floor, "ROUND": tf.round}
SPECIAL = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -0.25, 0.25, -0.75, 0.0, -0.0, 0.49999997, -0.49999997,
                    8388607.5, -8388607.5, 8388608.0, -16777216.0, 3.0e9, -3.0e9, 1e-30, -1e-30, 7.0, -7.0,
                    123.5, 124.5], np.float32)


@pytest.mark.parametrize("kind", list(FNS))
@pytest.mark.parametrize("shape", [(1, 25), (2, 3, 7), (1, 4, 4, 3)])
def test_float32_elementary(kind, shape):
    tfl = _tfl("float32", FNS[kind], shape)
    assert_bit_exact(None, model_bytes=tfl, expect_ops={kind}, n=8,
                     roundings=("tflm",) if kind == "ROUND" else ("litert", "tflm"))


@pytest.mark.parametrize("kind", list(FNS))
def test_special_values_bytes(kind):
    tfl = _tfl("float32", FNS[kind], (1, SPECIAL.size))
    _, host = compile_host(tfl, "litert")
    x = [SPECIAL.reshape(1, -1)]
    got = np.asarray(host.run(x)[0])
    refs = {"tflm": TFLM(tfl).run(x)[0]}
    if kind == "ROUND":
        from ai_edge_litert import interpreter as litert

        it = litert.Interpreter(model_content=tfl)  # the builtin resolver
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x[0])
        it.invoke()
        refs["litert builtin"] = it.get_tensor(it.get_output_details()[0]["index"])
    else:
        refs["litert"] = LiteRT(tfl).run(x)[0]
    for name, want in refs.items():
        if name == "litert builtin":
            assert np.array_equal(got.reshape(-1), np.asarray(want).reshape(-1)), (name, got, want)
        else:
            assert got.tobytes() == np.asarray(want).tobytes(), (name, got, want)
