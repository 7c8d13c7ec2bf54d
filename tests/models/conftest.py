"""Session fixtures: each model is converted once per test run (and cached on disk by content hash)."""

import hashlib
import importlib.util

import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.api import quantize_model
from edgeq.files import cache_dir


def _cached_quantize(model_path, calib, **kw) -> bytes:
    """Quantize once per (model, calibration, options); the result is cached by content hash."""
    h = hashlib.sha256()
    h.update(open(model_path, "rb").read())
    h.update(str(calib).encode() + (open(calib, "rb").read() if calib != "random" else b"") + repr(kw).encode())
    path = cache_dir() / "tflite" / (h.hexdigest()[:24] + ".tflite")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = quantize_model(model_path, calib, **kw).tflite
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
    return path.read_bytes()


@pytest.fixture(scope="session")
def resnet8_edgeq(tmp_path_factory) -> bytes:
    # No CIFAR-10 offline: calibrate on uniform noise over the reference model's input range 0..255.
    return _cached_quantize(MLPERF / "resnet8.h5", "random", random_range=(0.0, 255.0), random_count=50)


@pytest.fixture(scope="session")
def kws_edgeq() -> bytes:
    # MFCC features; uniform over the reference int8 model's input range (scale 0.5847, zp 83).
    return _cached_quantize(MLPERF / "kws_dscnn.keras", "random", random_range=(-123.0, 26.0), random_count=50)


@pytest.fixture(scope="session")
def ad01_edgeq() -> bytes:
    # The real sample shipped with the benchmark: 40 log-mel vectors of 640 values.
    return _cached_quantize(MLPERF / "ad01.h5", str(MLPERF / "ad01_sample_input_40x640_f32.bin"))


@pytest.fixture(scope="session")
def digits():
    """The digits CNN trained here on scikit-learn's real labelled digits, and its int8 model."""
    spec = importlib.util.spec_from_file_location("digits_train", REPO / "examples" / "digits" / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model, (xtr, ytr), (xte, yte) = mod.train(seed=1, epochs=30)
    d = cache_dir() / "digits-test"
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "calib.npy", xtr[:200])
    model.save(d / "digits.keras")
    tfl = quantize_model(d / "digits.keras", str(d / "calib.npy")).tflite
    return model, tfl, (xte, yte)


@pytest.fixture
def tiny_an386(tmp_path):
    """A factory of boards too small for a model: mps2-an386 with ``flash`` bytes of flash and no external
    memory (the fit estimate then has to name what does not fit)."""
    from edgeq.targets.boards import BOARDS_DIR, load_board

    def make(flash: int):
        text = (BOARDS_DIR / "mps2-an386.toml").read_text().replace('name = "mps2-an386"', 'name = "an386-tiny"')
        old = "flash = { origin = 0x00000000, length = 0x00400000 }"
        assert old in text
        text = text.replace(old, f"flash = {{ origin = 0x00000000, length = {flash:#x} }}")
        text = text.replace('external = { origin = 0x21000000, length = 0x01000000, kind = "psram" }', "")
        path = tmp_path / "an386-tiny.toml"
        path.write_text(text)
        return load_board(path)

    return make
