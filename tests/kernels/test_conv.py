"""CONV_2D (int8, per-channel and per-tensor weights) against LiteRT's reference kernels and TFLM.

Measured: LiteRT 2.3's reference ConvPerChannel requantizes with *double* rounding (gemmlowp
SaturatingRoundingDoublingHighMul + RoundingDivideByPOT), like TFLM — unlike its FULLY_CONNECTED,
which rounds once. ``test_litert_conv_rounds_twice`` pins that down.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from harness import assert_bit_exact, compare, int8_tflite, random_inputs
from edgeq.codegen.emit import generate
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.pipeline import compile_graph
from edgeq.passes.lower import registry
from edgeq.passes.lower.registry import LowerCtx, Unsupported
from edgeq.targets.host import HostModel
from edgeq.quality.references import LiteRT

MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf-tiny"


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)  # deterministic weights: reruns hit the compile cache


def conv_model(shape, layer, batch=1):
    inp = keras.Input(shape, batch_size=batch)
    return keras.Model(inp, layer(inp))


def positive_calib(shape, hi=6.0, n=32):
    """Non-negative calibration data: the input zero point becomes -128 (input_offset 128)."""
    return np.random.default_rng(3).uniform(0.0, hi, (n, *shape)).astype(np.float32)


# --- Conv2D -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,filters,kernel,strides,dilation,padding,act,bias", [
    ((9, 11, 5), 7, 3, 1, 1, "same", None, True),
    ((9, 11, 5), 7, 3, 2, 1, "same", "relu", True),          # asymmetric SAME padding
    ((8, 8, 4), 6, 2, 2, 1, "same", "relu6", False),         # even kernel, stride 2
    ((10, 7, 3), 8, (3, 1), (1, 2), 1, "valid", None, True),  # non-square kernel and stride
    ((6, 12, 2), 5, (1, 5), 1, 1, "same", "relu", True),
    ((12, 12, 4), 4, 3, 1, 2, "same", None, True),           # dilation
    ((13, 9, 3), 5, 3, 1, (2, 3), "valid", "relu6", True),
    ((11, 11, 6), 3, 2, 1, 3, "same", None, False),          # dilation with even kernel
    ((9, 9, 8), 4, 1, 3, 1, "same", None, True),             # stride > kernel
    ((10, 10, 3), 2, 2, 3, 1, "valid", None, True),          # stride > kernel, VALID drops edge
    ((5, 5, 3), 4, 5, 1, 1, "valid", None, True),            # kernel as large as the input -> 1x1
    ((3, 3, 2), 3, 5, 1, 1, "same", "relu", True),           # kernel larger than the input
    ((1, 1, 7), 5, 1, 1, 1, "valid", None, True),            # 1x1 spatial
    ((1, 1, 7), 5, 3, 1, 1, "same", "relu6", True),          # 1x1 spatial, all taps but one padded
    ((7, 7, 1), 1, 3, 1, 1, "same", None, True),             # one channel in and out
    ((6, 6, 33), 17, 3, 2, 1, "same", None, True),           # odd channel counts
])
def test_conv2d(shape, filters, kernel, strides, dilation, padding, act, bias):
    m = conv_model(shape, keras.layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation,
                                              padding=padding, activation=act, use_bias=bias))
    assert_bit_exact(m, expect_ops={"CONV_2D"})


@pytest.mark.parametrize("shape,filters,kernel,strides,padding,act,bias", [
    ((9, 11, 5), 7, 3, 1, "same", None, True),
    ((8, 8, 4), 6, 2, 2, "same", "relu", False),
    ((10, 7, 3), 8, (3, 1), (1, 2), "valid", "relu6", True),
])
def test_conv2d_per_tensor(shape, filters, kernel, strides, padding, act, bias):
    m = conv_model(shape, keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                                              activation=act, use_bias=bias))
    tfl = assert_bit_exact(m, expect_ops={"CONV_2D"}, per_channel=False)
    g = read_tflite(tfl)
    conv = next(op for op in g.ops if op.kind == "CONV_2D")
    assert len(g.tensor(conv.inputs[1]).quant.scale) == 1  # really per-tensor


@pytest.mark.parametrize("act,per_channel", [(None, True), ("relu6", False)])
def test_conv2d_large_input_offset(act, per_channel):
    """Non-negative inputs: input zero point -128, so every tap adds 128 * w (and padding must not)."""
    shape = (7, 9, 6)
    m = conv_model(shape, keras.layers.Conv2D(5, 3, padding="same", activation=act))
    assert_bit_exact(m, expect_ops={"CONV_2D"}, calib=positive_calib(shape), per_channel=per_channel)


@pytest.mark.parametrize("per_channel", [True, False])
def test_conv2d_relu_n1_to_1(per_channel):
    inp = keras.Input((6, 6, 4), batch_size=1)
    out = keras.ops.clip(keras.layers.Conv2D(5, 3, padding="same")(inp), -1.0, 1.0)
    tfl = assert_bit_exact(keras.Model(inp, out), expect_ops={"CONV_2D"}, per_channel=per_channel)
    acts = {op.attrs["fused_activation_function"] for op in read_tflite(tfl).ops if op.kind == "CONV_2D"}
    assert acts == {"RELU_N1_TO_1"}


def test_conv2d_batch2():
    m = conv_model((6, 6, 3), keras.layers.Conv2D(4, 3, strides=2, padding="same"), batch=2)
    assert_bit_exact(m, expect_ops={"CONV_2D"})


@pytest.mark.parametrize("per_channel", [True, False])
def test_conv2d_batchnorm(per_channel):
    """BatchNormalization after Conv2D is folded into the conv's weights and bias by the converter."""
    inp = keras.Input((8, 8, 5), batch_size=1)
    x = keras.layers.Conv2D(12, 3, padding="same", use_bias=False)(inp)
    bn = keras.layers.BatchNormalization()
    x = keras.layers.ReLU()(bn(x))
    m = keras.Model(inp, x)
    rng = np.random.default_rng(1)
    gamma, beta, mean, var = (rng.uniform(0.5, 2, 12), rng.normal(0, 0.5, 12), rng.normal(0, 0.3, 12),
                              rng.uniform(0.5, 3, 12))
    bn.set_weights([gamma, beta, mean, var])
    tfl = assert_bit_exact(m, expect_ops={"CONV_2D"}, per_channel=per_channel)
    assert {op.kind for op in read_tflite(tfl).ops} == {"CONV_2D"}


@pytest.mark.parametrize("groups,per_channel", [(2, True), (3, False)])
def test_grouped_conv2d(groups, per_channel):
    """Conv2D(groups=g) converts to CONV_2D with filter depth in_c / g."""
    m = conv_model((7, 7, 6), keras.layers.Conv2D(12, 3, groups=groups, padding="same"))
    tfl = assert_bit_exact(m, expect_ops={"CONV_2D"}, per_channel=per_channel)
    g = read_tflite(tfl)
    conv = next(op for op in g.ops if op.kind == "CONV_2D")
    assert g.tensor(conv.inputs[1]).shape[3] == 6 // groups


# --- Conv1D (EXPAND_DIMS/RESHAPE + CONV_2D) ------------------------------------------------------

@pytest.mark.parametrize("length,ch,filters,kernel,strides,dilation,padding,act", [
    (20, 6, 5, 3, 2, 1, "same", "relu"),
    (21, 3, 8, 4, 1, 2, "valid", None),
    (16, 1, 1, 16, 1, 1, "valid", "relu6"),  # kernel spans the whole sequence
])
def test_conv1d(length, ch, filters, kernel, strides, dilation, padding, act):
    m = conv_model((length, ch), keras.layers.Conv1D(filters, kernel, strides=strides, dilation_rate=dilation,
                                                     padding=padding, activation=act))
    assert_bit_exact(m, expect_ops={"CONV_2D"})


def test_conv1d_causal():
    """Causal Conv1D adds a PAD op in front (someone else's kernel): run only once PAD exists."""
    if "PAD" not in registry():
        pytest.skip("PAD has no kernel yet")
    m = conv_model((20, 4), keras.layers.Conv1D(5, 3, dilation_rate=2, padding="causal"))
    assert_bit_exact(m, expect_ops={"CONV_2D", "PAD"})


# --- random configurations -----------------------------------------------------------------------

@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 10), w=st.integers(1, 10), cin=st.integers(1, 9), cout=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), stride=st.integers(1, 3), dil=st.integers(1, 3),
       padding=st.sampled_from(["same", "valid"]), act=st.sampled_from([None, "relu", "relu6"]),
       bias=st.booleans(), per_channel=st.booleans())
def test_conv2d_random(h, w, cin, cout, kh, kw, stride, dil, padding, act, bias, per_channel):
    if stride > 1:
        dil = 1  # Keras rejects strides > 1 together with dilation > 1
    if padding == "valid":
        assume((kh - 1) * dil + 1 <= h and (kw - 1) * dil + 1 <= w)
    m = conv_model((h, w, cin), keras.layers.Conv2D(cout, (kh, kw), strides=stride, dilation_rate=dil,
                                                    padding=padding, activation=act, use_bias=bias))
    assert_bit_exact(m, expect_ops={"CONV_2D"}, n=8, per_channel=per_channel)


# --- rounding: what LiteRT's reference actually does --------------------------------------------

def test_litert_conv_rounds_twice(monkeypatch):
    """Single rounding (as LiteRT's FULLY_CONNECTED) does NOT match LiteRT's CONV_2D: it rounds twice."""
    import edgeq.passes.lower.int8.conv as conv_ops

    m = conv_model((12, 12, 8), keras.layers.Conv2D(16, 3, padding="same"))
    tfl = int8_tflite(m)
    inputs = random_inputs(tfl, 10)
    assert compare(tfl, inputs, "litert").bit_exact
    monkeypatch.setattr(conv_ops, "rounding_flag", lambda ctx, litert_single: 1)
    assert not compare(tfl, inputs, "litert").bit_exact


def test_conv_without_acc_init(monkeypatch):
    """acc_init is dropped when bias + offset * sum(w) overflows int32: the kernel's generic path
    (offset added per tap, everywhere) must then be exact on its own."""
    import edgeq.passes.lower.int8.conv as conv_ops

    monkeypatch.setattr(conv_ops, "acc_init_values", lambda *a: None)
    shape = (6, 7, 5)
    m = conv_model(shape, keras.layers.Conv2D(6, 3, padding="same"))
    assert_bit_exact(m, expect_ops={"CONV_2D"}, calib=positive_calib(shape))


# --- unsupported configurations are reported, not miscompiled -------------------------------------

def test_unsupported_configurations():
    m = conv_model((6, 6, 3), keras.layers.Conv2D(4, 3, padding="same"))
    g = read_tflite(int8_tflite(m))
    op = next(o for o in g.ops if o.kind == "CONV_2D")
    lower_conv = registry()["CONV_2D"]
    lower_conv(g, op, LowerCtx())  # the unmodified op lowers

    def with_tensor(tid, **changes):
        ts = list(g.tensors)
        ts[tid] = dataclasses.replace(ts[tid], **changes)
        return dataclasses.replace(g, tensors=tuple(ts))

    w = g.tensor(op.inputs[1])
    bad = [
        (g, dataclasses.replace(op, attrs={**op.attrs, "fused_activation_function": "TANH"})),
        (g, dataclasses.replace(op, attrs={**op.attrs, "stride_w": 0})),
        (with_tensor(w.id, data=None), op),  # filter computed at run time
        (with_tensor(w.id, quant=dataclasses.replace(w.quant, zero_point=(3,) * len(w.quant.scale))), op),
        (with_tensor(op.outputs[0], shape=(1, 5, 6, 4)), op),  # output shape disagrees with padding
    ]
    for graph, o in bad:
        with pytest.raises(Unsupported):
            lower_conv(graph, o, LowerCtx())


# --- the conv layers of the MLPerf Tiny models, one op at a time ----------------------------------

def check_ops_in_model(path: Path, kinds: set[str], tmp_path: Path, n: int = 3) -> int:
    """Run each op of ``kinds`` alone as generated C on LiteRT's own intermediate input and compare it
    with LiteRT's intermediate output (whole-model tests need every other kernel too)."""
    if not path.exists():
        pytest.skip(f"{path} not present")
    tfl = path.read_bytes()
    g = read_tflite(tfl)
    ref = LiteRT(tfl, preserve_all=True)
    inputs = random_inputs(tfl, n)
    checked = 0
    for op in g.ops:
        if op.kind not in kinds:
            continue
        sub = dataclasses.replace(g, ops=(dataclasses.replace(op, id=0),), inputs=(op.inputs[0],),
                                  outputs=(op.outputs[0],))
        host = HostModel(generate(compile_graph(sub, LowerCtx("litert")), tmp_path / f"op{op.id}"))
        for x in inputs:
            ref.run(x)
            want = np.ascontiguousarray(ref.tensor(op.outputs[0])).reshape(-1)
            got = host.run([np.ascontiguousarray(ref.tensor(op.inputs[0]))])[0]
            assert got.tobytes() == want.tobytes(), (
                f"{path.name} op {op.id} {op.kind}: {int((got != want).sum())}/{want.size} bytes differ")
        checked += 1
    return checked


@pytest.mark.parametrize("model,count", [("resnet8_int8.tflite", 9), ("kws_dscnn_int8.tflite", 5)])
def test_mlperf_conv2d_ops(model, count, tmp_path):
    assert check_ops_in_model(MLPERF / model, {"CONV_2D"}, tmp_path) == count


# --- DSP path constants (checked here in numpy; the kernel itself runs on mps2-an386 in
# tests/models/test_perf_conv.py) ---------------------------------------------------------------

def _sxtb16_lanes(word_bytes):
    """__sxtb16(v) and __sxtb16(__ror(v, 8)) of 4 input bytes: (x0, x2), (x1, x3)."""
    b = np.asarray(word_bytes, np.int64)
    return (b[0], b[2]), (b[1], b[3])


@pytest.mark.parametrize("out_c,k_h,k_w,fin", [(16, 3, 3, 16), (5, 3, 3, 3), (7, 1, 1, 6), (2, 10, 4, 1)])
def test_conv_dsp_weight_layout(out_c, k_h, k_w, fin):
    """wq words, consumed as the kernel does (2 channels x blocks of 4 rows, SXTB16 / SXTB16 ror 8 of both the
    weight word and the window's bytes, __smlad lanes), give w . x; wq holds the filter's bytes only."""
    from edgeq.ir import Op
    from edgeq.passes.lower.int8.conv import _conv_dsp_weights

    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (out_c, k_h, k_w, fin), dtype=np.int8)
    k = k_h * k_w * fin
    k_pad, ref = _conv_dsp_weights(Op(0, "CONV_2D", (), ()), w)
    assert k_pad % 8 == 0 and k_pad >= k
    assert ref.ctype == "int32_t" and ref.values.size * 4 == (out_c + out_c % 2) * k_pad  # int8: 1 byte a weight
    x = np.zeros(k_pad, np.int64)
    x[:k] = rng.integers(-128, 128, k)
    wbytes = ref.values.astype("<i4").view(np.int8).astype(np.int64).reshape(-1, k_pad // 4, 2, 4)
    for oc in range(out_c):
        acc = 0
        for blk in range(k_pad // 4):
            (xe0, xe1), (xo0, xo1) = _sxtb16_lanes(x[4 * blk:4 * blk + 4])
            we, wo = _sxtb16_lanes(wbytes[oc // 2, blk, oc % 2])
            acc += xe0 * we[0] + xe1 * we[1] + xo0 * wo[0] + xo1 * wo[1]
        assert acc == int((w[oc].reshape(-1).astype(np.int64) * x[:k]).sum())
    if out_c % 2:
        assert not wbytes[-1, :, 1].any()  # the odd last channel's partner: zeros


@pytest.mark.parametrize("out_c,out_off", [(6, -17), (5, -128), (1, 127)])
def test_conv_dsp_me_is_dsp_rq_in_4_25_bytes(out_c, out_off):
    """dsp_me (the int8 DSP path's constants): the multipliers, then the exponents a byte each; the kernel's
    s = 1 and rb = (2 * output_offset + 1) << (e - 1) give back dsp_rq's rows."""
    from edgeq.ir import Op
    from edgeq.passes.lower.int8.conv import _conv_dsp_me, _conv_dsp_requant
    from edgeq.passes.lower.quantmath import quantize_multiplier

    rng = np.random.default_rng(out_c)
    w = rng.integers(-127, 128, (out_c, 3, 3, 8), dtype=np.int8)
    pairs = [quantize_multiplier(float(s)) for s in rng.uniform(1e-4, 0.4, out_c)]
    op = Op(0, "CONV_2D", (), ())
    rq = _conv_dsp_requant(op, w, None, [m for m, _ in pairs], [s for _, s in pairs], out_off)
    me = _conv_dsp_me(op, rq, out_off)
    assert me.ctype == "int32_t" and me.values.size == out_c + -(-out_c // 4)
    e = me.values[out_c:].astype("<i4").view(np.uint8)[:out_c].astype(np.int64)
    rows = np.stack([me.values[:out_c].astype(np.int64), np.ones(out_c, np.int64), e,
                     (2 * out_off + 1) << (e - 1)], axis=1)
    assert (rows == rq.values.reshape(out_c, 4)).all()
    assert _conv_dsp_me(op, None, out_off) is None


def test_conv_dsp_requant_matches_reference():
    """rq = {m, s, e, rb}: (SMMULR(acc << s, m) - (t < 0) + rb) >> e == MultiplyByQuantizedMultiplier
    (double rounding) + output_offset for accumulators within the lowering's bound."""
    from edgeq.ir import Op
    from edgeq.passes.lower.int8.conv import _conv_dsp_requant
    from edgeq.passes.lower.quantmath import mul_by_qm_double, quantize_multiplier

    rng = np.random.default_rng(2)
    out_c = 6
    w = rng.integers(-127, 128, (out_c, 3, 3, 8), dtype=np.int8)
    pairs = [quantize_multiplier(s) for s in (0.003, 0.0123, 0.2, 0.00051, 0.049, 0.45)]
    mults, shifts = [m for m, _ in pairs], [s for _, s in pairs]
    out_off = -17
    ref = _conv_dsp_requant(Op(0, "CONV_2D", (), ()), w, None, mults, shifts, out_off)
    assert ref is not None
    rq = ref.values.reshape(out_c, 4).astype(np.int64)
    bound = 255 * np.abs(w.reshape(out_c, -1).astype(np.int64)).sum(axis=1)
    for c in range(out_c):
        m, s, e, rb = (int(v) for v in rq[c])
        accs = list(rng.integers(-bound[c], bound[c] + 1, 2000)) + [-bound[c], bound[c], 0, -1, 1]
        for acc in accs:
            acc = int(acc)
            a = acc << s
            assert -(1 << 31) <= a < (1 << 31)
            t = (a * m + (1 << 31)) >> 32
            got = (t - (1 if t < 0 else 0) + rb) >> e
            assert got == mul_by_qm_double(acc, mults[c], shifts[c]) + out_off, (c, acc)
    # out of range: no rq
    assert _conv_dsp_requant(Op(0, "CONV_2D", (), ()), w, None, [mults[0]], [3], out_off) is None
