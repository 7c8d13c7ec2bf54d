"""PRELU, int8 (firmware/kernels/prelu.c), as LiteRT's PreluPrepare / reference_ops::BroadcastPrelu4DSlow.

Prepare computes the two real multipliers in float32 (``input_scale / output_scale`` and
``input_scale * alpha_scale / output_scale``) and QuantizeMultiplier's them in double; Eval requantizes
``x - zp_in`` (x >= zp_in) or ``(x - zp_in) * (alpha - zp_alpha)`` with MultiplyByQuantizedMultiplier
(double rounding, measured in tests/kernels/test_prelu.py), adds the output zero point and clamps to int8.
Alpha (Keras PReLU's weights, constant) broadcasts against the input; the output has the input's shape.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need, requant_fields, rounding_flag, scale, zp
from edgeq.passes.lower.int8.elementwise import broadcast_loops
from edgeq.passes.lower.quantmath import f32, quantize_multiplier
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("PRELU")
def lower_prelu(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"PRELU with {len(op.inputs)} inputs")
    x, alpha, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (x, alpha, y):
        expect_dtype(t, "int8")
        need(t.quant is not None and not t.quant.per_channel, f"tensor '{t.name}' is not per-tensor quantized")
    need(tuple(y.shape) == tuple(x.shape), f"output shape {y.shape} is not the input's {x.shape}")
    shape, st_x, st_a = broadcast_loops(x.shape, alpha.shape, y.shape)
    m_pos, s_pos = quantize_multiplier(float(f32(scale(x)) / f32(scale(y))))
    m_neg, s_neg = quantize_multiplier(float(f32(scale(x)) * f32(scale(alpha)) / f32(scale(y))))
    return Lowered(
        kernel="edgeq_prelu_s8", struct="edgeq_prelu_s8_params", source="prelu",
        fields=(
            ("ndim", len(shape)),
            ("shape", arr(op, "shape", np.array(shape, np.int32), "int32_t")),
            ("stride1", arr(op, "stride1", np.array(st_x, np.int32), "int32_t")),
            ("stride2", arr(op, "stride2", np.array(st_a, np.int32), "int32_t")),
            ("input_offset", -zp(x)), ("alpha_offset", -zp(alpha)),
            ("mult_pos", m_pos), ("shift_pos", s_pos), ("mult_neg", m_neg), ("shift_neg", s_neg),
            *requant_fields(zp(y), -128, 127, rounding_flag(ctx, litert_single=False)),
        ),
        args=(x.id, alpha.id, y.id),
        inplace=True,  # out[i] is written after in[i] and alpha[i] are read
    )
