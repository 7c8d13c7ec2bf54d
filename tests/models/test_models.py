"""Whole models on the host: generated C vs LiteRT reference (and TFLM), 100 samples each."""

import numpy as np
import pytest

from paths import MLPERF
from edgeq.files import cache_dir
from edgeq.frontend.data import Samples
from edgeq.quality.validate import validate

pytestmark = pytest.mark.slow


def _assert_exact(model: bytes, name: str, data=None, samples: int = 100):
    rep = validate(model, name=name, data=data, c_host=True, samples=samples)
    for mode, c in rep.c_host.items():
        assert c.bit_exact, f"{name} [{mode}]: {c.exact_samples}/{c.samples}, first bad op {c.first_bad_op}"
        assert c.samples == samples
    return rep


@pytest.mark.parametrize("name", ["resnet8_int8", "kws_dscnn_int8", "ad01_int8"])
def test_mlperf_reference_models(name):
    rep = _assert_exact((MLPERF / f"{name}.tflite").read_bytes(), name)
    # what a firmware must reserve: our whole arena (activations + kernel scratch) against TFLM's
    assert rep.arena["edgeq"]["arena"] < rep.arena["tflm"]["total"]


def test_resnet8_converted_by_edgeq(resnet8_edgeq):
    _assert_exact(resnet8_edgeq, "resnet8_edgeq")


def test_kws_converted_by_edgeq(kws_edgeq):
    _assert_exact(kws_edgeq, "kws_edgeq")


def test_ad01_converted_by_edgeq_on_real_sample(ad01_edgeq):
    x = np.fromfile(MLPERF / "ad01_sample_input_40x640_f32.bin", np.float32).reshape(40, 640)
    _assert_exact(ad01_edgeq, "ad01_edgeq", data=Samples("ad01 sample", [x]), samples=40)
    _assert_exact(ad01_edgeq, "ad01_edgeq")  # and 100 random int8 inputs


def test_digits_cnn_accuracy_and_bit_exactness(digits):
    _, tfl, (xte, yte) = digits
    rep = validate(tfl, name="digits", keras_file=cache_dir() / "digits-test" / "digits.keras",  # conftest saved it
                   data=Samples("digits test", [xte], yte),
                   c_host=True, samples=len(yte))
    assert rep.c_host["litert"].bit_exact and rep.c_host["tflm"].bit_exact
    acc_f, acc_q = rep.accuracy["float"], rep.accuracy["quantized"]
    print(f"digits: float {acc_f:.4f}, int8 {acc_q:.4f}, agreement {rep.accuracy['top1_agreement']:.4f}")
    assert acc_f > 0.9
    assert abs(acc_f - acc_q) <= 0.02
