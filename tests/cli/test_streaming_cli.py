"""Models with state through the commands as a user types them: `edgeq validate --c-host` runs the samples
(random, or `--data` of shape [frames, ...]) as one sequence with the state fed back, `--state IN:OUT`
pairs explicitly, `--state none` turns pairing off, `edgeq generate` reports the state, and a Keras model
with a `stateful=True` layer quantizes and validates like any other."""

import numpy as np

import streaming as S
from edgeq.cli.main import main


def test_validate_and_generate_a_model_with_state(tmp_path, capsys):
    model = tmp_path / "ring.tflite"
    model.write_bytes(S.ring_tflite())
    assert main(["validate", str(model), "--c-host", "--samples", "50"]) == 0
    out = capsys.readouterr().out
    assert "one sequence of 50 frames, state fed back: state_0" in out and "bit-exact: 50/50 samples" in out
    frames = tmp_path / "frames.npy"  # [frames, ...]: the user inputs only
    np.save(frames, np.random.default_rng(0).standard_normal((30, 1, 4)).astype(np.float32))
    assert main(["validate", str(model), "--c-host", "--data", str(frames), "--state", "state_0:new_state_0"]) == 0
    assert "bit-exact: 30/30 samples" in capsys.readouterr().out
    assert main(["validate", str(model), "--c-host", "--samples", "5", "--state", "none"]) == 0  # two inputs
    assert "state fed back" not in capsys.readouterr().out
    assert main(["validate", str(model), "--c-host", "--state", "state_0:nothing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'nothing'" in err and "Traceback" not in err
    assert main(["generate", str(model), "-o", str(tmp_path / "lib")]) == 0
    assert "state kept across invokes: 16 bytes (state_0)" in capsys.readouterr().out
    assert "#define MODEL_STATE_BYTES 16" in (tmp_path / "lib" / "model.h").read_text()


def test_quantize_and_validate_a_stateful_gru(tmp_path, capsys):
    keras_model = S.stateful_keras_model("GRU")
    path = tmp_path / "stateful_gru.keras"
    keras_model.save(path)
    calib = tmp_path / "frames.npy"
    np.save(calib, S.rnn_frames(40, seed=2))
    out = tmp_path / "gru_int8.tflite"
    assert main(["quantize", str(path), "--calib", str(calib), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", str(out), "--c-host", "--data", str(calib)]) == 0
    text = capsys.readouterr().out
    assert "state fed back: state_rnn" in text and "bit-exact: 40/40 samples" in text


def test_quantize_an_explicit_state_keras_model_on_frames(tmp_path, capsys):
    """--calib holds the frames only; the state inputs are calibrated on the states the float model reaches."""
    path = tmp_path / "streaming_kws.keras"
    S.kws_keras_model().save(path)
    calib = tmp_path / "mfcc.npy"
    np.save(calib, np.random.default_rng(4).standard_normal((60, 1, 10)).astype(np.float32))
    out = tmp_path / "kws_int8.tflite"
    assert main(["quantize", str(path), "--calib", str(calib), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", str(out), "--c-host", "--data", str(calib), "--samples", "50"]) == 0
    text = capsys.readouterr().out
    assert "state fed back: state_0, state_1" in text and "bit-exact: 50/50 samples" in text
    assert main(["quantize", str(path), "--calib", str(calib), "--state", "state_0:probs", "-o",
                 str(tmp_path / "x.tflite")]) == 2  # shapes differ: the model cannot feed that back
    err = capsys.readouterr().err
    assert err.startswith("error: state 'state_0:probs' cannot be fed back") and "Traceback" not in err
