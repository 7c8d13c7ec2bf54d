"""Comparison of generated C against a reference interpreter: byte for byte for integer outputs,
within a stated tolerance for float32 outputs.

Integer (int8 / uint8 / int16 / int32) outputs are the contract: they must be byte-identical.
float32 outputs come from float kernels whose order of operations follows TFLite's float reference
kernels, but transcendental functions (edgeq's own expf/tanh, the firmware has no libm) differ from
libm's in the last bits. A float32 output is therefore accepted when, per sample and output tensor,

    max |ours - reference| <= FLOAT_RTOL * max(1, max |reference|)

(an absolute bound of FLOAT_RTOL for outputs within [-1, 1], e.g. probabilities, relative to the
largest magnitude otherwise); NaN must meet NaN. Measured worst case on the MLPerf Tiny models
(resnet8, ds-cnn, autoencoder) converted to float32: 7.5e-9 (tests/kernels/test_float32_*.py,
tests/models/test_float32_models.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeq.ir import Graph

FLOAT_RTOL = 1e-5
TOLERANCE_TEXT = f"max |diff| <= {FLOAT_RTOL:g} x max(1, max |reference|)"


def float_error(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(max |ours - ref|, that divided by max(1, max |ref|)) over one float tensor; NaN meets NaN
    (a NaN on one side only is an infinite error)."""
    a = np.asarray(ours, np.float64).reshape(-1)
    b = np.asarray(ref, np.float64).reshape(-1)
    if a.shape != b.shape:
        return float("inf"), float("inf")
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        return float("inf"), float("inf")
    with np.errstate(invalid="ignore"):
        d = np.where((a == b) | nan_a, 0.0, np.abs(a - b))  # equal infinities: 0; one infinite: inf
    diff = float(d.max(initial=0.0))
    fin = b[np.isfinite(b)]
    return diff, diff / max(1.0, float(np.abs(fin).max(initial=0.0)))


def within_tolerance(ours: np.ndarray, ref: np.ndarray) -> bool:
    return float_error(ours, ref)[1] <= FLOAT_RTOL


def tensors_match(ours: bytes, ref: bytes, dtype: str) -> bool:
    """One tensor's raw bytes: equal (integer tensors) or within the float tolerance (float32)."""
    if dtype != "float32" or len(ours) != len(ref) or len(ours) % 4:
        return ours == ref
    return within_tolerance(np.frombuffer(ours, np.float32), np.frombuffer(ref, np.float32))


@dataclass
class ByteCompare:
    reference: str
    samples: int = 0
    exact_samples: int = 0
    mismatched_bytes: int = 0
    total_bytes: int = 0
    max_abs_diff: int = 0
    first_bad_sample: int | None = None
    first_bad_op: dict | None = None
    notes: list[str] = field(default_factory=list)
    # float32 outputs (compared within FLOAT_RTOL; their bytes still count in mismatched_bytes)
    float_outputs: int = 0  # float32 output tensors per sample
    float_max_abs_diff: float = 0.0
    float_max_rel_diff: float = 0.0  # max |diff| / max(1, max |reference|)
    ok_samples: int = 0  # integer outputs byte-equal and float outputs within tolerance

    @property
    def bit_exact(self) -> bool:
        """Every output byte equal (integer and float outputs alike)."""
        return self.samples > 0 and self.exact_samples == self.samples

    @property
    def ok(self) -> bool:
        """The contract: integer outputs bit-exact, float32 outputs within the stated tolerance."""
        return self.samples > 0 and self.ok_samples == self.samples

    def add(self, index: int, ours: list[np.ndarray], ref: list[np.ndarray]) -> bool:
        self.samples += 1
        self.float_outputs = 0
        bad = 0
        sample_ok = True
        for a, b in zip(ours, ref):
            a = np.asarray(a).reshape(-1)
            b = np.asarray(b).reshape(-1)
            same_type = a.dtype == b.dtype and a.shape == b.shape
            ne = a.view(np.uint8) != b.view(np.uint8) if same_type else np.ones(1, bool)
            bad += int(ne.sum())
            self.total_bytes += a.nbytes
            if a.dtype.kind in "iu" and same_type:
                self.max_abs_diff = max(self.max_abs_diff,
                                        int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max(initial=0)))
            if b.dtype == np.float32 and same_type:
                self.float_outputs += 1
                diff, rel = float_error(a, b)
                self.float_max_abs_diff = max(self.float_max_abs_diff, diff)
                self.float_max_rel_diff = max(self.float_max_rel_diff, rel)
                sample_ok &= rel <= FLOAT_RTOL
            else:
                sample_ok &= not ne.any()
        self.mismatched_bytes += bad
        if bad == 0:
            self.exact_samples += 1
        if sample_ok:
            self.ok_samples += 1
        elif self.first_bad_sample is None:
            self.first_bad_sample = index
        return sample_ok

    def float_summary(self) -> str | None:
        """One line on the float32 outputs, or None when the model has none."""
        if not self.float_outputs:
            return None
        verdict = "within tolerance" if self.ok else "OUT OF TOLERANCE"
        return (f"float32 outputs: max |diff| = {self.float_max_abs_diff:.3g} "
                f"(relative {self.float_max_rel_diff:.3g}; tolerance {TOLERANCE_TEXT}), {verdict}")

    def to_json(self) -> dict:
        d = {"samples": self.samples, "bit_exact_samples": self.exact_samples,
             "mismatched_bytes": self.mismatched_bytes, "total_bytes": self.total_bytes,
             "bit_exact": self.bit_exact, "ok": self.ok, "first_bad_op": self.first_bad_op}
        if self.float_outputs:
            d["float32"] = {"outputs": self.float_outputs, "max_abs_diff": self.float_max_abs_diff,
                            "max_rel_diff": self.float_max_rel_diff, "rtol": FLOAT_RTOL,
                            "tolerance": TOLERANCE_TEXT, "within_tolerance": self.ok}
        return d


def first_mismatching_op(g: Graph, host, litert_preserving, inputs) -> dict | None:
    """Run one sample through both with every intermediate kept; name the first op whose output differs
    (float32 tensors: beyond the float tolerance).

    ``host`` is a HostModel, ``litert_preserving`` a LiteRT built with ``preserve_all=True``.
    """
    litert_preserving.run(inputs)
    _, traced = host.trace(inputs)
    for op in g.ops:
        if op.lowered is None or op.id not in traced:
            continue
        out = op.lowered.args[-1]
        tid = out[0] if isinstance(out, tuple) else out  # a multi-output op (SPLIT) traces its first
        ref = np.ascontiguousarray(litert_preserving.tensor(tid)).tobytes()
        ours = traced[op.id]
        if not tensors_match(ours, ref, g.tensor(tid).dtype):
            a = np.frombuffer(ours, np.uint8)
            b = np.frombuffer(ref, np.uint8)
            n = min(len(a), len(b))
            diff = int((a[:n] != b[:n]).sum()) + abs(len(a) - len(b))
            return {"op": op.id, "kind": op.kind, "location": op.location, "tensor": g.tensor(tid).name,
                    "mismatched_bytes": diff, "bytes": len(b)}
    return None
