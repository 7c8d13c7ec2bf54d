"""`convert-and-flash` as a sequence of stage calls returning a typed result.

quantize (or pass a .tflite through) -> lower, with every unsupported op named, and check the fit ->
validate in LiteRT -> generate C -> build the bench firmware -> run it on the target (QEMU, or a real
board through its flash tool and serial port) -> check every output against LiteRT byte for byte,
benchmark, profile. Nothing is written before the model has quantized, lowered and fits the board.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError, UnsupportedOpsError
from edgeq.files import write_atomic
from edgeq.flows.generate import generate_c, lower_tflite
from edgeq.flows.quantize import quantize_model
from edgeq.frontend.data import load_dataset, tflite_inputs
from edgeq.frontend.islands import refuse_float_ops
from edgeq.frontend.state import pair_state, user_inputs
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import Graph
from edgeq.passes.analysis import op_macs
from edgeq.quality.compare import ByteCompare
from edgeq.quality.device import device_first_mismatch
from edgeq.quality.metrics import accuracy as top1_accuracy
from edgeq.quality.preflight import check_references_can_run
from edgeq.quality.validate import validate
from edgeq.report.json import flow_document
from edgeq.targets.bench import Latency, latency, run_device
from edgeq.targets.boards import Board
from edgeq.targets.firmware import FirmwareMemory
from edgeq.targets.fit import check_fit, estimate_graph
from edgeq.targets.protocol import open_device
from edgeq.targets.select import target_for


@dataclass(frozen=True)
class ModelInfo:
    path: str  # what the user passed
    sha256: str  # of the deployed .tflite
    ops: dict[str, int]
    macs: int
    tflite: str  # where the deployed .tflite was written
    scheme: str  # int8, int16x8, float32, int8+float32 (mixed)
    calibration: str
    calibration_warning: str | None


@dataclass(frozen=True)
class ProfileRow:
    """One op's share of an inference on the device, in the latency's unit."""

    op: int
    kind: str
    location: str
    count: float
    macs: int


@dataclass(frozen=True)
class DeviceValidation:
    """The device's outputs against LiteRT's reference kernels on the same inputs."""

    reference: str
    samples: int
    mismatched_bytes: int
    bit_exact: bool
    ok: bool  # integer outputs bit-exact and float32 outputs within the stated tolerance
    first_bad_op: dict | None = None  # op, kind, location, tensor, mismatched_bytes, bytes
    float32: dict | None = None  # max_abs_diff, max_rel_diff, within_tolerance (models with float outputs)


@dataclass(frozen=True)
class Accuracy:
    """Top-1 accuracy on the labelled samples: the float model, the deployed model in LiteRT on the
    host, and the generated C on the device (any scheme)."""

    samples: int
    float_model: float | None
    host: float | None
    device: float


@dataclass
class FlowResult:
    model: ModelInfo
    board: Board
    memory: FirmwareMemory  # stack_bytes: the measured high-water mark
    latency: Latency
    profile: list[ProfileRow]
    validation: DeviceValidation
    accuracy: Accuracy | None = None
    graph: Graph | None = field(default=None, repr=False)  # the lowered, planned IR that was generated

    @property
    def ok(self) -> bool:
        return self.validation.ok

    @property
    def report(self) -> dict:
        """The versioned JSON document (``--report``)."""
        return flow_document(self)


def convert_and_flash(model_path: str | Path, *, board_name: str | Board | None = None, calib: str | None = None,
                      random_range=(-1.0, 1.0), data: str | None = None, port: str | None = None,
                      runs: int = 10, samples: int = 10, out_dir: str | Path | None = None,
                      progress=None, say=lambda msg: None, scheme: str = "int8",
                      calibration: str = "minmax", state: tuple[str, ...] | None = None,
                      allow_soft_float: bool = False) -> FlowResult:
    """``state``: IN:OUT pairs of state fed back across invokes (None: paired by name, see
    edgeq.frontend.state); a model with state is validated over its samples as one sequence of frames.
    A weight-only model (or an int8 conversion that left ops in float32) is refused for a board without an
    FPU unless ``allow_soft_float``."""
    model_path = Path(model_path)
    target = target_for(board_name, port)
    board = target.board
    name = model_path.stem.replace(".", "_")
    out = Path(out_dir) if out_dir else Path("build") / f"{name}-{board.name}"

    # 1. load and quantize (a quantized .tflite passes through); lower and check the fit
    say(f"[1/6] loading and quantizing {model_path}")
    is_tflite = model_path.suffix == ".tflite"
    if calib is None and not is_tflite and scheme not in ("float32", "weight-only"):
        raise EdgeqError(f"{model_path} needs quantizing: give calibration data",
                         hint="--calib DATA (.npy/.npz/.bin), or --calib random for a quick, unrepresentative try")
    q = quantize_model(model_path, None if scheme == "weight-only" else (calib or "random"),
                       random_range=random_range, progress=progress, scheme=scheme, calibration=calibration,
                       state=state)
    tflite = q.tflite
    soft_float = q.scheme == "weight-only" or (q.scheme == "int8+float32" and not is_tflite and scheme == "int8")
    if soft_float and not board.cpu.has_fpu and not allow_soft_float:  # float32 computation, no FPU
        refuse_float_ops(tflite, str(model_path), board.name, q.scheme)
    cpu = "mve" if board.cpu.mve else "dsp" if board.cpu.dsp else "portable"  # only the variants this core runs
    check_references_can_run(tflite, name)  # LiteRT's reference must run it: step 2 and every check need it
    if q.unsupported:  # all named, by the Keras model's own layer names, before anything is written
        raise UnsupportedOpsError(q.unsupported, model=name)
    g = lower_tflite(tflite, "litert", name, cpu, state)
    check_fit(estimate_graph(g, board), what=str(model_path))  # flash/RAM needs vs the board, before any build
    out.mkdir(parents=True, exist_ok=True)  # only once the model has loaded, quantized, lowered and fits
    model_file = out / f"{name}_{q.scheme.replace('+', '_')}.tflite"
    write_atomic(model_file, tflite)
    keras_file = model_path if (not is_tflite and data) else None  # run in the worker (a SavedModel: no float run)

    # 2. validate in LiteRT (accuracy when labelled data is given)
    say("[2/6] validating in LiteRT (reference kernels)")
    g0 = read_tflite(tflite, name=name)
    specs = tflite_inputs(tflite)
    ds = load_dataset(data, [specs[k] for k in user_inputs(pair_state(g0, state))]) if data else None
    host_rep = validate(tflite, name=name, keras_file=keras_file, data=ds, samples=samples, progress=progress,
                        state=state)
    inputs, expected = host_rep.inputs, host_rep.reference_outputs

    # 3. generate C, 4. build firmware
    say("[3/6] generating C")
    lib = generate_c(tflite, out / "model", graph=g)
    say(f"[4/6] building firmware for {board.name}")
    build = target.build(lib.dir, out / "firmware")

    # 5. flash and 6. run on the device
    say(f"[5/6] flashing {board.name}" + (" (QEMU)" if target.emulated else ""))
    cmp = ByteCompare("litert-ref")
    first_bad = None
    with target.session(build.elf) as p:
        say(f"[6/6] validating and benchmarking on {board.name} via {p}")
        with open_device(p, timeout=5.0, invoke_timeout=300.0) as dev:
            run = run_device(dev, sha256=build.model_sha256, inputs=inputs, runs=runs, progress=progress,
                             flash_hint=f"edgeq flash {out / 'model'} --board {board.name}")
            for k, (got, want) in enumerate(zip(run.outputs, expected)):
                cmp.add(k, [np.frombuffer(b, w.dtype) for b, w in zip(got, want)], want)
            if not cmp.ok:  # integer outputs bit-exact, float32 outputs within tolerance
                k = cmp.first_bad_sample
                first_bad = device_first_mismatch(dev, g, tflite, inputs[k], inputs[:k] if g.state else [])

    accuracy = None
    if host_rep.accuracy and ds is not None and ds.labels is not None:
        y = ds.labels[: len(inputs)]
        out_t = g0.tensor(g0.outputs[0])
        dev_out = np.stack([np.frombuffer(o[0], out_t.dtype) for o in run.outputs])
        accuracy = Accuracy(samples=len(y), float_model=host_rep.accuracy.get("float"),
                            host=host_rep.accuracy.get("quantized"), device=top1_accuracy(dev_out, y))
    return FlowResult(
        model=ModelInfo(path=str(model_path), sha256=hashlib.sha256(tflite).hexdigest(), ops=q.ops, macs=q.macs,
                        tflite=str(model_file), scheme=q.scheme, calibration=q.calibration,
                        calibration_warning=q.calibration_warning),
        board=board,
        memory=dataclasses.replace(build.memory, stack_bytes=run.stack_used),
        latency=latency(board, run.counts, q.macs),
        profile=[ProfileRow(op.id, op.kind, op.location, board.counter_to_unit(c), op_macs(g, op))
                 for op, c in zip(g.ops, run.profile) if op.lowered is not None],
        validation=DeviceValidation(reference="litert-ref (BUILTIN_REF)", samples=cmp.samples,
                                    mismatched_bytes=cmp.mismatched_bytes, bit_exact=cmp.bit_exact, ok=cmp.ok,
                                    first_bad_op=first_bad,
                                    float32=cmp.to_json()["float32"] if cmp.float_outputs else None),
        accuracy=accuracy, graph=g)
