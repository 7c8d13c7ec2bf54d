"""One-op testing for the int16x8 kernels: Keras model -> TFLite 16x8 -> generated C -> byte equality
with LiteRT's reference kernels (see harness.py for the int8 version)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness import compare, random_inputs
from edgeq.frontend.tflite.reader import read_tflite


def int16x8_tflite(model, calib=None, n_calib: int = 32, seed: int = 0, scale: float = 1.0,
                   input_type: str = "int16", output_type: str = "int16", per_channel: bool = True) -> bytes:
    """16x8 quantization of a Keras model (batch-1 inputs) through edgeq.frontend.int16."""
    from edgeq.frontend.int16 import quantize_int16x8
    from edgeq.frontend.load import LoadedModel
    from edgeq.frontend.data import Samples

    if calib is None:
        rng = np.random.default_rng(seed)
        calib = [(rng.standard_normal((n_calib, *inp.shape[1:])) * scale).astype(np.float32)
                 for inp in model.inputs]
    if isinstance(calib, np.ndarray):
        calib = [calib]
    loaded = LoadedModel(Path(f"{model.name}.keras"), "keras", model, None, None,
                         [tuple(i.shape[1:]) for i in model.inputs], [np.dtype("float32")] * len(model.inputs),
                         [i.name for i in model.inputs])
    cal = Samples("test", [c.astype(np.float32) for c in calib])
    return quantize_int16x8(loaded, cal, input_type=input_type, output_type=output_type,
                            per_channel=per_channel)


def tf_function_int16x8(f, calib: list[list[np.ndarray]], input_type: str = "int16",
                        output_type: str = "int16") -> bytes:
    """16x8 TFLite of a ``tf.function`` with a fixed input signature."""
    import tensorflow as tf

    from edgeq.frontend.int16 import converter_settings

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.representative_dataset = lambda: iter(calib)
    converter_settings(conv, input_type, output_type)
    return conv.convert()


def assert_bit_exact16(model=None, *, expect_ops=(), calib=None, n: int = 20, model_bytes: bytes | None = None,
                       inputs=None, roundings=("litert", "tflm"), **convert_kw) -> bytes:
    """Generated C == LiteRT BUILTIN_REF (rounding "litert") and TFLM (rounding "tflm") on ``n`` random int16
    (or float) inputs; returns the model."""
    tfl = model_bytes if model_bytes is not None else int16x8_tflite(model, calib, **convert_kw)
    g = read_tflite(tfl)
    kinds = {op.kind for op in g.ops}
    missing = set(expect_ops) - kinds
    assert not missing, f"converted model has ops {sorted(kinds)}, not {sorted(missing)}"
    assert any(t.dtype == "int16" for t in g.tensors), "not a 16x8 model"
    inputs = inputs if inputs is not None else random_inputs(tfl, n)
    for r in roundings:
        cmp = compare(tfl, inputs, r)
        assert cmp.bit_exact, (
            f"[{r}] {cmp.exact_samples}/{cmp.samples} samples bit-exact, {cmp.mismatched_bytes} of "
            f"{cmp.total_bytes} bytes differ (max |diff| {cmp.max_abs_diff}); first bad op: {cmp.first_bad_op}")
    return tfl
