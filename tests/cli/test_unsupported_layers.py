"""Unsupported ops named by their Keras layer, all at once, before anything is built (issue 14).

The model has two UnitNormalization layers named by the user around a supported convolution: their int8 SUM
has no lowering in the default (LiteRT) mode, because LiteRT 2.3's reference SUM ignores its input on
quantized tensors (RESIZE_BILINEAR, used here before, has a kernel now). quantize warns about both by layer; generate and convert-and-flash refuse with both
listed and write nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.cli.main import main
from edgeq.errors import UnsupportedOp, UnsupportedOpsError
from edgeq.frontend.tflite.names import keras_layer


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name, layers, want", [
    ("functional_6_1/maximum_1/Maximum", (), "maximum_1"),
    ("functional_6_1/maximum_1/Maximum", {"maximum", "dense"}, "maximum"),  # Keras 3's export suffix undone
    ("functional_6_1/dense_1_1/BiasAdd", {"dense_1", "dense"}, "dense_1"),  # a layer named dense_1
    ("model_1/conv1_relu_1/Relu6;model_1/conv1_bn_1/batchnorm/add_1;model_1/conv1_1/convolution", (), "conv1_relu_1"),
    ("outer_1/block_1/conv_1/Conv2D", {"block"}, "block"),  # a nested model: the outer model's layer
    ("dense/BiasAdd", (), "dense"),
    ("tfl.dequantize", (), None),
    ("StatefulPartitionedCall_1:0", (), None),
    ("serving_default_input_1:0", (), None),
    ("", (), None),
])
def test_keras_layer_from_tensor_name(name, layers, want):
    assert keras_layer(name, layers) == want


def test_model_output_layer_comes_from_the_keras_model():
    assert keras_layer("StatefulPartitionedCall_1:0", {"head"}, output_layer="head") == "head"
    assert keras_layer("f_1/dense_1/BiasAdd", {"dense"}, output_layer="head") == "dense"


def test_error_lists_every_op_by_layer():
    ops = [UnsupportedOp(3, "MAXIMUM", "no C kernel for this op (output 'f_1/maximum_1/Maximum')", "maximum"),
           UnsupportedOp(4, "MINIMUM", "no C kernel (output 'f_1/minimum_1/Minimum')", "minimum"),
           UnsupportedOp(5, "CUMSUM", "no C kernel (output 'x')")]
    e = UnsupportedOpsError(ops, model="m")
    assert e.what == "m uses 3 op(s) the C backend does not support in 2 Keras layer(s): maximum, minimum"
    assert e.detail == ("layer 'maximum': op #3 MAXIMUM: no C kernel for this op (output 'f_1/maximum_1/Maximum')",
                        "layer 'minimum': op #4 MINIMUM: no C kernel (output 'f_1/minimum_1/Minimum')",
                        "op #5 CUMSUM: no C kernel (output 'x')")


@pytest.fixture(scope="module")
def norm_keras(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("norm")
    inp = keras.Input((4, 6, 3))
    x = keras.layers.UnitNormalization(name="norm_first")(inp)
    x = keras.layers.Conv2D(4, 1, name="mix")(x)
    x = keras.layers.UnitNormalization(name="norm_second")(x)
    keras.Model(inp, x).save(d / "norm.keras")
    np.save(d / "calib.npy", np.random.default_rng(0).random((8, 4, 6, 3), np.float32))
    return d


def test_quantize_warns_by_layer_then_generate_refuses(capsys, norm_keras, tmp_path):
    tfl = tmp_path / "b.tflite"
    code, out, err = run(capsys, "quantize", norm_keras / "norm.keras", "--calib",
                         norm_keras / "calib.npy", "-o", tfl, "--json", tmp_path / "q.json")
    assert code == 0
    lines = [line.strip() for line in err.splitlines() if " SUM" in line and "op #" in line]
    assert len(lines) == 2 and lines[0].startswith("layer 'norm_first': op #3 SUM"), err
    assert lines[1].startswith("layer 'norm_second': op #11 SUM"), err
    import json

    doc = json.loads((tmp_path / "q.json").read_text())
    assert [(u["op"], u["kind"], u["layer"]) for u in doc["unsupported"]] == [
        (3, "SUM", "norm_first"), (11, "SUM", "norm_second")]

    # from the .tflite alone the layer is the scope the converter wrote (Keras 3 adds "_1")
    code, _, err = run(capsys, "generate", tfl, "-o", tmp_path / "lib")
    assert code == 2 and not (tmp_path / "lib").exists()
    assert "2 op(s) the C backend does not support" in err, err
    assert "in 2 Keras layer(s): norm_first_1, norm_second_1" in err, err
    assert [line.split(": op #")[0].strip() for line in err.splitlines() if " SUM: " in line] == [
        "layer 'norm_first_1'", "layer 'norm_second_1'"], err


def test_convert_and_flash_refuses_by_layer_before_building(capsys, norm_keras, tmp_path):
    out_dir = tmp_path / "flow"
    code, _, err = run(capsys, "convert-and-flash", norm_keras / "norm.keras", "--calib",
                       norm_keras / "calib.npy", "--out", out_dir)
    assert code == 2 and not out_dir.exists()
    assert "in 2 Keras layer(s): norm_first, norm_second" in err, err
    assert "op #3 SUM" in err and "op #11 SUM" in err


def test_op_missing_from_litert_reference_resolver_is_named(tmp_path):
    """A model with an op version LiteRT's reference resolver (BUILTIN_REF) does not register: the error names
    the op and its version."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    from edgeq.errors import EdgeqError
    from edgeq.quality.references import LiteRT
    from kernels.harness import build_tflite

    q = {"scale": 0.05, "zero_point": 0}
    tfl = build_tflite([dict(shape=[1, 8], dtype="int8", name="x", **q),
                        dict(shape=[1, 8], dtype="int8", name="y", **q)],
                       [("RELU", [0], [1], None)], inputs=[0], outputs=[1])
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tfl, 0))
    m.operatorCodes[0].version = 99
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    (tmp_path / "relu99.tflite").write_bytes(bytes(b.Output()))
    with pytest.raises(EdgeqError, match=r"LiteRT's reference kernels have no RELU \(version 99\)"):
        LiteRT((tmp_path / "relu99.tflite").read_bytes())
