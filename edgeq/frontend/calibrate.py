"""Activation ranges for int8 quantization: min/max, percentile, MSE and entropy (KL) calibration.

The TFLite converter calibrates by recording each tensor's min and max over the calibration data
(``minmax``). One huge activation on one sample then stretches the int8 grid of that tensor and every
ordinary value loses resolution. The other methods clip the range to a magnitude ``c`` chosen from
the distribution of ``|x|`` observed on the float model:

``percentile[:P]``
    ``c`` is the P-th percentile of ``|x|`` (default 99.99), exact: the ``ceil(P/100 * n)``-th smallest
    of the n observed magnitudes.
``mse``
    ``c`` minimises the mean squared error between ``x`` and its int8 quantize-dequantize with the
    clipped range (TFLite's asymmetric activation quantization, see :func:`fake_quant`), measured on
    a fixed random subsample of the observed values.
``entropy``
    TensorRT's calibrator: a 2048-bin histogram of ``|x|``; ``c`` is the bin edge whose truncated
    distribution (the tail folded into the last bin) loses the least information, by KL divergence,
    when merged into 128 quantization bins (256 for a tensor with no negative values: int8's
    asymmetric quantization then spends all 256 levels on ``[0, c]``).

A tensor observed in ``[lo, hi]`` gets the range ``[max(lo, -c), min(hi, c)]`` (:func:`clipped_range`).
``minmax`` keeps the range the converter recorded, which can be wider than the observed one (see
:class:`TensorStats`), so ``edgeq quantize`` without ``--calibration`` makes the same model as before.

How the ranges reach the int8 model: the converter's calibration writes each tensor's observed min/max
into the float TFLite model, and its MLIR quantizer derives every scale and zero point from them.
:func:`with_ranges` replaces those min/max values between the two steps, so the quantizer itself turns
the chosen ranges into scales, zero points, bias scales and requantization (and keeps the constraints
of ops whose output must share its input's scale, or has a fixed one, such as SOFTMAX). The result is an
ordinary int8 model. :func:`patched_quantizer` does this inside one ``converter.convert()`` call;
:func:`collect_stats` gathers the observations all methods need in one pass over the calibration data
(two for entropy, whose histogram needs the observed range first).

Everything here except :func:`collect_stats`, :func:`with_ranges` and :func:`patched_quantizer` is a
pure numpy function of its arguments.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.runtime import quiet_tf
from edgeq.quality.references import litert_module

METHODS = ("minmax", "percentile", "mse", "entropy")
DEFAULT_PERCENTILE = 99.99
HISTOGRAM_BINS = 2048
QUANTIZED_BINS = 128
MSE_SAMPLES = 1 << 17
QMIN, QMAX = -128, 127


@dataclass(frozen=True)
class Method:
    """A calibration method; ``percentile`` is only meaningful for kind ``percentile``."""

    kind: str
    percentile: float = DEFAULT_PERCENTILE

    @property
    def name(self) -> str:
        return f"percentile:{self.percentile:g}" if self.kind == "percentile" else self.kind


def parse_method(text: str | Method) -> Method:
    """``"minmax"``, ``"mse"``, ``"entropy"``, ``"percentile"`` or ``"percentile:P"`` (0 < P <= 100)."""
    if isinstance(text, Method):
        return text
    kind, _, arg = str(text).strip().lower().partition(":")
    hint = "use minmax, percentile, percentile:99.9 (any 0 < P <= 100), mse or entropy"
    if kind not in METHODS:
        raise EdgeqError(f"unknown calibration method {text!r}", hint=hint)
    if kind != "percentile":
        if arg:
            raise EdgeqError(f"calibration method {kind} takes no argument (got {text!r})", hint=hint)
        return Method(kind)
    if not arg:
        return Method(kind)
    try:
        p = float(arg)
    except ValueError:
        p = float("nan")
    if not 0 < p <= 100:
        raise EdgeqError(f"calibration {text!r}: the percentile must be a number in (0, 100]", hint=hint)
    return Method(kind, p)


def all_methods(percentile: float = DEFAULT_PERCENTILE) -> list[Method]:
    """One of each method (the percentile one at ``percentile``), minmax first."""
    return [Method("minmax"), Method("percentile", percentile), Method("mse"), Method("entropy")]


# --------------------------------------------------------------------------------------------------
# Pure functions: quantization, clipping, and the three clip searches


def asymmetric_params(lo: float, hi: float) -> tuple[float, int]:
    """Scale and zero point the TFLite quantizer gives an int8 activation with the range ``[lo, hi]``.

    As the converter's quantizer does (its "legacy float scale" nudging): the range (stored as float32)
    is widened to contain 0, scale = range / 255 rounded to float32, and the zero point is
    ``QMIN - lo / scale`` rounded half away from zero and clamped to int8. A range of zero width is an
    error (the quantizer treats it specially; no method narrows a range to zero width).
    """
    lo = min(float(np.float32(lo)), 0.0)
    hi = max(float(np.float32(hi)), 0.0)
    if abs(hi - lo) < np.finfo(np.float64).eps:
        raise ValueError(f"the range [{lo}, {hi}] has zero width")
    scale = float(np.float32((hi - lo) / (QMAX - QMIN)))
    zero_point = QMIN - lo / scale
    return scale, int(np.clip(math.copysign(math.floor(abs(zero_point) + 0.5), zero_point), QMIN, QMAX))


def fake_quant(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` quantized to int8 with the range ``[lo, hi]`` (:func:`asymmetric_params`) and back to float
    (round half away from zero, saturating): what the int8 tensor can represent of ``x``."""
    scale, zero_point = asymmetric_params(lo, hi)
    v = np.asarray(x, np.float64) / scale
    q = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point, QMIN, QMAX)
    return (q - zero_point) * scale


def clipped_range(lo: float, hi: float, c: float) -> tuple[float, float]:
    """The observed range ``[lo, hi]`` with magnitudes clipped at ``c >= 0`` (both ends in ``[-c, c]``)."""
    c = float(c)
    return min(max(float(lo), -c), c), max(min(float(hi), c), -c)


def percentile_clip(top: np.ndarray, count: int, percentile: float) -> float:
    """The ``percentile``-th percentile of ``count`` magnitudes of which ``top`` holds the largest.

    Exactly the ``k = ceil(percentile / 100 * count)``-th smallest magnitude (the inverted-CDF
    definition); ``top`` must hold at least the ``count - k + 1`` largest ones.
    """
    if count <= 0:
        raise ValueError("percentile of no values")
    k = max(1, math.ceil(percentile / 100.0 * count - 1e-9))
    rank = count - k  # 0-based position from the largest
    top = np.sort(np.asarray(top, np.float64))[::-1]
    if rank >= len(top):
        raise ValueError(f"need the {rank + 1} largest magnitudes, got {len(top)}")
    return float(top[rank])


def top_count(count: int, percentile: float) -> int:
    """How many of the largest magnitudes :func:`percentile_clip` needs for ``count`` values."""
    return count - max(1, math.ceil(percentile / 100.0 * count - 1e-9)) + 1


def mse_clip(samples: np.ndarray, lo: float, hi: float, steps: int = 128) -> float:
    """The clip magnitude ``c`` in ``(0, max(|lo|, |hi|)]`` minimising the mean of
    ``(x - fake_quant(x, *clipped_range(lo, hi, c)))**2`` over ``samples``.

    A grid of ``steps`` candidates ``amax * k / steps``, then ``steps`` more between the neighbours of
    the best one; ties go to the larger ``c``.
    """
    x = np.asarray(samples, np.float64).reshape(-1)
    amax = max(abs(float(lo)), abs(float(hi)))
    if amax == 0 or x.size == 0:
        return amax

    def best(candidates: np.ndarray) -> float:
        errors = [np.mean((x - fake_quant(x, *clipped_range(lo, hi, c))) ** 2) for c in candidates]
        errors = np.asarray(errors)
        return float(candidates[len(errors) - 1 - int(np.argmin(errors[::-1]))])

    coarse = amax * np.arange(1, steps + 1) / steps
    c = best(coarse)
    fine = np.linspace(max(c - amax / steps, amax / steps / steps), min(c + amax / steps, amax), steps)
    return best(np.append(fine, c))


def _smooth(p: np.ndarray, eps: float = 1e-4) -> np.ndarray | None:
    """Move ``eps`` of mass onto the empty bins (so the KL divergence is finite); None if all empty."""
    zeros = p == 0
    n_zeros = int(zeros.sum())
    n_nonzeros = p.size - n_zeros
    if n_nonzeros == 0:
        return None
    return p + eps * zeros - (eps * n_zeros / n_nonzeros) * ~zeros


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(P || Q) of two histograms, each normalised to sum 1 (terms with ``p == 0`` are 0)."""
    p = np.asarray(p, np.float64) / np.sum(p)
    q = np.asarray(q, np.float64) / np.sum(q)
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def entropy_clip(hist: np.ndarray, amax: float, quantized_bins: int = QUANTIZED_BINS) -> float:
    """TensorRT's entropy calibration on a histogram of ``|x|`` with equal bins over ``[0, amax]``.

    The first bin's count is replaced by the second's (as TensorRT's calibrator does: the spike of exact
    zeros after a ReLU says nothing about where to clip). Then for every ``i >= quantized_bins``:
    P = the first ``i`` bins with the rest of the histogram added to bin ``i-1``; Q = those ``i`` bins
    merged into ``quantized_bins`` groups (the last takes the remainder) and spread back evenly over each
    group's non-empty bins. Returns the upper edge of bin ``i-1`` for the ``i`` with the smallest
    KL(P || Q) (both smoothed); the largest such ``i`` on ties.
    """
    hist = np.asarray(hist, np.float64).copy()
    if hist.size > 1:
        hist[0] = hist[1]
    n = hist.size
    if amax <= 0 or n <= quantized_bins or hist.sum() == 0:
        return float(amax)
    width = amax / n
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])  # tail[i] = sum(hist[i:])
    best_i, best_kl = n, math.inf
    for i in range(quantized_bins, n + 1):
        p = hist[:i].copy()
        p[i - 1] += tail[i]
        nonzero = hist[:i] != 0
        group = np.minimum(np.arange(i) // (i // quantized_bins), quantized_bins - 1)
        mass = np.bincount(group, weights=hist[:i], minlength=quantized_bins)
        support = np.bincount(group, weights=nonzero, minlength=quantized_bins)
        q = np.where(nonzero, mass[group] / np.maximum(support[group], 1), 0.0)
        ps, qs = _smooth(p), _smooth(q)
        if ps is None or qs is None:
            continue
        kl = kl_divergence(ps, qs)
        if kl <= best_kl:
            best_i, best_kl = i, kl
    return best_i * width


# --------------------------------------------------------------------------------------------------
# Observations of one tensor over the calibration data


@dataclass
class TensorStats:
    """What the methods need of one tensor.

    ``lo``/``hi`` are the range the converter's calibration recorded (what ``minmax`` keeps);
    ``obs_lo``/``obs_hi`` the range observed here, value by value (the recorded one can be wider: the
    converter's calibration logs some tensors after an in-place op such as ADD has overwritten them).
    The clipping methods start from the observed range. Also kept: the number of values seen, the
    ``keep_top`` largest magnitudes, a uniform random subsample of ``sample_per_call`` values per call
    (for MSE) and, after :meth:`add_to_histogram` calls, a histogram of ``|x|`` over ``[0, amax]``.
    """

    name: str
    lo: float
    hi: float
    keep_top: int
    sample_per_call: int
    count: int = 0
    obs_lo: float = math.inf
    obs_hi: float = -math.inf
    hist: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS, np.int64))
    top: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    samples: list[np.ndarray] = field(default_factory=list)

    @property
    def amax(self) -> float:
        """The largest magnitude observed (0 before any :meth:`add`)."""
        return max(abs(self.obs_lo), abs(self.obs_hi)) if self.count else 0.0

    def add(self, x: np.ndarray, rng: np.random.Generator) -> None:
        """Observe one sample's values (first pass)."""
        x = np.asarray(x, np.float32).reshape(-1)
        if x.size == 0:
            return
        self.count += x.size
        self.obs_lo, self.obs_hi = min(self.obs_lo, float(x.min())), max(self.obs_hi, float(x.max()))
        if self.keep_top > 0:
            both = np.concatenate([self.top, np.abs(x)])
            k = min(self.keep_top, both.size)
            self.top = np.partition(both, both.size - k)[both.size - k :]
        if self.sample_per_call <= 0:
            return
        if x.size <= self.sample_per_call:
            self.samples.append(x.copy())
        else:
            self.samples.append(x[rng.choice(x.size, self.sample_per_call, replace=False)])

    def add_to_histogram(self, x: np.ndarray) -> None:
        """Count one sample's magnitudes in the histogram over ``[0, amax]`` (second pass)."""
        if self.amax > 0:
            mags = np.abs(np.asarray(x, np.float32).reshape(-1))
            idx = np.minimum((mags * (HISTOGRAM_BINS / self.amax)).astype(np.int64), HISTOGRAM_BINS - 1)
            self.hist += np.bincount(idx, minlength=HISTOGRAM_BINS)

    def clip(self, method: Method) -> float:
        """The clip magnitude ``c`` of ``method`` for this tensor (``amax`` if the method says 0, e.g. the
        percentile of a tensor that is almost always zero)."""
        c = self._clip(method)
        return c if c > 0 else self.amax

    def _clip(self, method: Method) -> float:
        if method.kind == "minmax" or self.amax == 0:
            return self.amax
        if method.kind == "percentile":
            return min(percentile_clip(self.top, self.count, method.percentile), self.amax)
        if method.kind == "mse":
            return mse_clip(np.concatenate(self.samples), self.obs_lo, self.obs_hi)
        if method.kind == "entropy":  # a non-negative tensor has all 256 int8 levels on [0, c]
            if self.hist.sum() == 0:
                raise ValueError(f"tensor {self.name}: entropy calibration needs the histogram pass")
            bins = 2 * QUANTIZED_BINS if self.obs_lo >= 0 else QUANTIZED_BINS
            return min(entropy_clip(self.hist, self.amax, bins), self.amax)
        raise ValueError(f"unknown method {method.kind}")

    def range(self, method: Method) -> tuple[float, float]:
        """``method``'s range: the recorded one for minmax (and for a tensor never observed), else the
        observed range clipped at ``c``."""
        if method.kind == "minmax" or self.count == 0:
            return self.lo, self.hi
        return clipped_range(self.obs_lo, self.obs_hi, self.clip(method))

    def narrowed(self, method: Method) -> bool:
        """Whether ``method`` gives this tensor a range narrower than the recorded one."""
        lo, hi = self.range(method)
        tol = 1e-6 * max(abs(self.lo), abs(self.hi), 1e-30)
        return lo > self.lo + tol or hi < self.hi - tol


def method_ranges(stats: dict[int, TensorStats], method: Method | str) -> dict[int, tuple[float, float]]:
    """Tensor index -> the ``[lo, hi]`` that ``method`` gives each observed tensor."""
    method = parse_method(method)
    return {index: s.range(method) for index, s in stats.items()}


# --------------------------------------------------------------------------------------------------
# The calibrated float TFLite model (TFLite's own calibration output)


def calibrated_ranges(calibrated: bytes) -> dict[int, tuple[str, float, float]]:
    """Tensor index -> (name, min, max) for every tensor of subgraph 0 the converter calibrated."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    out = {}
    for index, tensor in enumerate(model.subgraphs[0].tensors):
        q = tensor.quantization
        if q is not None and q.min is not None and q.max is not None and len(q.min) == 1 and len(q.max) == 1:
            name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
            out[index] = (name, float(q.min[0]), float(q.max[0]))
    return out


def with_ranges(calibrated: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """The calibrated model with the recorded min/max of the given tensors replaced."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    tensors = model.subgraphs[0].tensors
    for index, (lo, hi) in ranges.items():
        q = tensors[index].quantization
        if q is None or q.min is None or q.max is None:
            raise ValueError(f"tensor {index} of the calibrated model has no calibrated range")
        q.min = np.asarray([lo], np.float32)
        q.max = np.asarray([hi], np.float32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def observation_passes(methods: Sequence[Method]) -> int:
    """How many times :func:`collect_stats` runs the calibration data (entropy needs a second pass)."""
    return 2 if any(m.kind == "entropy" for m in methods) else 1


def collect_stats(
    calibrated: bytes,
    inputs: Sequence[np.ndarray],
    methods: Sequence[Method],
    *,
    input_names: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> dict[int, TensorStats]:
    """Run the calibrated float model on every sample and observe each calibrated tensor.

    ``inputs[i]`` is the ``(N, ...)`` calibration array of model input ``i``; ``input_names`` (the
    serving signature's names, in the same order) match them to the model's inputs when there are
    several. Only what ``methods`` need is kept (the largest magnitudes for the smallest percentile, a
    subsample for MSE, a histogram for entropy: :func:`observation_passes`). ``progress(done, total)``
    is called after each sample of each pass.

    LiteRT runs in edgeq's worker (:func:`edgeq.isolation.call`): a crash there is an EdgeqError.
    """
    return isolation.call(
        "edgeq.frontend.calibrate:collect_stats_here", bytes(calibrated), list(inputs),
        [parse_method(m) for m in methods], input_names=input_names, seed=seed,
        stage="the observation of the calibrated model's activations", tool="LiteRT",
        on_report=(lambda done_total: progress(*done_total)) if progress is not None else None)


def collect_stats_here(calibrated: bytes, inputs: Sequence[np.ndarray], methods: Sequence[Method], *,
                       input_names: Sequence[str] | None, seed: int) -> dict[int, TensorStats]:
    """:func:`collect_stats` in this process (the worker), reporting ``(done, total)`` after each sample."""
    recorded = calibrated_ranges(calibrated)
    n = int(inputs[0].shape[0])
    with quiet_tf():  # the interpreter warns about preserve_all_tensors and announces its delegate
        interp = litert_module().Interpreter(model_content=bytes(calibrated), experimental_preserve_all_tensors=True)
        interp.allocate_tensors()
    order = _input_indices(interp, inputs, input_names)
    sizes = {d["index"]: int(np.prod(d["shape"])) for d in interp.get_tensor_details()}
    percentiles = [m.percentile for m in methods if m.kind == "percentile"]
    per_call = max(1, math.ceil(MSE_SAMPLES / n)) if any(m.kind == "mse" for m in methods) else 0
    stats = {}
    for index, (name, lo, hi) in recorded.items():
        total = n * sizes.get(index, 0)
        keep = top_count(total, min(percentiles)) if percentiles and total else 0
        stats[index] = TensorStats(name, lo, hi, keep_top=keep, sample_per_call=per_call)

    observe(interp, order, inputs, stats, observation_passes(methods), np.random.default_rng(seed))
    return stats


def observe(interp: Any, order: Sequence[int], inputs: Sequence[np.ndarray], stats: dict[int, TensorStats],
            passes: int, rng: np.random.Generator, dtype: Any = None) -> None:
    """Run every sample (``inputs[i][k]`` into interpreter input ``order[i]``, as ``dtype`` if given) through
    ``interp`` ``passes`` times: the first pass adds each observed tensor's values to its :class:`TensorStats`,
    the later ones fill its histogram; ``(done, total)`` is reported after each sample of each pass."""
    n = int(inputs[0].shape[0])
    for p in range(passes):
        for k in range(n):
            for tensor_index, array in zip(order, inputs):
                interp.set_tensor(tensor_index, np.ascontiguousarray(array[k : k + 1], dtype))
            interp.invoke()
            for index, s in stats.items():
                if p == 0:
                    s.add(interp.get_tensor(index), rng)
                else:
                    s.add_to_histogram(interp.get_tensor(index))
            isolation.report((p * n + k + 1, passes * n))


def _input_indices(interp, inputs: Sequence[np.ndarray], names: Sequence[str] | None) -> list[int]:
    """The interpreter's input tensor index for each calibration array."""
    details = interp.get_input_details()
    if len(details) != len(inputs):
        raise ValueError(f"the calibrated model has {len(details)} inputs, the data {len(inputs)}")
    if len(details) == 1:
        return [details[0]["index"]]
    by_name = {}
    runner_inputs = interp.get_signature_runner().get_input_details() if interp.get_signature_list() else {}
    for name, d in runner_inputs.items():
        by_name[name] = d["index"]
    if names is not None and all(name in by_name for name in names):
        return [by_name[name] for name in names]
    return [d["index"] for d in details]  # the subgraph's input order is the signature's argument order


# --------------------------------------------------------------------------------------------------
# Inside the converter


@contextlib.contextmanager
def patched_quantizer(rewrite: Callable[[bytes], bytes]) -> Iterator[None]:
    """While the block runs, the TFLite converter hands its calibrated model to ``rewrite`` before the
    MLIR quantizer sees it (the converter's own arguments, metadata and post-processing are kept).

    The converter looks ``_mlir_quantize`` up in its module at call time; this swaps that name. If the
    block ends without the converter having called it, the ranges were not applied: an EdgeqError.
    """
    from tensorflow.lite.python import lite

    original = lite._mlir_quantize
    calls = []

    def quantize(calibrated: bytes, *args, **kwargs):
        calls.append(1)
        return original(rewrite(bytes(calibrated)), *args, **kwargs)

    lite._mlir_quantize = quantize
    try:
        yield
    finally:
        lite._mlir_quantize = original
    if not calls:
        raise EdgeqError("the TFLite converter did not run its MLIR quantizer, so the calibration method's "
                         "ranges could not be applied", hint="use --calibration minmax with this TensorFlow version")


def range_rewriter(
    method: Method | str,
    inputs: Sequence[np.ndarray],
    *,
    input_names: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    applied: dict | None = None,
) -> Callable[[bytes], bytes]:
    """A ``rewrite`` for :func:`patched_quantizer` giving every calibrated tensor ``method``'s range.

    ``applied``, if given, receives ``{tensor name: (lo, hi)}`` of the ranges written.
    """
    method = parse_method(method)

    def rewrite(calibrated: bytes) -> bytes:
        stats = collect_stats(calibrated, inputs, [method], input_names=input_names, progress=progress)
        ranges = method_ranges(stats, method)
        if applied is not None:
            applied.update({stats[i].name: r for i, r in ranges.items()})
        return with_ranges(calibrated, ranges)

    return rewrite
