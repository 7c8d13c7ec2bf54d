"""The int8x4 scheme: int8 activations, int4 weights for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

TFLite's converter cannot make int4 weights; Google's ``ai-edge-quantizer`` can, from a float ``.tflite``:
its static recipe with 8-bit activations and 4-bit (symmetric, per-channel) weights gives TFLite's INT4
tensor type, two values a byte, which LiteRT's reference kernels run (they unpack the filter to int8 and
run the int8 per-channel kernel). :func:`quantize_int8x4` builds that recipe: every op it supports at
8/8 bits, the three weighted kinds at 8/4 (its policy lists no integer DEPTHWISE_CONV_2D with 4-bit
weights, though LiteRT runs one: that entry skips the policy check).

The activation ranges are edgeq's, not the quantizer's (it would keep a moving average of per-sample
min/max): the float model runs on the calibration samples in LiteRT, every float activation tensor is
observed (:class:`edgeq.frontend.calibrate.TensorStats`) and the chosen method (minmax, percentile, mse,
entropy) gives the ``{tensor name: {"min", "max"}}`` the quantizer takes as its calibration result.
minmax is the observed min and max; the converter's recorded range can be wider where an in-place op
overwrote a tensor before it was logged (see :class:`~edgeq.frontend.calibrate.TensorStats`): measured on
resnet8, every activation scale equals the int8 model's within 3e-7 except the two shortcut 1x1
convolutions feeding an ADD, whose observed ranges are 27% and 42% narrower.

What the rest of edgeq relies on, measured in tests/kernels/test_int4.py and tests/models/test_int8x4.py:
the result has int8 inputs and outputs, int32 biases with scale input_scale * filter_scale, and LiteRT's
reference gives the same bytes on it as on the same model with the int4 filters widened to int8, so the
int8 lowerings (written for the converter's models) run it with the filter decoded at run time.

The quantizer and LiteRT run in edgeq's worker (:mod:`edgeq.isolation`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from collections.abc import Callable, Sequence

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend import calibrate
from edgeq.frontend import qat as fq
from edgeq.frontend.convert import float_tflite_bytes, signature_names
from edgeq.frontend.data import Samples, check_samples, loaded_inputs
from edgeq.frontend.load import LoadedModel
from edgeq.frontend.runtime import quiet_tf
from edgeq.frontend.tflite.reader import read_tflite

INT4_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def quantize_int8x4(loaded: LoadedModel, cal: Samples, *, method: str | calibrate.Method = "minmax",
                    per_channel: bool = True, progress: Callable[[int, int], None] | None = None,
                    keep_int8: Sequence[str] = (), ranges: dict[str, tuple[float, float]] | None = None) -> bytes:
    """int8x4 TFLite bytes of a Keras model / SavedModel / float ``.tflite`` calibrated on ``cal``: int8
    activations (ranges from ``method``, see :mod:`edgeq.frontend.calibrate`), int4 symmetric weights for
    CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (per channel unless ``per_channel`` is False), int8
    weights elsewhere and for the ops whose output tensor (in the float model) is named in ``keep_int8``
    (partial quantization: layers too sensitive for 4 bits). ``progress(done, total)`` follows the
    observation of the float model. ``ranges`` (from :func:`int8x4_ranges` on the same model and samples):
    the activation ranges, not observed again (partial quantization quantizes one model many times)."""
    m = calibrate.parse_method(method)
    check_samples(cal, loaded_inputs(loaded))
    float_model = bytes(float_tflite_bytes(loaded))
    g = read_tflite(float_model)
    if not any(op.kind in INT4_KINDS for op in g.ops):
        kinds = sorted({op.kind for op in g.ops})
        raise EdgeqError(f"{loaded.path} has no layer that int8x4 gives 4-bit weights",
                         detail=[f"int8x4 quantizes the weights of {', '.join(INT4_KINDS)} to 4 bits; the model "
                                 f"has {', '.join(kinds) or 'no ops'}"],
                         hint="use --scheme int8: it is the same model here")
    _check_keep_int8(g, keep_int8, loaded)
    names = signature_names(loaded) if loaded.kind != "tflite" else None
    return _quantize(loaded, float_model, list(cal.inputs), m, per_channel, names, keep_int8, ranges, progress)


def int8x4_ranges(loaded: LoadedModel, cal: Samples, *, method: str | calibrate.Method = "minmax"
                  ) -> dict[str, tuple[float, float]]:
    """The activation ranges :func:`quantize_int8x4` gives the quantizer (``method`` on the float model
    observed on ``cal``), by tensor name of the float model, computed once (in the worker)."""
    m = calibrate.parse_method(method)
    check_samples(cal, loaded_inputs(loaded))
    names = signature_names(loaded) if loaded.kind != "tflite" else None
    return isolation.call("edgeq.frontend.int4:activation_ranges", bytes(float_tflite_bytes(loaded)),
                          list(cal.inputs), m, names, stage=f"the int8x4 calibration of {loaded.path}",
                          tool="LiteRT")


def int8_weight_ops(data: bytes) -> set[str]:
    """Output tensor names of the weighted ops (:data:`INT4_KINDS`) of an int8x4 model whose filter is int8:
    the ones ``keep_int8`` named."""
    g = read_tflite(data)
    return {g.tensor(op.outputs[0]).name for op in g.ops
            if op.kind in INT4_KINDS and len(op.inputs) > 1 and g.tensor(op.inputs[1]).dtype == "int8"}


def weighted_ops(float_model: bytes) -> list[str]:
    """Output tensor names of the weighted ops (:data:`INT4_KINDS`) of a float model: what ``keep_int8`` takes."""
    g = read_tflite(float_model)
    return [g.tensor(op.outputs[0]).name for op in g.ops if op.kind in INT4_KINDS]


def quantize_qat_int8x4(loaded: LoadedModel, *, per_channel: bool = True, keep_int8: Sequence[str] = ()) -> bytes:
    """int8x4 TFLite bytes of a model trained by ``edgeq qat --scheme int8x4`` (:mod:`edgeq.frontend.qat`),
    with the ranges it learned and the 4-bit weights it was trained with; no calibration data.

    The QAT model is converted to float twice: as it is (the converter turns each fake-quantized tensor into
    a QUANTIZE / DEQUANTIZE pair carrying the learned range, and folds the rounded weights into constants)
    and without its activation fake quantization (the plain float graph, which ai-edge-quantizer takes).
    :func:`qat_ranges` maps the learned ranges onto the plain graph's tensors, and they are the quantizer's
    calibration result. The weights are already on the 4-bit grid, symmetric, ``scale = max|w| / 7`` per
    output channel (:func:`edgeq.frontend.qat.round_to_grid`), which is the quantizer's own choice for
    symmetric 4-bit weights (``bound / qmax``, qmax 7, values rounded and clipped to [-8, 7]): the int4 values
    are the trained integers and the scales equal the fake quantizer's to float32 rounding."""
    model = loaded.keras_model
    if model is None or not fq.is_qat_model(model):
        raise EdgeqError(f"{loaded.path} is not a quantization-aware-trained Keras model")
    fq.check_conversion(model, per_channel, weight_bits=4)
    qat_float = bytes(float_tflite_bytes(loaded))
    plain = dataclasses.replace(loaded, keras_model=fq.without_activation_quantization(model))
    float_model = bytes(float_tflite_bytes(plain))
    ranges = qat_ranges(qat_float, float_model, str(loaded.path))
    g = read_tflite(float_model)
    _check_keep_int8(g, keep_int8, loaded)
    return _quantize(loaded, float_model, [], calibrate.parse_method("minmax"), per_channel, None, keep_int8,
                     ranges, None)


def _check_keep_int8(g, keep_int8: Sequence[str], loaded: LoadedModel) -> None:
    """An EdgeqError if a name in ``keep_int8`` is not the output of a weighted op of the float graph ``g``."""
    outputs = {g.tensor(t).name for op in g.ops if op.kind in INT4_KINDS for t in op.outputs}
    unknown = sorted(set(keep_int8) - outputs)
    if unknown:
        raise EdgeqError(f"no {'/'.join(INT4_KINDS)} of {loaded.path} outputs {', '.join(map(repr, unknown))}",
                         hint="name layers to keep at int8 by their output tensor in the float model")


def _quantize(loaded: LoadedModel, float_model: bytes, inputs: list[np.ndarray], method: calibrate.Method,
              per_channel: bool, names: Sequence[str] | None, keep_int8: Sequence[str],
              ranges: dict[str, tuple[float, float]] | None, progress: Callable[[int, int], None] | None) -> bytes:
    """ai-edge-quantizer on ``float_model`` in the worker (activation ranges: ``ranges``, else ``method``
    on ``inputs``), then the check that every weighted op but ``keep_int8``'s has int4 weights."""
    data = isolation.call("edgeq.frontend.int4:quantize_here", float_model, inputs, method, per_channel,
                          names, tuple(keep_int8), ranges, stage=f"the int8x4 quantization of {loaded.path}",
                          tool="ai-edge-quantizer",
                          on_report=(lambda v: progress(*v)) if progress is not None else None)
    problems = int8x4_problems(data, keep_int8)
    if problems:
        raise EdgeqError(f"ai-edge-quantizer did not fully quantize {loaded.path} to int8x4", detail=problems,
                         hint="some layers have no int8 kernel in ai-edge-quantizer; use --scheme int8")
    return data


SAME_SCALE = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "PAD", "PADV2", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE",
              "STRIDED_SLICE", "SLICE", "GATHER", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE")


def qat_ranges(qat_float: bytes, plain_float: bytes, source: str) -> dict[str, tuple[float, float]]:
    """Tensor name in ``plain_float`` -> the ``(lo, hi)`` a QAT model learned for it.

    ``qat_float`` is the QAT model's float conversion: each fake-quantized tensor ``t`` feeds a QUANTIZE whose
    8-bit output carries the learned range (as the converter nudged it: ``scale``, ``zero_point``, so
    ``lo = (qmin - zp) * scale``, ``hi = (qmin + 255 - zp) * scale``, qmin 0 for the uint8 the converter
    writes there, -128 for int8), and a DEQUANTIZE stands for ``t`` downstream.
    With those pairs taken out, its ops are ``plain_float``'s, one for one and in the same order (checked:
    kind and wiring), which maps its tensors onto the plain graph's. Tensors with no fake quantization of their
    own take the range the converter would give them: a CONCATENATION input its output's, the output of an op
    that keeps its input's scale (pooling, reshape, padding) its input's."""
    q, p = read_tflite(qat_float), read_tflite(plain_float)
    quantized = {op.outputs[0]: op.inputs[0] for op in q.ops if op.kind == "QUANTIZE"}
    stands_for: dict[int, int] = {}  # DEQUANTIZE output -> the fake-quantized float tensor
    learned: dict[int, tuple[float, float]] = {}
    for op in q.ops:
        if op.kind == "DEQUANTIZE" and op.inputs[0] in quantized:
            src = quantized[op.inputs[0]]
            stands_for[op.outputs[0]] = src
            t = q.tensor(op.inputs[0])
            scale, zp = float(t.quant.scale[0]), int(t.quant.zero_point[0])
            qmin = 0 if t.dtype == "uint8" else -128  # the converter writes these pairs in uint8
            learned[src] = ((qmin - zp) * scale, (qmin + 255 - zp) * scale)
    ops = [op for op in q.ops if op.kind not in ("QUANTIZE", "DEQUANTIZE")]
    mismatch = EdgeqError(f"the float conversions of {source} with and without its fake quantization differ",
                          detail=[f"with: {' '.join(op.kind for op in ops)}", f"without: "
                                  f"{' '.join(op.kind for op in p.ops)}"],
                          hint="quantize it with --scheme int8, and report the model")
    if [op.kind for op in ops] != [op.kind for op in p.ops] or len(q.inputs) != len(p.inputs):
        raise mismatch
    to_plain = dict(zip(q.inputs, p.inputs))
    for a, b in zip(ops, p.ops):
        for ta, tb in zip(a.inputs, b.inputs):
            ta = stands_for.get(ta, ta)
            if ta in to_plain and to_plain[ta] != tb:
                raise mismatch
        to_plain.update(zip(a.outputs, b.outputs))
    ranges = {to_plain[t]: r for t, r in learned.items() if t in to_plain}
    for op in p.ops:  # a concatenation's inputs share its output's range
        if op.kind == "CONCATENATION" and op.outputs[0] in ranges:
            for t in op.inputs:
                ranges.setdefault(t, ranges[op.outputs[0]])
    for op in p.ops:  # same-scale ops keep their input's
        if op.kind in SAME_SCALE and op.inputs[0] in ranges:
            for t in op.outputs:
                ranges.setdefault(t, ranges[op.inputs[0]])
    return {p.tensor(t).name: r for t, r in ranges.items()}


def int8x4_problems(data: bytes, keep_int8: Sequence[str] = ()) -> list[str]:
    """What in an int8x4 model is neither int8 activations nor int4 weights of the weighted kinds (but those
    whose output is named in ``keep_int8``)."""
    g = read_tflite(data)
    bad = []
    for op in g.ops:
        for tid in op.outputs:
            t = g.tensor(tid)
            if t.dtype not in ("int8", "int32"):
                bad.append(f"{op.kind} output '{t.name}' is {t.dtype}")
        kept = set(keep_int8) & {g.tensor(t).name for t in op.outputs}
        if op.kind in INT4_KINDS and len(op.inputs) > 1 and not kept:
            w = g.tensor(op.inputs[1])
            if w.dtype != "int4":
                bad.append(f"{op.kind} filter '{w.name}' is {w.dtype}, not int4")
    return bad


def has_int4_weights(data: bytes) -> bool:
    """Whether a ``.tflite`` has INT4 weights (an int8x4 model: :func:`edgeq.frontend.tflite.kind.tflite_scheme`
    calls it "int8", which is how the rest of edgeq takes it; this tells the scheme apart for reports)."""
    return any(t.dtype == "int4" for t in read_tflite(data).tensors)


def tflm_refusal(g) -> str | None:
    """Why TFLM (the pinned build) cannot load this graph because of its int4 weights, or None: it refuses a
    FULLY_CONNECTED with per-channel int4 weights at allocation (measured in tests/kernels/test_int4.py; it
    runs int4 CONV_2D, DEPTHWISE_CONV_2D and per-tensor FULLY_CONNECTED)."""
    for op in g.ops:
        if op.kind == "FULLY_CONNECTED" and len(op.inputs) > 1:
            w = g.tensor(op.inputs[1])
            if w.dtype == "int4" and w.quant is not None and w.quant.per_channel:
                return "TFLite Micro refuses a FULLY_CONNECTED with per-channel int4 weights"
    return None


# --------------------------------------------------------------------------------------------------
# In the worker


def activation_ranges(float_model: bytes, inputs: Sequence[np.ndarray], method: calibrate.Method,
                      input_names: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """Tensor name -> ``method``'s ``(lo, hi)`` for every float activation tensor of the float model's
    main subgraph, observed on the samples (``inputs[i]``: the ``(N, ...)`` array of model input i),
    reporting ``(done, total)`` after each sample of each pass. minmax: the observed min and max."""
    n = int(inputs[0].shape[0])
    with quiet_tf():
        interp = calibrate.litert_module().Interpreter(model_content=bytes(float_model),
                                                       experimental_preserve_all_tensors=True)
        interp.allocate_tensors()
    order = calibrate._input_indices(interp, inputs, input_names)
    g = read_tflite(float_model)
    activations = {t.id for t in g.tensors if not t.is_const and t.dtype == "float32"}
    details = [d for d in interp.get_tensor_details() if d["index"] in activations]
    percentiles = [method.percentile] if method.kind == "percentile" else []
    per_call = max(1, -(-calibrate.MSE_SAMPLES // n)) if method.kind == "mse" else 0
    stats = {}
    for d in details:
        total = n * int(np.prod(d["shape"]))
        keep = calibrate.top_count(total, min(percentiles)) if percentiles and total else 0
        stats[d["index"]] = calibrate.TensorStats(d["name"], 0.0, 0.0, keep_top=keep, sample_per_call=per_call)
    calibrate.observe(interp, order, inputs, stats, calibrate.observation_passes([method]),
                      np.random.default_rng(0), np.float32)
    out = {}
    for s in stats.values():
        if s.count:
            s.lo, s.hi = s.obs_lo, s.obs_hi  # minmax: what was observed
            out[s.name] = s.range(method)
    return out


def int8x4_recipe(per_channel: bool = True, keep_int8: Sequence[str] = ()) -> list:
    """ai-edge-quantizer's recipe: static 8-bit activations and weights for every op it supports, 4-bit
    weights for :data:`INT4_KINDS` but those whose output tensor is named in ``keep_int8`` (the quantizer
    matches each op's scope, its output tensor names each followed by ";", against every regex; the last
    match wins)."""
    from ai_edge_quantizer import qtyping, recipe_manager

    granularity = qtyping.QuantGranularity.CHANNELWISE if per_channel else qtyping.QuantGranularity.TENSORWISE
    rm = recipe_manager.RecipeManager()
    rm.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, 8, 8, granularity)
    for kind in INT4_KINDS:
        rm.add_quantization_config(".*", getattr(qtyping.TFLOperationName, kind), qtyping.OpQuantizationConfig(
            activation_tensor_config=qtyping.TensorQuantizationConfig(num_bits=8, symmetric=False),
            weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=4, symmetric=True,
                                                                  granularity=granularity),
            compute_precision=qtyping.ComputePrecision.INTEGER, explicit_dequantize=False,
            # not in the quantizer's policy, run by LiteRT's reference (tests/kernels/test_int4.py)
            skip_checks=kind == "DEPTHWISE_CONV_2D"))
    for name in keep_int8:
        for kind in INT4_KINDS:
            rm.add_static_config(f"^{re.escape(name)};", getattr(qtyping.TFLOperationName, kind), 8, 8, granularity)
    return rm.get_quantization_recipe()


def quantize_here(float_model: bytes, inputs: Sequence[np.ndarray], method: calibrate.Method, per_channel: bool,
                  input_names: Sequence[str] | None, keep_int8: Sequence[str] = (),
                  ranges: dict[str, tuple[float, float]] | None = None) -> bytes:
    """:func:`quantize_int8x4` in this process (the worker); ``ranges`` given: those, not observed ones."""
    if ranges is None:
        ranges = activation_ranges(float_model, inputs, method, input_names)
    with quiet_tf(), contextlib.redirect_stdout(io.StringIO()):
        from ai_edge_quantizer import quantizer

        q = quantizer.Quantizer(bytearray(float_model))
        q.load_quantization_recipe(int8x4_recipe(per_channel, keep_int8))
        shapes = {}
        for t in q._float_model.subgraphs[0].tensors:
            name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            shapes[name] = len(t.shape) if t.shape is not None else 0
        result = {name: {"min": np.full((1,) * shapes.get(name, 0), lo, np.float32),
                         "max": np.full((1,) * shapes.get(name, 0), hi, np.float32)}
                  for name, (lo, hi) in ranges.items()}
        try:
            out = q.quantize(result, enable_progress_report=False)
        except Exception as error:  # the quantizer raises many types; each becomes one message
            raise EdgeqError("ai-edge-quantizer could not quantize the model to int8x4",
                             detail=[f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"],
                             hint="the model probably has an op ai-edge-quantizer cannot quantize; use --scheme int8"
                             ) from None
    return bytes(out.quantized_model)
