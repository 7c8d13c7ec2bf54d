"""Whole Keras models with MultiHeadAttention, LayerNormalization and the activations the converter leaves in
float: `edgeq quantize` takes them (float islands as tables, other float ops in the mixed int8 + float32
scheme), generated C bit-exact with LiteRT on the host, and the attention model (int8 and int16x8) and a
model with an island and float ops on the emulated Cortex-M4F (mps2-an386). Figures:
`pytest -s -m slow tests/models/test_keras_attention.py -k mps2`.

The models are the issue-14 probe's (/work/briefs/zoo14_probe.py): a tiny transformer (MultiHeadAttention +
LayerNormalization + gelu MLP), a LayerNorm MLP and Dense layers with every Keras activation. LayerNorm's
SQUARED_DIFFERENCE and the activation zoo's DIV / LOG_SOFTMAX / GREATER / SELECT are kernels of the other
issue-14 branch: until they are there, those models are checked up to lowering (every other op lowers, the
islands are tables) and their host comparison names what is missing as its skip reason.
"""

from __future__ import annotations

import keras
import pytest

from edgeq.errors import EdgeqError
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.flows.quantize import quantize_model
from edgeq.frontend.islands import float_ops, read_model
from kernels.harness import assert_bit_exact, compare, random_inputs

pytestmark = pytest.mark.slow
L = keras.layers
OTHER_BRANCH = {"SQUARED_DIFFERENCE", "DIV", "LOG_SOFTMAX", "GREATER", "SELECT"}  # opsA's kernels


def attention_classifier():
    """MultiHeadAttention (self-attention) + residual + gelu Dense, pooled: BATCH_MATMUL, TRANSPOSE, SOFTMAX."""
    keras.utils.set_random_seed(11)
    inp = keras.Input((16, 32))
    a = L.MultiHeadAttention(num_heads=2, key_dim=16)(inp, inp)
    x = L.Dense(32, activation="gelu")(inp + a)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inp, L.Dense(5, activation="softmax")(x), name="attention_classifier")


def tiny_transformer():
    keras.utils.set_random_seed(12)
    inp = keras.Input((16, 32))
    a = L.MultiHeadAttention(num_heads=2, key_dim=16)(inp, inp)
    x = L.LayerNormalization()(inp + a)
    h = L.Dense(64, activation="gelu")(x)
    h = L.Dense(32)(h)
    x = L.LayerNormalization()(x + h)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inp, L.Dense(5, activation="softmax")(x), name="tiny_transformer")


def layernorm_mlp():
    keras.utils.set_random_seed(13)
    inp = keras.Input((20,))
    x = L.Dense(32, activation="gelu")(inp)
    x = L.LayerNormalization()(x)
    x = L.Dense(32, activation="swish")(x)
    x = L.LayerNormalization()(x)
    return keras.Model(inp, L.Dense(4, activation="softmax")(x), name="layernorm_mlp")


def act_zoo():
    keras.utils.set_random_seed(14)
    inp = keras.Input((24,))
    outs = [L.Dense(8, activation=a)(inp) for a in ["elu", "selu", "softplus", "hard_sigmoid", "gelu", "swish",
                                                     "softsign", "log_softmax", "mish", "relu6", "leaky_relu"]]
    return keras.Model(inp, L.Concatenate()(outs), name="act_zoo")


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """name -> QuantizeResult of `edgeq quantize MODEL --calib random` (and the saved model's path)."""
    d = tmp_path_factory.mktemp("attention")
    out = {}
    for fn in (attention_classifier, tiny_transformer, layernorm_mlp, act_zoo):
        path = d / f"{fn.__name__}.keras"
        fn().save(path)
        out[fn.__name__] = (quantize_model(path, "random"), path)
    return out


def _host_bit_exact(tfl: bytes, n: int = 20):
    cmp = compare(tfl, random_inputs(tfl, n), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.max_abs_diff, cmp.first_bad_op)


def test_attention_classifier_on_host(quantized):
    q, _ = quantized["attention_classifier"]
    assert q.scheme == "int8" and not q.unsupported
    assert q.ops["BATCH_MATMUL"] == 2 and q.ops["TRANSPOSE"] == 4
    _host_bit_exact(q.tflite)


def test_attention_classifier_int16x8_on_host(quantized):
    """--scheme int16x8 keeps the attention model integer: int16 BATCH_MATMUL, SOFTMAX, GELU."""
    _, path = quantized["attention_classifier"]
    q = quantize_model(path, "random", scheme="int16x8")
    assert q.scheme == "int16x8" and not q.unsupported and q.ops["BATCH_MATMUL"] == 2
    _host_bit_exact(q.tflite)


def test_layernorm_is_refused_in_int16x8(quantized):
    """The 16x8 converter has no NEG (LayerNormalization's): --scheme int16x8 cannot keep these integer."""
    _, path = quantized["layernorm_mlp"]
    with pytest.raises(EdgeqError, match="16x8-bit not yet supported for op: 'NEG'"):
        quantize_model(path, "random", scheme="int16x8")


@pytest.mark.parametrize("name", ["tiny_transformer", "layernorm_mlp"])
def test_layernorm_neg_is_a_table(quantized, name):
    """Keras 3's LayerNormalization leaves NEG in float: one 256-entry table per layer, nothing float left."""
    q, _ = quantized[name]
    assert q.scheme == "int8+float32"  # the .tflite holds DEQUANTIZE -> NEG -> QUANTIZE
    g = read_model(q.tflite)
    luts = [op for op in g.ops if op.kind == "LUT"]
    assert len(luts) == 2 and all(op.attrs["island"] == ("NEG",) for op in luts)
    assert "layer_normalization" in luts[0].location and not float_ops(g)
    assert q.ops["LUT"] == 2 and "NEG" not in q.ops and "DEQUANTIZE" not in q.ops
    assert any("float island(s)" in n and "layer_normalization" in n for n in q.notes)
    missing = {u.kind for u in q.unsupported}
    assert missing <= OTHER_BRANCH, q.unsupported
    if missing:
        pytest.skip(f"needs the int8 {', '.join(sorted(missing))} kernel(s) of the other issue-14 branch")
    _host_bit_exact(q.tflite)


def test_activation_zoo_quantizes_with_float_layers_named(quantized):
    """elu stays float (its DEQUANTIZE feeds a float CONCATENATION of every branch, not one QUANTIZE): the
    model is mixed int8 + float32 and the note names the layers that stay float."""
    q, _ = quantized["act_zoo"]
    assert q.scheme == "int8+float32"
    (note,) = [n for n in q.notes if "stay float32" in n]
    assert "(ELU)" in note and "(CONCATENATION)" in note
    assert {u.kind for u in q.unsupported} <= OTHER_BRANCH


def test_an_island_inside_a_model_on_host():
    """A float island between two Dense layers (negate, scale, shift: no int8 NEG in the converter) runs as
    one table, bit-exact within the whole model."""
    keras.utils.set_random_seed(15)
    inp = keras.Input((20,), batch_size=1)
    x = L.Dense(16)(inp)
    x = L.Lambda(lambda t: keras.ops.negative(t) * 2.0 + 0.5)(x)
    model = keras.Model(inp, L.Dense(4)(x), name="island_mlp")
    tfl = assert_bit_exact(model, expect_ops={"DEQUANTIZE", "NEG", "QUANTIZE"}, n=30, roundings=("litert", "tflm"))
    assert [op.kind for op in read_model(tfl).ops] == ["FULLY_CONNECTED", "LUT", "FULLY_CONNECTED"]


def figures(r, kinds) -> None:
    """Print what the model costs on the board (run with -s; the numbers in the issue-14 report)."""
    m, lat = r.report["memory"], r.report["latency"]
    print(f"\n{r.model.path}: {lat['median']:,.0f} {lat['unit']}, MACs {r.model.macs:,}, arena {m['arena_bytes']:,} B, "
          f"weights {m['weights_bytes']:,} B, code {m['code_bytes']:,} B, flash {m['flash_bytes']:,} B")
    for row in r.profile:
        if row.kind in kinds:
            print(f"  op {row.op} {row.kind} {row.location[:70]}: {row.count:,.0f}")


def test_attention_classifier_on_mps2_an386(quantized, tmp_path):
    _, path = quantized["attention_classifier"]
    r = convert_and_flash(path, calib="random", runs=3, samples=8, out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert v["bit_exact"] and v["samples"] == 8 and v["mismatched_bytes"] == 0
    assert r.model.scheme == "int8" and r.model.ops["BATCH_MATMUL"] == 2
    assert r.model.macs == 5 * 16 * 32 * 32 + 2 * (2 * 16 * 16 * 16) + 32 * 5  # dense layers + both BATCH_MATMULs
    figures(r, {"BATCH_MATMUL", "SOFTMAX", "TRANSPOSE"})
    r16 = convert_and_flash(path, calib="random", runs=3, samples=8, out_dir=tmp_path / "out16", scheme="int16x8")
    assert r16.report["validation"]["bit_exact"] and r16.model.scheme == "int16x8"
    figures(r16, {"BATCH_MATMUL", "SOFTMAX", "GELU"})


def island_and_float_model():
    """Two Dense branches; one negated (no int8 NEG in the converter) and scaled: a float island that becomes
    a table; the other negated and concatenated with the first branch: a float NEG and a float
    CONCATENATION of two dequantized tensors, which stay float."""
    keras.utils.set_random_seed(16)
    inp = keras.Input((20,), batch_size=1)
    a, b, c = L.Dense(16)(inp), L.Dense(16)(inp), L.Dense(16)(inp)
    island = L.Dense(8)(L.Lambda(lambda t: keras.ops.negative(t) * 2.0 + 0.5)(a))
    mixed = L.Concatenate()([L.Lambda(keras.ops.negative)(b), c])
    return keras.Model(inp, L.Concatenate()([island, L.Dense(8)(mixed)]), name="island_and_float")


def test_island_and_float_ops_on_mps2_an386(tmp_path):
    """The mixed int8 + float32 path on the M4F: the island as a table, the rest in float32 kernels; LiteRT's
    bytes on the board (NEG and CONCATENATION are exact in float)."""
    from kernels.harness import int8_tflite

    tfl = int8_tflite(island_and_float_model())
    g = read_model(tfl)
    assert [op.kind for op in g.ops].count("LUT") == 1
    assert sorted(op.kind for op in float_ops(g)) == ["CONCATENATION", "NEG"]
    (tmp_path / "island_and_float.tflite").write_bytes(tfl)
    r = convert_and_flash(tmp_path / "island_and_float.tflite", runs=3, samples=8, out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert v["bit_exact"] and v["samples"] == 8 and r.model.scheme == "int8+float32"
    figures(r, {"LUT", "NEG", "CONCATENATION", "QUANTIZE", "DEQUANTIZE"})


def test_float_layers_are_refused_on_a_board_without_an_fpu(quantized, tmp_path):
    """mps2-an385 (Cortex-M3) has no FPU: the activation zoo's float ELU / CONCATENATION are refused before
    anything is lowered or written."""
    _, path = quantized["act_zoo"]
    with pytest.raises(EdgeqError, match="did not fully quantize.*has no FPU") as e:
        convert_and_flash(path, board_name="mps2-an385", calib="random", out_dir=tmp_path / "out")
    assert "(ELU)" in str(e.value) and not (tmp_path / "out").exists()
