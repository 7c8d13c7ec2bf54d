"""The quantize stage as one call: load a model, convert it in the chosen scheme (int8 with a calibration
method, int16x8, float32, weight-only), or pass an already-quantized .tflite through, and describe the result
(op histogram, MACs, every op the C backend cannot lower)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError, UnsupportedOp
from edgeq.frontend.calibrate import observation_passes, parse_method
from edgeq.frontend.convert import float_tflite_bytes, quantize
from edgeq.frontend.data import Samples, load_calibration, loaded_inputs, static_shape
from edgeq.frontend.cluster import check_clusters, cluster_loaded, mark_clustered
from edgeq.frontend.int16 import quantize_int16x8
from edgeq.frontend.int4 import quantize_int8x4, quantize_qat_int8x4
from edgeq.frontend.load import load_model
from edgeq.frontend.qat import check_clusters_kept, check_conversion, is_qat_model, trained_clusters
from edgeq.frontend.weights import check_finite_weights
from edgeq.frontend.rnn import check_int16x8, needs_rnn_conversion, quantize_rnn, recurrent_layers
from edgeq.frontend.islands import float_notes, read_model
from edgeq.frontend.state import keras_state_pairs, sequence_state_samples
from edgeq.frontend.tflite.kind import ensure_supported, is_int8_tflite, tflite_scheme
from edgeq.frontend.tflite.names import KerasNames, keras_layer, keras_names
from edgeq.frontend.weight_only import RECIPE, weight_only_tflite
from edgeq.passes.analysis import macs, op_histogram
from edgeq.passes.graph.alias import fold_constant_aliases
from edgeq.passes.graph.fuse import fuse_activations
from edgeq.passes.graph.weights import fold_weight_dequantize
from edgeq.passes.lower import unsupported_ops
from edgeq.quality.preflight import reference_limit_notes


@dataclass
class QuantizeResult:
    model: str
    tflite: bytes
    float_bytes: int | None
    ops: dict[str, int]
    macs: int
    unsupported: list[UnsupportedOp]
    calibration: str
    calibration_warning: str | None = None
    notes: list[str] = field(default_factory=list)
    scheme: str = "int8"

    def to_json(self) -> dict:
        return {"model": self.model, "scheme": self.scheme, "tflite_bytes": len(self.tflite),
                "float_bytes": self.float_bytes,
                "ops": self.ops, "macs": self.macs, "calibration": self.calibration,
                "calibration_warning": self.calibration_warning,
                "unsupported": [{"op": u.op, "kind": u.kind, "layer": u.layer, "why": u.why}
                                for u in self.unsupported]}


def summarize(model: bytes, name: str, keras: KerasNames = KerasNames()
              ) -> tuple[dict[str, int], int, list[UnsupportedOp]]:
    """Op histogram, MACs and the ops the C backend cannot lower (all of them), each named by its Keras
    layer (``keras``: what the Keras model says, when there is one; see ``keras_layer``)."""
    g = read_model(model, name=name)  # float islands folded into tables, as the C backend lowers them
    lg = fuse_activations(fold_constant_aliases(fold_weight_dequantize(g)))
    out_layer = dict(zip(lg.outputs, keras.outputs)) if len(keras.outputs) == len(lg.outputs) else {}
    ops = {op.id: op for op in lg.ops}
    bad = [u._replace(layer=keras_layer(u.location, keras.layers, out_layer.get(ops[u.op].outputs[0])))
           for u in unsupported_ops(lg)]
    return op_histogram(g), macs(g), bad


SCHEMES = ("int8", "int16x8", "float32", "weight-only", "int8x4")
CLUSTER_SCHEMES = ("int8", "int16x8")  # --clusters K: k-means before the int8 / int16x8 quantization

HYBRID_NOTE = ("a TFLite dynamic-range (hybrid) model: deployed as weight-only int8 (the same int8 weights, "
               "float32 activations; a DEQUANTIZE feeds each weight), and checked against LiteRT running that "
               "form, not LiteRT's hybrid kernels, which also quantize activations on the fly")


def quantize_model(model_path: str | Path, calib: str | None, *, random_range=(-1.0, 1.0), random_count: int = 100,
                   per_channel: bool = True, progress=None, scheme: str = "int8",
                   calibration: str = "minmax", state: tuple[str, ...] | None = None,
                   clusters: int | None = None, clusters_per_channel: bool = False) -> QuantizeResult:
    """Load a model, quantize it to full int8 (or take an int8 .tflite as it is) and describe it.

    ``calibration`` is the int8 activation-range method (minmax, percentile[:P], mse, entropy; see
    edgeq.frontend.calibrate).

    ``scheme`` "int16x8" quantizes to int16 activations and int8 weights instead (int16 I/O, see
    edgeq.frontend.int16); "float32" converts without quantization (batch 1; no calibration data needed);
    "weight-only" quantizes the weights only (int8, per channel unless ``per_channel`` is False), activations
    stay float32 (edgeq.frontend.weight_only; no calibration data needed); "int8x4" gives CONV_2D,
    DEPTHWISE_CONV_2D and FULLY_CONNECTED packed int4 weights and keeps int8 activations, whose ranges the
    ``calibration`` method chooses (edgeq.frontend.int4).

    ``clusters`` K (int8 and int16x8): the Keras model's conv / depthwise / dense kernels are first clustered to
    K values per layer (per output channel with ``clusters_per_channel``) by seeded k-means
    (edgeq.frontend.cluster), so the int8 weights hold at most K values per channel; the C backend stores 16 or
    fewer as 4-bit indices into a per-channel codebook.

    A Keras model in explicit-state form (``state``: IN:OUT pairs by Keras names, None to pair by name,
    ``()`` for none; see edgeq.frontend.state) is calibrated on sequences: the calibration data holds the
    inputs that are not state, frames in stream order (or ``random``), and the state inputs get the states
    the float model reaches over them from zeros. Data holding every input is used as it is.
    """

    if scheme not in SCHEMES:
        raise EdgeqError(f"unknown quantization scheme {scheme!r}", hint=f"use one of {', '.join(SCHEMES)}")
    method = parse_method(calibration)
    if method.kind != "minmax" and scheme not in ("int8", "int8x4"):
        raise EdgeqError(f"--calibration {method.name} applies to the int8 and int8x4 schemes, not --scheme {scheme}")
    if clusters is not None:
        check_clusters(clusters)
        if scheme not in CLUSTER_SCHEMES:
            raise EdgeqError(f"--clusters applies to the {' and '.join(CLUSTER_SCHEMES)} schemes, "
                             f"not --scheme {scheme}",
                             hint="leave out --scheme (int8), use --scheme int16x8, or leave out --clusters")
    loaded = load_model(model_path)
    if method.kind != "minmax" and loaded.kind == "tflite":
        raise EdgeqError(f"{model_path} is already quantized; --calibration {method.name} needs the float model",
                         hint="pass the Keras model (.keras/.h5) or SavedModel it came from")
    name = Path(model_path).stem
    notes = list(loaded.notes)
    if loaded.keras_model is not None:
        check_finite_weights(loaded.keras_model, str(model_path))
    if scheme != "int8":
        if clusters is not None:  # int16x8: cluster the float kernels, then quantize as usual
            if loaded.keras_model is not None and is_qat_model(loaded.keras_model):
                raise EdgeqError(f"--scheme int16x8 --clusters takes a float Keras model; {model_path} is a "
                                 "quantization-aware-trained one",
                                 hint="pass the float model, or quantize the fine-tuned one with --scheme int8")
            loaded = cluster_loaded(loaded, clusters, per_channel=clusters_per_channel)
            notes.append(_clustered_note(clusters, clusters_per_channel))
        res = _SCHEMES[scheme](loaded, name, notes, scheme, calib, random_range, random_count, progress,
                               per_channel, method)
        return res if clusters is None else \
            dataclasses.replace(res, tflite=mark_clustered(res.tflite, clusters, clusters_per_channel))
    qat = loaded.keras_model is not None and is_qat_model(loaded.keras_model)
    trained = trained_clusters(loaded.keras_model) if qat else None
    if clusters is not None and qat:  # fine-tuned with them: kept, not redone
        check_clusters_kept(loaded.keras_model, clusters, clusters_per_channel)
    elif clusters is not None:
        loaded = cluster_loaded(loaded, clusters, per_channel=clusters_per_channel)
        notes.append(_clustered_note(clusters, clusters_per_channel))
    if trained is not None:
        notes.append(f"the fine-tuned clustering kept: at most {trained[0]} values per "
                     f"{'output channel' if trained[1] else 'layer'} (the centroids trained by edgeq qat)")
    tflite_scheme = "int8"
    if loaded.kind == "tflite":  # already quantized: int8, int8 with float32 ops (partial), int16x8, weight-only
        data, tflite_scheme = _supported_tflite(loaded, notes)
        if tflite_scheme == "float32":  # edgeq quantizes Keras models and SavedModels, not float .tflite files
            raise EdgeqError(f"{model_path} is a float32 TFLite model, not int8",
                             hint="add --scheme float32 to deploy it in float32, or pass the Keras model "
                                  "(.keras/.h5) or SavedModel with --calib DATA to quantize it to int8")
        float_bytes, calib_desc, warning = None, f"none (already {tflite_scheme})", None
    else:
        pairs = [] if (loaded.keras_model is None or needs_rnn_conversion(loaded) or state == ()) else \
            keras_state_pairs(loaded.keras_model, state)
        qat = is_qat_model(loaded.keras_model)
        if qat:
            check_conversion(loaded.keras_model, per_channel, weight_bits=8)
        if calib is None and qat and not pairs:  # the converter takes every range from the fake-quant ops
            cal = Samples("none needed (the QAT model's learned ranges)",
                          [np.zeros((1, *static_shape(s.shape, s.name, str(model_path))), s.dtype)
                           for s in loaded_inputs(loaded)])
        else:
            cal = _calibration(loaded, calib, f"{model_path} needs calibration data to be quantized", random_range,
                               random_count, pairs)
        notes += list(cal.notes)
        # the methods other than minmax observe the float model on the data again (entropy twice)
        passes = 1 if method.kind == "minmax" else 1 + observation_passes([method])
        step = progress("calibrating and converting", passes * cal.count) if progress else None
        on_step = (lambda done, total: step()) if step else None
        if needs_rnn_conversion(loaded):  # LSTMs: one fused op each, converted in a child process
            conv = quantize_rnn(loaded, cal, per_channel=per_channel, calibration=method.name, progress=on_step)
            data, float_bytes = conv.quantized, len(conv.float32)
        else:
            data = quantize(loaded, cal, per_channel=per_channel, calibration=method.name, progress=on_step)
            float_bytes = len(float_tflite_bytes(loaded))
            tflite_scheme = "int8" if is_int8_tflite(data) else "int8+float32"  # ops TFLite has no int8 kernel for
        calib_desc = f"{cal.source} ({cal.count} samples), {method.name}" + ("" if per_channel else ", per-tensor")
        warning = cal.warning
    marked = (clusters, clusters_per_channel) if clusters is not None and not qat else trained
    if marked is not None:  # the lowerings' opt-in to 5- to 7-bit codebook indices (conv.cb_most)
        data = mark_clustered(data, *marked)
    return _result(str(model_path), name, data, float_bytes, calib_desc, warning, notes, tflite_scheme,
                   _keras_names(loaded))


def _clustered_note(clusters: int, per_channel: bool) -> str:
    return (f"weights clustered by k-means to at most {clusters} values per "
            f"{'output channel' if per_channel else 'layer'} before quantization")


def _supported_tflite(loaded, notes: list[str]) -> tuple[bytes, str]:
    """A .tflite the C backend takes and its scheme (kind.ensure_supported); a dynamic-range model as its
    weight-only form, with :data:`HYBRID_NOTE` added to ``notes``."""
    data, scheme = ensure_supported(loaded)
    if scheme == "hybrid":
        notes.append(HYBRID_NOTE)
        scheme = "weight-only"
    return data, scheme


def _quantize_weight_only(loaded, name, notes, scheme, calib, random_range, random_count, progress,
                          per_channel, method) -> QuantizeResult:
    """``quantize_model`` for the weight-only scheme: a Keras model, SavedModel or float32 .tflite through
    ai-edge-quantizer (no calibration data); a weight-only or dynamic-range .tflite passes through."""
    granularity = "per-channel" if per_channel else "per-tensor"
    if calib is not None:
        notes.append("--calib is not used by --scheme weight-only (the weights' own ranges set their scales)")
    if loaded.kind == "tflite":
        data, have = _supported_tflite(loaded, notes)
        if have == "weight-only":
            return _result(str(loaded.path), name, data, None, "none (already weight-only)", None, notes, have)
        if have != "float32":
            raise EdgeqError(f"{loaded.path} is already quantized ({have}); --scheme weight-only quantizes a float "
                             "model's weights",
                             hint="pass the Keras model (.keras/.h5), SavedModel or float32 .tflite it came from")
        float_data = data
    else:
        if needs_rnn_conversion(loaded):
            raise EdgeqError(f"{loaded.path} has recurrent layers ({', '.join(recurrent_layers(loaded.keras_model))}); "
                             "--scheme weight-only does not take them yet",
                             hint="quantize it with --scheme int8 (LSTM, GRU, SimpleRNN and Bidirectional layers)")
        float_data = float_tflite_bytes(loaded)
    step = progress("quantizing the weights", 1) if progress else None
    data = weight_only_tflite(float_data, per_channel=per_channel, name=name)
    if step:
        step()
    return _result(str(loaded.path), name, data, len(float_data),
                   f"none needed (weight-only: {RECIPE}, {granularity} int8 weights, float32 activations)", None,
                   notes, scheme, _keras_names(loaded))


def _quantize_other(loaded, name, notes, scheme, calib, random_range, random_count, progress,
                    per_channel, method) -> QuantizeResult:
    """``quantize_model`` for the int16x8 and float32 schemes (Keras models and SavedModels only)."""
    rnn = needs_rnn_conversion(loaded)
    if rnn and scheme == "float32":  # the converter would crash on them (and edgeq has no float LSTM kernel)
        raise EdgeqError(f"{loaded.path} has recurrent layers ({', '.join(recurrent_layers(loaded.keras_model))}); "
                         f"--scheme {scheme} does not take them yet",
                         hint="quantize it with --scheme int8 (LSTM, GRU, SimpleRNN and Bidirectional layers)")
    if loaded.kind == "tflite":
        have = tflite_scheme(loaded.tflite_bytes) if loaded.tflite_bytes is not None else None
        if have != scheme:
            raise EdgeqError(f"{loaded.path} is already a TFLite model ({have or 'not one the C backend runs'}); "
                             f"--scheme {scheme} converts Keras models and SavedModels",
                             hint="pass the Keras model (.keras/.h5) it came from, or leave out --scheme to pass an "
                                  "int8, int16x8 or mixed .tflite through")
        data = loaded.tflite_bytes  # already in the scheme asked for: passes through, like an int8 .tflite
        return _result(str(loaded.path), name, data, len(data), f"none (already {scheme})", None, notes, scheme)
    float_data = None if rnn else float_tflite_bytes(loaded)  # an RNN's: of the rebuilt model, in the worker
    if scheme == "float32":
        data, calib_desc, warning = float_data, "none (float32, not quantized)", None
    else:
        if rnn:
            check_int16x8(loaded.keras_model, str(loaded.path))  # refuses before asking for calibration data
        cal = _calibration(loaded, calib, f"--scheme {scheme} needs calibration data", random_range, random_count)
        notes += list(cal.notes)
        step = progress("calibrating and converting", cal.count) if progress else None
        on_step = (lambda done, total: step()) if step else None
        if rnn:  # every recurrent layer unrolled (stateful layers refused), in the worker
            conv = quantize_rnn(loaded, cal, scheme=scheme, progress=on_step)
            data, float_data = conv.quantized, conv.float32
        else:
            data = quantize_int16x8(loaded, cal, progress=on_step)
        calib_desc, warning = f"{cal.source} ({cal.count} samples)", cal.warning
    return _result(str(loaded.path), name, data, len(float_data), calib_desc, warning, notes, scheme,
                   _keras_names(loaded))


def _quantize_int8x4(loaded, name, notes, scheme, calib, random_range, random_count, progress,
                     per_channel, method) -> QuantizeResult:
    """``quantize_model`` for int8x4: int4 weights for conv / depthwise / dense, int8 elsewhere (ai-edge-quantizer,
    with the activation ranges of edgeq's calibration ``method``); a Keras model, SavedModel or float .tflite."""
    if needs_rnn_conversion(loaded):
        raise EdgeqError(f"{loaded.path} has recurrent layers ({', '.join(recurrent_layers(loaded.keras_model))}); "
                         f"--scheme {scheme} does not take them yet",
                         hint="quantize it with --scheme int8 (LSTM, GRU, SimpleRNN and Bidirectional layers)")
    if is_qat_model(loaded.keras_model):  # the learned ranges and 4-bit weights, no calibration data
        if calib is not None:
            notes.append("--calib is not used: the QAT model's learned ranges are kept")
        step = progress("converting the QAT model to int8x4", 1) if progress else None
        data = quantize_qat_int8x4(loaded, per_channel=per_channel)
        if step:
            step()
        return _result(str(loaded.path), name, data, len(float_tflite_bytes(loaded)),
                       "none needed (the QAT model's learned ranges, its 4-bit weights)", None, notes, scheme,
                       _keras_names(loaded))
    cal = _calibration(loaded, calib, f"--scheme {scheme} needs calibration data", random_range, random_count)
    notes += list(cal.notes)
    bar: list = []

    def on_step(done: int, total: int) -> None:  # the observation's own count of steps
        if not bar:
            bar.append(progress("calibrating and quantizing to int8x4", total))
        bar[0]()

    data = quantize_int8x4(loaded, cal, method=method.name, per_channel=per_channel,
                           progress=on_step if progress else None)
    float_bytes = len(loaded.tflite_bytes) if loaded.kind == "tflite" else len(float_tflite_bytes(loaded))
    calib_desc = f"{cal.source} ({cal.count} samples), {method.name}" + ("" if per_channel else ", per-tensor")
    return _result(str(loaded.path), name, data, float_bytes, calib_desc, cal.warning, notes, scheme,
                   _keras_names(loaded))


# the schemes other than int8 (quantize_model's own path): scheme -> its conversion, all called alike
_SCHEMES = {"int16x8": _quantize_other, "float32": _quantize_other, "weight-only": _quantize_weight_only,
            "int8x4": _quantize_int8x4}


def _keras_names(loaded) -> KerasNames:
    """The Keras model's layer names (none for a SavedModel or a .tflite)."""
    return keras_names(loaded.keras_model) if loaded.keras_model is not None else KerasNames()


def _calibration(loaded, calib: str | None, missing: str, random_range, random_count: int,
                 pairs: list[tuple[int, object]] = ()) -> Samples:
    """The calibration samples for ``loaded`` (``calib``: a data file or 'random'); ``missing`` is the error
    when there are none. ``pairs``: the state inputs of an explicit-state Keras model and their outputs
    (frontend.state.keras_state_pairs), calibrated on the states its float model reaches over the other
    inputs' samples (unless the data holds every input)."""
    fed = [k for k, _ in pairs]
    if calib is None:
        raise EdgeqError(missing, hint="--calib DATA (.npy/.npz/.bin), or --calib random for a quick, "
                                       "unrepresentative try")
    specs = loaded_inputs(loaded)
    if fed and str(calib) != "random":
        try:
            return load_calibration(calib, specs)
        except EdgeqError:
            pass  # the frames only: the states follow
    if not fed:
        return load_calibration(calib, specs, random_range=random_range, random_count=random_count)
    user = [s for k, s in enumerate(specs) if k not in fed]
    cal = load_calibration(calib, user, random_range=random_range, random_count=random_count)
    return dataclasses.replace(cal, inputs=sequence_state_samples(loaded.keras_model, cal.inputs, pairs),
                               notes=cal.notes + ("state inputs calibrated on the states the float model reaches "
                                                  "over the samples run as one sequence",))


def _result(model: str, name: str, data: bytes, float_bytes: int | None, calibration: str, warning: str | None,
            notes: list[str], scheme: str, keras: KerasNames = KerasNames()) -> QuantizeResult:
    """The quantized model described: op histogram, MACs, unsupported ops (by Keras layer), and a note for
    every op whose scales LiteRT's reference kernels cannot run."""
    ops, n_macs, bad = summarize(data, name, keras)
    return QuantizeResult(model, data, float_bytes, ops, n_macs, bad, calibration, warning,
                          notes + reference_limit_notes(data) + (float_notes(data) if scheme != "weight-only" else []),
                          scheme=scheme)
