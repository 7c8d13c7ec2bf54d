"""ADD, SUB and MUL (int8) with broadcasting: bit-exact against LiteRT's reference kernels and TFLM.

What was measured (see edgeq/passes/lower/int8/elementwise.py):
* LiteRT 2.3 BUILTIN_REF uses *double* rounding (gemmlowp SRDHM + rounding shift) for ADD, SUB and MUL,
  like TFLM. ``test_all_input_pairs`` feeds all 65536 input pairs through each op (scales patched so
  that many outputs sit near rounding ties) and checks that single rounding would fail.
* MUL's multiplier ``s1 * s2 / s_out`` is computed in float32 by LiteRT and in double by TFLM;
  ``test_mul_multiplier_precision_all_pairs`` shows that swapping the two fails both references.
* ADD/SUB multipliers are computed in double by both (the installed TFLM too, for SUB: its newest
  sources compute SUB's in float32, which mismatched the installed build).

Multi-input models are converted here with a representative dataset keyed by input name: the
converter orders the .tflite inputs differently from ``model.inputs`` (the harness's positional
calibration would feed one input's data to another).
"""

from __future__ import annotations

import struct
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import assert_bit_exact, compare
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import Graph, Op, Quant, Tensor
from edgeq.passes.lower import registry, unsupported_ops
from edgeq.passes.lower.registry import LowerCtx, lowering_for

MLPERF = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "mlperf-tiny"
KINDS = {"add": "ADD", "sub": "SUB", "mul": "MUL"}
LAYERS = {"add": keras.layers.Add, "sub": keras.layers.Subtract, "mul": keras.layers.Multiply}


# --- helpers ---------------------------------------------------------------------------------------

def _binary():
    """The lowering module, imported only after the registry loaded every op module: lower.registry()
    loads them only while it is empty, so importing one op module first would hide all the others."""
    registry()
    from edgeq.passes.lower.int8 import elementwise as binary

    return binary


def convert(model, calib: list[np.ndarray]) -> bytes:
    """Full-int8 conversion with calibration samples matched to inputs by name."""
    import tensorflow as tf

    names = [t.name for t in model.inputs]

    def rep():
        for i in range(len(calib[0])):
            yield {n: c[i : i + 1].astype(np.float32) for n, c in zip(names, calib)}

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def inputs(*shapes, names=None):
    names = names or [f"in{i}" for i in range(len(shapes))]
    return [keras.Input(s, batch_size=1, name=n) for s, n in zip(shapes, names)]


def calib_for(model, seed: int, scales=None, offsets=None, n: int = 24) -> list[np.ndarray]:
    """Per-input normal samples with different spreads/offsets, so input scales and zero points differ."""
    rng = np.random.default_rng(seed)
    out = []
    for i, t in enumerate(model.inputs):
        s = scales[i] if scales else rng.uniform(0.2, 4.0)
        o = offsets[i] if offsets else rng.uniform(-1.0, 1.0)
        out.append((rng.standard_normal((n, *t.shape[1:])) * s + o).astype(np.float32))
    return out


def check(model, expect, seed=0, roundings=("litert", "tflm"), n=8, **kw) -> bytes:
    tfl = convert(model, calib_for(model, seed, **kw))
    return assert_bit_exact(None, model_bytes=tfl, expect_ops=expect, roundings=roundings, n=n)


def binary_model(op: str, s1, s2, act=None):
    a, b = inputs(s1, s2)
    y = LAYERS[op]()([a, b])
    if act == "relu":
        y = keras.layers.ReLU()(y)
    elif act == "relu6":
        y = keras.layers.ReLU(max_value=6.0)(y)
    elif act == "n1to1":
        y = keras.ops.clip(y, -1.0, 1.0)
    return keras.Model([a, b], y)


def ops_of(tfl: bytes):
    g = read_tflite(tfl)
    return g, [op for op in g.ops if op.kind in KINDS.values()]


# --- same shapes (fast path) -----------------------------------------------------------------------

@pytest.mark.parametrize("op,shape,seed", [
    ("add", (8, 8, 16), 0), ("sub", (8, 8, 16), 1), ("mul", (8, 8, 16), 2),
    ("mul", (7,), 3), ("sub", (2, 3, 4, 5), 5), ("add", (1, 1, 1), 6),
])
def test_same_shape(op, shape, seed):
    check(binary_model(op, shape, shape), {KINDS[op]}, seed)


@pytest.mark.parametrize("op,act", [
    ("add", "relu"), ("add", "relu6"), ("sub", "n1to1"), ("mul", "relu6"), ("mul", "n1to1"),
])
def test_fused_activation(op, act):
    tfl = check(binary_model(op, (6, 6, 5), (6, 6, 5), act), {KINDS[op]}, seed=11, scales=[0.6, 0.9])
    want = {"relu": "RELU", "relu6": "RELU6", "n1to1": "RELU_N1_TO_1"}[act]
    _, ops = ops_of(tfl)
    assert ops[0].attrs["fused_activation_function"] == want


# --- broadcasting ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op,s1,s2,seed", [
    ("add", (8, 8, 16), (1, 1, 16), 0),   # per-channel operand
    ("mul", (8, 8, 16), (8, 8, 1), 1),    # per-pixel operand
    ("sub", (1, 1, 16), (8, 8, 1), 2),    # both broadcast
    ("add", (8, 1, 6), (1, 5, 1), 3),     # alternating
    ("mul", (1, 7, 1), (3, 7, 2), 4),     # first operand broadcast
    ("sub", (5, 4, 3), (1, 1, 1), 5),     # single element
])
def test_broadcast_two_inputs(op, s1, s2, seed):
    check(binary_model(op, s1, s2), {KINDS[op]}, seed=seed)


@pytest.mark.parametrize("op,s1,s2", [
    ("mul", (2, 3, 4, 5), (2, 1, 4, 1)),         # 5-D
    ("add", (2, 1, 3, 2, 2), (1, 2, 3, 1, 2)),   # 6-D, LiteRT's broadcast limit
])
def test_broadcast_high_rank(op, s1, s2):
    tfl = check(binary_model(op, s1, s2), {KINDS[op]}, seed=3)
    g, (bop,) = ops_of(tfl)
    assert [g.tensor(t).shape for t in bop.inputs] == [(1, *s1), (1, *s2)]


@pytest.mark.parametrize("kind", ["scalar_mul", "scalar_rsub", "channel_add", "ops_multiply"])
def test_constant_operand(kind):
    (x,) = inputs((6, 6, 16))
    c = np.linspace(-1.5, 2.0, 16).astype(np.float32)
    y = {
        "scalar_mul": lambda: x * 0.5,
        "scalar_rsub": lambda: 1.5 - x,
        "channel_add": lambda: x + c,
        "ops_multiply": lambda: keras.ops.multiply(x, c),
    }[kind]()
    expect = {"scalar_mul": "MUL", "scalar_rsub": "SUB", "channel_add": "ADD", "ops_multiply": "MUL"}[kind]
    tfl = check(keras.Model(x, y), {expect}, seed=7)
    g, ops = ops_of(tfl)
    assert any(g.tensor(t).is_const for t in ops[0].inputs), "expected a constant operand"


def test_batchnorm_on_input():
    (x,) = inputs((5, 5, 12))
    bn = keras.layers.BatchNormalization()
    m = keras.Model(x, bn(x))
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, 12), rng.uniform(-1, 1, 12), rng.uniform(-1, 1, 12),
                    rng.uniform(0.5, 2, 12)])
    check(m, {"MUL", "ADD"}, seed=2)


# --- models ----------------------------------------------------------------------------------------

def test_add_three_inputs():
    a, b, c = inputs((4, 4, 8), (4, 4, 8), (4, 4, 8))
    tfl = check(keras.Model([a, b, c], keras.layers.Add()([a, b, c])), {"ADD"}, seed=9)
    assert len(ops_of(tfl)[1]) == 2


def test_residual_block():
    """Dense -> ReLU -> Dense, plus the skip connection, then ReLU (ADD with fused RELU)."""
    (x,) = inputs((6, 24))
    h = keras.layers.Dense(24, activation="relu")(x)
    h = keras.layers.Dense(24)(h)
    y = keras.layers.ReLU()(keras.layers.Add()([x, h]))
    tfl = check(keras.Model(x, y), {"ADD", "FULLY_CONNECTED"}, seed=4)
    assert ops_of(tfl)[1][0].attrs["fused_activation_function"] == "RELU"


def test_mul_add_chain_shared_input():
    """x*x + x: the same tensor on both sides of a MUL, then reused by an ADD."""
    (x,) = inputs((3, 3, 7))
    y = keras.layers.Add()([keras.layers.Multiply()([x, x]), x])
    check(keras.Model(x, y), {"MUL", "ADD"}, seed=5)


def test_resnet8_model():
    """The MLPerf Tiny ResNet-8 (ADD with fused RELU) once every op in it has a kernel."""
    path = MLPERF / "resnet8_int8.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present")
    tfl = path.read_bytes()
    g = read_tflite(tfl)
    adds = [op for op in g.ops if op.kind == "ADD"]
    assert adds and {op.attrs["fused_activation_function"] for op in adds} == {"RELU"}
    bad = unsupported_ops(g)
    assert not [b for b in bad if b[1] in KINDS.values()], bad
    if bad:
        pytest.skip(f"other ops not lowered yet: {sorted({b[1] for b in bad})}")
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"ADD"}, n=3)


# --- all 65536 input pairs, through a [256,1,2] op [1,256,2] broadcast ------------------------------
# (The converter miscompiles [256,1,1] + [1,256,1] into a 256-element BiasAdd-like ADD and crashes on
# [256,1] + [1,256]; a full last dimension on both sides avoids its bias pattern.)

def all_pairs_model(op: str, free: bool = False) -> bytes:
    """``free``: with an unrelated 192 KB input pooled to a second output, so that the op (128 KB of output) runs
    with bytes free in the arena (the run-time tables)."""
    a, b = inputs((256, 1, 2), (1, 256, 2))
    y = {"add": keras.ops.add, "sub": keras.ops.subtract, "mul": keras.ops.multiply}[op](a, b)
    m = keras.Model([a, b], y)
    rng = np.random.default_rng(0)
    if op == "mul":  # non-negative data: every zero point -128, products up to 255 * 255
        calib = [rng.uniform(0, 2, (16, 256, 1, 2)), rng.uniform(0, 3, (16, 1, 256, 2))]
    else:
        calib = [rng.standard_normal((8, 256, 1, 2)) + 0.5, rng.standard_normal((8, 1, 256, 2)) * 2.5 - 1]
    if free:
        big = keras.Input((128, 128, 12), batch_size=1, name="big")
        m = keras.Model([a, b, big], [y, keras.layers.MaxPooling2D(16)(big)])
        calib.append(rng.standard_normal((len(calib[0]), 128, 128, 12)))
    tfl = convert(m, calib)
    g, (bop,) = ops_of(tfl)
    assert bop.kind == KINDS[op] and g.tensor(bop.outputs[0]).numel == 256 * 256 * 2
    return tfl


def all_pairs(tfl: bytes) -> list[list[np.ndarray]]:
    """One sample: each input counts -128..127 along its 256-long dimension."""
    g = read_tflite(tfl)
    xs = []
    for t in g.inputs:
        shape = g.tensor(t).shape
        if 256 not in shape:  # all_pairs_model's unrelated input
            xs.append(np.zeros(shape, np.int8))
            continue
        axis = shape.index(256)
        ramp = np.arange(-128, 128, dtype=np.int8).reshape([256 if i == axis else 1 for i in range(len(shape))])
        xs.append(np.ascontiguousarray(np.broadcast_to(ramp, shape)))
    return [xs]


def mismatches(tfl: bytes, rounding: str) -> int:
    cmp = compare(tfl, all_pairs(tfl), rounding)
    return cmp.mismatched_bytes


def patch_scales(tfl: bytes, op_kind: str, new: tuple[float, float, float]) -> bytes:
    """Overwrite the float32 scales of the op's (input1, input2, output) in the flatbuffer."""
    g = read_tflite(tfl)
    (bop,) = [o for o in g.ops if o.kind == op_kind]
    for tid, s in zip((*bop.inputs, bop.outputs[0]), new):
        ob, nb = struct.pack("<f", g.tensor(tid).quant.scale[0]), struct.pack("<f", s)
        assert tfl.count(ob) == 1, f"scale of tensor {tid} occurs {tfl.count(ob)} times"
        tfl = tfl.replace(ob, nb)
    g = read_tflite(tfl)
    assert tuple(g.tensor(t).quant.scale[0] for t in (*bop.inputs, bop.outputs[0])) == tuple(
        float(np.float32(s)) for s in new)
    return tfl


# input2 ~ 3 * input1 and output ~ input1 + input2: many outputs land near a rounding tie, where
# single and double rounding disagree (about 8000 of the 65536 pairs).
TIE_SCALES = (0.03980916738510132, 0.11942750215530396, 0.15923666954040527)


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_all_input_pairs(op, monkeypatch):
    tfl = all_pairs_model(op)
    if op != "mul":
        tfl = patch_scales(tfl, KINDS[op], TIE_SCALES)
    assert mismatches(tfl, "litert") == 0
    assert mismatches(tfl, "tflm") == 0
    # What was measured: LiteRT's reference rounds twice (like TFLM); single rounding is wrong here.
    monkeypatch.setitem(_binary().LITERT_SINGLE_ROUNDING, KINDS[op], True)
    assert mismatches(tfl, "litert") > 0


@pytest.mark.parametrize("op", ["add", "sub"])
def test_all_input_pairs_table_and_generic_paths(op, monkeypatch):
    """int8 ADD/SUB take the table path (elementwise.h) on the all-pairs model, bit-exact in both roundings;
    the generic per-element path, kept for where the table path would not be exact, is exact too."""
    binary = _binary()
    tfl = patch_scales(all_pairs_model(op), KINDS[op], TIE_SCALES)
    g, (bop,) = ops_of(tfl)
    fields = dict(lowering_for(g, bop)(g, bop, LowerCtx()).fields)
    assert fields["table1"] is not None and fields["table2"] is not None and fields["out_e"] >= 1
    assert fields["table1"].values.shape == (256,) and fields["table1"].ctype == "int32_t"
    monkeypatch.setattr(binary, "add_table_fields", lambda op, quant, offset, rounding: (
        ("table1", None), ("table2", None), ("out_rb", 0), ("out_e", 0)))
    assert dict(lowering_for(g, bop)(g, bop, LowerCtx()).fields)["table1"] is None
    assert mismatches(tfl, "litert") == 0
    assert mismatches(tfl, "tflm") == 0


@pytest.mark.parametrize("op", ["add", "sub"])
def test_all_input_pairs_run_time_tables(op):
    """The tables built at run time (edgeq_add_s8_table_rt) on all 65536 input pairs, scales near rounding ties:
    bit-exact in both roundings."""
    tfl = patch_scales(all_pairs_model(op, free=True), KINDS[op], TIE_SCALES)
    assert kernels_of(tfl) == [("edgeq_add_s8_table_nd_rt", 2, 2048)]
    assert mismatches(tfl, "litert") == 0
    assert mismatches(tfl, "tflm") == 0


def test_mul_all_input_pairs_fast_and_generic_paths(monkeypatch):
    """int8 MUL takes the SMMULR path (elementwise.h) on the all-pairs model, bit-exact in both roundings; the
    generic per-element requantization, kept for where it would not be exact, is exact too."""
    binary = _binary()
    tfl = all_pairs_model("mul")
    g, (bop,) = ops_of(tfl)
    fields = dict(lowering_for(g, bop)(g, bop, LowerCtx()).fields)
    assert fields["fast"] == 1 and fields["fast_shift"] == 1 and fields["out_e"] >= 1
    monkeypatch.setattr(binary, "mul_fast_fields", lambda quant, offset, rounding: (
        ("fast", 0), ("fast_shift", 0), ("out_rb", 0), ("out_e", 0)))
    assert dict(lowering_for(g, bop)(g, bop, LowerCtx()).fields)["fast"] == 0
    assert mismatches(tfl, "litert") == 0
    assert mismatches(tfl, "tflm") == 0


# --- the tables built at run time in free arena bytes (edgeq_add_s8_table_rt) ----------------------------
# A large input reduced by a MAX_POOL_2D scheduled before the op (a second model output) is the arena's peak, so
# the op runs with bytes free for its scratch tables.

def with_free_bytes(binary, pool: int = 8):
    """``binary`` (a Keras model of the op) plus an unrelated input of 32x32x8 = 8 KB pooled to a second output."""
    big = keras.Input((32, 32, 8), batch_size=1, name="big")
    return keras.Model([*binary.inputs, big], [binary.outputs[0], keras.layers.MaxPooling2D(pool)(big)])


def kernels_of(tfl: bytes, kinds=("ADD", "SUB")) -> list[tuple[str, int, int]]:
    """(kernel, rt_tables, scratch bytes) of each ADD/SUB as the pipeline lowers and plans ``tfl``."""
    from edgeq.passes.pipeline import lower_tflite

    return [(op.lowered.kernel, dict(op.lowered.fields)["rt_tables"], op.lowered.scratch_bytes)
            for op in lower_tflite(tfl).ops if op.kind in kinds]


RT, RT_ND = "edgeq_add_s8_table_rt", "edgeq_add_s8_table_nd_rt"  # one row or rows of a vector; the walk


@pytest.fixture
def small_ops_too(monkeypatch):
    """Run-time tables for ops of any size (the lowering offers them only to ops large enough for the fill)."""
    monkeypatch.setattr(_binary(), "RT_ELEMENTS_PER_RESCALE", 0)


@pytest.mark.parametrize("op,s1,s2,act,seed,kernel", [
    ("add", (8, 8, 16), (8, 8, 16), None, 0, RT),
    ("sub", (8, 8, 16), (8, 8, 16), "relu", 1, RT),
    ("add", (6, 6, 5), (6, 6, 5), "relu6", 2, RT),
    ("sub", (7,), (7,), "n1to1", 3, RT),
    ("add", (8, 8, 16), (1, 1, 16), "relu", 4, RT),  # a channel vector: rows of a broadcast operand
    ("sub", (1, 1, 16), (8, 8, 16), None, 5, RT),    # the first operand broadcast
    ("sub", (8, 8, 1), (1, 1, 16), "relu", 6, RT),   # both broadcast
    ("add", (8, 1, 6), (1, 5, 1), None, 7, RT_ND),   # alternating
    ("sub", (5, 4, 3), (1, 1, 1), None, 8, RT),      # single element
    ("add", (2, 1, 3, 2, 2), (1, 2, 3, 1, 2), None, 9, RT_ND),  # 6-D
    ("sub", (4, 1, 6), (4, 5, 1), "relu6", 10, RT_ND),
])
def test_run_time_tables(op, s1, s2, act, seed, kernel, small_ops_too):
    """With bytes free in the arena, ADD/SUB build their tables in scratch at each call: bit-exact with LiteRT and
    TFLM over shapes, broadcasts, activations and (random calibration) quantizations."""
    m = with_free_bytes(binary_model(op, s1, s2, act))
    tfl = convert(m, calib_for(m, seed))
    assert kernels_of(tfl) == [(kernel, 2, 2048)]
    assert_bit_exact(None, model_bytes=tfl, expect_ops={KINDS[op]}, n=6)


def test_run_time_table_shared_by_both_inputs(small_ops_too):
    """ADD of two inputs with one quantization: one run-time table for both (1 KB of scratch); SUB keeps two."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((24, 6, 6, 12)) * 2.0 + 0.5
    big = rng.standard_normal((24, 32, 32, 8))
    for op, want in (("add", [("edgeq_add_s8_table_rt", 1, 1024)]), ("sub", [("edgeq_add_s8_table_rt", 2, 2048)])):
        m = with_free_bytes(binary_model(op, (6, 6, 12), (6, 6, 12), "relu"))
        tfl = convert(m, [x, x[::-1], big])  # the same samples in another order: the same range
        g, (bop,) = ops_of(tfl)
        assert g.tensor(bop.inputs[0]).quant == g.tensor(bop.inputs[1]).quant
        assert kernels_of(tfl) == want
        assert_bit_exact(None, model_bytes=tfl, n=6)


@pytest.mark.parametrize("shape,free,rt", [
    ((16, 16, 16), False, False),  # the op alone is the arena's peak: no free bytes
    ((16, 16, 16), True, True),    # 4096 elements: 8 per rescale of the two tables' fill
    ((16, 16, 15), True, False),   # fewer: too small for the fill (RT_ELEMENTS_PER_RESCALE), not offered
])
def test_flash_tables_unless_free_bytes_and_a_large_op(shape, free, rt):
    """Without bytes free during the op its tables stay in flash and the arena is what the planner made; with them
    the tables move to scratch and the arena stays the same; an op too small for the fill is not offered them."""
    from edgeq.passes.pipeline import lower_tflite, pipeline

    def planned(tfl):
        g = read_tflite(tfl)
        for name, fn in pipeline(LowerCtx()):
            if name != "upgrade-scratch":
                g = fn(g)
        return g

    model = binary_model("add", shape, shape, "relu")
    if free:
        big = keras.Input((64, 64, 16), batch_size=1, name="big")
        model = keras.Model([*model.inputs, big], [model.outputs[0], keras.layers.MaxPooling2D(8)(big)])
    tfl = convert(model, calib_for(model, 1))
    g = lower_tflite(tfl)
    (op,) = [op for op in g.ops if op.kind == "ADD"]
    fields, low = dict(op.lowered.fields), op.lowered
    assert g.plan.size == planned(tfl).plan.size  # never grown
    assert len(low.scratch_options) == (0 if free and not rt else 2)  # offered, or too small
    if rt:
        assert (low.kernel, low.scratch_bytes, fields["rt_tables"], fields["table1"]) == (RT, 2048, 2, None)
        assert g.plan.scratch[op.id] % 4 == 0
    else:
        assert (low.kernel, low.scratch_bytes, fields["rt_tables"]) == ("edgeq_add_s8_table", 0, 0)
        assert fields["table1"].values.shape == (256,) and op.id not in g.plan.scratch


def smmulr_rescale(x: int, left_shift: int, m: int, shift: int) -> int:
    """add_scale of elementwise.c in double rounding, in Python integers: SMMULR, then add_table_raw's shift."""
    e = -shift if shift < 0 else 1
    t = x * (1 << (left_shift + 1 + (shift == 0)))
    assert -(1 << 31) <= t < (1 << 31)
    u = (t * m + (1 << 31)) >> 32
    return (u + (-1 if u < 0 else 0) + (1 << (e - 1))) >> e


def test_input_rescale_as_smmulr_is_the_reference():
    """The kernel's input rescale (add_scale: SMMULR and a rounding shift) equals the reference's
    MultiplyByQuantizedMultiplierSmallerThanOneExp((v + offset) << 20) for every v + offset in [-255, 255], over
    multipliers of every shift the ADD Prepare can give (an input multiplier at most one half)."""
    from edgeq.passes.lower.quantmath import mul_by_qm_double, quantize_multiplier_smaller_than_one_exp

    rng = np.random.default_rng(0)
    reals = [0.5, 0.5 - 1e-12, 0.25, 2.0 ** -31, 1e-12] + list(2.0 ** rng.uniform(-32, -1, 300))
    xs = range(-255, 256)
    for real in reals:
        m, shift = quantize_multiplier_smaller_than_one_exp(real)
        got = [smmulr_rescale(x, 20, m, shift) for x in xs]
        assert got == [mul_by_qm_double(x << 20, m, shift) for x in xs], (real, m, shift)


def test_table_path_refused_where_inexact():
    """An output multiplier of one half or more (e = 0) has no rounding shift to fold the offset into."""
    binary = _binary()
    quant = (("input1_offset", 0), ("input2_offset", 0), ("left_shift", 20), ("input1_multiplier", 1 << 30),
             ("input1_shift", 0), ("input2_multiplier", 1 << 30), ("input2_shift", 0),
             ("output_multiplier", 1 << 30), ("output_shift", 0))
    op = Op(id=0, kind="ADD", inputs=(0, 1), outputs=(2,))
    assert dict(binary.add_table_fields(op, quant, 0, 0))["table1"] is None
    quant = quant[:-1] + (("output_shift", -19),)
    assert dict(binary.add_table_fields(op, quant, 0, 0))["table1"] is not None
    assert dict(binary.add_table_fields(op, quant, 0, 1))["table1"] is None  # single rounding: not this path


def test_mul_multiplier_precision_all_pairs(monkeypatch):
    """LiteRT computes MUL's real multiplier in float32, TFLM in double; these scales make the two
    quantized multipliers differ enough to change a few of the 65536 outputs."""
    binary = _binary()
    tfl = patch_scales(all_pairs_model("mul"), "MUL", (0.0797460749745369, 0.030498510226607323,
                                                       0.06914360076189041))
    assert mismatches(tfl, "litert") == 0
    assert mismatches(tfl, "tflm") == 0
    real = binary.mul_multiplier
    monkeypatch.setattr(binary, "mul_multiplier",
                        lambda s1, s2, so, float32_math: real(s1, s2, so, not float32_math))
    assert mismatches(tfl, "litert") > 0
    assert mismatches(tfl, "tflm") > 0


# --- property: random broadcastable shapes ---------------------------------------------------------

@st.composite
def broadcast_case(draw):
    rank = draw(st.integers(1, 3))
    out = [draw(st.integers(1, 6)) for _ in range(rank)]
    s1 = [d if draw(st.booleans()) else 1 for d in out]
    s2 = [d if draw(st.booleans()) else 1 for d in out]
    s2 = s2[draw(st.integers(0, rank - 1)):] if rank > 1 and draw(st.booleans()) else s2  # lower rank
    op = draw(st.sampled_from(["add", "sub", "mul"]))
    act = draw(st.sampled_from([None, "relu", "relu6"]))
    return op, tuple(s1), tuple(s2) or (1,), act, draw(st.integers(0, 10_000))


@settings(max_examples=4, deadline=None, derandomize=True)
@given(broadcast_case())
def test_broadcast_property(case):
    op, s1, s2, act, seed = case
    a, b = inputs(s1, s2)
    # keras.ops broadcast any ranks (the Merge layers want equal ranks)
    y = {"add": keras.ops.add, "sub": keras.ops.subtract, "mul": keras.ops.multiply}[op](a, b)
    if act:
        y = keras.layers.ReLU(max_value=6.0 if act == "relu6" else None)(y)
    m = keras.Model([a, b], y)
    tfl = convert(m, calib_for(m, seed))
    g, ops = ops_of(tfl)
    if not ops:  # e.g. both operands a single element folded into something else
        pytest.skip("converter produced no binary op")
    assert_bit_exact(None, model_bytes=tfl, n=6)


# --- broadcast plan (pure Python) ------------------------------------------------------------------

def _walk(shape, st1, st2):
    """What the C kernel does: element offsets of both inputs, in output order."""
    o1, o2 = [], []
    for idx in np.ndindex(*shape):
        o1.append(sum(i * s for i, s in zip(idx, st1)))
        o2.append(sum(i * s for i, s in zip(idx, st2)))
    return np.array(o1), np.array(o2)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=6), st.data())
def test_broadcast_loops_matches_numpy(out, data):
    s1 = [d if data.draw(st.booleans()) else 1 for d in out]
    s2 = [d if data.draw(st.booleans()) else 1 for d in out]
    s1 = s1[data.draw(st.integers(0, len(s1))):]
    out = [max(a, b) for a, b in zip([1] * (len(out) - len(s1)) + s1, s2)]
    shape, st1, st2 = _binary().broadcast_loops(s1, s2, out)
    assert int(np.prod(shape)) == int(np.prod(out, dtype=np.int64))
    assert st1[-1] in (0, 1) and st2[-1] in (0, 1)
    want1 = np.broadcast_to(np.arange(int(np.prod(s1, dtype=np.int64))).reshape(s1), out).reshape(-1)
    want2 = np.broadcast_to(np.arange(int(np.prod(s2, dtype=np.int64))).reshape(s2), out).reshape(-1)
    o1, o2 = _walk(shape, st1, st2)
    np.testing.assert_array_equal(o1, want1)
    np.testing.assert_array_equal(o2, want2)


def test_broadcast_loops_collapses():
    broadcast_loops = _binary().broadcast_loops
    assert broadcast_loops((1, 8, 8, 16), (1, 8, 8, 16), (1, 8, 8, 16)) == ([1024], [1], [1])
    assert broadcast_loops((1, 8, 8, 16), (16,), (1, 8, 8, 16)) == ([64, 16], [16, 1], [0, 1])
    assert broadcast_loops((1, 8, 8, 16), (1, 8, 8, 1), (1, 8, 8, 16)) == ([64, 16], [16, 1], [1, 0])
    assert broadcast_loops((), (1, 4), (1, 4)) == ([4], [0], [1])
    assert broadcast_loops((1,), (), (1,)) == ([1], [0], [0])


# --- unsupported configurations are reported, not miscompiled --------------------------------------

def _graph(kind, s=(0.1, 0.1, 0.1), act="NONE", dtype="int8", shapes=((4,), (4,), (4,))):
    ts = tuple(Tensor(i, f"t{i}", shp, dtype, Quant((sc,), (0,))) for i, (sc, shp) in enumerate(zip(s, shapes)))
    op = Op(0, kind, (0, 1), (2,), {"fused_activation_function": act}, location="t2")
    return Graph(ts, (op,), (0, 1), (2,))


@pytest.mark.parametrize("kind", ["ADD", "SUB", "MUL"])
def test_unsupported_reported(kind):
    assert unsupported_ops(_graph(kind)) == []
    for g, why in [
        (_graph(kind, dtype="uint8"), "uint8"),  # (int16 ADD/MUL: edgeq/passes/lower/int16/elementwise.py)
        (_graph(kind, act="TANH"), "TANH"),
        (_graph(kind, shapes=((4,), (3,), (4,))), "broadcast"),
    ]:
        for r in ("litert", "tflm"):
            bad = unsupported_ops(g, LowerCtx(rounding=r))
            assert len(bad) == 1 and why in bad[0][2], bad
    if kind != "MUL":  # 2 * max(input scale) / (2^20 * output scale) >= 1
        bad = unsupported_ops(_graph(kind, s=(1.0, 1.0, 1e-7)))
        assert len(bad) == 1 and "too small" in bad[0][2], bad
