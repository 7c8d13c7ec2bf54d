"""CONCATENATION (and PACK), PAD/PADV2 and STRIDED_SLICE on int8: byte movement with every index resolved here.

None of these requantizes: TFLite's int8 CONCATENATION and PACK refuse inputs whose scale or zero point
differ from the output's (LiteRT's Prepare checks it; the converter inserts QUANTIZE ops instead),
and PAD / STRIDED_SLICE copy the raw bytes. The shapes are collapsed to at most
``MAX_DIMS`` dimensions so the C loops have a fixed depth and copy whole rows.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import arr, expect_dtype, need, scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.quantmath import activation_range

MAX_DIMS = 5  # EDGEQ_SHAPE_MAX_DIMS in firmware/kernels/shape_ops.h


def _prod(xs) -> int:
    return int(np.prod(xs, dtype=np.int64)) if len(xs) else 1


def _same_quant(a: Tensor, b: Tensor) -> bool:
    if a.quant is None or b.quant is None:
        return a.quant is None and b.quant is None
    return a.quant.scale[0] == b.quant.scale[0] and a.quant.zero_point[0] == b.quant.zero_point[0]


def _const_ints(g: Graph, tid: int, what: str, dtypes=("int32", "int64")) -> np.ndarray:
    t = g.tensor(tid)
    need(t.is_const, f"{what} is not constant")
    need(t.dtype in dtypes, f"{what} is {t.dtype}, not {'/'.join(dtypes)}")
    return np.asarray(t.data, dtype=np.int64)


# --- CONCATENATION --------------------------------------------------------------------------------

def concat_layout(op: Op, ins: list[Tensor], y: Tensor, check_input=None) -> tuple[int, list[int]]:
    """Check a CONCATENATION's shapes (any element type; ``check_input(t)`` adds a per-input check);
    returns (outer count, elements each input contributes per outer step)."""
    rank = len(y.shape)
    axis = int(op.attrs.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    need(0 <= axis < rank, f"axis {op.attrs.get('axis')} out of range for rank {rank}")
    for t in ins:
        need(len(t.shape) == rank, f"input '{t.name}' has rank {len(t.shape)}, output has {rank}")
        need(all(t.shape[d] == y.shape[d] for d in range(rank) if d != axis),
             f"input '{t.name}' shape {t.shape} does not match output {y.shape} off the axis")
        if check_input is not None:
            check_input(t)
    need(sum(t.shape[axis] for t in ins) == y.shape[axis], "input extents do not add up to the output's")
    inner = _prod(y.shape[axis + 1:])
    return _prod(y.shape[:axis]), [t.shape[axis] * inner for t in ins]


def concat_inputs(g: Graph, op: Op) -> list[Tensor]:
    """A CONCATENATION's inputs; a PACK's with its new axis (extent 1) inserted, since stacking along a
    new axis is concatenating along it (same bytes, same order)."""
    ins = [g.tensor(t) for t in op.inputs]
    if op.kind != "PACK":
        return ins
    rank = len(g.tensor(op.outputs[0]).shape)
    axis = int(op.attrs.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    need(0 <= axis < rank, f"axis {op.attrs.get('axis')} out of range for rank {rank}")
    return [dataclasses.replace(t, shape=tuple(t.shape[:axis]) + (1,) + tuple(t.shape[axis:])) for t in ins]


@lowering("CONCATENATION", "PACK")
def lower_concatenation(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    ins = concat_inputs(g, op)
    y = g.tensor(op.outputs[0])
    need(len(ins) >= 1, "no inputs")
    for t in (*ins, y):
        expect_dtype(t, "int8")

    def same_quant(t: Tensor) -> None:
        # LiteRT's int8 Prepare demands it (TFLM would copy the bytes anyway, which means nothing).
        need(_same_quant(t, y), f"input '{t.name}' is quantized differently from the output "
             "(int8 CONCATENATION does not requantize; the converter inserts QUANTIZE ops)")

    outer, sizes = concat_layout(op, ins, y, same_quant)
    lo, hi = -128, 127
    act = op.attrs.get("fused_activation_function", "NONE")
    if act != "NONE":  # only set by edgeq's fuse-activations pass (TFLite's kernels refuse it)
        lo, hi = activation_range(act, scale(y), zp(y))
    return Lowered(
        kernel="edgeq_concat_s8",
        struct="edgeq_concat_s8_params",
        source="shape_ops",
        fields=(
            ("outer", outer), ("num_inputs", len(ins)), ("act_min", lo), ("act_max", hi),
            ("sizes", arr(op, "sizes", np.array(sizes, np.int32), "int32_t")),
        ),
        args=(tuple(t.id for t in ins), y.id),
    )


# --- PAD / PADV2 ----------------------------------------------------------------------------------

def collapse_pad(in_shape, before, after) -> list[tuple[int, int, int]]:
    """Merge each dimension into the one outside it when the inner one has no padding (the bytes stay
    contiguous); returns (extent, before, after) per remaining dimension, outermost first."""
    dims: list[tuple[int, int, int]] = []
    for n, b, a in reversed(list(zip(in_shape, before, after))):
        if dims and dims[0][1] == 0 and dims[0][2] == 0:
            inner = dims[0][0]
            dims[0] = (n * inner, b * inner, a * inner)
        else:
            dims.insert(0, (n, b, a))
    return dims


def pad_amounts(g: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[list[int], list[int]]:
    """A PAD's constant paddings, checked against the shapes: (before, after) per dimension."""
    pads = _const_ints(g, op.inputs[1], "paddings")
    rank = len(x.shape)
    need(pads.shape == (rank, 2), f"paddings have shape {pads.shape}, expected ({rank}, 2)")
    need(bool((pads >= 0).all()), "negative paddings")
    before, after = [int(v) for v in pads[:, 0]], [int(v) for v in pads[:, 1]]
    need(tuple(n + b + a for n, b, a in zip(x.shape, before, after)) == tuple(y.shape),
         f"output shape {y.shape} does not match the paddings")
    return before, after


def pad_loop_fields(op: Op, in_shape, before, after) -> tuple:
    """The pad kernels' ``MAX_DIMS`` loops (element counts, any element type) as the params fields
    in_shape, out_shape and before: outermost first, merged by :func:`collapse_pad`, left-filled with 1."""
    dims = collapse_pad(in_shape, before, after)
    need(len(dims) <= MAX_DIMS, f"{len(dims)} padded dimensions that cannot be merged (max {MAX_DIMS})")
    dims = [(1, 0, 0)] * (MAX_DIMS - len(dims)) + dims
    ins, bs, _ = zip(*dims)
    outs = [n + b + a for n, b, a in dims]
    return (
        ("in_shape", arr(op, "in_shape", np.array(ins, np.int32), "int32_t")),
        ("out_shape", arr(op, "out_shape", np.array(outs, np.int32), "int32_t")),
        ("before", arr(op, "before", np.array(bs, np.int32), "int32_t")),
    )


@lowering("PAD", "PADV2")
def lower_pad(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    before, after = pad_amounts(g, op, x, y)
    cv = op.inputs[2] if len(op.inputs) > 2 else -1
    if cv >= 0:  # PADV2: the constant, raw (LiteRT demands it shares the output's quantization)
        c = g.tensor(cv)
        expect_dtype(c, "int8")
        need(c.is_const and c.numel == 1, "constant_values is not a constant scalar")
        need(y.quant is None or _same_quant(c, y), "constant_values is quantized differently from the output")
        pad_value = int(np.asarray(c.data).reshape(-1)[0])
    else:  # PAD: the real value 0, i.e. the output zero point
        pad_value = y.quant.zero_point[0] if y.quant is not None else 0
    loops = pad_loop_fields(op, x.shape, before, after)
    return Lowered(
        kernel="edgeq_pad_s8",
        struct="edgeq_pad_s8_params",
        source="shape_ops",
        fields=(("pad_value", pad_value), *loops),
        args=(x.id, y.id),
    )


# --- STRIDED_SLICE --------------------------------------------------------------------------------

def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def strided_slice_axes(in_shape, begin, end, strides, begin_mask=0, end_mask=0, ellipsis_mask=0,
                       new_axis_mask=0, shrink_axis_mask=0, offset=False):
    """Resolve a STRIDED_SLICE exactly as LiteRT's kernel does (strided_slice.cc
    BuildStridedSliceParams, then reference_ops::StartForAxis / EndForAxis): ellipsis and new axes
    are expanded first. Returns (effective input shape, starts, counts, strides, shrink flags)."""
    input_dims, begin_count = len(in_shape), len(begin)
    num_add_axis = sum(1 for i in range(begin_count) if not _bit(ellipsis_mask, i) and _bit(new_axis_mask, i))
    dims = input_dims + num_add_axis
    starts, stops, steps = [0] * dims, [0] * dims, [1] * dims
    bmask = emask = smask = 0
    eff_ellipsis = eff_new_axis = 0
    ellipsis_start, expanded = dims, 0
    i = 0
    while i < dims:
        if _bit(ellipsis_mask, i):
            ellipsis_start = i
            ellipsis_end = max(i + 1, min(i + 1 + num_add_axis + input_dims - begin_count, dims))
            expanded = ellipsis_end - ellipsis_start - 1
            while i < ellipsis_end:
                eff_ellipsis |= 1 << i
                i += 1
            continue
        if _bit(new_axis_mask, i - expanded):
            eff_new_axis |= 1 << i
        i += 1
    shape = [0] * dims
    added_ellipsis = added_axes = 0
    for i in range(dims):
        if _bit(eff_ellipsis, i):
            added_ellipsis = max(0, i - ellipsis_start)
            bmask |= 1 << i
            emask |= 1 << i
            shape[i] = in_shape[i - added_axes]
        elif _bit(eff_new_axis, i):
            stops[i] = 1
            shape[i] = 1
            added_axes += 1
        elif i >= begin_count + expanded:
            bmask |= 1 << i
            emask |= 1 << i
            shape[i] = in_shape[i - added_axes]
        else:
            j = i - added_ellipsis
            starts[i], stops[i], steps[i] = int(begin[j]), int(end[j]), int(strides[j])
            bmask |= int(_bit(begin_mask, j)) << i
            emask |= int(_bit(end_mask, j)) << i
            smask |= int(_bit(shrink_axis_mask, j)) << i
            shape[i] = in_shape[i - added_axes]
    first, counts, shrink = [], [], []
    for i in range(dims):
        size, stride = shape[i], steps[i]
        need(stride != 0, "stride 0")
        start = starts[i] + size if starts[i] < 0 else starts[i]
        start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
        if _bit(bmask, i):
            start = 0 if stride > 0 else size - 1
        if _bit(smask, i):
            stop = start if start >= size else start + 1
        else:
            stop = stops[i] + (start if offset else 0)
            stop = stop + size if stop < 0 else stop
            stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
            if _bit(emask, i):
                stop = size if stride > 0 else -1
        n = -(-(stop - start) // stride) if (stop - start) * stride > 0 else 0
        first.append(start)
        counts.append(n)
        shrink.append(_bit(smask, i))
    return shape, first, counts, steps, shrink


def collapse_slice(shape, first, counts, steps) -> tuple[int, list[tuple[int, int]]]:
    """Element offset of the first element read and (count, element step) per remaining axis, for a
    non-empty slice: single-element axes fold into the offset, and an axis merges into the one inside
    it when its step is the inner step times the inner count (the reads stay evenly spaced)."""
    in_strides = [_prod(shape[i + 1:]) for i in range(len(shape))]
    offset = sum(f * s for f, s in zip(first, in_strides))
    axes: list[tuple[int, int]] = []
    for n, step in reversed([(n, st * s) for n, st, s in zip(counts, steps, in_strides)]):
        if n == 1:
            continue
        if axes and step == axes[0][0] * axes[0][1]:
            axes[0] = (n * axes[0][0], axes[0][1])
        else:
            axes.insert(0, (n, step))
    return offset, axes


@lowering("STRIDED_SLICE")
def lower_strided_slice(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    need(len(op.inputs) == 4, "STRIDED_SLICE needs begin, end and strides inputs")
    begin, end, strides = (_const_ints(g, t, what, ("int32",))  # LiteRT takes int32 only
                           for t, what in zip(op.inputs[1:], ("begin", "end", "strides")))
    need(len(begin) == len(end) == len(strides), "begin, end and strides differ in length")
    a = op.attrs
    masks = {k: int(a.get(k, 0)) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                             "shrink_axis_mask")}
    offset = bool(a.get("offset", False))
    if ctx.rounding == "tflm":
        # TFLM's kernel zeroes these masks, has no offset and reads one index per input dimension:
        # it would compute something else.
        need(masks["ellipsis_mask"] == 0 and masks["new_axis_mask"] == 0 and not offset,
             "TFLM's STRIDED_SLICE ignores ellipsis_mask, new_axis_mask and offset")
        need(len(begin) == len(x.shape), "TFLM's STRIDED_SLICE needs begin/end/strides for every dimension")
    try:
        shape, first, counts, steps, shrink = strided_slice_axes(x.shape, begin, end, strides, offset=offset,
                                                                 **masks)
    except IndexError:
        need(False, "begin/end/strides do not fit the input rank")
    out_shape = tuple(n for n, s in zip(counts, shrink) if not s)
    need(out_shape == tuple(y.shape), f"slice gives shape {out_shape}, the model says {y.shape}")
    if y.numel == 0:
        off, axes = 0, [(0, 1)] * MAX_DIMS
    else:
        off, axes = collapse_slice(shape, first, counts, steps)
        need(len(axes) <= MAX_DIMS, f"{len(axes)} sliced axes that cannot be merged (max {MAX_DIMS})")
        axes = [(1, 0)] * (MAX_DIMS - len(axes)) + axes
    return Lowered(
        kernel="edgeq_strided_slice_s8",
        struct="edgeq_strided_slice_s8_params",
        source="shape_ops",
        fields=(
            ("offset", off),
            ("count", arr(op, "count", np.array([n for n, _ in axes], np.int32), "int32_t")),
            ("step", arr(op, "step", np.array([s for _, s in axes], np.int32), "int32_t")),
        ),
        args=(x.id, y.id),
    )
