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
import io
import re
from collections.abc import Callable, Sequence

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend import calibrate
from edgeq.frontend.convert import float_tflite_bytes, signature_names
from edgeq.frontend.data import Samples, check_samples, loaded_inputs
from edgeq.frontend.load import LoadedModel
from edgeq.frontend.runtime import quiet_tf
from edgeq.frontend.tflite.reader import read_tflite

INT4_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def quantize_int8x4(loaded: LoadedModel, cal: Samples, *, method: str | calibrate.Method = "minmax",
                    per_channel: bool = True, progress: Callable[[int, int], None] | None = None,
                    keep_int8: Sequence[str] = ()) -> bytes:
    """int8x4 TFLite bytes of a Keras model / SavedModel / float ``.tflite`` calibrated on ``cal``: int8
    activations (ranges from ``method``, see :mod:`edgeq.frontend.calibrate`), int4 symmetric weights for
    CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (per channel unless ``per_channel`` is False), int8
    weights elsewhere and for the ops whose output tensor (in the float model) is named in ``keep_int8``
    (partial quantization: layers too sensitive for 4 bits). ``progress(done, total)`` follows the
    observation of the float model."""
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
    outputs = {g.tensor(t).name for op in g.ops if op.kind in INT4_KINDS for t in op.outputs}
    unknown = sorted(set(keep_int8) - outputs)
    if unknown:
        raise EdgeqError(f"no {'/'.join(INT4_KINDS)} of {loaded.path} outputs {', '.join(map(repr, unknown))}",
                         hint="name layers to keep at int8 by their output tensor in the float model")
    names = signature_names(loaded) if loaded.kind != "tflite" else None
    data = isolation.call("edgeq.frontend.int4:quantize_here", float_model, list(cal.inputs), m, per_channel,
                          names, tuple(keep_int8), stage=f"the int8x4 quantization of {loaded.path}",
                          tool="ai-edge-quantizer",
                          on_report=(lambda v: progress(*v)) if progress is not None else None)
    problems = int8x4_problems(data, keep_int8)
    if problems:
        raise EdgeqError(f"ai-edge-quantizer did not fully quantize {loaded.path} to int8x4", detail=problems,
                         hint="some layers have no int8 kernel in ai-edge-quantizer; use --scheme int8")
    return data


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
                  input_names: Sequence[str] | None, keep_int8: Sequence[str] = ()) -> bytes:
    """:func:`quantize_int8x4` in this process (the worker)."""
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
