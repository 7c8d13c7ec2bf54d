"""`edgeq qat`: one run end to end (progress per epoch, JSON, then `edgeq quantize` without --calib), and each
user error with one clear message and no output file."""

import json

import numpy as np
import pytest
from paths import REPO

from edgeq.cli.main import main

DIGITS = REPO / "examples" / "digits"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("qatcli")
    z = np.load(DIGITS / "test.npz")
    x, y = z["x"], z["y"]
    np.savez(d / "train.npz", x=x[:160], y=y[:160])
    np.savez(d / "val.npz", x=x[160:260], y=y[160:260])
    np.savez(d / "onehot.npz", x=x[:40], y=np.eye(10, dtype=np.float32)[y[:40]])
    np.savez(d / "bad_labels.npz", x=x[:40], y=np.where(y[:40] == 3, 12, y[:40]))
    np.savez(d / "no_labels.npz", x=x[:40])
    np.savez(d / "bad_shape.npz", x=x[:40, :7, :7], y=y[:40])
    return d


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refuses the value itself
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_qat_then_quantize_without_calibration_data(data, tmp_path, capsys):
    out, js, tfl = tmp_path / "qat.keras", tmp_path / "qat.json", tmp_path / "qat.tflite"
    code, text, err = run(["qat", str(DIGITS / "digits_cnn.keras"), "--data", str(data / "train.npz"),
                           "--val", str(data / "val.npz"), "--epochs", "2", "--lr", "5e-5", "--calibration", "minmax",
                           "-o", str(out), "--json", str(js)], capsys)
    assert code == 0, err
    for line in ("epoch 1/2  loss", "epoch 2/2  loss", "val accuracy", "left", "fake-quantized, minmax",
                 "after QAT (2 epochs)", f"edgeq quantize {out} -o MODEL.tflite"):
        assert line in text, line
    report = json.loads(js.read_text())
    assert [e["epoch"] for e in report["epochs"]] == [1, 2] and report["calibration"] == "minmax"
    assert report["epochs"][0]["lr"] > report["epochs"][1]["lr"] == 0.0  # annealed to 0
    assert report["fake_quant_points"] == 9 and 0.9 < report["qat_accuracy"] <= 1
    code, text, err = run(["quantize", str(out), "-o", str(tfl)], capsys)
    assert code == 0, err
    assert "learned ranges" in text and tfl.read_bytes()[4:8] == b"TFL3"
    # trained with 8-bit weights: int8x4 would round them onto another grid; one clear refusal, nothing written
    code, _, err = run(["quantize", str(out), "--scheme", "int8x4", "-o", str(tmp_path / "q4.tflite")], capsys)
    assert code == 2 and "was trained with 8-bit weights (edgeq qat --scheme int8)" in err, err
    assert "hint: quantize it with --scheme int8, or train it again with edgeq qat --scheme int8x4" in err, err
    assert not (tmp_path / "q4.tflite").exists()


@pytest.mark.parametrize("train, quantize", [
    (["--scheme", "int8x4"], ["--scheme", "int8x4"]),
    (["--clusters", "16"], ["--clusters", "16"]),  # per channel: test_qat_sub8.py (k-means per channel is slower)
])
def test_sub8_qat_then_quantize_keeps_it(data, tmp_path, capsys, train, quantize):
    """`edgeq qat --scheme int8x4` / `--clusters 16`, then `edgeq quantize` with the same flags, as a user types
    them: the command printed by qat is the one that works, and the model holds the 4-bit weights / at most 16
    values per output channel."""
    from edgeq.frontend.tflite.reader import read_tflite

    out, tfl = tmp_path / "qat.keras", tmp_path / "qat.tflite"
    code, text, err = run(["qat", str(DIGITS / "digits_cnn.keras"), "--data", str(data / "train.npz"), "--epochs",
                           "1", "--lr", "1e-3", "--calibration", "minmax", "-o", str(out), *train], capsys)
    assert code == 0, err
    assert f"edgeq quantize {out} {' '.join(quantize)} -o MODEL.tflite" in text, text
    code, text, err = run(["quantize", str(out), *quantize, "-o", str(tfl)], capsys)
    assert code == 0, err
    g = read_tflite(tfl.read_bytes())
    weighted = [op for op in g.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    if "int8x4" in quantize:
        assert "learned ranges" in text and {g.tensor(op.inputs[1]).dtype for op in weighted} == {"int4"}
    else:
        assert "the fine-tuned clustering kept: at most 16 values per layer" in text
        for op in weighted:
            w = g.tensor(op.inputs[1]).data
            w = w.reshape(-1, w.shape[-1]).T if op.kind == "DEPTHWISE_CONV_2D" else w.reshape(w.shape[0], -1)
            assert max(np.unique(row).size for row in w) <= 16


def test_labels_fit_as_indices_or_one_hot_rows(data):
    from edgeq.flows.qat import _labelled
    from edgeq.frontend.data import load_dataset, loaded_inputs
    from edgeq.frontend.load import load_model

    loaded = load_model(DIGITS / "digits_cnn.keras")
    samples = load_dataset(data / "onehot.npz", loaded_inputs(loaded))
    assert _labelled(samples, loaded.keras_model, "onehot.npz") is samples
    assert _labelled(load_dataset(data / "train.npz", loaded_inputs(loaded)), loaded.keras_model, "t").count == 160


@pytest.fixture(scope="module")
def unwrappable(tmp_path_factory):
    import keras

    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="swish")(inp)
    x = keras.layers.LayerNormalization()(x)
    y = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.UpSampling2D()(x)))
    path = tmp_path_factory.mktemp("unwrappable") / "m.keras"
    keras.Model(inp, y).save(path)
    return path


@pytest.mark.parametrize("case, message", [
    ("bad_labels", "the labels of {d}/bad_labels.npz do not fit digits_cnn: it has 10 classes, the labels values "
                   "from 0 to 12"),
    ("no_labels", "{d}/no_labels.npz has no labels: quantization-aware training needs them"),
    ("bad_shape", "(40, 7, 7, 1)"),
    ("unwrappable", "fake quantization cannot wrap 3 layer(s)"),
    ("output", "needs the .keras extension"),
    ("calibration", "unknown calibration method 'kl'"),
    ("scheme", "invalid choice: 'int4'"),
    ("clusters_range", "--clusters 300 is out of range"),
    ("clusters_int8x4", "--clusters applies to the int8 scheme, not --scheme int8x4"),
    ("clusters_per_channel", "--clusters-per-channel needs --clusters K"),
])
def test_user_errors(data, unwrappable, tmp_path, capsys, case, message):
    out = tmp_path / "q.keras"
    model, train, extra = DIGITS / "digits_cnn.keras", data / "train.npz", []
    if case in ("bad_labels", "no_labels", "bad_shape"):
        train = data / f"{case}.npz"
    if case == "unwrappable":
        model = unwrappable
    if case == "output":
        out = tmp_path / "q.tflite"
    extra = {"calibration": ["--calibration", "kl"], "scheme": ["--scheme", "int4"],
             "clusters_range": ["--clusters", "300"], "clusters_int8x4": ["--clusters", "16", "--scheme", "int8x4"],
             "clusters_per_channel": ["--clusters-per-channel"]}.get(case, [])
    code, _, err = run(["qat", str(model), "--data", str(train), "-o", str(out), *extra], capsys)
    assert code == 2 and message.format(d=data) in err, err
    assert err.count("error:") <= 1 and "Traceback" not in err
    if case == "unwrappable":
        for name in ("conv2d", "layer_normalization", "up_sampling2d", "silu"):
            assert name in err
    assert not out.exists()


def test_quantize_refuses_another_weight_granularity(tmp_path, capsys):
    import keras

    from edgeq.frontend import qat

    inp = keras.Input((6, 6, 1))
    wrapped, _ = qat.wrap(keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(inp))), per_channel=False)
    wrapped.save(tmp_path / "pt.keras")
    out = tmp_path / "pt.tflite"
    code, _, err = run(["quantize", str(tmp_path / "pt.keras"), "-o", str(out)], capsys)
    assert code == 2 and "was trained with per-tensor weights" in err and "--granularity per-tensor" in err
    assert not out.exists()
    code, _, err = run(["quantize", str(tmp_path / "pt.keras"), "--granularity", "per-tensor", "-o", str(out)], capsys)
    assert code == 0, err


@pytest.mark.parametrize("trained, argv, message", [
    ({"weight_bits": 4}, [], "was trained with 4-bit weights (edgeq qat --scheme int8x4); --scheme int8 would round"),
    ({"weight_bits": 8}, ["--scheme", "int8x4"], "was trained with 8-bit weights (edgeq qat --scheme int8); --scheme "
                                                 "int8x4 would round"),
    ({}, ["--clusters", "16"], "was not fine-tuned with clustered weights; --clusters 16 would cluster"),
    ({"clusters": 4}, ["--clusters", "8"], "was fine-tuned with --clusters 4; --clusters 8 would cluster it again"),
    ({"clusters": 4}, ["--clusters", "4", "--clusters-per-channel"], "was fine-tuned with --clusters 4; --clusters 4 "
                                                                     "--clusters-per-channel would"),
    ({"weight_bits": 4}, ["--scheme", "int8x4", "--max-drop", "1%", "--calib", "random"],
     "is a quantization-aware-trained model; the int8x4 analysis observes a float model's activations"),
])
def test_quantize_refuses_a_scheme_the_qat_model_was_not_trained_for(trained, argv, message, tmp_path, capsys):
    """The QAT scheme and the quantize scheme must agree (4-bit / 8-bit weights, the clustering)."""
    import keras

    from edgeq.frontend import qat

    inp = keras.Input((6, 6, 1))
    wrapped, _ = qat.wrap(keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(inp))), **trained)
    wrapped.save(tmp_path / "m.keras")
    out = tmp_path / "m.tflite"
    code, _, err = run(["quantize", str(tmp_path / "m.keras"), "-o", str(out), *argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not out.exists()
