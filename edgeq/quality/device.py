"""Which op first differs on the device: every op's output dumped through the bench protocol and
compared with LiteRT's tensor (float32 tensors within the float tolerance of edgeq.quality.compare)."""

from __future__ import annotations

import numpy as np

from edgeq.quality.compare import tensors_match
from edgeq.quality.references import LiteRT


def device_first_mismatch(dev, g, model: bytes, sample: list[np.ndarray]) -> dict | None:
    """Dump every op's output on the device and name the first that differs from LiteRT's tensor
    (float32 tensors: beyond the float tolerance of edgeq.quality.compare)."""
    ref = LiteRT(model, preserve_all=True)
    ref.run(sample)
    for k, x in enumerate(sample):
        dev.set_input(k, np.ascontiguousarray(x).tobytes())
    for op in g.ops:
        if op.lowered is None:
            continue
        out = op.lowered.args[-1]
        tid = out[0] if isinstance(out, tuple) else out  # a multi-output op (SPLIT) traces its first
        want = np.ascontiguousarray(ref.tensor(tid)).tobytes()
        got = dev.dump(op.id)
        if not tensors_match(got, want, g.tensor(tid).dtype):
            diff = sum(a != b for a, b in zip(got, want)) + abs(len(got) - len(want))
            return {"op": op.id, "kind": op.kind, "location": op.location, "tensor": g.tensor(tid).name,
                    "mismatched_bytes": diff, "bytes": len(want)}
    return None