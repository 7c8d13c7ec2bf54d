"""BATCH_MATMUL, int8 (firmware/kernels/batch_matmul.c); the geometry is shared with the int16 and float32
lowerings.

LiteRT (kernels/batch_matmul.cc, measured in tests/kernels/test_batch_matmul.py): both operands are extended
to the output rank, batch dimensions broadcast (a dimension of 1 against any size), ``adj_x`` / ``adj_y``
transpose the last two dimensions of an operand. The reference kernel (reference_ops::BatchMatMul, run with
the operands swapped and the rhs transposed: a layout change only) computes, per output element,

    acc = sum over k, in increasing k, of (lhs[r][k] - lhs_zp) * (rhs[k][c] - rhs_zp)     (int32; int64 for int16)
    out = clamp(MultiplyByQuantizedMultiplier(acc, mult, shift) + out_zp, type min, type max)

with (mult, shift) = QuantizeMultiplier((double)(lhs_scale * rhs_scale) / (double)out_scale) (the scale
product in float32, GetQuantizedConvolutionMultipler without bias) and no fused activation. int8
requantizes with double rounding (gemmlowp), int16 with the int64 MultiplyByQuantizedMultiplier (16-bit
reduced multiplier, one rounding); float32 accumulates from 0.0f in the same order.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import expect_dtype, need, requant_fields, rounding_flag, scale, zp
from edgeq.passes.lower.quantmath import quantize_multiplier
from edgeq.passes.lower.registry import LowerCtx, lowering

BATCH_DIMS = 3  # reference_ops::BatchMatMul extends both operands to rank 5: three batch dimensions


def batch_matmul_geometry(g: Graph, op: Op) -> tuple[tuple[str, int], ...]:
    """The geometry fields every BATCH_MATMUL kernel shares (batch_matmul.h), from the operand shapes,
    ``adj_x`` / ``adj_y`` and LiteRT's broadcasting of batch dimensions."""
    lhs, rhs, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    need(2 <= len(lhs.shape) <= 5 and 2 <= len(rhs.shape) <= 5,
         f"operand ranks {len(lhs.shape)} and {len(rhs.shape)} (supported: 2..5)")
    adj_x, adj_y = bool(op.attrs.get("adj_x", False)), bool(op.attrs.get("adj_y", False))
    ls = (1,) * (5 - len(lhs.shape)) + tuple(lhs.shape)
    rs = (1,) * (5 - len(rhs.shape)) + tuple(rhs.shape)
    rows, depth = (ls[4], ls[3]) if adj_x else (ls[3], ls[4])
    rdepth, cols = (rs[4], rs[3]) if adj_y else (rs[3], rs[4])
    need(depth == rdepth, f"lhs depth {depth} and rhs depth {rdepth} differ")
    batch = []
    for d in range(BATCH_DIMS):
        need(ls[d] == rs[d] or 1 in (ls[d], rs[d]), f"batch dimensions {ls[d]} and {rs[d]} do not broadcast")
        batch.append(max(ls[d], rs[d]))
    need(y.numel == int(np.prod(batch, dtype=np.int64)) * rows * cols,
         f"output shape {y.shape} is not {batch} x {rows} x {cols}")

    def strides(s):  # elements; 0 for a dimension of 1 (broadcast)
        return [0 if s[d] == 1 else int(np.prod(s[d + 1:], dtype=np.int64)) for d in range(BATCH_DIMS)]

    fields = [(f"batch[{d}]", batch[d]) for d in range(BATCH_DIMS)]
    fields += [(f"lhs_batch_stride[{d}]", v) for d, v in enumerate(strides(ls))]
    fields += [(f"rhs_batch_stride[{d}]", v) for d, v in enumerate(strides(rs))]
    fields += [("rows", rows), ("cols", cols), ("depth", depth),
               ("lhs_row_stride", 1 if adj_x else ls[4]), ("lhs_depth_stride", ls[4] if adj_x else 1),
               ("rhs_depth_stride", 1 if adj_y else rs[4]), ("rhs_col_stride", rs[4] if adj_y else 1)]
    return tuple(fields)


def matmul_multiplier(lhs: Tensor, rhs: Tensor, y: Tensor) -> tuple[int, int]:
    """QuantizeMultiplier((double)(lhs_scale * rhs_scale) / (double)out_scale): the product in float32."""
    for t in (lhs, rhs, y):
        need(t.quant is not None and not t.quant.per_channel, f"tensor '{t.name}' is not per-tensor quantized")
    product = float(np.float32(scale(lhs)) * np.float32(scale(rhs)))
    return quantize_multiplier(product / float(np.float32(scale(y))))


@lowering("BATCH_MATMUL")
def lower_batch_matmul(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    lhs, rhs, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (lhs, rhs, y):
        expect_dtype(t, "int8")
    need(not op.attrs.get("asymmetric_quantize_inputs", False), "hybrid (float lhs) BATCH_MATMUL")
    geometry = batch_matmul_geometry(g, op)
    depth = dict(geometry)["depth"]
    need(depth * 255 * 255 < 2**31, f"depth {depth} can overflow the int32 accumulator")
    mult, shift = matmul_multiplier(lhs, rhs, y)
    return Lowered(
        kernel="edgeq_batch_matmul_s8", struct="edgeq_batch_matmul_s8_params", source="batch_matmul",
        fields=(*geometry, ("lhs_offset", -zp(lhs)), ("rhs_offset", -zp(rhs)), ("mult", mult), ("shift", shift),
                *requant_fields(zp(y), -128, 127, rounding_flag(ctx, litert_single=False))),
        args=(lhs.id, rhs.id, y.id),
    )
