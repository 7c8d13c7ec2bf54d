"""Can LiteRT's reference kernels and TFLite Micro run this model at all? Asked before either is loaded.

Both interpreters check some quantization parameters in an op's Prepare with TFLITE_CHECK, which stops the
whole process (SIGABRT, exit 134) instead of returning an error: no Python exception, no message, and the
`edgeq` command that called them dies with "Aborted". The conditions, from
tensorflow/lite/kernels/internal/quantization_util.cc and measured on LiteRT 2.3 (BUILTIN_REF) and TFLM
(both abort at the same boundary):

* SOFTMAX and LOG_SOFTMAX with int8 input: PreprocessSoftmaxScaling calls QuantizeMultiplierGreaterThanOne
  on beta * input_scale * 2^26 (double), which checks that it is above 1: an input scale at or below
  2^-26 / beta = 1.49e-08 aborts. Such scales come from activations that span almost nothing, as after
  untrained weights with vanishing activations, or calibration data the model ignores.
* ADD and SUB (int8, and int16 on the general path): the output multiplier
  2 * max(input scales) / (2^left_shift * output_scale) goes through QuantizeMultiplierSmallerThanOneExp,
  which checks that it is below 1 and does not round up to 1: an output scale at or below
  2 * max(input scales) / 2^20 (int8; 2^15 for int16) aborts (two large inputs that cancel out).

Other Prepare-time checks (TF_LITE_ENSURE) return an error, which :class:`edgeq.quality.references.LiteRT`
already reports as a message. :func:`check_references_can_run` turns the aborts into one `error:` line
naming the op, the scale and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import Graph, Op
from edgeq.passes.lower.int8.elementwise import ADD_LEFT_SHIFT, add_multipliers
from edgeq.passes.lower.int16.elementwise import ADD_LEFT_SHIFT_S16
from edgeq.passes.lower.quantmath import preprocess_softmax_scaling, quantize_multiplier_smaller_than_one_exp

SOFTMAX_INTEGER_BITS = 5  # kScaledDiffIntegerBits of SOFTMAX / LOG_SOFTMAX


@dataclass(frozen=True)
class ReferenceLimit:
    """One op the reference interpreters would abort on."""

    op_index: int
    kind: str
    output: str  # name of the op's output tensor
    problem: str  # the scale and the limit it crosses

    def line(self) -> str:
        return f"op #{self.op_index} {self.kind} (output '{self.output}'): {self.problem}"


def _scale(g: Graph, tid: int) -> float | None:
    t = g.tensor(tid)
    return float(t.quant.scale[0]) if t.quant is not None and len(t.quant.scale) else None


def _softmax_problem(g: Graph, op: Op) -> str | None:
    if g.tensor(op.inputs[0]).dtype != "int8":
        return None
    s = _scale(g, op.inputs[0])
    if s is None:
        return None
    beta = float(np.float32(op.attrs.get("beta", 1.0))) if op.kind == "SOFTMAX" else 1.0
    try:  # both interpreters use the double-rounding cap here; the check does not depend on it
        preprocess_softmax_scaling(beta, s, SOFTMAX_INTEGER_BITS, single_rounding=False)
    except ValueError:
        return (f"input scale {s:.4g} (beta {beta:g}) is at or below the limit 2^-26 / beta = "
                f"{2.0 ** -26 / beta:.4g}: beta * scale * 2^26 = {beta * s * 2.0 ** 26:.4g} must be above 1 "
                "(PreprocessSoftmaxScaling)")
    return None


def _add_problem(g: Graph, op: Op) -> str | None:
    dtype = g.tensor(op.outputs[0]).dtype
    if dtype == "int8":
        left_shift = ADD_LEFT_SHIFT
    elif dtype == "int16" and not op.attrs.get("pot_scale_int16", False):
        left_shift = ADD_LEFT_SHIFT_S16
    else:
        return None
    scales = [_scale(g, op.inputs[0]), _scale(g, op.inputs[1]), _scale(g, op.outputs[0])]
    if None in scales or min(scales) <= 0.0:
        return None  # the reader refuses zero activation scales; nothing to add here
    s1, s2, so = scales
    for m in add_multipliers(s1, s2, so, left_shift):
        try:
            quantize_multiplier_smaller_than_one_exp(m)
        except ValueError:
            limit = 2.0 * max(float(np.float32(s1)), float(np.float32(s2))) / float(1 << left_shift)
            return (f"output scale {so:.4g} is at or below the limit 2 x max(input scales {s1:.4g}, {s2:.4g}) "
                    f"/ 2^{left_shift} = {limit:.4g} (QuantizeMultiplierSmallerThanOneExp)")
    return None


_CHECKS = {"SOFTMAX": _softmax_problem, "LOG_SOFTMAX": _softmax_problem, "ADD": _add_problem, "SUB": _add_problem}


def reference_limits(g: Graph) -> list[ReferenceLimit]:
    """Every op of ``g`` (as read from the .tflite, before any pass) that LiteRT's reference kernels and
    TFLite Micro would abort on while preparing the model."""
    found = []
    for op in g.ops:
        check = _CHECKS.get(op.kind)
        problem = check(g, op) if check else None
        if problem:
            found.append(ReferenceLimit(op.id, op.kind, g.tensor(op.outputs[0]).name, problem))
    return found


def reference_limit_notes(model: bytes) -> list[str]:
    """One line per op the references would abort on, for a summary that still succeeds (quantize)."""
    return [f"LiteRT's reference kernels and TFLite Micro cannot run {x.line()}: `edgeq validate` and "
            "`edgeq convert-and-flash` will refuse this model (recalibrate with representative data)"
            for x in reference_limits(read_tflite(model))]


def check_references_can_run(model: bytes, name: str = "model") -> None:
    """Raise one EdgeqError if LiteRT's reference kernels (and TFLite Micro) would abort on ``model``."""
    limits = reference_limits(read_tflite(model, name=name))
    if not limits:
        return
    first = limits[0]
    raise EdgeqError(
        f"LiteRT's reference kernels cannot run {first.line()}; they (and TFLite Micro) would abort the process",
        detail=[f"also {x.line()}" for x in limits[1:]]
        + ["the model cannot be checked against the references, so edgeq stops before running or building it"],
        hint="the activations there span almost nothing (untrained weights, or calibration data the model "
             "ignores): train the model, or recalibrate with representative data (--calib DATA)")
