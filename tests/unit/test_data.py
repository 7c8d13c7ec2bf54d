"""edgeq.frontend.data: one loader, one set of rules for --calib and --data."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import EdgeqError
from edgeq.frontend.data import (
    InputSpec,
    Samples,
    check_samples,
    load_calibration,
    load_dataset,
    loaded_inputs,
    match_names,
    signature_name,
)
from edgeq.frontend.load import LoadedModel

F32, I8 = np.dtype(np.float32), np.dtype(np.int8)
KERAS = [InputSpec("a", (4,), F32, 0), InputSpec("b", (2, 3), F32, 1)]  # a two-input Keras model
# the same model converted: TFLite names its inputs after the serving signature, takes int8, and may list
# them in another order (the converter did, for this very model: see the last test)
TFLITE = [InputSpec("serving_default_b:0", (2, 3), I8, 1), InputSpec("serving_default_a:0", (4,), I8, 0)]
LOADERS = {"--calib": load_calibration, "--data": load_dataset}

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture()
def two(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(6, 4)), rng.normal(size=(6, 2, 3)).astype(np.float32)
    y = np.arange(6) % 3
    np.savez(tmp_path / "names.npz", a=xa, b=xb, y=y)
    np.savez(tmp_path / "index.npz", x0=xa, x1=xb, y=y)
    return {"dir": tmp_path, "a": xa, "b": xb, "y": y}


@pytest.mark.parametrize("flag, model", [("--calib", "keras"), ("--data", "keras"), ("--data", "tflite")])
@pytest.mark.parametrize("rule", ["names", "index"])
def test_two_inputs_by_name_or_index_for_both_flags(two, flag, rule, model):
    inputs = KERAS if model == "keras" else TFLITE
    s = LOADERS[flag](two["dir"] / f"{rule}.npz", inputs)
    assert s.count == 6 and s.representative and s.warning is None
    got = dict(zip(["a", "b"] if model == "keras" else ["b", "a"], s.inputs))  # in the model's input order
    np.testing.assert_allclose(got["a"], two["a"].astype(np.float32))
    np.testing.assert_array_equal(got["b"], two["b"])
    assert got["a"].dtype == got["b"].dtype == np.float32
    if flag == "--data":
        np.testing.assert_array_equal(s.labels, two["y"])
    else:  # the same file calibrates: the labels are left out, and a note says so
        assert s.labels is None and any("'y' are not used for calibration" in n for n in s.notes)


def _loaded(kind: str, names: list[str]) -> LoadedModel:
    return LoadedModel(Path("m"), kind, None, None, None, [(2,)] * len(names), [F32] * len(names), names)


def test_input_positions_follow_signature_names():
    assert [i.position for i in loaded_inputs(_loaded("keras", ["a", "b"]))] == [0, 1]
    assert [i.position for i in loaded_inputs(_loaded("savedmodel", ["a", "b"]))] == [0, 1]
    # a .tflite lists its inputs in any order; x<i> follows the signature names
    assert [i.position for i in loaded_inputs(_loaded("tflite", ["serving_default_zeta:0", "serving_default_alpha:0"]))
            ] == [1, 0]
    # a Keras model out of name order: its .tflite would list them by name, so x<i> means nothing common
    assert [i.position for i in loaded_inputs(_loaded("keras", ["zeta", "alpha"]))] == [None, None]
    # Keras names become valid TensorFlow names in the signature, and keys are matched the same way
    assert signature_name("my input") == "my_input" and signature_name("_x") == "input_x"
    tfl = [InputSpec("serving_default_my_input:0", (2,), I8, 0), InputSpec("serving_default_alpha:0", (2,), I8, 1)]
    assert match_names(["alpha", "my input"], tfl) == [1, 0]
    assert match_names(["alpha", "beta"], tfl) is None


def test_out_of_order_keras_inputs_need_names(tmp_path):
    inputs = loaded_inputs(_loaded("keras", ["zeta", "alpha"]))
    np.savez(tmp_path / "index.npz", x0=np.zeros((3, 2)), x1=np.ones((3, 2)))
    with pytest.raises(EdgeqError, match="out of name order") as e:
        load_calibration(tmp_path / "index.npz", inputs)
    assert "['zeta', 'alpha']" in e.value.what and "['alpha', 'zeta']" in e.value.what
    assert e.value.hint == "key the arrays by input name: numpy.savez(path, zeta=..., alpha=...)"
    np.savez(tmp_path / "names.npz", alpha=np.ones((3, 2)), zeta=np.zeros((3, 2)))
    s = load_calibration(tmp_path / "names.npz", inputs)
    assert s.inputs[0].max() == 0 and s.inputs[1].min() == 1


def test_names_win_over_index_and_single_input_rules(tmp_path):
    one = [InputSpec("image", (3,), F32)]
    for keys in ({"x": 1}, {"x0": 1}, {"arr_0": 1}, {"image": 1}, {"arr_0": 1, "y": 0}):
        np.savez(tmp_path / "d.npz", **{k: np.full((2, 3), v, np.float32) if k != "y" else np.zeros(2)
                                        for k, v in keys.items()})
        s = load_dataset(tmp_path / "d.npz", one)
        assert s.count == 2 and float(s.inputs[0][0, 0]) == 1.0, keys
        assert (s.labels is not None) == ("y" in keys)
    # an input named 'y' takes the key 'y' as its samples, not as labels
    np.savez(tmp_path / "y.npz", y=np.ones((2, 3)))
    s = load_dataset(tmp_path / "y.npz", [InputSpec("y", (3,), F32)])
    assert s.labels is None and s.inputs[0].shape == (2, 3)


@pytest.mark.parametrize("flag", list(LOADERS))
def test_missing_keys_name_what_is_missing(tmp_path, flag):
    np.savez(tmp_path / "d.npz", a=np.zeros((2, 4)), x1=np.zeros((2, 2, 3)))  # x1 is 'b' (by name order)
    with pytest.raises(EdgeqError, match="cannot tell which feeds each of the model inputs") as e:
        LOADERS[flag](tmp_path / "d.npz", TFLITE)
    assert "d.npz" in e.value.what and "['a', 'x1']" in e.value.what
    assert e.value.detail == ("by input name: no array for 'b'", "by position: no x0")
    assert "numpy.savez(path, a=..., b=...)" in e.value.hint and "x0..x1" in e.value.hint


@pytest.mark.parametrize("flag", list(LOADERS))
def test_extra_keys_are_refused(tmp_path, flag):
    np.savez(tmp_path / "d.npz", a=np.zeros((2, 4)), b=np.zeros((2, 2, 3)), c=np.zeros(2))
    with pytest.raises(EdgeqError, match=r"has array\(s\) \['c'\] that feed no model input") as e:
        LOADERS[flag](tmp_path / "d.npz", KERAS)
    assert e.value.detail == ("used: 'a' -> input 'a', 'b' -> input 'b'",)
    np.savez(tmp_path / "one.npz", x=np.zeros((2, 3)), z=np.zeros((2, 3)))
    with pytest.raises(EdgeqError, match=r"\['z'\] that feed no model input"):
        LOADERS[flag](tmp_path / "one.npz", [InputSpec("image", (3,), F32)])


@pytest.mark.parametrize("flag", list(LOADERS))
def test_wrong_shape_names_file_key_and_expected_shape(tmp_path, flag):
    np.savez(tmp_path / "d.npz", x0=np.zeros((5, 4)), x1=np.zeros((5, 3, 2)))
    with pytest.raises(EdgeqError) as e:
        LOADERS[flag](tmp_path / "d.npz", KERAS)
    role = "calibration" if flag == "--calib" else "data"
    assert e.value.what == (f"{role} file {tmp_path / 'd.npz'} key 'x1' has shape (5, 3, 2) = 5 samples of (3, 2), "
                            "but the model input 'b' takes (2, 3) per sample; expected (N, 2, 3)")
    assert "reshape" in e.value.hint


@pytest.mark.parametrize("flag", list(LOADERS))
def test_one_array_file_formats_need_a_single_input_model(tmp_path, flag):
    np.save(tmp_path / "d.npy", np.zeros((2, 4)))
    with pytest.raises(EdgeqError, match="single .npy array but the model has 2 inputs") as e:
        LOADERS[flag](tmp_path / "d.npy", KERAS)
    assert "keyed by input name" in e.value.hint
    np.zeros(8, "<f4").tofile(tmp_path / "d.bin")
    with pytest.raises(EdgeqError, match="raw .bin data but the model has 2 inputs"):
        LOADERS[flag](tmp_path / "d.bin", KERAS)


def test_bin_is_read_for_data_too(tmp_path):
    np.arange(12, dtype="<f4").tofile(tmp_path / "d.bin")
    s = load_dataset(tmp_path / "d.bin", [InputSpec("serving_default_x:0", (2, 3), np.dtype(np.int8))])
    assert s.inputs[0].shape == (2, 2, 3) and s.inputs[0][1, 1, 2] == 11.0 and s.labels is None


def test_sample_counts_and_labels_must_agree(tmp_path):
    np.savez(tmp_path / "n.npz", a=np.zeros((3, 4)), b=np.zeros((2, 2, 3)))
    with pytest.raises(EdgeqError, match="different sample counts per input: a: 3, b: 2"):
        load_dataset(tmp_path / "n.npz", KERAS)
    np.savez(tmp_path / "y.npz", a=np.zeros((3, 4)), b=np.zeros((3, 2, 3)), y=np.zeros(4))
    with pytest.raises(EdgeqError, match="key 'y' has 4 labels for 3 samples"):
        load_dataset(tmp_path / "y.npz", KERAS)
    np.savez(tmp_path / "s.npz", a=np.zeros((3, 4)), b=np.zeros((3, 2, 3)), y=np.array(["a", "b", "c"]))
    with pytest.raises(EdgeqError, match="key 'y' has dtype <U1"):
        load_dataset(tmp_path / "s.npz", KERAS)


def test_dtypes_calibration_casts_data_keeps_integers(tmp_path):
    np.save(tmp_path / "q.npy", np.arange(8, dtype=np.int8).reshape(2, 4))
    one = [InputSpec("serving_default_a:0", (4,), np.dtype(np.int8))]
    data = load_dataset(tmp_path / "q.npy", one)
    assert data.inputs[0].dtype == np.int8  # already-quantized values pass as they are
    cal = load_calibration(tmp_path / "q.npy", [InputSpec("a", (4,), F32)])
    assert cal.inputs[0].dtype == np.float32 and cal.inputs[0][1, 3] == 7.0
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan, 0.0, 0.0]]))
    with pytest.raises(EdgeqError, match="NaN/Inf"):
        load_dataset(tmp_path / "nan.npy", one)


def test_missing_file_random_and_formats(tmp_path):
    with pytest.raises(EdgeqError) as e:
        load_dataset(tmp_path / "none.npz", KERAS)
    assert e.value.what == f"data file {tmp_path / 'none.npz'} does not exist"
    with pytest.raises(EdgeqError) as e:
        load_calibration(tmp_path / "none.npz", KERAS)
    assert e.value.what == f"calibration file {tmp_path / 'none.npz'} does not exist"
    with pytest.raises(EdgeqError, match="--data random") as e:
        load_dataset("random", KERAS)
    assert "leave out --data" in e.value.hint
    cal = load_calibration("random", KERAS, random_count=3)
    assert [a.shape for a in cal.inputs] == [(3, 4), (3, 2, 3)] and not cal.representative
    (tmp_path / "d.csv").write_text("1\n")
    with pytest.raises(EdgeqError, match=r"unknown format '\.csv'") as e:
        load_dataset(tmp_path / "d.csv", KERAS)
    assert "labels 'y'" in e.value.detail[0]


def test_samples_invariants_head_and_check():
    with pytest.raises(ValueError, match="sample count"):
        Samples("s", [np.zeros((3, 4)), np.zeros((2, 2, 3))])
    with pytest.raises(ValueError, match="sample count"):
        Samples("s", [np.zeros((3, 4))], labels=np.zeros(2))
    s = Samples("s", [np.arange(12.0).reshape(3, 4), np.zeros((3, 2, 3))], labels=np.arange(3))
    h = s.head(2)
    assert h.count == 2 and list(h.labels) == [0, 1] and h.sample(1)[0].shape == (1, 4)
    assert [x[0].shape for x in s.samples()] == [(1, 4)] * 3
    check_samples(s, KERAS)
    with pytest.raises(EdgeqError, match="samples of shape \\(2, 3\\) for the model input 'a'"):
        check_samples(Samples("s", [np.zeros((3, 2, 3)), np.zeros((3, 2, 3))]), KERAS)
    with pytest.raises(EdgeqError, match="1 input array\\(s\\) but the model has 2"):
        check_samples(Samples("s", [np.zeros((3, 4))]), KERAS)


def test_two_input_model_one_file_for_quantize_and_validate(tmp_path, capsys):
    """A real two-input model: the file that calibrates it (--calib) validates its int8 .tflite (--data),
    by input name and by x0/x1, labels and all."""
    import keras

    from edgeq.cli.main import main

    keras.utils.set_random_seed(0)
    a, b = keras.Input((4,), name="a"), keras.Input((2, 3), name="b")
    merged = keras.layers.Concatenate()([keras.layers.Dense(5)(a), keras.layers.Flatten()(b)])
    keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(merged)).save(tmp_path / "two.keras")
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(20, 4)).astype(np.float32), rng.normal(size=(20, 2, 3)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    np.savez(tmp_path / "names.npz", a=xa, b=xb, y=y)
    np.savez(tmp_path / "index.npz", x0=xa, x1=xb, y=y)
    results = {}
    for rule in ("names", "index"):
        model, js = tmp_path / f"{rule}.tflite", tmp_path / f"{rule}.json"
        assert main(["quantize", str(tmp_path / "two.keras"), "--calib", str(tmp_path / f"{rule}.npz"),
                     "-o", str(model)]) == 0, capsys.readouterr().err
        for data in ("names", "index"):
            code = main(["validate", str(model), "--data", str(tmp_path / f"{data}.npz"),
                         "--keras", str(tmp_path / "two.keras"), "--json", str(js)])
            assert code == 0, capsys.readouterr().err
            rep = json.loads(js.read_text())
            assert rep["samples"] == 20 and 0 <= rep["accuracy"]["quantized"] <= 1
            assert rep["accuracy"]["top1_agreement"] > 0.8 and rep["fidelity"][0]["sqnr_db"] > 20
            results[rule, data] = rep["accuracy"]
        assert model.read_bytes()[4:8] == b"TFL3"
    # the key rule changes nothing: same calibration, same model, same numbers
    assert (tmp_path / "names.tflite").read_bytes() == (tmp_path / "index.tflite").read_bytes()
    assert len({json.dumps(r, sort_keys=True) for r in results.values()}) == 1
