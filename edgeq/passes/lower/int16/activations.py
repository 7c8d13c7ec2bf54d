"""int16 GELU (firmware/kernels/int16_activations.c): LiteRT's gelu.cc builds a 513-entry table at Prepare time
(LUTPopulate<int16_t>: LUTPopulateInt16 in float32 with the float GeluTransform, the C library's erfcf) and
looks every value up with linear interpolation (LUTLookup); the table is rebuilt here with the same float32
operations (measured in tests/kernels/test_int16_gelu.py)."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, need, zp
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int8.activations import gelu_transform
from edgeq.passes.lower.registry import LowerCtx, lowering

f32 = np.float32


def _roundf(v) -> np.float32:
    """TfLiteRound on a float32: half away from zero."""
    return f32(np.copysign(np.floor(np.abs(f32(v)) + f32(0.5)), f32(v)))


def lut_populate_int16_f32(in_scale: float, in_zp: int, out_scale: float, out_zp: int, fn) -> np.ndarray:
    """LUTPopulateInt16<float>: 512 samples with a midpoint-error bias, plus the end point, in float32."""
    input_min = f32(in_scale) * f32(-32768 - in_zp)
    input_max = f32(in_scale) * f32(32767 - in_zp)
    output_min = f32(out_scale) * f32(-32768 - out_zp)
    output_max = f32(out_scale) * f32(32767 - out_zp)
    steps = 512
    step = (input_max - input_min) / f32(steps)
    half = step / f32(2)
    inv = f32(65536) / (output_max - output_min)
    out = []
    for i in range(steps):
        base = input_min + f32(i) * step
        val, mid, nxt = fn(base), fn(base + half), fn(input_min + f32(i + 1) * step)
        sample = _roundf(val * inv)
        interp = _roundf((nxt * inv + _roundf(val * inv)) / f32(2))
        bias = _roundf((interp - _roundf(mid * inv)) / f32(2))
        out.append(min(max(float(sample - bias), -32768.0), 32767.0))
    out.append(min(max(float(_roundf(fn(input_max) * inv)), -32768.0), 32767.0))
    return np.array(out, np.int16)


@lowering("GELU", dtypes=("int16",))
def lower_gelu_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    check_s16(x, y)
    need(zp(x) == 0 and zp(y) == 0, "int16 tensors with a nonzero zero point")
    need(ctx.rounding == "litert", "TFLite Micro has no int16 GELU")
    transform = gelu_transform(bool(op.attrs.get("approximate", False)))
    lut = lut_populate_int16_f32(x.quant.scale[0], 0, y.quant.scale[0], 0, transform)
    return Lowered(
        kernel="edgeq_lut_s16", struct="edgeq_lut_s16_params", source="int16_activations",
        fields=(("size", x.numel), ("lut", arr(op, "lut", lut, "int16_t"))),
        args=(x.id, y.id),
        inplace=True,  # in[i] is read before out[i] is written
    )
