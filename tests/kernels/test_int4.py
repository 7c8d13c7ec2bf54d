"""int4 weights (the int8x4 scheme): CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with TFLite INT4 filters,
byte for byte against LiteRT's reference kernels (the portable kernels, on the host).

The models are built by hand (:func:`int4_model`): random int4 filters over the whole range [-8, 7] (the
quantizer makes [-7, 7]), random per-channel scales, every shape in a few milliseconds and without
TensorFlow's converter. Measured facts the lowerings rely on:
  * LiteRT's reference unpacks an INT4 filter (low nibble first, an odd count padding the last byte's
    high nibble) and runs the int8 per-channel kernel: the same model with the filter widened to int8
    gives the same bytes (``test_litert_int4_is_widened_int8``);
  * TFLM runs int4 CONV_2D, DEPTHWISE_CONV_2D and per-tensor FULLY_CONNECTED (matched under --rounding
    tflm here); it refuses an int4 per-channel FULLY_CONNECTED (``test_tflm_refuses_per_channel_int4_...``), so
    a model with one (resnet8 int8x4) has no TFLM reference.
The DSP kernels (edgeq_conv_s4_im2col, codebooks edgeq_conv_cb_im2col) run on the emulated Cortex-M4 in tests/models/test_int8x4.py.
"""

from __future__ import annotations

import itertools

import flatbuffers
import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as s

from harness import build_tflite, compare, random_inputs
from edgeq.codegen.emit import generate
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.pipeline import compile_graph
from edgeq.passes.lower.registry import LowerCtx
from edgeq.quality.references import TFLM, LiteRT

ACT = {None: s.ActivationFunctionType.NONE, "relu": s.ActivationFunctionType.RELU,
       "relu6": s.ActivationFunctionType.RELU6}


def as_int4(model: bytes, tids: list[int]) -> bytes:
    """``model`` with the int8 constant tensors ``tids`` (values in [-8, 7]) stored as TFLite INT4."""
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0))
    for tid in tids:
        t = m.subgraphs[0].tensors[tid]
        v = np.frombuffer(bytes(m.buffers[t.buffer].data), np.int8).astype(np.int16)
        assert v.min() >= -8 and v.max() <= 7
        v = v & 0xF
        if v.size % 2:
            v = np.append(v, 0)
        m.buffers[t.buffer].data = (v[0::2] | (v[1::2] << 4)).astype(np.uint8)
        t.type = s.TensorType.INT4
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def widened(model: bytes) -> bytes:
    """``model`` with every INT4 tensor stored as INT8 (the values edgeq's reader unpacks)."""
    g = read_tflite(model)
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0))
    for tid, t in enumerate(m.subgraphs[0].tensors):
        if t.type == s.TensorType.INT4:
            t.type = s.TensorType.INT8
            m.buffers[t.buffer].data = np.frombuffer(np.asarray(g.tensor(tid).data, np.int8).tobytes(), np.uint8)
    b = flatbuffers.Builder(len(model) * 2 + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def int4_model(kind: str, x_shape, w_shape, out_shape, options, *, per_channel: bool = True, bias: bool = True,
               seed: int = 0, quant_axis: int = 0) -> bytes:
    """A one-op model: int8 input ``x_shape``, an int4 filter ``w_shape`` (random in [-8, 7]) quantized along
    ``quant_axis`` (or per tensor), an int32 bias with scale input_scale * filter_scale, int8 output."""
    rng = np.random.default_rng(seed)
    out_c = w_shape[quant_axis]
    in_s, in_zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 100))
    w_s = rng.uniform(0.005, 0.05, out_c if per_channel else 1).astype(np.float32)
    w = rng.integers(-8, 8, w_shape).astype(np.int8)
    k = int(np.prod(w_shape)) // out_c
    out_s = float(in_s * float(w_s.mean()) * 3.0 * np.sqrt(k))
    tensors = [
        {"shape": list(x_shape), "dtype": "int8", "scale": in_s, "zero_point": in_zp},
        {"shape": list(w_shape), "dtype": "int8", "scale": list(w_s), "zero_point": [0] * len(w_s), "data": w},
        {"shape": list(out_shape), "dtype": "int8", "scale": out_s, "zero_point": int(rng.integers(-20, 20))},
    ]
    inputs = [0, 1]
    if bias:
        b_s = (np.float32(in_s) * w_s).astype(np.float32)
        tensors.append({"shape": [out_c], "dtype": "int32", "scale": list(b_s), "zero_point": [0] * len(b_s),
                        "data": rng.integers(-3000, 3000, out_c).astype(np.int32)})
        inputs.append(3)
    model = build_tflite(tensors, [(kind, inputs, [2], options)], [0], [2])
    if quant_axis:
        model = _set_quant_axis(model, 1, quant_axis)
    return as_int4(model, [1])


def _set_quant_axis(model: bytes, tid: int, axis: int) -> bytes:
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0))
    m.subgraphs[0].tensors[tid].quantization.quantizedDimension = axis
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def conv_options(stride=(1, 1), dilation=(1, 1), padding="same", act=None):
    o = s.Conv2DOptionsT()
    o.padding = s.Padding.SAME if padding == "same" else s.Padding.VALID
    o.strideH, o.strideW = stride
    o.dilationHFactor, o.dilationWFactor = dilation
    o.fusedActivationFunction = ACT[act]
    return o


def out_size(n, k, stride, dil, padding):
    eff = (k - 1) * dil + 1
    return -(-n // stride) if padding == "same" else (n - eff) // stride + 1


def conv4(h, w, cin, cout, kh, kw, stride=(1, 1), dilation=(1, 1), padding="same", act=None, batch=1, **opts):
    oh = out_size(h, kh, stride[0], dilation[0], padding)
    ow = out_size(w, kw, stride[1], dilation[1], padding)
    return int4_model("CONV_2D", (batch, h, w, cin), (cout, kh, kw, cin), (batch, oh, ow, cout),
                      conv_options(stride, dilation, padding, act), **opts)


def dw_options(stride=(1, 1), dilation=(1, 1), padding="same", mult=1, act=None):
    o = s.DepthwiseConv2DOptionsT()
    o.padding = s.Padding.SAME if padding == "same" else s.Padding.VALID
    o.strideH, o.strideW = stride
    o.dilationHFactor, o.dilationWFactor = dilation
    o.depthMultiplier = mult
    o.fusedActivationFunction = ACT[act]
    return o


def dw4(h, w, cin, mult, kh, kw, stride=(1, 1), dilation=(1, 1), padding="same", act=None, **opts):
    o = dw_options(stride, dilation, padding, mult, act)
    oh = out_size(h, kh, stride[0], dilation[0], padding)
    ow = out_size(w, kw, stride[1], dilation[1], padding)
    return int4_model("DEPTHWISE_CONV_2D", (1, h, w, cin), (1, kh, kw, cin * mult), (1, oh, ow, cin * mult), o,
                      quant_axis=3, **opts)


def fc4(batch, n_in, n_out, act=None, **kw):
    o = s.FullyConnectedOptionsT()
    o.fusedActivationFunction = ACT[act]
    return int4_model("FULLY_CONNECTED", (batch, n_in), (n_out, n_in), (batch, n_out), o, **kw)


def assert_bit_exact(model: bytes, kernel: str, n: int = 12, roundings=("litert", "tflm")) -> None:
    """The host build (portable kernels, int4 weights packed) equals LiteRT's reference (and TFLM under
    --rounding tflm) on ``n`` random inputs, and the op ran the int4 kernel ``kernel``."""
    g = compile_graph(read_tflite(model), LowerCtx("litert", "portable"))
    assert [op.lowered.kernel for op in g.ops] == [kernel]
    inputs = random_inputs(model, n)
    for r in roundings:
        cmp = compare(model, inputs, r)
        assert cmp.bit_exact, (f"[{r}] {cmp.exact_samples}/{cmp.samples} samples bit-exact, {cmp.mismatched_bytes} "
                               f"of {cmp.total_bytes} bytes differ (max |diff| {cmp.max_abs_diff})")


# --- the reference -----------------------------------------------------------------------------------

def test_litert_int4_is_widened_int8():
    for model in (conv4(7, 6, 5, 7, 3, 3, seed=1), dw4(6, 5, 3, 2, 3, 3, seed=2), fc4(1, 13, 5, seed=3)):
        a, b = LiteRT(model), LiteRT(widened(model))
        for x in random_inputs(model, 4):
            assert all((u == v).all() for u, v in zip(a.run(x), b.run(x)))


def test_reader_unpacks_low_nibble_first_odd_count():
    model = fc4(1, 5, 3, seed=4)  # 15 values: the last byte's high nibble is padding
    w = read_tflite(model).tensor(1)
    assert w.dtype == "int4" and w.nbytes == 8 and w.data.shape == (3, 5)
    raw = s.Model.GetRootAsModel(model, 0)
    buf = raw.Buffers(raw.Subgraphs(0).Tensors(1).Buffer()).DataAsNumpy()
    v = w.data.reshape(-1).astype(np.int16) & 0xF
    assert list(buf[:7]) == list(v[0:14:2] | (v[1:14:2] << 4)) and buf[7] == v[14]


def test_tflm_refuses_per_channel_int4_fully_connected():
    """TFLM (the pinned build) runs int4 CONV_2D, DEPTHWISE_CONV_2D and per-tensor FULLY_CONNECTED, and refuses a
    per-channel int4 FULLY_CONNECTED at allocation (its int8 twin runs): that one is checked against LiteRT only."""
    model = fc4(1, 8, 4)
    with pytest.raises(Exception, match="allocate"):
        TFLM(model).run(random_inputs(model, 1)[0])
    TFLM(widened(model)).run(random_inputs(model, 1)[0])


# --- CONV_2D -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w,cin,cout,kh,kw,stride,dilation,padding,act", [
    (9, 11, 5, 7, 3, 3, (1, 1), (1, 1), "same", None),          # odd channels, K = 45 (odd)
    (9, 11, 5, 7, 3, 3, (2, 2), (1, 1), "same", "relu"),        # stride 2, asymmetric SAME padding
    (8, 8, 4, 6, 1, 1, (1, 1), (1, 1), "valid", None),          # 1x1
    (7, 7, 3, 5, 1, 1, (2, 1), (1, 1), "valid", "relu6"),       # 1x1 strided, odd everything
    (10, 7, 3, 8, 3, 1, (1, 2), (1, 1), "valid", None),         # non-square kernel and stride
    (12, 12, 4, 4, 3, 3, (1, 1), (2, 2), "same", None),         # dilation
    (5, 5, 3, 4, 5, 5, (1, 1), (1, 1), "valid", None),          # kernel as large as the input
    (3, 3, 2, 3, 5, 5, (1, 1), (1, 1), "same", "relu"),         # kernel larger than the input
    (6, 5, 16, 33, 3, 3, (1, 1), (1, 1), "same", None),         # many channels, odd out_c
    (4, 4, 1, 1, 3, 3, (1, 1), (1, 1), "same", None),           # one channel, K = 9
])
def test_conv_int4(h, w, cin, cout, kh, kw, stride, dilation, padding, act):
    assert_bit_exact(conv4(h, w, cin, cout, kh, kw, stride, dilation, padding, act, seed=h * w + cin), "edgeq_conv_s4")


def test_conv_int4_per_tensor_batch2():
    # (LiteRT refuses an int4 CONV_2D without bias: conv.cc "has_bias was not true")
    assert_bit_exact(conv4(6, 7, 3, 5, 3, 3, per_channel=False, batch=2, seed=7), "edgeq_conv_s4")


@pytest.mark.parametrize("seed", range(6))
def test_conv_int4_random(seed):
    r = np.random.default_rng(100 + seed)
    kh, kw = int(r.integers(1, 4)), int(r.integers(1, 4))
    model = conv4(int(r.integers(kh, 10)), int(r.integers(kw, 10)), int(r.integers(1, 9)), int(r.integers(1, 12)),
                  kh, kw, (int(r.integers(1, 3)), int(r.integers(1, 3))), (1, 1),
                  "same" if r.integers(2) else "valid", [None, "relu", "relu6"][int(r.integers(3))], seed=seed)
    assert_bit_exact(model, "edgeq_conv_s4")


# --- DEPTHWISE_CONV_2D -------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w,cin,mult,kh,kw,stride,dilation,padding,act", [
    (9, 11, 5, 1, 3, 3, (1, 1), (1, 1), "same", None),
    (9, 11, 5, 2, 3, 3, (2, 2), (1, 1), "same", "relu"),        # multiplier 2, odd channel count
    (8, 7, 3, 2, 5, 5, (1, 1), (1, 1), "valid", "relu6"),       # 25 taps x 6 channels: odd tap rows
    (10, 10, 40, 1, 3, 3, (1, 1), (2, 2), "same", None),        # two channel blocks (32 + 8), dilation
    (5, 6, 35, 2, 3, 3, (2, 1), (1, 1), "same", None),          # 70 channels: three blocks
    (6, 6, 7, 1, 1, 1, (1, 1), (1, 1), "valid", None),          # 1x1
])
def test_depthwise_int4(h, w, cin, mult, kh, kw, stride, dilation, padding, act):
    assert_bit_exact(dw4(h, w, cin, mult, kh, kw, stride, dilation, padding, act, seed=h + cin), "edgeq_depthwise_conv_s4")


def test_depthwise_int4_per_tensor_no_bias():
    assert_bit_exact(dw4(6, 6, 5, 1, 3, 3, per_channel=False, bias=False, seed=9), "edgeq_depthwise_conv_s4")


# --- FULLY_CONNECTED ---------------------------------------------------------------------------------

@pytest.mark.parametrize("batch,n_in,n_out,act,per_channel", [
    (1, 13, 5, None, True),        # odd input size, odd element count
    (1, 64, 10, "relu", True),
    (3, 7, 9, None, True),         # batches share one decode per row
    (1, 1, 3, None, True),         # one input
    (2, 33, 4, "relu6", False),    # per tensor
])
def test_fully_connected_int4(batch, n_in, n_out, act, per_channel):
    assert_bit_exact(fc4(batch, n_in, n_out, act, per_channel=per_channel, seed=n_in), "edgeq_fully_connected_s4",
                     roundings=("litert", "tflm") if not per_channel else ("litert",))


# --- generated code ----------------------------------------------------------------------------------

def test_int4_weights_stay_packed(tmp_path):
    """model_data.c holds the filter as TFLite packs it (and, for the DSP path, wq_s4 at the same size),
    never widened; the fit estimate counts it at its packed size."""
    model = conv4(8, 8, 16, 32, 3, 3, seed=11)
    for cpu, names in (("portable", {"t1_data"}), ("dsp", {"op0_wq_s4"})):
        g = compile_graph(read_tflite(model), LowerCtx("litert", cpu))
        low = g.ops[0].lowered
        arrays = {v.name: v for _, v in low.fields if hasattr(v, "values")}
        assert names <= set(arrays)
        assert "t1_data" not in arrays or arrays["t1_data"].values.nbytes == 32 * 9 * 16 // 2
        if "op0_wq_s4" in arrays:
            assert arrays["op0_wq_s4"].values.nbytes == 32 * 9 * 16 // 2  # K = 144, a multiple of 8
        assert low.fields[[n for n, _ in low.fields].index("weights")][1] is None
        lib = generate(g, tmp_path / cpu)
        data = (lib.dir / f"{lib.prefix}_data.c").read_text()
        assert ("uint8_t model_t1_data[2304]" in data) == (cpu == "portable")
        assert ("int32_t model_op0_wq_s4[576]" in data) == (cpu == "dsp")
        assert "[4608]" not in data  # no int8 copy of the 4608 weights


def conv_chain(x_shape, layers, *, codebook: int = 0, seed: int = 0) -> bytes:
    """CONV_2D ops in a chain on an int8 input ``x_shape``, each layer (cout, kh, kw, stride, dilation, padding,
    act, per_channel) with a random int4 filter (``codebook`` n = 4, 8 or 16: an int8 filter whose output channels
    each take max(2, 3n / 8) to n values of the layer's pool of n + n / 4 * (layer % 3) random int8 values: with
    n, one shared codebook; with more, channels whose value sets fit n share one, cb_map naming it; 2-, 3-,
    4-bit indices), an int32 bias and random scales and zero points, as
    :func:`int4_model`; the output scale follows the filter's spread so that the outputs use the int8 range."""
    rng = np.random.default_rng(seed)
    _, h, w, c = x_shape
    tensors = [{"shape": list(x_shape), "dtype": "int8", "scale": float(rng.uniform(0.01, 0.1)),
                "zero_point": int(rng.integers(-128, 100))}]
    ops, filters, x = [], [], 0
    for cout, kh, kw, stride, dil, padding, act, per_channel in layers:
        oh, ow = out_size(h, kh, stride[0], dil[0], padding), out_size(w, kw, stride[1], dil[1], padding)
        k, in_s = kh * kw * c, tensors[x]["scale"]
        w_s = rng.uniform(0.005, 0.05, cout if per_channel else 1).astype(np.float32)
        if codebook:
            pool = rng.choice(np.arange(-127, 128), codebook + codebook // 4 * (len(ops) % 3), replace=False)
            lo = max(2, 3 * codebook // 8)
            wt = np.stack([rng.choice(rng.choice(pool, int(rng.integers(lo, codebook + 1)), replace=False), k)
                           for _ in range(cout)]).astype(np.int8)
        else:
            wt = rng.integers(-8, 8, (cout, k)).astype(np.int8)
        out_s = in_s * float(w_s.mean()) * float(np.sqrt((wt.astype(np.float64) ** 2).mean())) * np.sqrt(k) * 0.7
        b_s = (np.float32(in_s) * w_s).astype(np.float32)
        tensors += [
            {"shape": [cout, kh, kw, c], "dtype": "int8", "scale": list(w_s), "zero_point": [0] * len(w_s),
             "data": wt.reshape(cout, kh, kw, c)},
            {"shape": [x_shape[0], oh, ow, cout], "dtype": "int8", "scale": out_s,
             "zero_point": int(rng.integers(-20, 20))},
            {"shape": [cout], "dtype": "int32", "scale": list(b_s), "zero_point": [0] * len(b_s),
             "data": rng.integers(-3000, 3000, cout).astype(np.int32)},
        ]
        wi = len(tensors) - 3
        filters.append(wi)
        ops.append(("CONV_2D", [x, wi, wi + 2], [wi + 1], conv_options(stride, dil, padding, act)))
        x, h, w, c = wi + 1, oh, ow, cout
    model = build_tflite(tensors, ops, [0], [x])
    return model if codebook else as_int4(model, filters)


# Shapes for the DSP conv (edgeq_conv_s4_im2col, edgeq_conv_cb_im2col) on the device, each K padded to a multiple of 8 (k_pad):
# odd out_c (a zero partner channel), strides with asymmetric SAME padding, 1x1, dilation, non-square kernels,
# a window wider than the input (taps gathered one by one), per-tensor scales, fused ReLU / ReLU6 whose clamps
# are narrower than int8 (conv_rq_other) and none (SSAT alone), the last group of pixel pairs short or odd.
S4_CHAIN = ((1, 11, 9, 5), [(7, 3, 3, (1, 1), (1, 1), "same", "relu", True),     # K 45, 99 pixels
                            (8, 3, 3, (2, 2), (1, 1), "same", None, False),     # K 63, per tensor
                            (5, 1, 1, (1, 1), (1, 1), "valid", "relu6", True),  # 1x1, K 8
                            (6, 3, 3, (1, 1), (2, 2), "same", None, True),      # dilation
                            (9, 1, 3, (1, 2), (1, 1), "same", "relu", True),    # 1x3, stride (1, 2)
                            (4, 5, 5, (1, 1), (1, 1), "same", None, True),      # 5x5 on 6x3: K 225
                            (3, 3, 3, (1, 1), (1, 1), "valid", None, True)])    # 4x1 valid output
CB_CHAIN = ((1, 9, 8, 3), [(9, 3, 3, (1, 1), (1, 1), "same", "relu", True),      # K 27 (k_pad 32: edge windows
                                                                                 # staged), one codebook
                           (7, 3, 3, (2, 2), (1, 1), "same", None, True),       # K 81, odd out_c, cb_map
                           (8, 3, 4, (1, 1), (2, 2), "same", "relu6", False),   # K 84, dilation, per tensor
                           (5, 3, 5, (1, 1), (1, 1), "same", None, True)])      # K 120, odd out_c, one


@pytest.mark.slow
@pytest.mark.parametrize("codebook", [0, 4, 8, 16])
def test_conv_dsp_shapes_on_mps2_an386(codebook, tmp_path):
    """edgeq_conv_s4_im2col (int4) and edgeq_conv_cb_im2col (2-, 3-, 4-bit codebook indices: at most 4, 8, 16
    values a channel) over
    the shapes of S4_CHAIN / CB_CHAIN, byte for byte with LiteRT's reference on the emulated Cortex-M4 (and the
    portable kernel on the host)."""
    from edgeq.flows.convert_and_flash import convert_and_flash

    x_shape, layers = CB_CHAIN if codebook else S4_CHAIN
    model = conv_chain(x_shape, layers, codebook=codebook, seed=7)
    g = compile_graph(read_tflite(model), LowerCtx("litert", "dsp"))
    kernel = "edgeq_conv_cb_im2col" if codebook else "edgeq_conv_s4_im2col"
    assert [op.lowered.kernel for op in g.ops] == [kernel] * len(layers)
    if codebook:  # one codebook (no cb_map) where the pool has n values, else several named by cb_map
        assert {dict(op.lowered.fields)["cb_bits"] for op in g.ops} == {codebook.bit_length() - 1}
        books = [(len(f["codebook"].values), f["cb_map"] is not None)
                 for f in (dict(op.lowered.fields) for op in g.ops)]
        assert [n == 1 for n, _ in books] == [True, False, False, True]
        assert [m for _, m in books] == [n > 1 for n, _ in books]
        assert all(n < c for (n, _), (c, *_) in zip(books, layers)), books
    cmp = compare(model, random_inputs(model, 6), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.first_bad_op)
    path = tmp_path / "chain.tflite"
    path.write_bytes(model)
    r = convert_and_flash(path, board_name="mps2-an386", runs=1, samples=8, out_dir=tmp_path / "out").report
    assert r["validation"]["bit_exact"], r["validation"]


@pytest.mark.parametrize("out_c", [32, 7])
def test_int4_dsp_constants_are_int8s(out_c):
    """The DSP conv's arrays for an int4 filter (and a clustered int8 one): the packed filter, acc_init and
    dsp_me, the int8 DSP path's 4.25 bytes of requantization constants a channel (no dsp_rq, no bias / mult /
    shift on DSP-only builds, Helium ones included: they run this kernel), plus for a codebook its 16 int8
    entries a distinct codebook (random per-channel values: one a channel) and a byte a channel naming it,
    never widened, nothing for an odd last channel's DSP partner."""
    cases = ((conv4(8, 8, 16, out_c, 3, 3, seed=11), None),
             (clustered_int8_model("CONV_2D", (1, 8, 8, 16), (out_c, 3, 3, 16), (1, 8, 8, out_c), conv_options(),
                                   k=16, seed=3), "codebook"))
    for (model, extra), cpu in itertools.product(cases, ("dsp", "mve")):
        low = compile_graph(read_tflite(model), LowerCtx("litert", cpu)).ops[0].lowered
        assert low.kernel == ("edgeq_conv_cb_im2col" if extra else "edgeq_conv_s4_im2col")
        f = {n: v for n, v in low.fields if hasattr(v, "values")}
        assert set(f) == {"wq_s4", "acc_init", "dsp_me"} | ({extra, "cb_map"} if extra else set())
        assert f["wq_s4"].values.nbytes == (out_c + out_c % 2) * 144 // 2
        assert f["dsp_me"].values.nbytes == 4 * out_c + 4 * -(-out_c // 4)  # multipliers, then exponent bytes
        assert "dsp_rq" not in dict(low.fields)  # (a field of Helium builds only, the Helium body's)
        if extra:
            cb = f["codebook"].values
            assert cb.dtype == np.int8 and cb.shape == (out_c, 16)
            assert f["cb_map"].values.dtype == np.uint8 and f["cb_map"].values.shape == (out_c,)


def test_int4_dsp_path_needs_sums_times_16_in_int32():
    """The int4 DSP path starts from 16 * acc_init: a bias so large that 16 * (|acc_init| + 128 * sum|w|) does
    not fit int32 takes the portable kernel."""
    from edgeq.ir import ArrayRef
    from edgeq.passes.lower.int8.conv import _s4_sums_fit

    w = np.full((2, 3, 3, 4), -8, np.int8)  # sum|w| = 288 a channel
    fits = (1 << 27) - 1 - 128 * 288
    assert _s4_sums_fit(w, ArrayRef("a", "int32_t", np.array([fits, -fits], np.int32)))
    assert not _s4_sums_fit(w, ArrayRef("a", "int32_t", np.array([0, -fits - 1], np.int32)))


# --- codebook weights (clustered int8 filters, issue 12 §2) ------------------------------------------

def clustered_int8_model(kind: str, x_shape, w_shape, out_shape, options, k: int = 16, seed: int = 0) -> bytes:
    """A one-op int8 model whose filter has at most ``k`` distinct values per output channel (as a clustered
    model quantized per channel has): each channel's weights drawn from its own ``k`` random int8 values."""
    rng = np.random.default_rng(seed)
    model = int4_model(kind, x_shape, w_shape, out_shape, options, seed=seed)
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(widened(model), 0))
    t = m.subgraphs[0].tensors[1]
    out_c = w_shape[0]
    values = np.stack([rng.choice(np.arange(-127, 128), k, replace=False) for _ in range(out_c)])
    w = np.take_along_axis(values, rng.integers(0, k, (out_c, int(np.prod(w_shape[1:])))), axis=1).astype(np.int8)
    m.buffers[t.buffer].data = np.frombuffer(w.tobytes(), np.uint8)
    b = flatbuffers.Builder(len(model) * 4 + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize("h,w,cin,cout,kh,kw,stride,padding,k", [
    (6, 7, 8, 5, 3, 3, (1, 1), "same", 16),    # K = 72 per channel, odd out_c
    (5, 5, 64, 6, 1, 1, (1, 1), "valid", 16),  # 1x1, K = 64
    (7, 6, 9, 4, 3, 3, (2, 2), "same", 3),     # K = 81 (odd), 3 values per channel
])
def test_conv_codebook(h, w, cin, cout, kh, kw, stride, padding, k):
    oh, ow = out_size(h, kh, stride[0], 1, padding), out_size(w, kw, stride[1], 1, padding)
    model = clustered_int8_model("CONV_2D", (1, h, w, cin), (cout, kh, kw, cin), (1, oh, ow, cout),
                                 conv_options(stride, (1, 1), padding), k=k, seed=cin)
    assert read_tflite(model).tensor(1).dtype == "int8"
    g = compile_graph(read_tflite(model), LowerCtx("litert", "portable"))
    names = {v.name for _, v in g.ops[0].lowered.fields if hasattr(v, "values")}
    assert {"op0_idx", "op0_codebook"} <= names and "t1_data" not in names  # 4-bit indices, no int8 filter
    assert_bit_exact(model, "edgeq_conv_s4")


def test_fully_connected_codebook():
    o = s.FullyConnectedOptionsT()
    model = clustered_int8_model("FULLY_CONNECTED", (2, 65), (7, 65), (2, 7), o, k=16, seed=5)
    assert_bit_exact(model, "edgeq_fully_connected_s4")


def test_int8_filters_with_many_values_stay_int8():
    """An int8 filter with more than 16 values in a channel, and a clustered one whose indices, codebooks and
    codebook numbers would take as many bytes as its int8 weights (K = 3, 4 values a channel: 2-bit indices
    3 B, 4 codebooks 16 B, numbers 4 B against 12 B), keep the int8 kernels; with K = 27 the same clustering
    pays (27 + 16 + 4 B against 108 B)."""
    for model, kernel in (
            (clustered_int8_model("CONV_2D", (1, 6, 6, 8), (4, 3, 3, 8), (1, 6, 6, 4), conv_options(), k=40),
             "edgeq_conv_s8"),
            (clustered_int8_model("CONV_2D", (1, 5, 5, 3), (4, 1, 1, 3), (1, 5, 5, 4), conv_options(), k=4),
             "edgeq_conv_s8"),
            (clustered_int8_model("CONV_2D", (1, 5, 5, 3), (4, 3, 3, 3), (1, 5, 5, 4), conv_options(), k=4),
             "edgeq_conv_s4")):
        g = compile_graph(read_tflite(model), LowerCtx("litert", "portable"))
        assert g.ops[0].lowered.kernel == kernel
