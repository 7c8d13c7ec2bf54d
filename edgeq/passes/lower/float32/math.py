"""float32 EXP, LOG, SQRT, RSQRT, ABS, NEG, GELU and ELU (firmware/kernels/float32_math.c).

ABS and NEG are exact. The others follow LiteRT's float reference kernels (std::exp, std::log, std::sqrt,
1 / std::sqrt, GeluTransform / GeluTransformApproximate, Elu's expm1) with edgeq's own exp / log / sqrt /
erfc / expm1, since the firmware links no libm: they agree with LiteRT within the tolerance of
edgeq.quality.compare.FLOAT_RTOL (tests/kernels/test_float32_math.py)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.float32.common import unary_io
from edgeq.passes.lower.registry import LowerCtx, lowering

_KERNELS = {"EXP": "edgeq_exp_f32", "LOG": "edgeq_log_f32", "SQRT": "edgeq_sqrt_f32", "RSQRT": "edgeq_rsqrt_f32",
            "ABS": "edgeq_abs_f32", "NEG": "edgeq_neg_f32", "ELU": "edgeq_elu_f32"}


@lowering("EXP", "LOG", "SQRT", "RSQRT", "ABS", "NEG", "GELU", "ELU", dtypes=("float32",))
def lower_math_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    if op.kind == "GELU":
        kernel = "edgeq_gelu_tanh_f32" if op.attrs.get("approximate", False) else "edgeq_gelu_f32"
    else:
        kernel = _KERNELS[op.kind]
    return Lowered(kernel=kernel, struct="edgeq_math_f32_params", source="float32_math",
                   fields=(("size", y.numel),), args=(x.id, y.id),
                   inplace=True)  # out[i] is written after in[i] is read
