"""Which op first differs on the device: every op's output dumped through the bench protocol and
compared with LiteRT's tensor (float32 tensors within the float tolerance of edgeq.quality.compare)."""

from __future__ import annotations

import dataclasses

import numpy as np

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.compare import tensors_match
from edgeq.quality.references import LiteRT
from edgeq.quality.validate import SequenceReference


def device_first_mismatch(dev, g, model: bytes, sample: list[np.ndarray],
                          history: list[list[np.ndarray]] = ()) -> dict | None:
    """Dump every op's output on the device and name the first that differs from LiteRT's tensor
    (float32 tensors: beyond the float tolerance of edgeq.quality.compare).

    A model with state (``g.state``) is looked at in frame ``len(history)`` of a sequence: ``history``
    (the frames before ``sample``) runs first, from the reset state, on the device and in LiteRT (fed back
    as :class:`SequenceReference` does); the ops feeding the state back are not compared (their output is
    the next frame's state, LiteRT's tensor the state this frame read)."""
    ref = LiteRT(model, preserve_all=True)
    fed = {p.input for p in g.state}
    if g.state:
        seq = SequenceReference(ref, dataclasses.replace(read_tflite(model), state=g.state))
        for x in history:
            seq.run(x)
        seq.run(sample)
        dev.run_sequence([[np.ascontiguousarray(a).tobytes() for a in x] for x in history])
    else:
        ref.run(sample)
    for k, x in enumerate(sample):
        dev.set_input(k, np.ascontiguousarray(x).tobytes())
    if g.state:
        dev.invoke(len(history))  # frame len(history) becomes the current one: DUMP runs it
    for op in g.ops:
        if op.lowered is None or set(op.outputs) & fed:
            continue
        if op.lowered.band is not None and op.id != op.lowered.band.ops[-1]:
            continue  # a banded group's intermediates never exist whole; its last member dumps its output
        out = op.lowered.args[-1]
        tid = out[0] if isinstance(out, tuple) else out  # a multi-output op (SPLIT) traces its first
        want = np.ascontiguousarray(ref.tensor(tid)).tobytes()
        got = dev.dump(op.id)
        if not tensors_match(got, want, g.tensor(tid).dtype):
            diff = sum(a != b for a, b in zip(got, want)) + abs(len(got) - len(want))
            return {"op": op.id, "kind": op.kind, "location": op.location, "tensor": g.tensor(tid).name,
                    "mismatched_bytes": diff, "bytes": len(want)}
    return None
