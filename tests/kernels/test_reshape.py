"""RESHAPE / SQUEEZE / EXPAND_DIMS: no kernel, no copy -- their output aliases their input's bytes.

Every test checks bit-exactness against both references *and* the structure of the generated code:
the alias ops have no lowering and no call in the inference function, their output tensor lives at its
source's arena offset, the memory planner gives them no buffer of their own, and model inputs and
outputs that are reshapes point into the bytes of the tensor they alias.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from edgeq.api import lower_tflite
from edgeq.codegen.emit import generate
from edgeq.passes.lower import registry
from edgeq.ir import ALIAS_OPS
from harness import assert_bit_exact, tf_function_tflite

L = keras.layers


def model(shape, fn) -> keras.Model:
    inp = keras.Input(shape, batch_size=1)
    return keras.Model(inp, fn(inp))


def rewrite_reshapes(model_bytes: bytes) -> bytes:
    """Turn every RESHAPE that only drops size-1 dims into SQUEEZE and every one that adds a single
    size-1 dim into EXPAND_DIMS (the converter canonicalises both to RESHAPE when shapes are static)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    m = s.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    sg = m.subgraphs[0]

    def opcode(code: int) -> int:
        for i, c in enumerate(m.operatorCodes):
            if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
                return i
        c = s.OperatorCodeT()
        c.builtinCode = c.deprecatedBuiltinCode = code
        c.version = 1
        m.operatorCodes.append(c)
        return len(m.operatorCodes) - 1

    for op in sg.operators:
        c = m.operatorCodes[op.opcodeIndex]
        if max(c.builtinCode, c.deprecatedBuiltinCode) != s.BuiltinOperator.RESHAPE:
            continue
        src, dst = list(sg.tensors[op.inputs[0]].shape), list(sg.tensors[op.outputs[0]].shape)
        if len(dst) == len(src) + 1:
            axis = next(i for i in range(len(dst)) if dst[i] == 1 and dst[:i] + dst[i + 1:] == src)
            buf = s.BufferT()
            buf.data = np.frombuffer(np.int32(axis).tobytes(), np.uint8)
            m.buffers.append(buf)
            t = s.TensorT()
            t.shape, t.type, t.buffer, t.name = [], s.TensorType.INT32, len(m.buffers) - 1, b"expand_axis"
            sg.tensors.append(t)
            op.opcodeIndex = opcode(s.BuiltinOperator.EXPAND_DIMS)
            op.inputs = [op.inputs[0], len(sg.tensors) - 1]
            op.builtinOptionsType = s.BuiltinOptions.ExpandDimsOptions
            op.builtinOptions = s.ExpandDimsOptionsT()
        elif len(dst) < len(src):
            # greedy match of dst against src, dropping size-1 source dims
            dims, j = [], 0
            for i, d in enumerate(src):
                if j < len(dst) and dst[j] == d and (d != 1 or len(src) - i == len(dst) - j):
                    j += 1
                else:
                    assert d == 1, (src, dst)
                    dims.append(i)
            op.opcodeIndex = opcode(s.BuiltinOperator.SQUEEZE)
            op.inputs = [op.inputs[0]]
            op.builtinOptionsType = s.BuiltinOptions.SqueezeOptions
            op.builtinOptions = s.SqueezeOptionsT()
            op.builtinOptions.squeezeDims = dims
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def invoke_body(tfl: bytes, rounding: str, tmp_path) -> tuple[str, object]:
    g = lower_tflite(tfl, rounding)
    lib = generate(g, tmp_path / f"lib_{rounding}")
    text = (lib.dir / f"{lib.prefix}.c").read_text()
    body = text[text.index(f"int {lib.prefix}_invoke(void) {{"):]
    return body[: body.index("return 0;")], g, lib


def check_aliased(tfl: bytes, tmp_path, alias_kinds=("RESHAPE",)) -> None:
    """The structural half of the contract (see the module docstring)."""
    for rounding in ("litert", "tflm"):
        body, g, lib = invoke_body(tfl, rounding, tmp_path)
        kinds = [op.kind for op in g.ops]
        for k in alias_kinds:
            assert k in kinds, f"model has ops {kinds}, no {k}"
        alias_ops = [op for op in g.ops if op.kind in ALIAS_OPS]
        real_ops = [op for op in g.ops if op.kind not in ALIAS_OPS]
        assert alias_ops
        # no kernel call, no copy
        calls = re.findall(r"^\s*(edgeq_\w+)\(&", body, re.M)
        assert len(calls) == len(real_ops), calls
        assert "memcpy" not in body and "memmove" not in body
        for k in ALIAS_OPS:
            assert f": {k} ->" not in body
        plan = g.plan
        own = {b.id for b in plan.buffers if b.kind == "tensor"}
        for op in alias_ops:
            assert op.lowered is None
            src, dst = op.inputs[0], op.outputs[0]
            assert g.tensor(dst).alias_of == g.storage(src)
            assert dst not in own, "an alias got a buffer of its own"
            assert plan.offsets[dst] == plan.offsets[g.storage(src)]
            assert g.tensor(dst).nbytes == g.tensor(src).nbytes
        # model inputs and outputs point at the storage they alias
        for ios, tids in ((lib.context["inputs"], g.inputs), (lib.context["outputs"], g.outputs)):
            for io, tid in zip(ios, tids):
                assert io["offset"] == plan.offsets[g.storage(tid)]


def test_dense_reshape_pool_flatten_dense(tmp_path):
    def f(x):
        y = L.Dense(24, activation="relu")(x)
        y = L.Reshape((2, 3, 4))(y)
        y = L.AveragePooling2D((2, 2))(y)
        y = L.Flatten()(y)
        return L.Dense(3)(y)

    tfl = assert_bit_exact(model((12,), f), expect_ops={"RESHAPE", "FULLY_CONNECTED", "AVERAGE_POOL_2D"})
    check_aliased(tfl, tmp_path)


def test_conv_flatten_dense(tmp_path):
    if "CONV_2D" not in registry():
        pytest.skip("no CONV_2D lowering yet")

    def f(x):
        y = L.Conv2D(4, 3, activation="relu")(x)
        return L.Dense(5)(L.Flatten()(y))

    tfl = assert_bit_exact(model((6, 5, 2), f), expect_ops={"RESHAPE", "CONV_2D", "FULLY_CONNECTED"})
    check_aliased(tfl, tmp_path)


def test_reshape_first_aliases_the_input(tmp_path):
    tfl = assert_bit_exact(model((4, 6), lambda x: L.Dense(5)(L.Reshape((24,))(x))),
                           expect_ops={"RESHAPE", "FULLY_CONNECTED"})
    check_aliased(tfl, tmp_path)


def test_reshape_last_output_aliases_an_intermediate(tmp_path):
    tfl = assert_bit_exact(model((8,), lambda x: L.Reshape((3, 4))(L.Dense(12)(x))),
                           expect_ops={"RESHAPE", "FULLY_CONNECTED"})
    check_aliased(tfl, tmp_path)


def test_reshape_only_model_output_is_the_input(tmp_path):
    tfl = assert_bit_exact(model((4, 6), lambda x: L.Reshape((3, 8))(x)), expect_ops={"RESHAPE"})
    check_aliased(tfl, tmp_path)
    body, g, _ = invoke_body(tfl, "litert", tmp_path)
    assert g.storage(g.outputs[0]) == g.inputs[0]


def test_chain_of_reshapes_and_shared_source(tmp_path):
    def f(x):
        h = L.Dense(24)(x)
        a = L.Reshape((4, 6))(h)
        b = L.Reshape((2, 12))(a)  # alias of an alias
        c = L.Flatten()(b)
        return [L.Dense(3)(c), a, L.Dense(2)(L.Reshape((6, 4))(h))]

    tfl = assert_bit_exact(model((5,), f), expect_ops={"RESHAPE", "FULLY_CONNECTED"})
    check_aliased(tfl, tmp_path)


def test_keras_expand_dims_and_squeeze(tmp_path):
    # keras.ops.expand_dims / squeeze around a pooling: the converter emits RESHAPE for both
    def f(x):
        y = keras.ops.expand_dims(L.Dense(8)(x), -1)
        y = L.MaxPooling1D(2)(y)
        y = keras.ops.squeeze(y, axis=-1)
        return L.Dense(3)(y)

    tfl = assert_bit_exact(model((6,), f), expect_ops={"RESHAPE", "MAX_POOL_2D", "FULLY_CONNECTED"})
    check_aliased(tfl, tmp_path)


@pytest.mark.parametrize("pool", [L.AveragePooling1D, L.MaxPooling1D])
def test_pool1d_reshapes(pool, tmp_path):
    tfl = assert_bit_exact(model((10, 3), lambda x: pool(3, 2, padding="same")(x)), expect_ops={"RESHAPE"})
    check_aliased(tfl, tmp_path)


def _fc_expand_pool_squeeze(x):                      # x: (1, 4, 3)
    y = keras.ops.expand_dims(L.Dense(6)(x), 1)         # EXPAND_DIMS -> (1, 1, 4, 6)
    y = L.AveragePooling2D((1, 2))(y)                   # (1, 1, 2, 6)
    return keras.ops.squeeze(y, axis=1)                 # SQUEEZE as the model's last op


def _pool_squeeze_fc(x):                                # x: (1, 4, 4, 3)
    y = keras.ops.squeeze(L.MaxPooling2D((4, 1))(x), 1)  # SQUEEZE between two kernels -> (1, 4, 3)
    return L.Dense(5, activation="relu")(y)


@pytest.mark.parametrize("shape,fn,kinds", [
    ((4, 3), _fc_expand_pool_squeeze, ("SQUEEZE", "EXPAND_DIMS")),
    ((4, 4, 3), _pool_squeeze_fc, ("SQUEEZE",)),
])
def test_squeeze_and_expand_dims_ops(shape, fn, kinds, tmp_path):
    """Real SQUEEZE and EXPAND_DIMS ops (rewritten from the converter's RESHAPEs)."""
    base = assert_bit_exact(model(shape, fn), expect_ops={"RESHAPE"}, n=2, roundings=())
    tfl = rewrite_reshapes(base)
    assert_bit_exact(None, model_bytes=tfl, expect_ops=set(kinds))
    check_aliased(tfl, tmp_path, alias_kinds=kinds)


def test_expand_dims_of_the_model_input(tmp_path):
    def f(x):
        return L.MaxPooling2D((1, 2))(keras.ops.expand_dims(x, 1))  # EXPAND_DIMS of the model input

    tfl = rewrite_reshapes(assert_bit_exact(model((6, 4), f), expect_ops={"RESHAPE"}, n=2, roundings=()))
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"EXPAND_DIMS", "MAX_POOL_2D"})
    check_aliased(tfl, tmp_path, alias_kinds=("EXPAND_DIMS",))


def test_dynamic_batch_expand_dims_from_tf_function(tmp_path):
    """The converter keeps EXPAND_DIMS when the batch is dynamic."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, 6, 4), tf.float32)])
    def f(x):
        y = tf.expand_dims(x, 1)
        y = tf.nn.max_pool2d(y, (1, 2), (1, 2), "VALID")
        return tf.squeeze(y, 1)

    rng = np.random.default_rng(0)
    tfl = tf_function_tflite(f, [[rng.standard_normal((1, 6, 4)).astype(np.float32)] for _ in range(16)])
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"EXPAND_DIMS", "MAX_POOL_2D"})
    check_aliased(tfl, tmp_path, alias_kinds=("EXPAND_DIMS",))
