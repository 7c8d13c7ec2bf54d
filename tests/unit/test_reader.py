"""The TFLite reader: schema numbering, real models, and corrupt input."""

import numpy as np
import pytest

from paths import MLPERF
from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import read_tflite, read_tflite_file
from edgeq.frontend.tflite.schema import BUILTIN_OPS, TENSOR_TYPES


def test_builtin_numbering_matches_tensorflow_schema():
    from tensorflow.lite.python import schema_py_generated as s

    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    for code, name in enumerate(BUILTIN_OPS):
        if code in names:
            assert names[code] == name, code
    types = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}
    for code, name in TENSOR_TYPES.items():
        assert types[code].lower() == name


def test_reads_resnet8_like_litert():
    from edgeq.quality.references import LiteRT

    data = (MLPERF / "resnet8_int8.tflite").read_bytes()
    g = read_tflite(data)
    ref = LiteRT(data).interp
    details = {d["index"]: d for d in ref.get_tensor_details()}
    for t in g.tensors:
        d = details[t.id]
        assert tuple(d["shape"]) == t.shape
        assert np.dtype(d["dtype"]).name == t.dtype
        if t.quant:
            np.testing.assert_array_equal(d["quantization_parameters"]["scales"], np.float32(t.quant.scale))
            np.testing.assert_array_equal(d["quantization_parameters"]["zero_points"], t.quant.zero_point)
    assert [op.kind for op in g.ops].count("CONV_2D") == 9
    conv_w = g.tensor(g.ops[0].inputs[1])
    np.testing.assert_array_equal(conv_w.data, ref.get_tensor(conv_w.id))


def test_not_tflite():
    with pytest.raises(EdgeqError, match="not a TFLite model"):
        read_tflite(b"hello world, not a model")


def test_truncated_file_gives_edgeq_error():
    data = (MLPERF / "kws_dscnn_int8.tflite").read_bytes()
    for cut in (12, 100, 1000, len(data) // 2, len(data) - 10):
        try:
            read_tflite(data[:cut])
        except EdgeqError as e:
            assert "corrupt or truncated" in e.what or "not a TFLite" in e.what


def test_corrupted_bytes_only_raise_edgeq_error():
    data = bytearray((MLPERF / "ad01_int8.tflite").read_bytes())
    rng = np.random.default_rng(0)
    for _ in range(200):
        d = bytearray(data[:4096])
        for i in rng.integers(8, len(d), 8):
            d[i] = int(rng.integers(0, 256))
        try:
            read_tflite(bytes(d))
        except EdgeqError:
            pass


def test_missing_file():
    with pytest.raises(EdgeqError, match="no such file"):
        read_tflite_file("/nonexistent/model.tflite")
