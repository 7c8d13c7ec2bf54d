"""SOFTMAX, LOGISTIC and TANH with int16 activations, as LiteRT's reference kernels (activations.cc).

* SOFTMAX (reference_ops::SoftmaxInt16): Prepare builds two 513-entry tables with LUTPopulate<int16_t>
  in double (exp on [-10, 0] and 1 / (1 + x) on [0, 1], both onto [-1, 1]); they are generated here by
  :func:`lut_populate_int16` with the same double arithmetic (and the C library's exp, via math.exp).
  The input is rescaled by QuantizeMultiplier((float)input_scale * (float)beta / (10.0 / 65535.0)).
* LOGISTIC / TANH (reference_integer_ops::Logistic / Tanh on int16): a fixed 256-entry sigmoid table
  and an input multiplier / shift from Prepare (power-of-two input scales use 3 << shift).
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import arr, need, rounding_flag, scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.quantmath import quantize_multiplier, tflite_round

# Measured (tests/kernels/test_int16_ops.py::test_softmax): whether LiteRT's SoftmaxInt16 input rescaling
# (MultiplyByQuantizedMultiplier on int32) rounds once.
LITERT_SINGLE_ROUNDING = False

# sigmoid(i / 24) in Q0.16 for i = 0..255 (TFLite internal/common.h sigmoid_table_uint16).
SIGMOID_TABLE_UINT16 = (
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498,
    40149, 40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255,
    46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865,
    52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174,
    56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288,
    59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441,
    61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886,
    62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450,
    64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845,
    64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097,
    65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465,
    65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508,
    65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525,
    65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529,
    65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531,
    65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533,
    65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65535,
)


def lut_populate_int16(input_scale: float, input_zp: int, output_scale: float, output_zp: int, fn) -> np.ndarray:
    """LUTPopulateInt16<double>: 512 samples with a midpoint-error bias, plus the end point."""
    input_min = input_scale * (-32768 - input_zp)
    input_max = input_scale * (32767 - input_zp)
    output_min = output_scale * (-32768 - output_zp)
    output_max = output_scale * (32767 - output_zp)
    steps = 512
    step = (input_max - input_min) / steps
    half = step / 2
    inv = 65536.0 / (output_max - output_min)
    out = []
    for i in range(steps):
        val = fn(input_min + i * step)
        mid = fn(input_min + i * step + half)
        nxt = fn(input_min + (i + 1) * step)
        sample = tflite_round(val * inv)
        interp = tflite_round((nxt * inv + tflite_round(val * inv)) / 2)
        err = interp - tflite_round(mid * inv)
        bias = tflite_round(err / 2)
        out.append(min(max(sample - bias, -32768), 32767))
    out.append(min(max(tflite_round(fn(input_max) * inv), -32768), 32767))
    return np.array(out, np.int16)


def softmax_luts() -> tuple[np.ndarray, np.ndarray]:
    rng = 32767 - (-32768)
    exp_lut = lut_populate_int16(10.0 / rng, 32767, 2.0 / rng, 0, math.exp)
    recip_lut = lut_populate_int16(1.0 / rng, -32768, 2.0 / rng, 0, lambda v: 1.0 / (1.0 + v))
    return exp_lut, recip_lut


@lowering("SOFTMAX", dtypes=("int16",))
def lower_softmax_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    check_s16(x, y)
    need(zp(x) == 0 and zp(y) == 0, "int16 softmax needs zero points 0")
    need(abs(scale(y) - 1 / 32768) <= 0.001 / 32768, f"output scale {scale(y):g} is not 1/32768")
    need(len(x.shape) >= 1 and x.shape[-1] > 0, "softmax of an empty tensor")
    beta = float(op.attrs.get("beta", 1.0))
    rescale = float(np.float32(scale(x)) * np.float32(beta)) / (10.0 / 65535.0)
    m, sh = quantize_multiplier(rescale)
    need(sh <= 30, f"input scale {scale(x):g} is too large")
    exp_lut, recip_lut = softmax_luts()
    depth = x.shape[-1]
    return Lowered(
        kernel="edgeq_softmax_s16",
        struct="edgeq_softmax_s16_params",
        source="int16_softmax",
        fields=(
            ("outer", x.numel // depth), ("depth", depth), ("input_multiplier", m), ("input_shift", sh),
            ("rounding", rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING)),
            ("exp_lut", arr(op, "exp_lut", exp_lut, "int16_t")),
            ("recip_lut", arr(op, "recip_lut", recip_lut, "int16_t")),
        ),
        args=(x.id, y.id),
    )


def checked_log2(x: float) -> tuple[bool, int]:
    """CheckedLog2 (float arithmetic): (is a power of two within 1e-3, rounded log2)."""
    l2 = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    r = tflite_round(float(l2))
    return bool(abs(np.float32(l2) - np.float32(r)) < np.float32(1e-3)), int(r)


def sigmoid_input_params(x: Tensor, tanh: bool) -> tuple[int, int]:
    """(input_multiplier, input_left_shift) as TanhPrepare / SigmoidPrepare, with the kernel's
    power-of-two case (multiplier 0 -> 3 << shift, shift 0) already applied."""
    pot, l2 = checked_log2(scale(x))
    shift = (15 - 3) + l2
    pot = pot and (shift in (0, 1) if tanh else shift == 0)
    if pot:
        return 3 << shift, 0
    m = float(scale(x)) * 4096.0 * 3.0
    shift = 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    mult = int(m)
    what = "TANH" if tanh else "LOGISTIC"
    need(32768 * mult < (1 << 31), f"input scale {scale(x):g} is too large for the int16 {what}")
    return mult, shift


@lowering("LOGISTIC", "TANH", dtypes=("int16",))
def lower_sigmoid_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    check_s16(x, y)
    need(zp(x) == 0 and zp(y) == 0, f"int16 {op.kind} needs zero points 0")
    pot, l2 = checked_log2(scale(y))
    need(pot and l2 == -15, f"output scale {scale(y):g} is not 2^-15")
    need(x.numel == y.numel, "input and output sizes differ")
    m, sh = sigmoid_input_params(x, tanh=op.kind == "TANH")
    return Lowered(
        kernel="edgeq_tanh_s16" if op.kind == "TANH" else "edgeq_logistic_s16",
        struct="edgeq_sigmoid_s16_params",
        source="int16_softmax",
        fields=(("size", y.numel), ("input_multiplier", m), ("input_left_shift", sh),
                ("table", arr(op, "sigmoid", np.array(SIGMOID_TABLE_UINT16, np.uint16), "uint16_t"))),
        args=(x.id, y.id),
        inplace=True,
    )
