"""resnet8 in TFLite 16x8 mode (int16 activations, int8 weights, int64 bias): the generated C is bit-exact
with LiteRT's reference kernels on the host (and with TFLM in rounding mode "tflm") and on the emulated
Cortex-M4 (mps2-an386, QEMU)."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.files import cache_dir

sys.path.insert(0, str(REPO / "tests" / "kernels"))  # harness.compare / random_inputs


def _resnet8_16x8(io: str) -> bytes:
    """resnet8.h5 calibrated on uniform noise over 0..255 (50 samples, as the int8 fixture), converted
    once and cached on disk by content hash."""
    from edgeq.frontend.int16 import quantize_int16x8
    from edgeq.frontend.load import load_model
    from edgeq.frontend.data import load_calibration, loaded_inputs

    src = MLPERF / "resnet8.h5"
    key = hashlib.sha256(src.read_bytes() + f"int16x8 random 0..255 50 {io}".encode()).hexdigest()[:24]
    path = cache_dir() / "tflite" / f"{key}.tflite"
    if not path.exists():
        loaded = load_model(src)
        cal = load_calibration("random", loaded_inputs(loaded), random_range=(0.0, 255.0), random_count=50)
        data = quantize_int16x8(loaded, cal, input_type=io, output_type=io)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def resnet8_16x8() -> bytes:
    return _resnet8_16x8("int16")


def test_resnet8_16x8_is_int16(resnet8_16x8):
    from edgeq.frontend.tflite.reader import read_tflite

    g = read_tflite(resnet8_16x8)
    kinds = [op.kind for op in g.ops]
    assert {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(kinds)
    for op in g.ops:
        if op.kind in ("CONV_2D", "FULLY_CONNECTED"):
            assert g.tensor(op.inputs[0]).dtype == "int16" and g.tensor(op.inputs[1]).dtype == "int8"
            assert g.tensor(op.inputs[2]).dtype == "int64"


def test_resnet8_16x8_host_bit_exact(resnet8_16x8):
    from harness import compare, random_inputs

    inputs = random_inputs(resnet8_16x8, 40, seed=11)
    for r in ("litert", "tflm"):
        cmp = compare(resnet8_16x8, inputs, r)
        assert cmp.bit_exact and cmp.samples == 40, (r, cmp.mismatched_bytes, cmp.first_bad_op)


def test_resnet8_16x8_float_io_host_bit_exact():
    """float32 I/O: QUANTIZE float32 -> int16 in front, DEQUANTIZE int16 -> float32 behind."""
    from harness import compare, random_inputs

    tfl = _resnet8_16x8("float32")
    cmp = compare(tfl, random_inputs(tfl, 10, seed=12), "litert")
    assert cmp.bit_exact and cmp.max_abs_diff == 0, (cmp.mismatched_bytes, cmp.first_bad_op)


@pytest.mark.slow
def test_resnet8_16x8_on_qemu_board(resnet8_16x8, tmp_path):
    from harness import random_inputs
    from edgeq.api import lower_tflite, model_manifest
    from edgeq.targets.bench import run_device
    from edgeq.targets.select import target_for
    from edgeq.targets.protocol import open_device
    from edgeq.targets.boards import load_board
    from edgeq.codegen.emit import generate
    from edgeq.quality.references import LiteRT

    board = load_board("mps2-an386")
    g = lower_tflite(resnet8_16x8, "litert", "resnet8_16x8", "dsp" if board.cpu.dsp else "portable")
    lib = generate(g, tmp_path / "model", prefix="model", manifest=model_manifest(resnet8_16x8, g, "litert"))
    target = target_for(board)
    build = target.build(lib.dir, tmp_path / "fw")
    inputs = random_inputs(resnet8_16x8, 4, seed=13)
    with target.session(build.elf) as port, open_device(port, timeout=5.0, invoke_timeout=300.0) as dev:
        run = run_device(dev, sha256=build.model_sha256, inputs=inputs, runs=1, profile=False)
    ref = LiteRT(resnet8_16x8)
    for x, outs in zip(inputs, run.outputs):
        want = ref.run(x)
        assert [np.frombuffer(o, w.dtype).tobytes() for o, w in zip(outs, want)] == [w.tobytes() for w in want]
    assert len(run.outputs) == len(inputs)
