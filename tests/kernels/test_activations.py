"""Elementwise int8 activations: RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU, HARD_SWISH, LOGISTIC,
TANH.

Every test feeds all 256 int8 values (plus random samples) and compares every output byte with LiteRT's
reference kernels and with TFLM. Keras models give realistic quantization (calibration ``scale`` 0.1, 1,
10); models of independent one-op branches whose quantization is rewritten in the flatbuffer
(``rewrite_model``) reach the configurations where roundings and algorithms part, so each mode is really
tested:

- RELU, RELU_N1_TO_1 and LEAKY_RELU with exact ties: LiteRT rounds twice like TFLM (gemmlowp); a
  single-rounding kernel fails ``test_relu_requantization`` / ``test_leaky_relu_negative_ties``.
- RELU6: TFLM clamps the input and ignores the output quantization; LiteRT requantizes.
- LOGISTIC/TANH: LiteRT looks up a table built in float (with the C library's expf/tanhf), TFLM computes
  in Q4.27 fixed point; they differ at large input scales (TFLM saturates everything when its input
  radius rounds to 0), and two tanh scales put a table entry on a tie that numpy's tanh gets wrong.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import compare, int8_tflite, random_inputs, tf_function_tflite
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower import registry
from edgeq.passes.lower.registry import LowerCtx, Unsupported

SHAPE = (16, 16)  # 256 elements: one sample holds every int8 value; <= 256 is the kernels' direct path


# --- helpers (also used by test_softmax.py) ----------------------------------------------------------

def fn_tflite(fn, shapes=(SHAPE,), scale: float = 1.0, n_calib: int = 32, seed: int = 0) -> bytes:
    """Convert a tf.function of float inputs (batch 1, ``shapes``) to full-int8 TFLite."""
    import tensorflow as tf

    f = tf.function(fn, input_signature=[tf.TensorSpec((1, *s), tf.float32) for s in shapes])
    rng = np.random.default_rng(seed)
    calib = [[(rng.standard_normal((1, *s)) * scale).astype(np.float32) for s in shapes] for _ in range(n_calib)]
    return tf_function_tflite(f, calib)


def rewrite_model(tfl: bytes, configs) -> bytes:
    """Rewrite a model of independent one-op branches: ``configs[i]`` applies to the i-th operator, a
    dict with optional ``inp``/``out`` = (scale, zero_point) for its input/output tensor and any builtin
    option of the op (e.g. alpha=0.25, beta=2.0). Uses the schema's flatbuffer object API."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(bytearray(tfl), 0)
    sg = m.subgraphs[0]
    assert len(configs) <= len(sg.operators), f"{len(configs)} configurations for {len(sg.operators)} ops"
    for op, cfg in zip(sg.operators, configs):
        cfg = dict(cfg)
        for tid, q in ((op.inputs[0], cfg.pop("inp", None)), (op.outputs[0], cfg.pop("out", None))):
            if q is not None:
                qp = sg.tensors[tid].quantization
                qp.scale, qp.zeroPoint = [float(np.float32(q[0]))], [int(q[1])]
        for k, v in cfg.items():
            setattr(op.builtinOptions, k, v)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def exhaustive_inputs(tfl: bytes, n_random: int = 3, seed: int = 1) -> list[list[np.ndarray]]:
    """All 256 int8 values (tiled to each input's size), the same reversed, then random samples."""
    g = read_tflite(tfl)
    ramp, rev = [], []
    for tid in g.inputs:
        t = g.tensor(tid)
        v = np.resize(np.arange(-128, 128, dtype=np.int8), t.numel)
        ramp.append(v.reshape(t.shape))
        rev.append(v[::-1].copy().reshape(t.shape))
    return [ramp, rev] + random_inputs(tfl, n_random, seed)


def check(tfl: bytes, expect_ops, roundings=("litert", "tflm"), inputs=None) -> None:
    """Every output byte equal to LiteRT's (and TFLM's) on all 256 values and random samples."""
    kinds = {op.kind for op in read_tflite(tfl).ops}
    missing = {expect_ops} - kinds if isinstance(expect_ops, str) else set(expect_ops) - kinds
    assert not missing, f"converted model has ops {sorted(kinds)}, not {sorted(missing)}"
    inputs = exhaustive_inputs(tfl) if inputs is None else inputs
    for r in roundings:
        cmp = compare(tfl, inputs, r)
        assert cmp.bit_exact, (
            f"[{r}] {cmp.exact_samples}/{cmp.samples} samples bit-exact, {cmp.mismatched_bytes} of "
            f"{cmp.total_bytes} bytes differ (max |diff| {cmp.max_abs_diff}); first bad op: {cmp.first_bad_op}"
        )


def lower_op(tfl: bytes, rounding: str, index: int = 0):
    g = read_tflite(tfl)
    op = g.ops[index]
    return registry()[op.kind](g, op, LowerCtx(rounding=rounding))


N_BRANCHES = 10


def _keras_layer(kind: str):
    import keras

    return {
        "RELU": lambda: keras.layers.ReLU(),
        "RELU6": lambda: keras.layers.ReLU(max_value=6.0),
        "LEAKY_RELU": lambda: keras.layers.LeakyReLU(negative_slope=0.2),
        "HARD_SWISH": lambda: keras.layers.Activation("hard_swish"),
        "LOGISTIC": lambda: keras.layers.Activation("sigmoid"),
        "TANH": lambda: keras.layers.Activation("tanh"),
    }[kind]()


@functools.lru_cache(maxsize=None)
def branch_model(kind: str, n: int = N_BRANCHES, scale: float = 1.0) -> bytes:
    """``n`` independent one-op branches (input -> activation -> output), converted once and reused by the
    tests that rewrite each branch's quantization: one generated library covers ``n`` configurations."""
    import keras
    import tensorflow as tf

    if kind == "RELU_N1_TO_1":
        return fn_tflite(lambda *xs: [tf.minimum(tf.maximum(x, -1.0), 1.0) for x in xs], (SHAPE,) * n, scale)
    inputs = [keras.Input(SHAPE, batch_size=1) for _ in range(n)]
    return int8_tflite(keras.Model(inputs, [_keras_layer(kind)(x) for x in inputs]), scale=scale)


# --- Keras models ---------------------------------------------------------------------------------------

def _layer(name: str):
    import keras

    return {
        "ReLU()": lambda: keras.layers.ReLU(),
        "Activation(relu)": lambda: keras.layers.Activation("relu"),
        "ReLU(max_value=6)": lambda: keras.layers.ReLU(max_value=6.0),
        "Activation(relu6)": lambda: keras.layers.Activation("relu6"),
        "LeakyReLU(0.1)": lambda: keras.layers.LeakyReLU(negative_slope=0.1),
        "LeakyReLU(0.2)": lambda: keras.layers.LeakyReLU(negative_slope=0.2),
        "LeakyReLU(0.3)": lambda: keras.layers.LeakyReLU(negative_slope=0.3),
        "hard_swish": lambda: keras.layers.Activation("hard_swish"),
        "sigmoid": lambda: keras.layers.Activation("sigmoid"),
        "tanh": lambda: keras.layers.Activation("tanh"),
    }[name]()


ALL_OPS = {"RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH"}


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_keras_activations(scale):
    """Every activation layer on the same (model input) tensor, calibrated with N(0, scale^2) data. The
    320-element tensor takes the kernels' table path (more than 256 elements); the rewritten-quantization
    tests below use 256 elements, the direct path."""
    import keras

    inp = keras.Input((16, 20), batch_size=1)
    names = ["ReLU()", "ReLU(max_value=6)", "LeakyReLU(0.1)", "LeakyReLU(0.2)", "LeakyReLU(0.3)", "hard_swish",
             "sigmoid", "tanh"]
    tfl = int8_tflite(keras.Model(inp, [_layer(n)(inp) for n in names]), scale=scale)
    check(tfl, ALL_OPS)


def test_keras_activations_shapes_and_ranges():
    """Other shapes (rank 1 to 4, sizes 1 to 300) and calibration ranges, one input per layer."""
    import keras

    cases = [("Activation(relu)", (256,), 3.0), ("Activation(relu6)", (4, 8, 8), 4.0),
             ("LeakyReLU(0.1)", (8, 32), 1.0), ("LeakyReLU(0.3)", (2, 2, 64), 0.5), ("hard_swish", (3, 5, 7), 3.0),
             ("sigmoid", (1,), 1.0), ("tanh", (300,), 0.3), ("ReLU()", (5, 1, 3), 1.0), ("sigmoid", (2, 3), 30.0),
             ("hard_swish", (17,), 0.2)]
    inputs = [keras.Input(shape, batch_size=1) for _, shape, _ in cases]
    model = keras.Model(inputs, [_layer(name)(x) for (name, _, _), x in zip(cases, inputs)])
    rng = np.random.default_rng(0)
    calib = [(rng.standard_normal((32, *shape)) * sc).astype(np.float32) for _, shape, sc in cases]
    check(int8_tflite(model, calib=calib), ALL_OPS)


def test_relu_on_a_shared_intermediate_stays_standalone():
    """ReLU6 read by two ops is not folded anywhere; each consumer sees its requantized output."""
    import keras

    inp = keras.Input(SHAPE, batch_size=1)
    r = keras.layers.ReLU(max_value=6.0)(inp)
    tfl = int8_tflite(keras.Model(inp, [keras.layers.Activation("sigmoid")(r), keras.layers.Activation("tanh")(r)]),
                      scale=4.0)
    check(tfl, {"RELU6", "LOGISTIC", "TANH"})


# --- rewritten quantization: the configurations where algorithms and roundings part ------------------

def test_relu_requantization():
    configs = [
        dict(inp=(0.02, -3), out=(0.08, -128)),      # ratio 1/4: exact ties (single rounding fails here)
        dict(inp=(0.05, 7), out=(0.05, 7)),          # identity requantization
        dict(inp=(0.1, 0), out=(0.003, -128)),       # multiplier > 1, saturating
        dict(inp=(0.01, 100), out=(0.03, -128)),     # most inputs negative
        dict(inp=(0.0123, -128), out=(0.0123, -128)),
        dict(inp=(0.06, 5), out=(0.03, 0)),          # output zero point 0 (negative outputs clamped)
        dict(inp=(0.5, 1), out=(0.25, -128)),        # multiplier 2
        dict(inp=(0.02, 50), out=(0.1, 127)),        # everything clamps to the top
    ]
    check(rewrite_model(branch_model("RELU"), configs), "RELU")


def test_relu6_requantization():
    """LiteRT requantizes; TFLM clamps the input to [zp, q(6)] and ignores the output quantization."""
    configs = [
        dict(inp=(0.1, 20), out=(6 / 255, -128)),    # converter-style output
        dict(inp=(0.01, -100), out=(0.04, -128)),    # 6.0 beyond the input range: no upper clamp in TFLM
        dict(inp=(0.06, 5), out=(0.03, 0)),          # output zero point 0, multiplier 2
        dict(inp=(0.02, -3), out=(0.08, -128)),      # exact ties
        dict(inp=(0.05, 0), out=(0.05, 0)),          # identity
        dict(inp=(0.2, -128), out=(0.01, -128)),     # q(6) = 30 steps in, above 127 out
        dict(inp=(0.047, 64), out=(0.047, 64)),      # six exactly representable-ish
        dict(inp=(0.3, 127), out=(0.0235, -128)),    # input zero point at the top
    ]
    check(rewrite_model(branch_model("RELU6"), configs), "RELU6")


def test_relu_n1_to_1():
    """RELU_N1_TO_1 (from min(max(x, -1), 1)) runs on LiteRT only; exact ties show its double rounding."""
    configs = [dict(inp=(0.02, 9), out=(0.08, 0)), dict(inp=(0.01, -20), out=(0.01, 0)),
               dict(inp=(0.03, 0), out=(0.015, 3)), dict(inp=(0.25, 100), out=(0.5, -1)),
               dict(inp=(0.004, -128), out=(1 / 128, 0)), dict(inp=(0.1, 50), out=(0.02, -60))]
    tfl = rewrite_model(branch_model("RELU_N1_TO_1"), configs)
    check(tfl, "RELU_N1_TO_1", roundings=("litert",))
    with pytest.raises(Unsupported, match="no RELU_N1_TO_1"):
        lower_op(tfl, "tflm")


def test_relu_n1_to_1_calibrated():
    check(branch_model("RELU_N1_TO_1", 1, 2.0), "RELU_N1_TO_1", roundings=("litert",))


def test_relu_0_to_1():
    """RELU_0_TO_1 (LiteRT only; the converter emits RELU + MINIMUM, so the op code is rewritten)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(bytearray(branch_model("RELU_N1_TO_1")), 0)
    for oc in m.operatorCodes:
        oc.builtinCode = schema.BuiltinOperator.RELU_0_TO_1
        oc.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    configs = [dict(inp=(0.02, 9), out=(0.08, 0)), dict(inp=(0.01, -20), out=(1 / 255, -128)),
               dict(inp=(0.005, 100), out=(0.002, -100)), dict(inp=(0.25, -1), out=(0.5, 0))]
    tfl = rewrite_model(bytes(b.Output()), configs)
    check(tfl, "RELU_0_TO_1", roundings=("litert",))
    with pytest.raises(Unsupported, match="no RELU_0_TO_1"):
        lower_op(tfl, "tflm")


def test_leaky_relu_negative_ties():
    """Alphas and scales whose multipliers are powers of two produce exact ties (single rounding fails)."""
    configs = [dict(inp=(0.02, 11), out=(0.02, -100), alpha=0.25), dict(inp=(0.04, -7), out=(0.01, -128), alpha=0.5),
               dict(inp=(0.5, 0), out=(0.125, 3), alpha=0.125), dict(inp=(0.02, 11), out=(0.02, -100), alpha=0.1),
               dict(inp=(0.04, -7), out=(0.01, -128), alpha=0.01), dict(inp=(0.5, 0), out=(0.125, 3), alpha=0.3),
               dict(inp=(0.02, 127), out=(0.01, 127), alpha=0.5), dict(inp=(0.1, -128), out=(0.3, 0), alpha=1.0)]
    configs = [dict(c, alpha=float(np.float32(c["alpha"]))) for c in configs]
    check(rewrite_model(branch_model("LEAKY_RELU"), configs), "LEAKY_RELU")


def test_leaky_relu_negative_alpha_is_unsupported():
    tfl = rewrite_model(branch_model("LEAKY_RELU"), [dict(alpha=-0.5)])
    with pytest.raises(Unsupported, match="negative alpha"):
        lower_op(tfl, "litert")


def test_hard_swish_scales():
    configs = [dict(inp=(0.02, -30), out=(0.01, -100)), dict(inp=(0.1, 10), out=(0.05, -90)),
               dict(inp=(0.004, 0), out=(0.003, -110)), dict(inp=(0.3, -128), out=(0.3, -128)),
               dict(inp=(0.05, 60), out=(0.8, -125)), dict(inp=(1.5, 0), out=(0.04, -128)),
               dict(inp=(0.0005, 3), out=(0.0002, -5)), dict(inp=(0.2, 127), out=(0.011, 127))]
    check(rewrite_model(branch_model("HARD_SWISH"), configs), "HARD_SWISH")


def test_hard_swish_far_apart_scales():
    """Untrained networks (vanishing activations) give output or relu-ish exponents below -15, where
    gemmlowp's int16 RoundingDivideByPOT truncates its mask: edgeq follows the references there instead
    of refusing (exponents -17 .. -25 for the output, -10 .. -22 for the relu-ish factor)."""
    from edgeq.passes.lower.int8.activations import hard_swish_params

    configs = [dict(inp=(1e-5, 0), out=(0.02, -128)), dict(inp=(1e-7, 5), out=(0.01, -100)),
               dict(inp=(2e-9, -20), out=(0.001, 3)), dict(inp=(1e-3, 0), out=(50.0, 0))]
    exps = [hard_swish_params(float(np.float32(c["inp"][0])), float(np.float32(c["out"][0]))) for c in configs]
    assert min(e for _, e, _, _ in exps) < -20 and min(e for _, _, _, e in exps) < -15  # the quirk is exercised
    check(rewrite_model(branch_model("HARD_SWISH"), configs), "HARD_SWISH")


# Input quantizations (found by scanning) where LiteRT's table and TFLM's fixed point disagree, plus
# extremes: a radius of 0 (TFLM saturates everything), tiny scales, zero points at the ends.
_LOGISTIC_INPUTS = [(2.036531448364258, -78), (4.294044017791748, 19), (4.4184489250183105, -63),
                    (5.495469093322754, 36), (12.731157302856445, -65), (0.001, 0), (0.2, -128), (0.05, 127)]
# The last two tanh inputs put a table entry on a rounding tie that numpy's float32 tanh misses by one
# ulp: they check that the table is built with the C library's tanhf, as LiteRT does.
_TANH_INPUTS = [(11.145805358886719, 48), (9.516395568847656, 18), (3.0, 0), (0.001, 5), (0.07, 127),
                (0.02, -128), (0.5, -3), (1.25, 60), (0.0059479521587491035, 36), (0.050246190279722214, -23)]


def test_logistic_input_scales():
    check(rewrite_model(branch_model("LOGISTIC"), [dict(inp=q) for q in _LOGISTIC_INPUTS]), "LOGISTIC")


def test_tanh_input_scales():
    check(rewrite_model(branch_model("TANH"), [dict(inp=q) for q in _TANH_INPUTS]), "TANH")


def test_logistic_and_tanh_references_really_differ_there():
    """Guard for the two tests above: the references disagree on them, so both modes are exercised."""
    from edgeq.quality.references import TFLM, LiteRT

    for kind, qs in (("LOGISTIC", _LOGISTIC_INPUTS), ("TANH", _TANH_INPUTS)):
        tfl = rewrite_model(branch_model(kind), [dict(inp=q) for q in qs])
        x = exhaustive_inputs(tfl)[0]
        ours, theirs = LiteRT(tfl).run(x), TFLM(tfl).run(x)
        assert sum(not np.array_equal(a, b) for a, b in zip(ours, theirs)) >= 2
        assert lower_op(tfl, "litert").kernel == "edgeq_lut_s8"
        assert lower_op(tfl, "tflm").kernel == f"edgeq_{kind.lower()}_fixed_s8"


def test_tanh_with_other_output_quantization():
    """LiteRT's table uses the output's scale and zero point; TFLM's fixed point assumes 1/128 and 0."""
    configs = [dict(inp=(0.05, 3), out=(1 / 64, 10)), dict(inp=(0.02, -7), out=(1 / 256, -128))]
    check(rewrite_model(branch_model("TANH"), configs), "TANH")


def _random_configs(kind: str, seed: int) -> list[dict]:
    """N_BRANCHES random quantizations: log-uniform scales, uniform zero points (and alpha for LEAKY_RELU);
    the outputs of LOGISTIC and TANH keep the converter's fixed quantization."""
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(N_BRANCHES):
        in_s = float(10 ** rng.uniform(-3, 1))
        cfg = dict(inp=(in_s, int(rng.integers(-128, 128))))
        if kind in ("RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH"):
            out_s = in_s * float(10 ** rng.uniform(-1, 1 if kind != "HARD_SWISH" else 0.5))
            cfg["out"] = (out_s, int(rng.integers(-128, 128)))
        if kind == "LEAKY_RELU":
            cfg["alpha"] = float(np.float32(rng.uniform(0, 1)))
        configs.append(cfg)
    return configs


@pytest.mark.parametrize("kind", ["RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH"])
def test_random_quantization(kind):
    check(rewrite_model(branch_model(kind), _random_configs(kind, seed=sum(map(ord, kind)))), kind)


def test_unsupported_configurations():
    tfl = rewrite_model(branch_model("LOGISTIC"), [dict(out=(1 / 128, -128)), dict(out=(1 / 256, 0))])
    with pytest.raises(Unsupported, match="1/256"):
        lower_op(tfl, "litert", 0)
    with pytest.raises(Unsupported, match="-128"):
        lower_op(tfl, "tflm", 1)
    tfl = rewrite_model(branch_model("HARD_SWISH"), [dict(inp=(1.0, 0), out=(0.001, 0))])
    with pytest.raises(Unsupported, match=">= 1"):
        lower_op(tfl, "litert")
