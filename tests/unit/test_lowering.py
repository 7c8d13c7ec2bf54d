"""Lowering properties that byte-equality tests cannot see: what goes into flash."""

import numpy as np

from paths import MLPERF
from edgeq.api import lower_tflite


def _field(op, name):
    return dict(op.lowered.fields)[name]


def test_per_tensor_weights_emit_one_multiplier():
    g = lower_tflite((MLPERF / "ad01_int8.tflite").read_bytes())  # per-tensor FC weights
    for op in g.ops:
        assert op.kind == "FULLY_CONNECTED"
        assert _field(op, "per_channel") == 0
        assert np.asarray(_field(op, "mult").values).size == 1


def test_per_channel_weights_emit_one_multiplier_per_channel():
    g = lower_tflite((MLPERF / "resnet8_int8.tflite").read_bytes())
    convs = [op for op in g.ops if op.kind == "CONV_2D"]
    for op in convs:
        out_c = g.tensor(op.inputs[1]).shape[0]
        assert np.asarray(_field(op, "mult").values).size == out_c


def test_reshape_is_an_alias_not_a_kernel():
    g = lower_tflite((MLPERF / "kws_dscnn_int8.tflite").read_bytes())
    (reshape,) = [op for op in g.ops if op.kind == "RESHAPE"]
    assert reshape.lowered is None
    src, dst = reshape.inputs[0], reshape.outputs[0]
    assert g.storage(dst) == g.storage(src)
    assert g.plan.offsets[dst] == g.plan.offsets[src]


def _const_bytes(g) -> int:
    from edgeq.ir import ArrayRef

    seen = {}
    for op in g.ops:
        for _, v in op.lowered.fields if op.lowered else ():
            if isinstance(v, ArrayRef):
                seen[v.name] = np.asarray(v.values).nbytes
    return sum(seen.values())


def test_cpu_targets_emit_only_what_the_core_runs():
    data = (MLPERF / "resnet8_int8.tflite").read_bytes()
    any_, dsp, portable = (lower_tflite(data, cpu=c) for c in ("any", "dsp", "portable"))
    convs = {c: [op for op in g.ops if op.kind == "CONV_2D"] for c, g in
             (("any", any_), ("dsp", dsp), ("portable", portable))}
    assert all(_field(op, "wq") is None and _field(op, "weights") is not None for op in convs["portable"])
    assert all(op.lowered.scratch_bytes == 0 for op in convs["portable"])
    assert all(_field(op, "wq") is not None and _field(op, "weights") is None for op in convs["dsp"])
    assert all(_field(op, "wq") is not None and _field(op, "weights") is not None for op in convs["any"])
    # the DSP build holds the filters once, as int8 (wq, no int16 copy), and no portable-only arrays (bias,
    # mult, shift): no more constant bytes than the portable build; --cpu any carries both kernels' arrays
    assert _const_bytes(dsp) <= _const_bytes(portable) < _const_bytes(any_)
    assert portable.plan.size <= any_.plan.size


def test_unknown_cpu_target():
    import pytest

    from edgeq.errors import EdgeqError

    with pytest.raises(EdgeqError, match="unknown CPU target 'm55'"):
        lower_tflite((MLPERF / "ad01_int8.tflite").read_bytes(), cpu="m55")
