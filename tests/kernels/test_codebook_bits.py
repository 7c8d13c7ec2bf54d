"""2- to 7-bit codebook indices (issue 12 §2): a clustered int8 filter whose output channels each hold at
most 2^b distinct values (b from 2 to 7: 4 to 128 values) is stored as b-bit indices into shared codebooks of
2^b entries where that takes fewer bytes than the int8 weights (edgeq.passes.lower.int8.conv.codebook_fields,
edgeq_unpack_cb in edgeq_common.h). Byte for byte against LiteRT's reference on the host (portable kernels);
the DSP build on the emulated Cortex-M4 in tests/models/test_clusters.py (test_codebook_bits_on_mps2_an386,
test_wide_codebook_bits_on_mps2_an386: 2 to 4 bits on the DSP path edgeq_conv_cb_im2col, 5 to 7 on
edgeq_conv_cbw_im2col; groups on the portable kernel) and test_int4.py's test_conv_dsp_shapes_on_mps2_an386.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as s

from harness import compare, random_inputs
from test_int4 import clustered_int8_model, conv_options, out_size, widened, int4_model
from edgeq.codegen.emit import generate
from edgeq.frontend.cluster import mark_clustered
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.int8.conv import pack_bits, share_codebooks
from edgeq.passes.lower.registry import LowerCtx
from edgeq.passes.pipeline import compile_graph

BITS = {2: 2, 3: 2, 4: 2, 5: 3, 6: 3, 8: 3, 9: 4, 12: 4, 16: 4, 17: 5, 20: 5, 32: 5, 33: 6, 40: 6, 64: 6, 65: 7,
        100: 7, 128: 7}  # values per channel -> index width


def shared_int8_model(kind: str, x_shape, w_shape, out_shape, options, k: int, seed: int = 0) -> bytes:
    """A one-op int8 model whose filter takes the same ``k`` int8 values in every output channel (a per-layer
    clustering quantized per tensor gives this; per channel, each channel's own scale of the K centroids)."""
    rng = np.random.default_rng(seed)
    model = int4_model(kind, x_shape, w_shape, out_shape, options, seed=seed)
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(widened(model), 0))
    t = m.subgraphs[0].tensors[1]
    values = rng.choice(np.arange(-127, 128), k, replace=False)
    w = values[rng.integers(0, k, int(np.prod(w_shape)))].astype(np.int8)
    m.buffers[t.buffer].data = np.frombuffer(w.tobytes(), np.uint8)
    b = flatbuffers.Builder(len(model) * 4 + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def marked(model: bytes, k: int, per_channel: bool) -> bytes:
    """``model`` as ``quantize --clusters`` leaves it: marked as clustered (the opt-in to 5- to 7-bit indices,
    conv.cb_most); for 16 values a channel or fewer the mark changes nothing."""
    return mark_clustered(model, k, per_channel)


def _check(model: bytes, kernel: str, k: int, n_out: int, per_out: int, shared: bool) -> None:
    """The op lowers to ``kernel`` with BITS[k]-wide indices, ceil(n_out * per_out * bits / 8) index bytes,
    2^bits entries per distinct codebook (one without cb_map where every channel takes the same values) and
    a byte a channel naming its codebook, which give back the filter; no int8 copy of the filter, and the
    host build equals LiteRT's reference."""
    graph = read_tflite(model)
    g = compile_graph(graph, LowerCtx("litert", "portable"))
    low = g.ops[0].lowered
    assert low.kernel == kernel
    f = dict(low.fields)
    bits = BITS[k]
    assert f["cb_bits"] == bits
    idx_field = f["weights_s4" if kernel.startswith("edgeq_conv") else "weights"]  # FC: one weights field
    assert idx_field.name == "op0_idx" and idx_field.values.nbytes == -(-n_out * per_out * bits // 8)
    books = f["codebook"].values.reshape(-1, 1 << bits)
    assert (len(books) == 1) == shared and (f["cb_map"] is None) == (len(books) == 1)
    number = np.zeros(n_out, np.int64) if f["cb_map"] is None else f["cb_map"].values.astype(np.int64)
    assert f["cb_map"] is None or f["cb_map"].values.shape == (n_out,)
    stream = np.unpackbits(idx_field.values, bitorder="little")[: n_out * per_out * bits]
    idx = (stream.reshape(-1, bits).astype(np.int64) << np.arange(bits)).sum(axis=1).reshape(n_out, per_out)
    w = np.asarray(graph.tensor(1).data).reshape(n_out, per_out)
    assert np.array_equal(books[number[:, None], idx], w)
    assert "t1_data" not in {v.name for _, v in low.fields if hasattr(v, "values")}
    cmp = compare(model, random_inputs(model, 8), "litert")
    assert cmp.bit_exact, (f"{cmp.exact_samples}/{cmp.samples} samples bit-exact, {cmp.mismatched_bytes} of "
                           f"{cmp.total_bytes} bytes differ (max |diff| {cmp.max_abs_diff})")


@pytest.mark.parametrize("h,w,cin,fin,cout,kh,kw,stride,dil,padding,k,shared", [
    (6, 7, 8, 8, 5, 3, 3, (1, 1), (1, 1), "same", 2, False),     # K = 72, odd out_c, 2 values
    (7, 6, 9, 9, 4, 3, 3, (2, 2), (1, 1), "same", 3, True),      # K = 81 (odd bit offsets), stride 2
    (9, 9, 8, 8, 6, 3, 3, (1, 1), (2, 2), "same", 4, False),     # dilation
    (8, 7, 11, 11, 7, 3, 3, (2, 1), (1, 1), "valid", 5, True),   # K = 99, 3 bits, channels unaligned
    (5, 5, 65, 65, 3, 1, 1, (1, 1), (1, 1), "valid", 8, False),  # 1x1, K = 65
    (6, 6, 16, 8, 6, 3, 3, (1, 1), (1, 1), "same", 8, True),     # groups 2, K = 72
    (7, 7, 8, 8, 5, 3, 3, (1, 2), (1, 1), "same", 9, False),     # 9 values: 4-bit
    # 5 to 7 bits: per-channel codebooks pay off from K > 88, 260, 1032 weights a channel (K (1 - b / 8) >
    # 2^b + 1), one shared codebook from out_c * K > 2^b / (1 - b / 8)
    (8, 7, 11, 11, 5, 3, 3, (2, 1), (1, 1), "valid", 17, False),  # K = 99, 5 bits, odd bit offsets
    (9, 9, 8, 8, 6, 3, 3, (1, 1), (2, 2), "same", 32, True),      # dilation, 5 bits, one codebook
    (6, 6, 32, 32, 3, 3, 3, (1, 1), (1, 1), "same", 33, False),   # K = 288, 6 bits
    (6, 6, 32, 16, 4, 3, 3, (1, 1), (1, 1), "same", 64, True),    # groups 2, 6 bits
    (7, 6, 16, 16, 8, 3, 3, (2, 2), (1, 1), "same", 128, True),   # stride 2, 7 bits, one codebook
    (5, 5, 120, 120, 3, 3, 3, (1, 1), (1, 1), "valid", 128, False),  # K = 1080, 7 bits, odd out_c
])
def test_conv_codebook_bits(h, w, cin, fin, cout, kh, kw, stride, dil, padding, k, shared):
    oh, ow = out_size(h, kh, stride[0], dil[0], padding), out_size(w, kw, stride[1], dil[1], padding)
    make = shared_int8_model if shared else clustered_int8_model
    model = marked(make("CONV_2D", (1, h, w, cin), (cout, kh, kw, fin), (1, oh, ow, cout),
                        conv_options(stride, dil, padding), k=k, seed=h * w + k), k, not shared)
    _check(model, "edgeq_conv_s4", k, cout, kh * kw * fin, shared)


@pytest.mark.parametrize("batch,n_in,n_out,k,shared", [
    (1, 64, 5, 2, False), (2, 67, 7, 3, True), (1, 80, 3, 4, True), (3, 65, 6, 5, False), (1, 70, 4, 8, True),
    (2, 66, 5, 9, False), (1, 96, 5, 20, False), (2, 100, 6, 32, True), (1, 280, 3, 40, False),
    (1, 300, 4, 64, True), (1, 1040, 2, 100, False), (2, 200, 8, 128, True),
])
def test_fully_connected_codebook_bits(batch, n_in, n_out, k, shared):
    make = shared_int8_model if shared else clustered_int8_model
    model = marked(make("FULLY_CONNECTED", (batch, n_in), (n_out, n_in), (batch, n_out),
                        s.FullyConnectedOptionsT(), k=k, seed=n_in + k), k, not shared)
    _check(model, "edgeq_fully_connected_s4", k, n_out, n_in, shared)


def test_share_codebooks_greedy():
    """Channels merged while their value sets fit 2^bits entries: the largest set first, each channel into the
    codebook it grows least (the first of equals), else a new one; a codebook's values sorted, zero-padded."""
    sets = [[1, 2, 3], [4, 5], [2, 3, 4], [7], [-9, 8, 9, 10], [1]]
    idx = np.array([[0, 1, 2, 0], [0, 1, 1, 0], [2, 1, 0, 0], [0, 0, 0, 0], [3, 2, 1, 0], [0, 0, 0, 0]])
    entries = np.zeros((6, 4), np.int8)
    for c, v in enumerate(sets):
        entries[c, : len(v)] = sorted(v)
    shared, books, number = share_codebooks(idx, entries, 2)
    # order: [-9, 8, 9, 10] (c4), then [1, 2, 3] (c0), [2, 3, 4] (c2: grows c0's by 1 -> {1, 2, 3, 4}), [4, 5]
    # (c1: no fit in {1..4}, new), [7] (c3: grows {4, 5} by 1), [1] (c5: {1..4} grows by 0)
    assert books.tolist() == [[-9, 8, 9, 10], [1, 2, 3, 4], [4, 5, 7, 0]]
    assert number.tolist() == [1, 2, 1, 2, 0, 1] and number.dtype == np.uint8
    for c in range(6):
        assert np.array_equal(books[number[c]][shared[c]], entries[c][idx[c]])
    rng = np.random.default_rng(0)  # 300 channels of 16 values each, all sets different: 300 codebooks
    many = np.stack([np.sort(rng.choice(np.arange(-127, 128), 16, replace=False)) for _ in range(300)])
    assert len({tuple(v) for v in many}) == 300
    assert share_codebooks(np.tile(np.arange(16), (300, 1)), many.astype(np.int8), 4) is None


def test_pack_bits_layout():
    """Index j in bits j * bits .. (j + 1) * bits - 1 of a little-endian stream: 3 bits put 8 indices in 3
    bytes; 4 bits is TFLite's int4 packing (low nibble first)."""
    assert list(pack_bits(np.arange(8), 3)) == [0b10001000, 0b11000110, 0b11111010]
    assert list(pack_bits([1, 2, 3, 0, 3], 2)) == [0b00111001, 0b11]
    assert list(pack_bits([1, 15, 7], 4)) == [0xF1, 0x07]
    rng = np.random.default_rng(0)
    for bits in range(2, 9):
        v = rng.integers(0, 1 << bits, 101)
        stream = np.unpackbits(pack_bits(v, bits), bitorder="little")
        assert stream.size == -(-101 * bits // 8) * 8
        back = [int(sum(int(stream[j * bits + i]) << i for i in range(bits))) for j in range(101)]
        assert back == list(v)


def test_dsp_build_takes_dsp_kernel_at_every_width(tmp_path):
    """On DSP cores 2-, 3- and 4-bit filters all run edgeq_conv_cb_im2col; the generated data holds the DSP
    layout's indices only (wq_s4: for 2 and 3 bits each channel pair's bit stream padded to a word, here K = 144
    rows a channel, so exactly out_c * K * bits / 8 bytes; conv.c conv_decode_cbn), no int8 copy, no second
    packing for the portable kernel."""
    for k, bits in ((3, 2), (6, 3), (12, 4)):
        model = clustered_int8_model("CONV_2D", (1, 8, 8, 16), (32, 3, 3, 16), (1, 8, 8, 32), conv_options(), k=k)
        g = compile_graph(read_tflite(model), LowerCtx("litert", "dsp"))
        low = g.ops[0].lowered
        assert low.kernel == "edgeq_conv_cb_im2col" and dict(low.fields)["cb_bits"] == bits
        lib = generate(g, tmp_path / str(k))
        data = (lib.dir / f"{lib.prefix}_data.c").read_text()
        assert f"int32_t model_op0_wq_s4[{32 * 144 * bits // 32}]" in data
        assert "int8_t model_op0_codebook[" in data and "model_op0_idx" not in data
        assert "[4608]" not in data  # no int8 copy of the 4608 weights


@pytest.mark.parametrize("k,bits,cout,cin,shared", [(20, 5, 7, 16, False), (40, 6, 6, 32, False),
                                                    (100, 7, 5, 128, True)])
def test_dsp_build_wide_indices(tmp_path, k, bits, cout, cin, shared):
    """5- to 7-bit filters on DSP cores run edgeq_conv_cbw_im2col (conv.c conv_decode_cbw); the generated data
    holds each channel pair's stream of ceil(2 * k_pad * bits / 32) words (k_pad = K rounded up to 8), the
    codebooks of 2^bits entries, no int8 copy of the filter and no portable packing."""
    make = shared_int8_model if shared else clustered_int8_model
    model = marked(make("CONV_2D", (1, 6, 6, cin), (cout, 3, 3, cin), (1, 6, 6, cout), conv_options(), k=k), k,
                   not shared)
    g = compile_graph(read_tflite(model), LowerCtx("litert", "dsp"))
    low = g.ops[0].lowered
    f = dict(low.fields)
    assert low.kernel == "edgeq_conv_cbw_im2col" and f["cb_bits"] == bits
    k_pad = -(-9 * cin // 8) * 8
    words = -(-cout // 2) * -(-2 * k_pad * bits // 32)
    assert f["wq_s4"].values.shape == (words,) and f["weights_s4"] is None
    assert f["codebook"].values.size % (1 << bits) == 0
    lib = generate(g, tmp_path / str(k))
    data = (lib.dir / f"{lib.prefix}_data.c").read_text()
    assert f"int32_t model_op0_wq_s4[{words}]" in data and "model_op0_idx" not in data
    assert f"[{cout * 9 * cin}]" not in data  # no int8 copy of the weights


def test_dsp_layout_cb_bits():
    """wq_s4 for 2-, 3- and 5- to 7-bit indices (conv.py _conv_dsp_weights_cb): per channel pair, blocks of 4 rows, each
    channel oc's 4 indices then oc + 1's, as one little-endian stream padded to a word; an odd out_c's partner
    and the rows past K zero."""
    from edgeq.ir.graph import Op
    from edgeq.passes.lower.int8.conv import _conv_dsp_weights_cb

    rng = np.random.default_rng(1)
    for bits, out_c, k in ((2, 5, 27), (3, 3, 20), (3, 4, 16), (5, 3, 27), (6, 4, 20), (7, 5, 33), (5, 2, 8)):
        idx = rng.integers(0, 1 << bits, (out_c, k))
        k_pad, wq = _conv_dsp_weights_cb(Op(id=0, kind="CONV_2D", inputs=(), outputs=()), idx, bits)
        assert k_pad == -(-k // 8) * 8
        words = wq.values.reshape(-(-out_c // 2), -1)
        assert words.shape[1] == -(-k_pad * 2 * bits // 32)
        for pair, row in enumerate(words):
            stream = np.unpackbits(row.astype("<i4").view(np.uint8), bitorder="little")
            f = (stream[: 2 * k_pad * bits].reshape(-1, bits).astype(np.int64) << np.arange(bits)).sum(axis=1)
            f = f.reshape(k_pad // 4, 2, 4)  # block, channel in pair, row in block
            for j in range(2):
                c = 2 * pair + j
                want = np.zeros(k_pad, np.int64)
                if c < out_c:
                    want[:k] = idx[c]
                assert np.array_equal(f[:, j].reshape(-1), want), (bits, c)
            assert not stream[2 * k_pad * bits:].any()


@pytest.mark.parametrize("kind", ["CONV_2D", "FULLY_CONNECTED"])
def test_wide_indices_only_in_clustered_models(kind):
    """17 to 128 values a channel take 5- to 7-bit codebooks only in a model marked as clustered
    (quantize --clusters writes the "edgeq_clusters" metadata, read into Graph.meta): a plain int8 model's rows of
    at most 128 values (ad01's dense layers) keep the int8 kernels; 16 values or fewer take codebooks either way.
    The mark round-trips through the reader, replaces an earlier one, and LiteRT runs the marked model alike."""
    from edgeq.quality.references import LiteRTHere

    if kind == "CONV_2D":
        args = ((1, 6, 6, 32), (3, 3, 3, 32), (1, 6, 6, 3), conv_options())
        wide_kernel, int8_kernels = "edgeq_conv_s4", ("edgeq_conv_s8",)
    else:
        args = ((1, 300), (4, 300), (1, 4), s.FullyConnectedOptionsT())
        wide_kernel, int8_kernels = "edgeq_fully_connected_s4", ("edgeq_fully_connected_s8",)
    for k, wide in ((40, True), (12, False)):
        plain = clustered_int8_model(kind, *args, k=k, seed=k)
        mark = mark_clustered(mark_clustered(plain, 256, True), k, False)
        assert "clusters" not in read_tflite(plain).meta
        assert (read_tflite(mark).meta["clusters"], read_tflite(mark).meta["clusters_per_channel"]) == (k, False)
        for model, codebooks in ((plain, not wide), (mark, True)):
            low = compile_graph(read_tflite(model), LowerCtx("litert", "portable")).ops[0].lowered
            assert (low.kernel == wide_kernel) == codebooks and (codebooks or low.kernel.startswith(int8_kernels)), \
                (k, low.kernel)
        x = random_inputs(plain, 1)[0]
        a, b = (LiteRTHere(model).run(x) for model in (plain, mark))
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
        cmp = compare(mark, random_inputs(mark, 4), "litert")
        assert cmp.bit_exact


def fc_chain(batch: int, sizes: list[int], *, codebook: int = 0, seed: int = 0) -> bytes:
    """FULLY_CONNECTED ops in a chain on an int8 input [1, batch, sizes[0]] (keep_num_dims), layer i mapping sizes[i] features to
    sizes[i + 1] with per-channel scales (per-tensor for the second layer), a fused ReLU on every third, random
    int4 weights (``codebook`` 0) or int8 weights each row of which takes up to ``codebook`` values of a pool of
    ``codebook`` shared by the layer, an int32 bias; the output scale follows the weights' spread."""
    from test_int4 import as_int4

    rng = np.random.default_rng(seed)
    tensors = [{"shape": [1, batch, sizes[0]], "dtype": "int8", "scale": float(rng.uniform(0.01, 0.1)),
                "zero_point": int(rng.integers(-128, 100))}]
    ops, filters, x = [], [], 0
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        in_s = tensors[x]["scale"]
        w_s = rng.uniform(0.005, 0.05, 1 if i == 1 else n_out).astype(np.float32)
        if codebook:
            pool = rng.choice(np.arange(-127, 128), codebook, replace=False)
            wt = np.stack([rng.choice(pool, n_in) for _ in range(n_out)]).astype(np.int8)
        else:
            wt = rng.integers(-8, 8, (n_out, n_in)).astype(np.int8)
        out_s = in_s * float(w_s.mean()) * float(np.sqrt((wt.astype(np.float64) ** 2).mean())) * np.sqrt(n_in) * 0.7
        b_s = (np.float32(in_s) * w_s).astype(np.float32)
        tensors += [
            {"shape": [n_out, n_in], "dtype": "int8", "scale": list(w_s), "zero_point": [0] * len(w_s),
             "data": wt},
            {"shape": [1, batch, n_out], "dtype": "int8", "scale": out_s, "zero_point": int(rng.integers(-20, 20))},
            {"shape": [n_out], "dtype": "int32", "scale": list(b_s), "zero_point": [0] * len(b_s),
             "data": rng.integers(-3000, 3000, n_out).astype(np.int32)},
        ]
        wi = len(tensors) - 3
        filters.append(wi)
        o = s.FullyConnectedOptionsT()
        o.fusedActivationFunction = s.ActivationFunctionType.RELU if i % 3 == 2 else s.ActivationFunctionType.NONE
        o.keepNumDims = True
        ops.append(("FULLY_CONNECTED", [x, wi, wi + 2], [wi + 1], o))
        x = wi + 1
    from harness import build_tflite

    model = build_tflite(tensors, ops, [0], [x])
    return model if codebook else as_int4(model, filters)


# in_f odd (rows starting mid-byte), in_f % 4 = 1, 2, 3 (a decoded tail), one and two words a row, a long row
FC_SIZES = [37, 45, 13, 8, 70, 130, 4, 9]


@pytest.mark.slow
@pytest.mark.parametrize("batch,codebook", [(1, 0), (2, 0), (1, 16), (1, 8), (2, 16), (1, 48)])
def test_fully_connected_sub8_on_mps2_an386(tmp_path, batch, codebook):
    """edgeq_fully_connected_s4 on the DSP core over FC_SIZES, byte for byte with LiteRT on the emulated
    Cortex-M4: int4 and 4-bit codebook rows of batch 1 decoded as they go (fc_dot_nib4; rows at odd nibbles and
    the other batch sizes / widths decoded a row at a time, then fc_dot4), 3-bit and (marked) 6-bit indices."""
    from edgeq.flows.convert_and_flash import convert_and_flash

    model = fc_chain(batch, FC_SIZES, codebook=codebook, seed=batch * 100 + codebook)
    if codebook > 16:
        model = marked(model, codebook, False)
    lows = [op.lowered for op in compile_graph(read_tflite(model), LowerCtx("litert", "dsp")).ops]
    bits = {dict(low.fields)["cb_bits"] for low in lows if low.kernel == "edgeq_fully_connected_s4"}
    assert bits and bits <= {0, max(2, (codebook - 1).bit_length()) if codebook else 0}, bits
    assert sum(low.kernel == "edgeq_fully_connected_s4" for low in lows) >= (len(lows) if not codebook else 3)
    assert {dict(low.fields)["batches"] for low in lows} == {batch}
    path = tmp_path / "fc.tflite"
    path.write_bytes(model)
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=8, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]
