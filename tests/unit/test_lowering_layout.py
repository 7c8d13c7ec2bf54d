"""The Python lowerings mirror the C kernel files: a lowering in ``edgeq/passes/lower/<dtype>/<stem>.py`` emits
kernel calls of ``firmware/kernels/<stem>.c`` for int8, ``int16_<stem>.c`` and ``float32_<stem>.c`` for the
others, and nothing else; and the scratch it plans for a kernel is what that kernel's header says
(``<kernel>_scratch_bytes``), which the generated model.c checks at compile time.

Every (op kind, data-type signature) in the lowering registry is lowered here on a tiny one-op graph (with
both roundings where the op supports them), so a new lowering without a case below, or one that calls a
kernel of another file, fails.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import subprocess

import numpy as np
import pytest

import edgeq.passes.lower  # noqa: F401  (registers every lowering)
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.codegen.emit import KERNELS, generate, scratch_needed
from edgeq.errors import EdgeqError
from edgeq.ir import Graph, Lowered, Op, Quant, Tensor
from edgeq.passes.lower.registry import LowerCtx, Unsupported, registered
from edgeq.passes.pipeline import compile_graph
from edgeq.targets.host import compile_shared, host_cc

# Activation quantization per element type (int16: zero point 0, as the 16x8 kernels require).
_QUANT = {"int8": Quant((0.05,), (3,)), "uint8": Quant((0.05,), (128,)), "int16": Quant((2.0**-10,), (0,)),
          "float32": None}


class _Graph:
    """One op over a few tensors."""

    def __init__(self) -> None:
        self.tensors: list[Tensor] = []

    def t(self, shape, dtype: str, quant="act", data=None) -> int:
        q = _QUANT[dtype] if quant == "act" else quant
        if data is not None:
            data = np.asarray(data).astype({"int8": np.int8, "int16": np.int16, "int32": np.int32,
                                            "int64": np.int64, "float32": np.float32}[dtype]).reshape(shape)
        self.tensors.append(Tensor(len(self.tensors), f"t{len(self.tensors)}", tuple(shape), dtype, q, data))
        return len(self.tensors) - 1

    def op(self, kind: str, inputs, outputs, **attrs) -> Graph:
        op = Op(0, kind, tuple(inputs), tuple(outputs), attrs, location="y")
        consts = {t.id for t in self.tensors if t.is_const}
        ins = tuple(t for t in inputs if t >= 0 and t not in consts)
        return Graph(tuple(self.tensors), (op,), ins, tuple(outputs))


def _weights(b: _Graph, shape, d: str) -> int:
    rng = np.random.default_rng(0)
    if d == "float32":
        return b.t(shape, "float32", None, rng.standard_normal(shape))
    return b.t(shape, "int8", Quant((0.01,), (0,)), rng.integers(-127, 128, shape))


def _bias(b: _Graph, n: int, d: str) -> int:
    dtype = {"int8": "int32", "int16": "int64", "float32": "float32"}[d]
    return b.t((n,), dtype, None if d == "float32" else Quant((0.0005,), (0,)), np.arange(n))


def _consts(b: _Graph, *arrays) -> list[int]:
    return [b.t(np.shape(a), "int32", None, a) for a in arrays]


def _unary(kind: str, d: str, out_quant="act", **attrs) -> Graph:
    b = _Graph()
    x, y = b.t((1, 8), d), b.t((1, 8), d, out_quant)
    return b.op(kind, [x], [y], **attrs)


def _sigmoid(kind: str, d: str) -> Graph:
    out = {"int8": Quant((1 / 256,), (-128,)) if kind == "LOGISTIC" else Quant((1 / 128,), (0,)),
           "int16": Quant((2.0**-15,), (0,)), "float32": None}[d]
    return _unary(kind, d, out)


def _softmax(kind: str, d: str) -> Graph:
    out = {"int8": Quant((1 / 256,), (-128,)), "int16": Quant((1 / 32768,), (0,)), "float32": None}[d]
    return _unary(kind, d, out, beta=1.0)


def _binary(kind: str, d: str) -> Graph:
    b = _Graph()
    x1, x2, y = b.t((1, 4), d), b.t((1, 4), d), b.t((1, 4), d)
    return b.op(kind, [x1, x2], [y], fused_activation_function="NONE")


_WINDOW = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
               fused_activation_function="NONE")


def _prelu(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 3, 4), d)
    alpha = b.t((1, 1, 4), d, "act", np.arange(4)) if d != "float32" else b.t((1, 1, 4), d, None, np.arange(4))
    return b.op(kind, [x, alpha], [b.t((1, 3, 4), d)])


def _conv(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 4, 4, 4), d)
    w = _weights(b, (4, 3, 3, 4) if kind == "CONV_2D" else (1, 3, 3, 4), d)
    bias, y = _bias(b, 4, d), b.t((1, 4, 4, 4), d)
    return b.op(kind, [x, w, bias], [y], depth_multiplier=1, **_WINDOW)


def _fully_connected(kind: str, d: str) -> Graph:
    b = _Graph()
    x, w, bias, y = b.t((1, 8), d), _weights(b, (4, 8), d), _bias(b, 4, d), b.t((1, 4), d)
    return b.op(kind, [x, w, bias], [y], fused_activation_function="NONE")


def _transpose_conv(kind: str, d: str) -> Graph:
    b = _Graph()
    (shape,) = _consts(b, np.array([1, 4, 4, 4]))
    w, x, y = _weights(b, (4, 3, 3, 4), d), b.t((1, 4, 4, 4), d), b.t((1, 4, 4, 4), d)
    return b.op(kind, [shape, w, x], [y], padding="SAME", stride_h=1, stride_w=1, fused_activation_function="NONE")


def _pool(kind: str, d: str) -> Graph:
    b = _Graph()
    x, y = b.t((1, 4, 4, 4), d), b.t((1, 2, 2, 4), d)
    return b.op(kind, [x], [y], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
                fused_activation_function="NONE")


def _reduce(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 4, 4, 4), d)
    (axes,) = _consts(b, np.array([1, 2]))
    return b.op(kind, [x, axes], [b.t((1, 1, 1, 4), d)], keep_dims=True)


def _resize(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 2, 2, 4), d)
    (size,) = _consts(b, np.array([4, 4]))
    return b.op(kind, [x, size], [b.t((1, 4, 4, 4), d)], align_corners=False, half_pixel_centers=False)


def _mirror_pad(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 3, 4, 2), d)
    (pads,) = _consts(b, np.array([[0, 0], [1, 2], [2, 1], [0, 0]]))
    return b.op(kind, [x, pads], [b.t((1, 6, 7, 2), d)], mode=0)


def _l2_normalization(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 3, 8), d)
    return b.op(kind, [x], [b.t((1, 3, 8), d, Quant((1 / 128,), (0,)))], fused_activation_function="NONE")


def _logical(kind: str, d: str) -> Graph:
    b = _Graph()
    x1 = b.t((2, 3), d, None)
    if kind == "LOGICAL_NOT":
        return b.op(kind, [x1], [b.t((2, 3), d, None)])
    return b.op(kind, [x1, b.t((1, 3), d, None)], [b.t((2, 3), d, None)])


def _concatenation(kind: str, d: str) -> Graph:
    b = _Graph()
    x1, x2, y = b.t((1, 2, 4), d), b.t((1, 2, 4), d), b.t((1, 4, 4), d)
    return b.op(kind, [x1, x2], [y], axis=1, fused_activation_function="NONE")


def _pad(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 2, 2, 4), d)
    (pads,) = _consts(b, np.array([[0, 0], [1, 1], [1, 1], [0, 0]]))
    ins = [x, pads]
    if kind == "PADV2":
        ins.append(b.t((1,), d, "act", np.zeros(1)))
    return b.op(kind, ins, [b.t((1, 4, 4, 4), d)])


def _strided_slice(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 4, 4, 4), d)
    begin, end, strides = _consts(b, np.array([0, 0, 0, 0]), np.array([1, 2, 2, 4]), np.array([1, 1, 1, 1]))
    return b.op(kind, [x, begin, end, strides], [b.t((1, 2, 2, 4), d)])


def _split(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 4, 6), d)
    if kind == "UNPACK":
        return b.op(kind, [x], [b.t((1, 6), d) for _ in range(4)], num=4, axis=1)
    (axis,) = _consts(b, np.array(2))
    outs = [b.t((1, 4, 2), d), b.t((1, 4, 4), d)] if kind == "SPLIT_V" else [b.t((1, 4, 3), d) for _ in range(2)]
    if kind == "SPLIT_V":
        (sizes,) = _consts(b, np.array([2, 4]))
        return b.op(kind, [x, sizes, axis], outs, num_splits=2)
    return b.op(kind, [axis, x], outs, num_splits=2)


def _pack(kind: str, d: str) -> Graph:
    b = _Graph()
    x1, x2, y = b.t((1, 4), d), b.t((1, 4), d), b.t((2, 1, 4), d)
    return b.op(kind, [x1, x2], [y], values_count=2, axis=0)


def _convert(kind: str, sig: str) -> Graph:
    src, _, dst = sig.partition("->")
    b = _Graph()
    x = b.t((1, 8), src)
    out_quant = Quant((0.1,), _QUANT[dst or src].zero_point) if _QUANT[dst or src] else None
    return b.op(kind, [x], [b.t((1, 8), dst or src, out_quant)])



def _strided_copy(kind: str, d: str) -> Graph:
    b = _Graph()
    x = b.t((1, 2, 3, 4), d)
    if kind == "TRANSPOSE":
        ins, out = _consts(b, np.array([0, 2, 1, 3])), (1, 3, 2, 4)
    elif kind == "TILE":
        ins, out = _consts(b, np.array([1, 2, 1, 3])), (1, 4, 3, 12)
    elif kind == "SLICE":
        ins, out = _consts(b, np.array([0, 1, 0, 1]), np.array([1, 1, -1, 2])), (1, 1, 3, 2)
    elif kind == "REVERSE_V2":
        ins, out = _consts(b, np.array([2])), (1, 2, 3, 4)
    elif kind == "DEPTH_TO_SPACE":
        return b.op(kind, [x], [b.t((1, 4, 6, 1), d)], block_size=2)
    else:  # SPACE_TO_DEPTH
        x = b.t((1, 2, 4, 3), d)
        return b.op(kind, [x], [b.t((1, 1, 2, 12), d)], block_size=2)
    return b.op(kind, [x, *ins], [b.t(out, d)])


def _gather(kind: str, sig: str) -> Graph:
    """Runtime params ("int8") or a constant table at runtime indices ("int32->int8")."""
    src, _, dst = sig.partition("->")
    b = _Graph()
    d = dst or src
    table = dst != ""
    x = b.t((6, 4), d, "act", np.arange(24)) if table else b.t((6, 4), d)
    idx = b.t((1, 3), src if table else "int32", None)
    return b.op(kind, [x, idx], [b.t((1, 3, 4), d)], axis=0, batch_dims=0)


def _arg_min_max(kind: str, sig: str) -> Graph:
    src, _, dst = sig.partition("->")
    b = _Graph()
    x = b.t((1, 4, 5), src)
    axis = b.t((1,), "int32", None, np.array([-1]))
    return b.op(kind, [x, axis], [b.t((1, 4), dst, None)])


def _compare(kind: str, sig: str) -> Graph:
    b = _Graph()
    x, zero = b.t((1, 8), "int32", None), b.t((), "int32", None, np.array(0))
    return b.op(kind, [x, zero], [b.t((1, 8), "bool", None)])


def _add_int32(kind: str) -> Graph:
    b = _Graph()
    x, n = b.t((1, 8), "int32", None), b.t((), "int32", None, np.array(20))
    return b.op(kind, [x, n], [b.t((1, 8), "int32", None)], fused_activation_function="NONE")


def _select(kind: str, sig: str) -> Graph:
    d = sig.partition("->")[2]
    q = "act" if d in _QUANT else None
    b = _Graph()
    c, x1, x2 = b.t((1, 8), "bool", None), b.t((1, 8), d, q), b.t((1, 8), d, q)
    return b.op(kind, [c, x1, x2], [b.t((1, 8), d, q)])


def _elementwise(kind: str, sig: str) -> Graph:
    """A two-operand op (the second broadcast) on ``sig``'s input type, output of ``sig``'s output type."""
    src, _, dst = sig.partition("->")
    b = _Graph()
    q = lambda d: "act" if d in _QUANT else None  # noqa: E731
    x1, x2 = b.t((2, 4), src, q(src)), b.t((1, 4), src, q(src))
    return b.op(kind, [x1, x2], [b.t((2, 4), dst or src, q(dst or src))])


def _cast(kind: str, sig: str) -> Graph:
    src, _, dst = sig.partition("->")
    b = _Graph()
    return b.op(kind, [b.t((1, 8), src, None)], [b.t((1, 8), dst, None)])


@functools.lru_cache(maxsize=None)
def _lstm(kind: str, d: str) -> Graph:
    """The UNIDIRECTIONAL_SEQUENCE_LSTM of a tiny Keras LSTM as the converter writes it (its 24 inputs,
    intermediates and scales are the converter's to choose), converted once per test run."""
    import keras

    from edgeq.frontend.rnn import rebuild_rnn_model
    from kernels.harness import int8_tflite  # tests/kernels/harness.py, also when this file runs alone

    keras.utils.set_random_seed(0)
    inp = keras.Input((3, 4), batch_size=1)
    tfl = int8_tflite(rebuild_rnn_model(keras.Model(inp, keras.layers.LSTM(5, return_sequences=True)(inp))))
    g = read_tflite(tfl)
    (op,) = [o for o in g.ops if o.kind == kind]
    return dataclasses.replace(g, ops=(dataclasses.replace(op, id=0),), inputs=(op.inputs[0],),
                               outputs=(op.outputs[0],))


def _batch_matmul(kind: str, d: str) -> Graph:
    b = _Graph()
    lhs, rhs, y = b.t((2, 3, 4), d), b.t((1, 4, 5), d), b.t((2, 3, 5), d)
    return b.op(kind, [lhs, rhs], [y], adj_x=False, adj_y=False)


def _lut(kind: str, d: str) -> Graph:
    b = _Graph()
    x, table, y = b.t((1, 8), d), b.t((256,), d, None, np.arange(256) - 128), b.t((1, 8), d)
    return b.op(kind, [x, table], [y])


_BUILDERS = {
    "RELU": _unary, "RELU6": _unary, "RELU_0_TO_1": _unary, "RELU_N1_TO_1": _unary, "HARD_SWISH": _unary,
    "LEAKY_RELU": lambda k, d: _unary(k, d, alpha=0.2),
    "LOGISTIC": _sigmoid, "TANH": _sigmoid, "SOFTMAX": _softmax,
    "ADD": lambda k, d: _add_int32(k) if d == "int32" else _binary(k, d), "SUB": _binary, "MUL": _binary,
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "FULLY_CONNECTED": _fully_connected,
    "TRANSPOSE_CONV": _transpose_conv,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool,
    "MEAN": _reduce, "SUM": _reduce, "REDUCE_MAX": _reduce, "REDUCE_MIN": _reduce,
    "RESIZE_NEAREST_NEIGHBOR": _resize, "RESIZE_BILINEAR": _resize, "MIRROR_PAD": _mirror_pad, "L2_NORMALIZATION": _l2_normalization,
    "LOGICAL_AND": _logical, "LOGICAL_OR": _logical, "LOGICAL_NOT": _logical,
    "SQUARE": _unary, "FLOOR": _unary, "ROUND": _unary, "CONCATENATION": _concatenation, "PAD": _pad, "PADV2": _pad,
    "STRIDED_SLICE": _strided_slice,
    "SPLIT": _split, "SPLIT_V": _split, "UNPACK": _split, "PACK": _pack,
    "QUANTIZE": _convert, "DEQUANTIZE": _convert,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _lstm,
    "GELU": _unary, "EXP": _unary, "LOG": _unary, "SQRT": _unary, "RSQRT": _unary, "ABS": _unary, "NEG": _unary, "ELU": _unary,
    "PRELU": _prelu, "LUT": _lut, "BATCH_MATMUL": _batch_matmul,
    "TRANSPOSE": _strided_copy, "TILE": _strided_copy, "SLICE": _strided_copy, "GATHER": _gather,
    "DEPTH_TO_SPACE": _strided_copy, "SPACE_TO_DEPTH": _strided_copy, "REVERSE_V2": _strided_copy,
    "ARG_MAX": _arg_min_max, "ARG_MIN": _arg_min_max, "SELECT": _select, "SELECT_V2": _select,
    **{k: lambda k, s: _compare(k, s) if s == "int32->bool" else _elementwise(k, s)
       for k in ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")},
    "MINIMUM": _elementwise, "MAXIMUM": _elementwise, "SQUARED_DIFFERENCE": _elementwise,
    "CAST": _cast, "DIV": _elementwise, "FLOOR_DIV": _elementwise, "FLOOR_MOD": _elementwise,
    "LOG_SOFTMAX": lambda k, d: _unary(k, d, Quant((16 / 256,), (127,)) if d == "int8" else None),
}

_REGISTERED = sorted((kind, sig, fn) for kind, entries in registered().items() for sigs, fn in entries
                     for sig in sigs)


def expected_source(module: str) -> str:
    """The kernel source stem a lowering module must emit: lower/<dtype>/<stem>.py -> <stem> (int8),
    <dtype>_<stem> (int16, float32)."""
    m = re.fullmatch(r"edgeq\.passes\.lower\.(int8|int16|float32)\.(\w+)", module)
    assert m, f"lowering module {module} is not edgeq/passes/lower/<dtype>/<stem>.py"
    dtype, stem = m.groups()
    return stem if dtype == "int8" else f"{dtype}_{stem}"


def test_the_stem_rule():
    assert expected_source("edgeq.passes.lower.int8.depthwise_conv") == "depthwise_conv"
    assert expected_source("edgeq.passes.lower.int16.conv") == "int16_conv"
    assert expected_source("edgeq.passes.lower.float32.shape_ops") == "float32_shape_ops"


def test_every_lowering_module_has_its_kernel_files():
    for _, _, fn in _REGISTERED:
        src = expected_source(fn.__module__)
        assert (KERNELS / f"{src}.c").is_file() and (KERNELS / f"{src}.h").is_file(), (fn.__module__, src)


@pytest.mark.parametrize("kind,sig,fn", _REGISTERED, ids=[f"{k}-{s}" for k, s, _ in _REGISTERED])
def test_lowering_emits_only_its_own_kernel_source(kind, sig, fn):
    assert kind in _BUILDERS, f"no one-op graph for {kind}: add a builder to this test"
    g = _BUILDERS[kind](kind, sig)
    (op,) = g.ops
    src = expected_source(fn.__module__)
    header = (KERNELS / f"{src}.h").read_text()
    lowered = 0
    for rounding in ("litert", "tflm"):
        try:
            low = fn(g, op, LowerCtx(rounding=rounding))
        except Unsupported as e:  # e.g. an op TFLite Micro does not have
            print(f"{kind} {sig} {rounding}: {e}")
            continue
        lowered += 1
        assert low.source == src, f"{fn.__module__}.{fn.__name__} emits {low.source}, not {src}"
        # and the kernel and its params struct are declared in that file's header
        assert re.search(rf"\b{low.kernel}\s*\(", header), f"{low.kernel} is not declared in {src}.h"
        assert re.search(rf"\b{low.struct}\s*;", header), f"{low.struct} is not defined in {src}.h"
        if low.scratch_bytes:
            assert _c_value(src, scratch_needed(low)) == low.scratch_bytes
    assert lowered, f"the one-op {kind} {sig} graph lowers under no rounding"


@functools.lru_cache(maxsize=None)
def _c_value(source: str, expr: str) -> int:
    """The value of the C expression ``expr`` with firmware/kernels/<source>.h included (host compiler)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        c, exe = Path(tmp) / "v.c", Path(tmp) / "v"
        c.write_text(f'#include <stdio.h>\n#include "{source}.h"\n'
                     f'int main(void) {{ printf("%lu\\n", (unsigned long)({expr})); return 0; }}\n')
        subprocess.run([host_cc(), "-std=c99", "-Wall", "-Werror", f"-I{KERNELS}", "-o", str(exe), str(c)], check=True)
        return int(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout)


def test_every_scratch_kernel_states_its_size():
    """Each kernel a lowering gives scratch defines <kernel>_scratch_bytes; emit refuses one that does not."""
    scratch_kernels = set()
    for kind, sig, fn in _REGISTERED:
        g = _BUILDERS[kind](kind, sig)
        try:
            low = fn(g, g.ops[0], LowerCtx())
        except Unsupported:
            continue
        if low.scratch_bytes:
            scratch_kernels.add(low.kernel)
            assert scratch_needed(low).startswith(f"{low.kernel}_scratch_bytes(")
    assert {"edgeq_conv_s8_im2col", "edgeq_depthwise_conv_s16_acc", "edgeq_transpose_conv_s8"} <= scratch_kernels
    bad = Lowered(kernel="edgeq_conv_s8", struct="edgeq_conv_s8_params", source="conv", fields=(), args=(0, 1),
                  scratch_bytes=64)
    with pytest.raises(ValueError, match="defines no edgeq_conv_s8_scratch_bytes"):
        scratch_needed(bad)


def test_planned_scratch_smaller_than_the_kernel_needs_does_not_compile(tmp_path):
    g = compile_graph(_transpose_conv("TRANSPOSE_CONV", "int8"))
    (op,) = g.ops
    assert op.lowered.scratch_bytes == 4 * 64
    compile_shared(generate(g, tmp_path / "ok"))  # the planned scratch passes the check
    short = dataclasses.replace(op.lowered, scratch_bytes=op.lowered.scratch_bytes - 4)
    lib = generate(dataclasses.replace(g, ops=(dataclasses.replace(op, lowered=short),)), tmp_path / "short")
    assert "EDGEQ_SCRATCH_CHECK(model_op0_scratch_fits, 252, edgeq_transpose_conv_s8_scratch_bytes(1, 4, 4, 4))" in (
        tmp_path / "short" / "model.c").read_text()
    with pytest.raises(EdgeqError) as e:
        compile_shared(lib)
    assert "model_op0_scratch_fits" in str(e.value.detail)


def _weight_only(kind: str) -> Graph:
    """A float32 op reading constant int8 weights with per-channel scales (as fold-weight-dequantize hands a
    weight-only model's weights over)."""
    b = _Graph()
    rng = np.random.default_rng(0)
    shape, axis = {"CONV_2D": ((4, 3, 3, 4), 0), "DEPTHWISE_CONV_2D": ((1, 3, 3, 4), 3),
                   "FULLY_CONNECTED": ((4, 8), 0), "BATCH_MATMUL": ((1, 4, 5), 2)}[kind]
    n = shape[axis]
    w = b.t(shape, "int8", Quant(tuple(0.01 * (k + 1) for k in range(n)), (0,) * n, axis),
            rng.integers(-127, 128, shape))
    if kind == "BATCH_MATMUL":
        lhs = b.t((2, 3, 4), "float32")
        return b.op(kind, [lhs, w], [b.t((2, 3, 5), "float32")], adj_x=False, adj_y=False)
    if kind == "FULLY_CONNECTED":
        x = b.t((1, 8), "float32")
        return b.op(kind, [x, w, _bias(b, 4, "float32")], [b.t((1, 4), "float32")], fused_activation_function="NONE")
    x = b.t((1, 4, 4, 4), "float32")
    return b.op(kind, [x, w, _bias(b, 4, "float32")], [b.t((1, 4, 4, 4), "float32")], depth_multiplier=1, **_WINDOW)


@pytest.mark.parametrize("kind", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"])
def test_float32_kernels_take_weight_only_int8_weights(kind, tmp_path):
    """The float32 signature's lowering of a weight-only op: its own source, a kernel and struct its header
    declares, the int8 weights and one float scale per output channel (no float weights), the scratch its
    header states; and the generated library compiles."""
    g = _weight_only(kind)
    (op,) = g.ops
    [(_, fn)] = [(s, f) for s, f in registered()[kind] if "float32" in s]
    low = fn(g, op, LowerCtx())
    src = expected_source(fn.__module__)
    header = (KERNELS / f"{src}.h").read_text()
    assert low.source == src and re.search(rf"\b{low.kernel}\s*\(", header) and re.search(rf"\b{low.struct}\s*;", header)
    fields = dict(low.fields)
    assert fields.get("weights") is None and list(fields["scales"].values) == [
        np.float32(s) for s in g.tensor(op.inputs[1]).quant.scale]
    if kind != "BATCH_MATMUL":
        assert fields["weights_s8"].values.dtype == np.int8
    if low.scratch_bytes:
        assert _c_value(src, scratch_needed(low)) == low.scratch_bytes
    compile_shared(generate(compile_graph(g), tmp_path / "lib"))
