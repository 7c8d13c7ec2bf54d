"""Codebook (clustered) weights for int8 DEPTHWISE_CONV_2D (issue 12 §2): a clustered int8 depthwise filter
([1, k_h, k_w, out_c], channels last) whose output channels each hold at most 2^b distinct values is stored as
b-bit indices (b = 2..4, and 5..7 in a model marked as clustered) into the layer's shared codebooks where that
takes fewer bytes than the int8 weights (edgeq.passes.lower.int8.conv ``codebook_fields``, taken of the filter as
[out_c, taps]); kernel edgeq_depthwise_conv_cb (firmware/kernels/depthwise_conv.c, the int4 kernel's loop with
the codebook decode). Byte for byte against LiteRT's reference on the host (the portable kernel); the DSP path
(the pack rebuilt in scratch from the indices) on the emulated Cortex-M4 in
``test_depthwise_codebook_chain_on_boards`` (about 4 s a board; the M3 and M55 ones marked slow) and
tests/models/test_clusters_depthwise.py.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as s

from harness import build_tflite, compare, random_inputs
from test_codebook_bits import marked
from test_int4 import _set_quant_axis, dw4, dw_options, out_size, widened
from edgeq.codegen.emit import generate
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.registry import LowerCtx
from edgeq.passes.pipeline import compile_graph

VALUES = np.arange(-127, 128)


def _clustered_filter(rng, out_c: int, taps: int, k: int, shared: bool) -> np.ndarray:
    """[taps, out_c] int8: each channel's taps drawn from its own ``k`` random values, or (``shared``, a per-layer
    clustering) from the layer's ``k``."""
    pools = [rng.choice(VALUES, k, replace=False)] * out_c if shared else \
        [rng.choice(VALUES, k, replace=False) for _ in range(out_c)]
    return np.take_along_axis(np.stack(pools), rng.integers(0, k, (out_c, taps)), axis=1).T.astype(np.int8)


def dw_clustered(h, w, cin, mult, kh, kw, stride=(1, 1), dilation=(1, 1), padding="same", act=None, *, k: int,
                 shared: bool, seed: int = 0, **opts) -> bytes:
    """test_int4's one-op depthwise model (:func:`dw4`, widened to int8) with a clustered int8 filter of at most
    ``k`` values a channel (:func:`_clustered_filter`)."""
    rng = np.random.default_rng(seed + 1000)
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(
        widened(dw4(h, w, cin, mult, kh, kw, stride, dilation, padding, act, seed=seed, **opts)), 0))
    t = m.subgraphs[0].tensors[1]
    m.buffers[t.buffer].data = np.frombuffer(_clustered_filter(rng, cin * mult, kh * kw, k, shared).tobytes(),
                                             np.uint8)
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _lowered(model: bytes, cpu: str = "portable"):
    return compile_graph(read_tflite(model), LowerCtx("litert", cpu)).ops[0].lowered


def _check(model: bytes, bits: int, out_c: int, taps: int, shared: bool) -> None:
    """edgeq_depthwise_conv_cb with ``bits``-wide indices, channel after channel (ceil(out_c * taps * bits / 8)
    bytes), which with the codebooks (one without cb_map where every channel takes the same values) give back the
    filter; no int8 copy of the filter; the host build equals LiteRT's reference."""
    graph = read_tflite(model)
    low = _lowered(model)
    assert low.kernel == "edgeq_depthwise_conv_cb"
    f = dict(low.fields)
    assert f["cb_bits"] == bits and f["weights"] is None
    idx_field = f["weights_s4"]
    assert idx_field.name == "op0_idx" and idx_field.values.nbytes == -(-out_c * taps * bits // 8)
    books = f["codebook"].values.reshape(-1, 1 << bits)
    assert (len(books) == 1) == shared and (f["cb_map"] is None) == (len(books) == 1)
    number = np.zeros(out_c, np.int64) if f["cb_map"] is None else f["cb_map"].values.astype(np.int64)
    stream = np.unpackbits(idx_field.values, bitorder="little")[: out_c * taps * bits]
    idx = (stream.reshape(-1, bits).astype(np.int64) << np.arange(bits)).sum(axis=1).reshape(out_c, taps)
    w = np.asarray(graph.tensor(1).data).reshape(taps, out_c).T
    assert np.array_equal(books[number[:, None], idx], w)
    assert not any(getattr(v, "name", "") == "t1_data" for _, v in low.fields)
    cmp = compare(model, random_inputs(model, 6), "litert")
    assert cmp.bit_exact, (f"{cmp.exact_samples}/{cmp.samples} samples bit-exact, {cmp.mismatched_bytes} of "
                           f"{cmp.total_bytes} bytes differ (max |diff| {cmp.max_abs_diff})")


# bits: the index width, from the channel with the most values (a channel of a 3x3 filter has at most 9: 4 bits
# at most, whatever the clustering; 5 to 7 bits need larger windows)
@pytest.mark.parametrize("h,w,cin,mult,kh,kw,stride,dil,padding,act,k,shared,mark,bits", [
    (9, 11, 5, 1, 3, 3, (1, 1), (1, 1), "same", None, 4, True, False, 2),      # 5 channels, one codebook
    (9, 11, 5, 2, 3, 3, (2, 2), (1, 1), "same", "relu", 8, True, False, 3),    # depth multiplier 2, stride 2
    (8, 7, 3, 2, 5, 5, (1, 1), (1, 1), "valid", "relu6", 4, False, False, 2),  # 5x5, per channel: cb_map
    (10, 10, 40, 1, 3, 3, (1, 1), (2, 2), "same", None, 16, True, False, 4),   # 40 > 32 channels, dilation
    (5, 6, 33, 1, 3, 3, (2, 1), (1, 1), "same", None, 2, False, False, 2),     # 33 channels, 2 values a channel
    (7, 8, 7, 1, 7, 7, (1, 1), (1, 1), "same", None, 16, False, False, 4),     # 7x7 (49 taps), per channel
    (7, 7, 7, 1, 3, 3, (1, 1), (1, 1), "same", "relu", 8, True, False, 3),     # 7 channels
    (6, 9, 8, 1, 1, 5, (1, 2), (1, 1), "same", None, 2, False, False, 2),      # 1x5, per channel
    (6, 6, 40, 1, 3, 3, (2, 2), (1, 1), "same", None, 16, True, True, 4),      # marked: as unmarked
    (6, 6, 12, 1, 5, 5, (1, 1), (1, 1), "same", None, 32, True, True, 5),      # 5x5, 5 bits (marked)
    (6, 5, 5, 2, 5, 5, (1, 1), (2, 1), "same", None, 32, True, True, 5),       # dm 2, dilation, 5 bits
    (6, 6, 12, 1, 7, 7, (2, 2), (1, 1), "same", None, 64, True, True, 6),      # 7x7, 6 bits, stride 2
])
def test_depthwise_codebook(h, w, cin, mult, kh, kw, stride, dil, padding, act, k, shared, mark, bits):
    model = dw_clustered(h, w, cin, mult, kh, kw, stride, dil, padding, act, k=k, shared=shared, seed=h * w + k)
    if mark:
        model = marked(model, k, not shared)
    _check(model, bits, cin * mult, kh * kw, shared)


def test_depthwise_codebook_per_tensor_no_bias():
    model = dw_clustered(6, 6, 9, 1, 3, 3, k=4, shared=True, per_channel=False, bias=False, seed=3)
    _check(model, 2, 9, 9, True)


def test_codebooks_must_save_an_eighth():
    """Filters whose codebooks would take fewer bytes but save less than 1/8 of their int8
    bytes (DW_CB_MOST_OF_INT8: the decode costs code and a pack rebuilt at each call): 5-bit indices per channel
    (11x11, 32-entry codebooks: 90%), 6 bits over 8 channels of 7x7 (91%), 7 bits (at least 7/8 before the
    codebooks), 4 bits with 10 per-channel codebooks over 3x3 (kws --clusters 16's layers)."""
    for model, k in ((dw_clustered(6, 6, 3, 1, 11, 11, k=32, shared=False, seed=6), 32),
                     (dw_clustered(6, 6, 8, 1, 7, 7, k=64, shared=True, seed=7), 64),
                     (dw_clustered(5, 5, 9, 1, 11, 11, k=128, shared=True, seed=8), 128),
                     (dw_clustered(6, 6, 40, 1, 3, 3, k=12, shared=False, seed=9), 12)):
        assert _lowered(marked(model, k, False)).kernel == "edgeq_depthwise_conv_s8", k


def test_byte_rule_keeps_int8():
    """Per-channel clusterings of a 3x3 filter whose channels cannot share a codebook (16 values each: 4.5 B of
    indices and a 16-byte codebook against 9 B a channel), 20 values a layer unmarked (a channel's 9 values
    number 16 at most, but the codebooks of 16 entries do not hold the layer's 20: several, and a byte a channel
    naming them), and a 1x1 filter of 4 channels (1 B of indices and a 4-byte codebook against 4 B) keep the
    int8 kernel; 8 values per layer pay (3-bit indices, one codebook)."""
    for model, kernel in (
            (dw_clustered(6, 6, 8, 1, 3, 3, k=9, shared=False, seed=1), "edgeq_depthwise_conv_s8"),
            (dw_clustered(6, 6, 16, 1, 3, 3, k=20, shared=True, seed=2), "edgeq_depthwise_conv_s8"),
            (dw_clustered(6, 6, 4, 1, 1, 1, k=2, shared=True, seed=3), "edgeq_depthwise_conv_s8"),
            (dw_clustered(6, 6, 8, 1, 3, 3, k=8, shared=True, seed=4), "edgeq_depthwise_conv_cb")):
        assert _lowered(model).kernel == kernel


@pytest.mark.parametrize("cpu", ["portable", "dsp", "mve"])
def test_generated_data_holds_indices_only(cpu, tmp_path):
    """The generated data holds the indices (and on DSP cores the pack's constants without weight words and
    without the portable kernel's bias / mult / shift: the DSP entry point edgeq_depthwise_conv_cb_dsp), the
    codebooks, no int8 copy of the filter; "mve" runs the portable kernel, as int4 filters do."""
    out_c, taps = 24, 9
    model = dw_clustered(6, 6, out_c, 1, 3, 3, k=4, shared=True, seed=5)
    low = _lowered(model, cpu)
    f = dict(low.fields)
    assert low.kernel == ("edgeq_depthwise_conv_cb_dsp" if cpu == "dsp" else "edgeq_depthwise_conv_cb")
    assert f["cb_bits"] == 2
    assert (f["dsp_pack_s4"] is not None) == (cpu == "dsp")
    if cpu == "dsp":
        assert f["dsp_pack_words"] == out_c // 4 * (taps + 9) and f["dsp_pack_s4"].values.size == out_c // 4 * 9
        assert f["bias"] is None and f["mult"] is None and f["shift"] is None and f["acc_init"] is None
        assert low.scratch_bytes == 4 * f["dsp_pack_words"] + taps
    else:
        assert low.scratch_bytes == taps * out_c + taps
    g = compile_graph(read_tflite(model), LowerCtx("litert", cpu))
    lib = generate(g, tmp_path / cpu)
    data = (lib.dir / f"{lib.prefix}_data.c").read_text()
    assert f"uint8_t model_op0_idx[{out_c * taps * 2 // 8}]" in data and "int8_t model_op0_codebook[4]" in data
    assert f"[{out_c * taps}]" not in data  # no int8 copy of the filter
    assert f"{low.kernel}(" in (lib.dir / f"{lib.prefix}.c").read_text()


# --- the DSP path on the emulated Cortex-M4 ------------------------------------------------------------------

def dw_chain(x_shape, layers, seed: int = 0) -> bytes:
    """DEPTHWISE_CONV_2D ops in a chain on an int8 input ``x_shape``, each layer (mult, kh, kw, stride,
    dilation, padding, act, per_channel scales, k, shared) with a clustered int8 filter
    (:func:`_clustered_filter`), an int32 bias, random scales and zero points; the output scale follows the
    filter's spread so that the outputs use the int8 range."""
    rng = np.random.default_rng(seed)
    _, h, w, c = x_shape
    tensors = [{"shape": list(x_shape), "dtype": "int8", "scale": float(rng.uniform(0.01, 0.1)),
                "zero_point": int(rng.integers(-128, 100))}]
    ops, filters, x = [], [], 0
    for mult, kh, kw, stride, dil, padding, act, per_channel, k, shared in layers:
        oh, ow = out_size(h, kh, stride[0], dil[0], padding), out_size(w, kw, stride[1], dil[1], padding)
        cout, in_s = c * mult, tensors[x]["scale"]
        w_s = rng.uniform(0.005, 0.05, cout if per_channel else 1).astype(np.float32)
        wt = _clustered_filter(rng, cout, kh * kw, k, shared)
        out_s = in_s * float(w_s.mean()) * float(np.sqrt((wt.astype(np.float64) ** 2).mean())) * np.sqrt(kh * kw)
        b_s = (np.float32(in_s) * w_s).astype(np.float32)
        tensors += [
            {"shape": [1, kh, kw, cout], "dtype": "int8", "scale": list(w_s), "zero_point": [0] * len(w_s),
             "data": wt.reshape(1, kh, kw, cout)},
            {"shape": [x_shape[0], oh, ow, cout], "dtype": "int8", "scale": out_s * 0.7,
             "zero_point": int(rng.integers(-20, 20))},
            {"shape": [cout], "dtype": "int32", "scale": list(b_s), "zero_point": [0] * len(b_s),
             "data": rng.integers(-3000, 3000, cout).astype(np.int32)},
        ]
        wi = len(tensors) - 3
        filters.append(wi)
        ops.append(("DEPTHWISE_CONV_2D", [x, wi, wi + 2], [wi + 1], dw_options(stride, dil, padding, mult, act)))
        x, h, w, c = wi + 1, oh, ow, cout
    model = build_tflite(tensors, ops, [0], [x])
    for wi in filters:
        model = _set_quant_axis(model, wi, 3)
    return model


# DSP path shapes: 3x3 (dw_dsp_loop9) and other windows (dw_dsp_loop_any, odd and even tap counts), channel
# counts not a multiple of 4 (the pack's padded lanes, dw_dsp_tail), stride 2, dilation, per-tensor scales, fused
# clamps, 2- to 7-bit indices, one codebook and cb_map; the dm 2 layer takes the portable kernel (DSP path: dm 1).
DSP_CHAIN = ((1, 9, 8, 17), [(1, 3, 3, (1, 1), (1, 1), "same", "relu", True, 4, True),     # 17 ch, 2 bits, one
                             (2, 3, 3, (2, 2), (1, 1), "same", None, True, 8, True),       # dm 2 (34): portable
                             (1, 5, 5, (1, 1), (1, 1), "same", "relu6", False, 4, False),  # 25 taps, cb_map
                             (1, 3, 3, (1, 1), (2, 2), "same", None, True, 16, True),      # dilation, 4 bits
                             (1, 2, 4, (1, 1), (1, 1), "same", None, True, 3, False),      # 8 taps, cb_map
                             (1, 5, 5, (1, 1), (1, 1), "same", "relu", True, 32, True)])   # 5 bits (marked)


@pytest.mark.parametrize("board", ["mps2-an386", pytest.param("mps2-an385", marks=pytest.mark.slow),
                                   pytest.param("mps3-an547", marks=pytest.mark.slow)])
def test_depthwise_codebook_chain_on_boards(board, tmp_path):
    """edgeq_depthwise_conv_cb's DSP path (the pack rebuilt from the indices at each call) over DSP_CHAIN, byte for
    byte with LiteRT's reference on the emulated Cortex-M4 (and the portable kernel on the host, the Cortex-M3
    and the Cortex-M55, whose --cpu mve build runs the portable kernel as for int4 filters)."""
    from edgeq.flows.convert_and_flash import convert_and_flash

    model = marked(dw_chain(*DSP_CHAIN, seed=7), 32, False)
    g = compile_graph(read_tflite(model), LowerCtx("litert", "dsp"))
    cb = "edgeq_depthwise_conv_cb"
    assert [op.lowered.kernel for op in g.ops] == [f"{cb}_dsp", cb, f"{cb}_dsp_any", f"{cb}_dsp", f"{cb}_dsp_any",
                                                   f"{cb}_dsp_any"]
    fields = [dict(op.lowered.fields) for op in g.ops]
    assert [f["cb_bits"] for f in fields] == [2, 3, 2, 4, 2, 5]
    assert [f["dsp_pack_s4"] is not None for f in fields] == [True, False, True, True, True, True]
    assert [f["cb_map"] is not None for f in fields] == [False, False, True, False, True, False]
    cmp = compare(model, random_inputs(model, 6), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.first_bad_op)
    path = tmp_path / "chain.tflite"
    path.write_bytes(model)
    r = convert_and_flash(path, board_name=board, runs=1, samples=6, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]
