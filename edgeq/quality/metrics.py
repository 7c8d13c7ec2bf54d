"""Quality metrics: the one implementation of every number edgeq reports about a model's outputs against a
reference (the float model, usually): SQNR, noise-to-signal ratio, RMSE, max abs error, cosine
similarity, accuracy against labels and top-1 agreement.

Every function takes the reference first and the measured outputs second. Errors are computed in float64
over all elements: ``signal = sum(ref^2)``, ``noise = sum((test - ref)^2)``.

Zero guards, one policy for everything derived from signal and noise:

* ``SQNR = 10 log10(signal / noise)`` dB. No noise is ``+inf`` ("exact"), whatever the signal (two all-zero
  outputs are identical). Noise with no signal at all is ``-inf`` (the output is all error); no floor
  is invented. Reports print ``+inf`` as "exact" and ``-inf`` as "-inf"; JSON reports write both as null.
* ``NSR = noise / signal``: 0 with no noise, ``+inf`` for noise with no signal (so NSR = 10^(-SQNR/10)).
* ``RMSE = sqrt(noise / elements)`` and the max abs error are 0 when nothing was measured.
* Cosine similarity is computed per sample (the first axis) and averaged: a sample whose two vectors
  are both zero has cosine 1 (identical), one zero vector against a non-zero one has cosine 0 (no
  direction in common).

Labels are class indices (shape ``(N,)`` or ``(N, 1)``, whole numbers >= 0, any numeric dtype) or one
row per sample of one-hot / class scores (``(N, C)``, C > 1, read by argmax). The predicted class of an
output is the argmax of the sample's flattened output; accuracy and top-1 agreement compare those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeq.errors import EdgeqError


def _sqnr_db(signal: float, noise: float) -> float:
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _flat_pair(reference, test) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(reference, np.float64).reshape(-1)
    t = np.asarray(test, np.float64).reshape(-1)
    if r.shape != t.shape:
        raise ValueError(f"reference has {r.size} elements, the measured output {t.size}")
    return r, t


@dataclass
class ErrorStats:
    """Running sums of the error of measured outputs against a reference, added a batch at a time
    (:meth:`add`), so that large tensors over many samples need no more memory than one of them."""

    signal: float = 0.0  # sum of reference^2
    noise: float = 0.0  # sum of (test - reference)^2
    max_abs_err: float = 0.0
    count: int = 0  # elements compared

    @classmethod
    def of(cls, reference, test) -> ErrorStats:
        return cls().add(reference, test)

    def add(self, reference, test) -> ErrorStats:
        """Add one batch (any shape; the two of the same size); returns self."""
        r, t = _flat_pair(reference, test)
        d = t - r
        self.signal += float(np.dot(r, r))
        self.noise += float(np.dot(d, d))
        if d.size:
            self.max_abs_err = max(self.max_abs_err, float(np.max(np.abs(d))))
        self.count += int(d.size)
        return self

    @property
    def sqnr_db(self) -> float:
        """Signal-to-quantization-noise ratio in dB (``+inf`` exact, ``-inf`` all noise; see the module doc)."""
        return _sqnr_db(self.signal, self.noise)

    @property
    def nsr(self) -> float:
        """Noise-to-signal ratio ``noise / signal`` (0 exact, ``+inf`` all noise)."""
        if self.noise == 0:
            return 0.0
        return math.inf if self.signal == 0 else self.noise / self.signal

    @property
    def rmse(self) -> float:
        """Root-mean-square error per element (0 when nothing was compared)."""
        return math.sqrt(self.noise / self.count) if self.count else 0.0


def sqnr_db(reference, test) -> float:
    """SQNR of ``test`` against ``reference`` in dB, over all elements (zero guards: the module doc)."""
    return ErrorStats.of(reference, test).sqnr_db


def rmse(reference, test) -> float:
    """Root-mean-square error of ``test`` against ``reference``, over all elements."""
    return ErrorStats.of(reference, test).rmse


def max_abs_error(reference, test) -> float:
    """The largest ``|test - reference|`` (0 for empty arrays)."""
    return ErrorStats.of(reference, test).max_abs_err


def cosine_similarity(reference, test) -> float:
    """Mean over samples (the first axis) of the cosine similarity of each sample's flattened vectors;
    1 for two zero vectors, 0 for a zero vector against a non-zero one."""
    r, t = np.asarray(reference, np.float64), np.asarray(test, np.float64)
    if r.shape != t.shape:
        raise ValueError(f"reference has shape {r.shape}, the measured output {t.shape}")
    if r.ndim == 0 or len(r) == 0:
        raise ValueError("cosine similarity needs at least one sample")
    r, t = r.reshape(len(r), -1), t.reshape(len(t), -1)
    nr, nt = np.linalg.norm(r, axis=1), np.linalg.norm(t, axis=1)
    both = nr * nt
    per_sample = np.where(both > 0, np.sum(r * t, axis=1) / np.where(both > 0, both, 1.0),
                          np.where((nr == 0) & (nt == 0), 1.0, 0.0))
    return float(np.mean(per_sample))


def class_labels(labels) -> np.ndarray:
    """Labels as int64 class indices, one per sample: class indices pass (checked), one-hot or score rows
    are read by argmax (see the module doc)."""
    y = np.asarray(labels)
    if y.ndim == 0 or y.dtype.kind not in "biuf":
        raise EdgeqError(f"labels of dtype {y.dtype} and shape {y.shape} are not class labels",
                         hint="give one class index (or one-hot row) per sample")
    y = y.reshape(len(y), -1)
    if y.shape[1] > 1:
        return y.argmax(-1).astype(np.int64)
    y = y[:, 0]
    bad = (y < 0) | (y != np.round(y)) if y.dtype.kind == "f" else (y < 0)
    if np.any(bad):
        first = int(np.argmax(bad))
        raise EdgeqError(f"label {y[first].item()!r} (sample {first}) is not a class index",
                         hint="labels are whole numbers >= 0, or one-hot rows")
    return y.astype(np.int64)


def predicted_classes(outputs) -> np.ndarray:
    """The argmax of each sample's flattened output (samples on the first axis)."""
    out = np.asarray(outputs)
    return out.reshape(len(out), -1).argmax(-1)


def accuracy(outputs, labels) -> float:
    """Share of samples whose predicted class (:func:`predicted_classes`) is the label's class."""
    pred, y = predicted_classes(outputs), class_labels(labels)
    if len(pred) != len(y) or not len(y):
        raise ValueError(f"accuracy of {len(pred)} outputs against {len(y)} labels")
    return float(np.mean(pred == y))


def top1_agreement(reference_outputs, test_outputs) -> float:
    """Share of samples on which the two outputs predict the same class."""
    a, b = predicted_classes(reference_outputs), predicted_classes(test_outputs)
    if len(a) != len(b) or not len(a):
        raise ValueError(f"top-1 agreement of {len(a)} against {len(b)} outputs")
    return float(np.mean(a == b))


def finite_or_none(value):
    """``value`` for JSON: a non-finite float (``+inf`` exact, ``-inf`` all noise, NaN) becomes None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
