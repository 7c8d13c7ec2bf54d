"""ADD, SUB and MUL, int8, with numpy broadcasting, as TFLite's quantized reference kernels.

Quantization parameters mirror the Prepare functions of each reference, including their float vs
double arithmetic, which is where LiteRT and TFLM differ:

* ADD (LiteRT add.cc, TFLM add_common.cc; identical): in double,
  ``twice = 2 * max(s1, s2)``, ``m_k = s_k / twice``, ``m_out = twice / (2**20 * s_out)``, each through
  QuantizeMultiplierSmallerThanOneExp; inputs are shifted left by 20 before scaling.
* SUB: as ADD, and the kernel subtracts the scaled second operand as reference_ops::Sub does
  (negating its multiplier instead is only equivalent under the symmetric double rounding). Current
  TFLM sources compute SUB's multipliers in float32, but the installed TFLM (like LiteRT) computes
  them in double, as ADD: the float32 version mismatched it.
* MUL: LiteRT mul.cc computes ``s1 * s2 / s_out`` in float32; TFLM mul_common.cc in double.

Broadcasting is resolved here: the output is walked as collapsed dimensions with per-input element
strides (0 where broadcast), passed to the kernel as constant arrays.

ADD/SUB run through per-input tables of the 256 rescaled input values where that is exact (add_table_fields):
in flash, or, where the memory plan leaves the bytes free during a large enough op, built by the kernel in its
scratch at each call (add_rt_options, taken by passes.memory.scratch), with the arithmetic of the generic path; a
row-band group's ADD (passes.memory.bands) builds them in the group's scratch at its first call only (rt_ready).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import arr, expect_dtype, need, requant_fields, rounding_flag, scale, zp
from edgeq.passes.lower.registry import LowerCtx, Unsupported, lowering
from edgeq.passes.lower.quantmath import (activation_range, f32, mul_by_qm_double, quantize_multiplier,
                                    quantize_multiplier_smaller_than_one_exp)

MAX_DIMS = 8  # EDGEQ_BCAST_MAX_DIMS in edgeq_common.h
ADD_LEFT_SHIFT = 20  # int8 ADD/SUB headroom shift (15 is the int16 value)

# Measured against LiteRT 2.3 BUILTIN_REF (tests/kernels/test_add_mul.py::test_all_input_pairs):
# whether its reference kernel requantizes with single rounding. It does not for these ops: ADD, SUB
# (MultiplyByQuantizedMultiplierSmallerThanOneExp) and MUL (MultiplyByQuantizedMultiplier) all round
# twice, like TFLM.
LITERT_SINGLE_ROUNDING = {"ADD": False, "SUB": False, "MUL": False}


def broadcast_loops(s1, s2, so) -> tuple[list[int], list[int], list[int]]:
    """Collapsed (shape, stride1, stride2) walking output ``so`` row-major over inputs ``s1``, ``s2``.

    Shapes are right-aligned (numpy rules). Size-1 output dimensions are dropped; adjacent dimensions
    are merged where both inputs step through them contiguously (or are both broadcast), so the
    result has at most as many dimensions as there are changes of broadcast pattern.
    """
    s1, s2, so = tuple(int(d) for d in s1), tuple(int(d) for d in s2), tuple(int(d) for d in so)
    r = len(so)
    need(len(s1) <= r and len(s2) <= r, f"input shapes {s1} and {s2} do not broadcast to {so}")
    a = (1,) * (r - len(s1)) + s1
    b = (1,) * (r - len(s2)) + s2
    for d in range(r):
        need(so[d] > 0 and a[d] in (1, so[d]) and b[d] in (1, so[d]) and so[d] == max(a[d], b[d]),
             f"input shapes {s1} and {s2} do not broadcast to {so}")

    def strides(shape):
        st, acc = [0] * r, 1
        for d in reversed(range(r)):
            st[d] = acc if shape[d] != 1 else 0
            acc *= shape[d]
        return st

    st1, st2 = strides(a), strides(b)
    dims: list[list[int]] = []
    for d in range(r):
        if so[d] == 1:
            continue
        n, x, y = so[d], st1[d], st2[d]
        if dims and dims[-1][1] == x * n and dims[-1][2] == y * n:
            dims[-1] = [dims[-1][0] * n, x, y]
        else:
            dims.append([n, x, y])
    if not dims:
        dims = [[1, 0, 0]]
    need(len(dims) <= MAX_DIMS, f"broadcast of {s1} with {s2} needs {len(dims)} loop dimensions "
                                f"(the kernel handles {MAX_DIMS})")
    shape, stride1, stride2 = (list(c) for c in zip(*dims))
    return shape, stride1, stride2


def _operands(g: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor]:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (x1, x2, y):
        expect_dtype(t, "int8")
        need(t.quant is not None and not t.quant.per_channel,
             f"tensor '{t.name}' is not per-tensor quantized")
        need(scale(t) > 0, f"tensor '{t.name}' has scale {scale(t)}")
    return x1, x2, y


def _clamp(op: Op, y: Tensor) -> tuple[int, int]:
    act = op.attrs.get("fused_activation_function", "NONE")
    try:
        return activation_range(act, scale(y), zp(y))
    except ValueError:
        raise Unsupported(f"fused activation {act} has no integer clamp") from None


def _bcast_fields(op: Op, x1: Tensor, x2: Tensor, y: Tensor) -> tuple:
    shape, st1, st2 = broadcast_loops(x1.shape, x2.shape, y.shape)
    return (
        ("ndim", len(shape)),
        ("shape", arr(op, "shape", np.array(shape, np.int32), "int32_t")),
        ("stride1", arr(op, "stride1", np.array(st1, np.int32), "int32_t")),
        ("stride2", arr(op, "stride2", np.array(st2, np.int32), "int32_t")),
    )


def add_multipliers(s1: float, s2: float, so: float, left_shift: int = ADD_LEFT_SHIFT) -> tuple[float, float, float]:
    """The three real multipliers of quantized ADD/SUB Prepare (left shift 20 for int8), in double."""
    s1, s2, so = float(f32(s1)), float(f32(s2)), float(f32(so))
    twice = 2.0 * max(s1, s2)
    return s1 / twice, s2 / twice, twice / (float(1 << left_shift) * so)


def add_quant_fields(x1: Tensor, x2: Tensor, y: Tensor, left_shift: int) -> tuple:
    """ADD/SUB's input offsets, left shift and (multiplier, shift) pairs, as quantized ADD Prepare's general
    path computes them (int8: left shift 20; int16: 15)."""
    m1, m2, mo = add_multipliers(scale(x1), scale(x2), scale(y), left_shift)
    need(0.0 < mo < 1.0, f"output scale {scale(y)} is too small for input scales {scale(x1)}, "
                         f"{scale(x2)} (output multiplier {mo:.4g} >= 1)")
    q1, sh1 = quantize_multiplier_smaller_than_one_exp(m1)
    q2, sh2 = quantize_multiplier_smaller_than_one_exp(m2)
    try:
        qo, sho = quantize_multiplier_smaller_than_one_exp(mo)
    except ValueError:  # just below 1, its Q31 mantissa rounds to 2^31: LiteRT and TFLM abort on it
        raise Unsupported(f"output scale {scale(y)}: the output multiplier {mo!r} rounds up to 1") from None
    return (
        ("input1_offset", -zp(x1)), ("input2_offset", -zp(x2)),
        ("left_shift", left_shift),
        ("input1_multiplier", q1), ("input1_shift", sh1),
        ("input2_multiplier", q2), ("input2_shift", sh2),
        ("output_multiplier", qo), ("output_shift", sho),
    )


def mul_multiplier(s1: float, s2: float, so: float, float32_math: bool) -> float:
    """MUL Prepare: LiteRT ``input1_scale * input2_scale / output_scale`` in float; TFLM in double."""
    if float32_math:
        return float(f32(s1) * f32(s2) / f32(so))
    return float(f32(s1)) * float(f32(s2)) / float(f32(so))


def mul_quant_fields(ctx: LowerCtx, x1: Tensor, x2: Tensor, y: Tensor) -> tuple:
    """MUL's input offsets and output (multiplier, shift), as quantized MUL Prepare (int8 and int16)."""
    m = mul_multiplier(scale(x1), scale(x2), scale(y), float32_math=(ctx.rounding == "litert"))
    qm, sh = quantize_multiplier(m)
    return (
        ("input1_offset", -zp(x1)), ("input2_offset", -zp(x2)),
        ("output_multiplier", qm), ("output_shift", sh),
    )


def binary_call(op: Op, ctx: LowerCtx, operands: tuple[Tensor, Tensor, Tensor], quant: tuple,
                clamp: tuple[int, int], *, kernel: str, struct: str, source: str,
                litert_single: bool) -> Lowered:
    """The kernel call of a broadcasting binary op (int8 and int16 ADD/SUB/MUL): broadcast shape fields,
    the op's quantization fields, then the output stage (output zero point, clamp, rounding mode). In place:
    the kernels read a[i] and b[i] before writing y[i]."""
    x1, x2, y = operands
    return Lowered(
        kernel=kernel,
        struct=struct,
        source=source,
        fields=_bcast_fields(op, x1, x2, y) + quant
        + requant_fields(zp(y), clamp[0], clamp[1], rounding_flag(ctx, litert_single=litert_single)),
        args=(x1.id, x2.id, y.id),
        inplace=True,
    )


def add_table_fields(op: Op, quant: tuple, output_offset: int, rounding: int) -> tuple:
    """The int8 ADD/SUB table path (firmware/kernels/elementwise.h), or NULL tables where it would not be exact.

    Each input's scaled operand s_k(v) = MultiplyByQuantizedMultiplierSmallerThanOneExp((v + offset_k) << 20)
    takes only 256 values: the tables hold 2 * s_k(v) (SUB: -2 * s_2(v)), computed here with the reference's
    integer arithmetic. The output stage is exact when, for every reachable t = 2 * (s_1 +/- s_2):
    SaturatingRoundingDoublingHighMul(t / 2, m) = SMMULR(t, m) (both round half up; no saturation: |t| < 2^31),
    and RoundingDivideByPOT(u, e) + offset = (u + (u >> 31) + 2^(e-1) + offset * 2^e) >> e without overflow
    (e >= 1: the output multiplier below one half, always so for int8 ADD whose m_out is about 2^-20)."""
    q = dict(quant)
    none = (("table1", None), ("table2", None), ("out_rb", 0), ("out_e", 0))
    e = -q["output_shift"]
    if rounding != 0 or q["output_shift"] > 0 or not 1 <= e <= 30:
        return none
    v = np.arange(-128, 128)
    lshift = q["left_shift"]
    s1 = np.array([mul_by_qm_double((int(x) + q["input1_offset"]) << lshift, q["input1_multiplier"],
                                    q["input1_shift"]) for x in v], np.int64)
    s2 = np.array([mul_by_qm_double((int(x) + q["input2_offset"]) << lshift, q["input2_multiplier"],
                                    q["input2_shift"]) for x in v], np.int64)
    t1, t2 = 2 * s1, (-2 if op.kind == "SUB" else 2) * s2
    t_max = int(np.abs(t1).max() + np.abs(t2).max())
    rb = (1 << (e - 1)) + output_offset * (1 << e)
    u_max = (t_max * q["output_multiplier"] >> 32) + 1
    if t_max >= (1 << 31) or u_max + 1 + abs(rb) >= (1 << 31):
        return none
    return (("table1", arr(op, "table1", t1.astype(np.int32), "int32_t")),
            ("table2", arr(op, "table2", t2.astype(np.int32), "int32_t")),
            ("out_rb", rb), ("out_e", e))


# Building a table costs 256 rescales at each call (about 10 instructions each on the M4: 2,560 a table, against
# about 16 an output element for the table loop; 4 on the M55 against 4 to 6), so the run-time tables are offered
# only to ops with at least this many output elements per rescale: the fill then adds at most about 8% on the M4.
RT_ELEMENTS_PER_RESCALE = 8


def add_rt_options(op: Op, kernel: str, table: tuple, elements: int) -> tuple:
    """The scratch options of the table path (Lowered.scratch_options, taken by passes.memory.scratch where the arena
    has the bytes free during the op): the tables in flash (no scratch), or built in the kernel's scratch at the
    start of each call (``kernel`` + ``_rt``, with rt_tables, elementwise.h), one table where both inputs have the
    same one (ADD of two inputs with one quantization); only the first where the op is too small for the fill
    (RT_ELEMENTS_PER_RESCALE)."""
    t = dict(table)
    n = 1 if np.array_equal(t["table1"].values, t["table2"].values) else 2
    if elements < RT_ELEMENTS_PER_RESCALE * 256 * n:
        return ()
    return (0, ()), (256 * 4 * n, (("kernel", f"{kernel}_rt"), ("table1", None), ("table2", None),
                                   ("rt_tables", n), ("rt_sub", int(op.kind == "SUB"))))


def check_input_shifts(quant: tuple) -> None:
    """The kernel's input rescale (add_scale, elementwise.c) takes an input shift of 0 only with the multiplier 2^30
    or 0: always so, as an input multiplier is at most one half (else a bug here)."""
    q = dict(quant)
    for k in (1, 2):
        if q[f"input{k}_shift"] >= 0 and q[f"input{k}_multiplier"] not in (0, 1 << 30):
            raise AssertionError(f"input {k}: multiplier {q[f'input{k}_multiplier']} with shift "
                                 f"{q[f'input{k}_shift']}, above one half")


@lowering("ADD", "SUB")
def lower_add_sub(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = _operands(g, op)
    quant = add_quant_fields(x1, x2, y, ADD_LEFT_SHIFT)
    check_input_shifts(quant)
    rounding = rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING[op.kind])
    table = add_table_fields(op, quant, zp(y), rounding)
    tables = dict(table)["table1"] is not None
    # with tables, ADD and SUB are the same sum (SUB's table2 is negated): the table-only entry points, one for
    # one row or the rows of a broadcast vector, one with the broadcast walk (more dimensions)
    ndim = len(broadcast_loops(x1.shape, x2.shape, y.shape)[0])
    kernel = ("edgeq_add_s8_table" if ndim <= 2 else "edgeq_add_s8_table_nd") if tables else \
        "edgeq_add_s8" if op.kind == "ADD" else "edgeq_sub_s8"
    low = binary_call(op, ctx, (x1, x2, y), quant + table + (("rt_tables", 0), ("rt_sub", 0), ("rt_ready", 0)), _clamp(op, y),
                      kernel=kernel, struct="edgeq_add_s8_params", source="elementwise",
                      litert_single=LITERT_SINGLE_ROUNDING[op.kind])
    return dataclasses.replace(low, scratch_options=add_rt_options(op, kernel, table, y.numel)) if tables else low


def mul_fast_fields(quant: tuple, output_offset: int, rounding: int) -> tuple:
    """The int8 MUL SMMULR path (firmware/kernels/elementwise.h), or ``fast`` 0 where it would not be exact.

    The product p = (a + o1) * (b + o2) satisfies |p| <= 256 * 256; with the multiplier's left shift l:
    SaturatingRoundingDoublingHighMul(p << l, m) = SMMULR(p << (l + 1), m) while |p| << (l + 1) < 2^31 (both
    round half up, no saturation), and the rounding shift by e >= 1 folds the output offset in as for ADD."""
    q = dict(quant)
    none = (("fast", 0), ("fast_shift", 0), ("out_rb", 0), ("out_e", 0))
    left, e = max(q["output_shift"], 0), max(-q["output_shift"], 0)
    p_max = (128 + abs(q["input1_offset"])) * (128 + abs(q["input2_offset"]))
    if rounding != 0 or not 1 <= e <= 30 or p_max << (left + 1) >= (1 << 31):
        return none
    rb = (1 << (e - 1)) + output_offset * (1 << e)
    u_max = ((p_max << (left + 1)) * q["output_multiplier"] >> 32) + 1
    if u_max + 1 + abs(rb) >= (1 << 31):
        return none
    return (("fast", 1), ("fast_shift", left + 1), ("out_rb", rb), ("out_e", e))


@lowering("MUL")
def lower_mul(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = _operands(g, op)
    quant = mul_quant_fields(ctx, x1, x2, y)
    rounding = rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING["MUL"])
    return binary_call(op, ctx, (x1, x2, y), quant + mul_fast_fields(quant, zp(y), rounding), _clamp(op, y),
                       kernel="edgeq_mul_s8", struct="edgeq_mul_s8_params", source="elementwise",
                       litert_single=LITERT_SINGLE_ROUNDING["MUL"])
