"""int8 NEG and ELU (the edgeq_lut_s8 table of firmware/kernels/activations.c) byte for byte over all 256 input
values and random scales and zero points.

* NEG: LiteRT's neg.cc negates the stored value, ignoring both zero points and scales (-(-128) wraps to -128):
  measured against LiteRT's reference; TFLM has no int8 NEG.
* ELU: elu.cc's table, ``value < 0 ? expm1(value) : value`` in float from the scales. LiteRT's reference
  resolver has no ELU (it refuses the model), so the table is checked against LiteRT's builtin resolver (elu.cc
  has one int8 implementation) and TFLM.
The converter does not quantize Keras elu or negation to int8 (it leaves them in float), so these are hand-built
models."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from harness import compile_host
from harness_ops import check, one_op, tensor

ALL_VALUES = [[np.arange(-128, 128, dtype=np.int8).reshape(4, 64)]]


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


@pytest.mark.parametrize("seed", range(4))
def test_neg_int8(seed):
    rng = _rng("NEG", seed)
    tfl = one_op("NEG", [tensor((4, 64), "int8", rng)], tensor((4, 64), "int8", rng))
    check(tfl, ALL_VALUES, ("litert",))


def _litert_builtin(tfl: bytes, x: np.ndarray) -> np.ndarray:
    from edgeq.quality.references import litert_module

    m = litert_module()
    interp = m.Interpreter(model_content=tfl, experimental_op_resolver_type=m.OpResolverType.BUILTIN)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


@pytest.mark.parametrize("seed", range(6))
def test_elu_int8(seed):
    rng = _rng("ELU", seed)
    x, y = tensor((4, 64), "int8", rng), tensor((4, 64), "int8", rng)
    if seed % 2:  # an output range that keeps ELU's [-1, 0) part well resolved
        y["scale"], y["zero_point"] = float(np.float32(rng.uniform(0.01, 0.03))), -100
    tfl = one_op("ELU", [x], y)
    check(tfl, ALL_VALUES, ("tflm",))
    _, host = compile_host(tfl, "litert")
    ours = host.run(ALL_VALUES[0])[0]
    assert (ours == _litert_builtin(tfl, ALL_VALUES[0][0]).reshape(-1)).all()
