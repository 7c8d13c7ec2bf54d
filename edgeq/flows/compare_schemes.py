"""`edgeq compare-schemes`: every quantization scheme edgeq has, on the user's own model and board, measured.

One candidate per scheme: each name in :data:`edgeq.flows.quantize.SCHEMES` (float32, int16x8, int8 and
whatever is added there later, a scheme this module does not know by name converted by
``quantize_model(scheme=name)``), with int8 taking the best calibration method
(:func:`edgeq.quality.calibrations.compare_calibrations`), then int8 with the costliest ops left in float32
until the drop is within ``max_drop`` (:func:`edgeq.quality.sensitivity.quantize_partial`), int8 of weights
clustered to 16, 64 and 256 values per layer and int16x8 of weights clustered to 16 (``--clusters``: 4-bit
codebook indices for 16, 6-bit for 64 where they pay), and QAT when
training data is given (:func:`edgeq.flows.qat.qat_model` with a short schedule, then ``quantize_model`` on
its learned ranges): ``qat-int8`` with int8 weights, ``qat-int8x4`` with 4-bit weights trained and kept.

Each candidate, in a process pool (``jobs``), is made, run in LiteRT's reference kernels on the evaluation
samples (``data``, else the calibration samples) and, with a board, deployed by
:func:`edgeq.flows.convert_and_flash.convert_and_flash` (generate, build, run, check every output against
LiteRT on the device, benchmark). The parent compares every candidate's outputs with the float model's (the
float32 TFLite conversion in LiteRT): top-1 accuracy on labels, else top-1 agreement with the float model,
and the output SQNR. A candidate that fails -- refused on this board, an op without a kernel, a converter
error -- is a row with its reason, never the end of the comparison. On a core without an FPU, a candidate
whose ops compute in float32 is not deployed (it would run in soft float) unless ``allow_soft_float``; its
host figures are still given.

Energy per inference is ``board.energy_uj(latency)``: cycles / clock x the datasheet's run-mode current x
supply voltage (``[power]`` in the board file); on an emulated board the latency is in QEMU instructions and
the energy an estimate for the real part the board file names. Without a board, rows hold host figures only
(model bytes, the arena of the memory plan). The Pareto front (most accurate for its cost) is computed for
accuracy vs flash (model bytes without a board) and accuracy vs latency.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.util
import os
import queue as queue_module
import re
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.files import write_atomic
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.flows.qat import qat_model
from edgeq.flows.quantize import SCHEMES, quantize_model
from edgeq.frontend.convert import float_tflite_bytes
from edgeq.frontend.data import load_calibration, loaded_inputs
from edgeq.frontend.islands import float_ops, read_model
from edgeq.frontend.load import load_model
from edgeq.frontend.tflite.kind import tflite_scheme
from edgeq.passes.pipeline import lower_tflite
from edgeq.quality.calibrations import compare_calibrations, evaluation_set
from edgeq.quality.metrics import ErrorStats, accuracy, finite_or_none, top1_agreement
from edgeq.quality.sensitivity import quantize_partial
from edgeq.quality.validate import FloatLiteRT
from edgeq.targets.boards import Board, load_board

PARTIAL = "int8-partial"  # int8 with the costliest ops in float32 (--max-drop)
# k-means-clustered weights (--clusters): "<scheme>-c<K>", K values per layer, then <scheme> quantization
CLUSTERED = ("int8-c16", "int8-c64", "int8-c256", "int16x8-c16")
QAT = "qat-int8"  # int8 from a quantization-aware-trained model (--qat-data)
QAT_INT8X4 = "qat-int8x4"  # int8x4 from a model trained with 4-bit fake-quantized weights (--qat-data)
QAT_SCHEMES = {QAT: "int8", QAT_INT8X4: "int8x4"}  # candidate -> the scheme trained and quantized
DEFAULT_MAX_DROP = 0.01
DEFAULT_QAT_EPOCHS = 2

#: progress(scheme, stage, done, total): one bar per scheme, showing the stage it is in
SchemeProgress = Callable[[str, str, int, int], None]


def candidate_names(*, qat: bool = False, partial: bool = True) -> list[str]:
    """The candidates compared, in row order: every scheme of ``SCHEMES`` (int8 followed by its partial
    variant), the clustered variants, then QAT (int8 and int8x4 weights)."""
    names: list[str] = []
    for s in SCHEMES:
        names.append(s)
        if s == "int8" and partial:
            names.append(PARTIAL)
    return names + list(CLUSTERED) + (list(QAT_SCHEMES) if qat else [])


@dataclass
class SchemeRow:
    """One candidate measured. ``accuracy``: top-1 accuracy on the labels, or top-1 agreement with the float
    model when there are none; ``flash_bytes``: the whole bench image in flash (plus the constants placed in
    external memory, if any); ``ram_bytes``: arena + state + the measured stack high-water mark (host only:
    the arena of the memory plan); ``latency_median`` in ``latency_unit`` (QEMU instructions or cycles);
    ``bit_exact``: every device output byte equal to LiteRT's (``device_ok``: integer outputs bit-exact and
    float32 outputs within the stated tolerance). ``reason``: why figures are missing (refused on this board,
    failed), the host figures being kept when they exist."""

    scheme: str
    how: str = ""
    accuracy: float | None = None
    top1_agreement: float | None = None
    sqnr_db: float | None = None
    model_bytes: int | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    arena_bytes: int | None = None
    stack_bytes: int | None = None
    latency_median: float | None = None
    latency_unit: str | None = None
    energy_uj: float | None = None
    bit_exact: bool | None = None
    device_ok: bool | None = None
    reason: str | None = None
    pareto_size: bool = False
    pareto_latency: bool = False

    def to_json(self) -> dict:
        return {"scheme": self.scheme, "accuracy": finite_or_none(self.accuracy),
                "sqnr_db": finite_or_none(self.sqnr_db), "flash_bytes": self.flash_bytes,
                "ram_bytes": self.ram_bytes,
                "latency": ({"median": self.latency_median, "unit": self.latency_unit}
                            if self.latency_median is not None else None),
                "energy_uj": finite_or_none(self.energy_uj), "bit_exact": self.bit_exact,
                # beyond the keys: how the model was made, the rest of the measurement, why not
                "how": self.how, "top1_agreement": finite_or_none(self.top1_agreement),
                "model_bytes": self.model_bytes, "arena_bytes": self.arena_bytes, "stack_bytes": self.stack_bytes,
                "device_ok": self.device_ok, "reason": self.reason,
                "pareto": {"size": self.pareto_size, "latency": self.pareto_latency}}


@dataclass
class SchemeComparison:
    model: str
    board: Board | None
    data: str  # what the accuracies are measured on
    samples: int
    metric: str  # "accuracy" (labels) or "agreement" (top-1 agreement with the float model)
    float_accuracy: float | None
    rows: list[SchemeRow]
    notes: list[str] = field(default_factory=list)

    @property
    def size_key(self) -> str:
        """The cost the accuracy-vs-size front uses: flash on a board, model bytes without one."""
        return "flash_bytes" if self.board is not None else "model_bytes"

    @property
    def energy_note(self) -> str | None:
        return self.board.energy_note if self.board is not None else None

    def to_json(self) -> dict:
        b = self.board
        return {"model": self.model, "board": b.name if b is not None else None,
                "rows": [r.to_json() for r in self.rows],
                "metric": self.metric, "data": self.data, "samples": self.samples,
                "float_accuracy": self.float_accuracy,
                "board_detail": None if b is None else {"cpu": b.cpu.core, "fpu": b.cpu.fpu, "clock_hz": b.clock.hz,
                                                        "emulated": b.emulated, "energy": b.energy_note},
                "notes": self.notes}


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[bool]:
    """For ``(cost, value)`` points, whether each is on the Pareto front: no other point costs at most as
    much and is at least as good, one of them strictly. Points with a missing (or NaN) coordinate are not
    on it; equal points are both on it."""
    def ok(p) -> bool:
        return p[0] is not None and p[1] is not None and not (math.isnan(p[0]) or math.isnan(p[1]))

    out = []
    for i, p in enumerate(points):
        out.append(ok(p) and not any(
            ok(q) and q[0] <= p[0] and q[1] >= p[1] and (q[0] < p[0] or q[1] > p[1])
            for j, q in enumerate(points) if j != i))
    return out


# --------------------------------------------------------------------------------------------------
# The job of one candidate (runs in a pool process)

@dataclass(frozen=True)
class _Job:
    scheme: str
    model: str
    calib: str
    data: str | None
    samples: int
    inputs: list  # the evaluation samples: one (N, ...) float array per model input
    board: str | None
    out_dir: str
    max_drop: float
    qat_data: str | None
    qat_epochs: int
    device_samples: int
    runs: int
    allow_soft_float: bool
    random_range: tuple[float, float]
    random_count: int


@dataclass
class _Outcome:
    row: SchemeRow
    outputs: list | None = None  # the candidate's float outputs on the evaluation samples (LiteRT)
    notes: list[str] = field(default_factory=list)


def _slug(scheme: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", scheme).strip("_") or "scheme"


def _make(job: _Job, progress) -> tuple[bytes, str, list[str]]:
    """The candidate's deployable .tflite, how it was made, notes."""
    common = dict(random_range=job.random_range, random_count=job.random_count)
    if job.scheme == "int8":
        c = compare_calibrations(job.model, job.calib, data=job.data, samples=job.samples, progress=progress,
                                 **common)
        return c.tflite, f"best of {len(c.rows)} calibrations by {c.metric}: {c.best}", []
    if job.scheme == PARTIAL:
        p = quantize_partial(job.model, job.calib, max_drop=job.max_drop, data=job.data, samples=job.samples,
                             progress=progress, **common)
        how = f"{len(p.kept_float)} op(s) float32 for a drop <= {100 * job.max_drop:g}% (minmax)"
        notes = [] if p.reached else [f"{PARTIAL}: the drop stays above {100 * job.max_drop:g}% with every op "
                                      "that can be float32 tried (the best model found is compared)"]
        return p.tflite, how, notes
    if job.scheme in QAT_SCHEMES:
        assert job.qat_data is not None
        scheme = QAT_SCHEMES[job.scheme]
        step = progress("QAT fine-tuning (epochs)", job.qat_epochs)
        r = qat_model(job.model, job.qat_data, epochs=job.qat_epochs, scheme=scheme, progress=lambda e: step())
        path = Path(job.out_dir) / _slug(job.scheme) / f"{Path(job.model).stem}_qat.keras"
        write_atomic(path, r.keras)
        q = quantize_model(path, None, scheme=scheme, progress=progress)
        return q.tflite, f"{len(r.epochs)} epoch(s) from {r.calibration} ranges, then {scheme}", list(r.notes)
    if job.scheme in CLUSTERED:
        scheme, k = job.scheme.rsplit("-c", 1)
        q = quantize_model(job.model, job.calib, scheme=scheme, clusters=int(k), progress=progress, **common)
        return q.tflite, f"k-means to {k} values per layer, then {scheme} on {q.calibration}", []
    q = quantize_model(job.model, job.calib, scheme=job.scheme, progress=progress, **common)
    # a float32 model's notes only say that its ops are float32
    how = q.calibration if q.calibration.startswith("none") else f"calibrated on {q.calibration}"
    return q.tflite, how, [f"{job.scheme}: {n}" for n in q.notes] if q.scheme != "float32" else []


def _why(e: EdgeqError) -> str:
    """An error as one row's reason: what, then its first details (e.g. the ops without a kernel)."""
    detail = "; ".join(e.detail[:3]) + ("; ..." if len(e.detail) > 3 else "")
    return f"{e.what}: {detail}" if detail else e.what


def _run(job: _Job, progress) -> _Outcome:
    """Make, evaluate and (with a board) deploy one candidate; an EdgeqError is the row's reason."""
    row = SchemeRow(job.scheme)
    out = _Outcome(row)
    try:
        tflite, row.how, out.notes = _make(job, progress)
    except EdgeqError as e:
        row.reason = _why(e)
        return out
    row.model_bytes = len(tflite)
    name = f"{Path(job.model).stem}_{_slug(job.scheme)}".replace(".", "_")
    try:
        step = progress("LiteRT on the evaluation samples", int(job.inputs[0].shape[0]))
        out.outputs = FloatLiteRT(tflite).run_all(job.inputs, step)
        if job.board is None:
            row.arena_bytes = row.ram_bytes = lower_tflite(tflite, "litert", name).plan.size
            return out
        board = load_board(job.board)
        floats = float_ops(read_model(tflite, name=name))
        if floats and not board.cpu.has_fpu and not job.allow_soft_float:
            row.arena_bytes = lower_tflite(tflite, "litert", name).plan.size
            row.reason = (f"not run: {board.name} ({board.cpu.core}) has no FPU and {len(floats)} op(s) compute in "
                          "float32 (soft float); --allow-soft-float measures them anyway")
            return out
        path = Path(job.out_dir) / _slug(job.scheme) / f"{name}.tflite"
        write_atomic(path, tflite)
        kind = tflite_scheme(tflite)
        r = convert_and_flash(path, board_name=board, scheme=kind if kind in SCHEMES else "int8", data=job.data,
                              samples=job.device_samples, runs=job.runs, out_dir=path.parent / "build",
                              progress=progress, allow_soft_float=job.allow_soft_float)
    except EdgeqError as e:
        row.reason = _why(e)
        return out
    m = r.memory
    row.flash_bytes = m.flash_bytes + m.external_bytes
    row.arena_bytes, row.stack_bytes = m.arena_bytes, m.stack_bytes
    row.ram_bytes = m.arena_bytes + m.state_bytes + (m.stack_bytes or 0)
    row.latency_median, row.latency_unit = r.latency.median, r.latency.unit
    row.energy_uj = board.energy_uj(r.latency.median)
    row.bit_exact, row.device_ok = r.validation.bit_exact, r.validation.ok
    return out


_PROGRESS_QUEUE = None  # the pool process's line to the parent's progress bars


def _init_pool_process(progress_queue, verbose: bool) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    isolation.set_verbose(verbose)
    # a pool process leaves through os._exit: stop its isolation worker on the way out (atexit does not run)
    multiprocessing.util.Finalize(None, isolation.shutdown, exitpriority=10)


def _stage_progress(scheme: str, report: Callable[[tuple], None]):
    """A ``progress(description, total) -> step()`` for the flows, reporting (scheme, stage, done, total)."""
    def progress(desc: str, total: int):
        state = {"done": 0}
        report((scheme, desc, 0, total))

        def step() -> None:
            state["done"] += 1
            report((scheme, desc, state["done"], total))

        return step

    return progress


def _run_in_pool(job: _Job) -> _Outcome:
    q = _PROGRESS_QUEUE
    return _run(job, _stage_progress(job.scheme, (lambda msg: q.put(msg)) if q is not None else (lambda msg: None)))


# --------------------------------------------------------------------------------------------------
# The comparison

def compare_schemes(model_path: str | Path, calib: str | None, *, data: str | None = None,
                    board: str | None = None, qat_data: str | None = None, schemes: Sequence[str] | None = None,
                    max_drop: float | None = DEFAULT_MAX_DROP, qat_epochs: int = DEFAULT_QAT_EPOCHS,
                    samples: int = 100, device_samples: int = 10, runs: int = 3, jobs: int | None = None,
                    allow_soft_float: bool = False, out_dir: str | Path | None = None,
                    random_range=(-1.0, 1.0), random_count: int = 100, verbose: bool = False,
                    progress: SchemeProgress | None = None) -> SchemeComparison:
    """Compare every scheme on ``model_path`` (see the module doc). ``schemes`` restricts the candidates
    (names of :func:`candidate_names`; default all); ``max_drop`` None leaves out the partial candidate;
    ``jobs`` pool processes (default: the CPU count; 1 runs in this process); builds go to ``out_dir``
    (default ``build/compare-<model>[-<board>]``); ``verbose``: the pool processes show what the native tools
    print, as ``--verbose`` does in this one."""
    if calib is None:
        raise EdgeqError("compare-schemes needs calibration data to quantize the model",
                         hint="--calib DATA (.npy/.npz/.bin), with --data DATA.npz holding labels y for accuracy; "
                              "or --calib random for a quick, unrepresentative try")
    if max_drop is not None and not 0.0 <= max_drop < 1.0:
        raise EdgeqError(f"--max-drop {100 * max_drop:g}% is not in [0%, 100%)")
    known = candidate_names(qat=qat_data is not None, partial=max_drop is not None)
    chosen = list(dict.fromkeys(schemes)) if schemes else known
    bad = [s for s in chosen if s not in known]
    if bad:
        why = {QAT: "needs --qat-data", QAT_INT8X4: "needs --qat-data", PARTIAL: "needs --max-drop"}
        raise EdgeqError(f"cannot compare {', '.join(bad)}",
                         detail=[f"{s}: {why[s]}" for s in bad if s in why],
                         hint=f"choose among {', '.join(known)}")
    b = load_board(board) if board is not None else None  # a misspelt board is refused before any work
    loaded = load_model(model_path)
    if loaded.kind == "tflite":
        raise EdgeqError(f"{model_path} is already a TFLite model; comparing schemes needs the float model",
                         hint="pass the Keras model (.keras/.h5) or SavedModel it came from")
    cal = load_calibration(calib, loaded_inputs(loaded), random_range=random_range, random_count=random_count)
    evalset = evaluation_set(data, cal, loaded, samples)
    notes = [f"calibration: {cal.warning}"] if cal.warning else []
    if b is not None and b.power is None:
        notes.append(f"{b.name}'s board file has no [power] table: no energy figures")
    try:
        reference = FloatLiteRT(float_tflite_bytes(loaded)).run_all(evalset.inputs)
    except EdgeqError as e:
        reference = None
        notes.append(f"no float reference ({e.what}): SQNR and top-1 agreement not measured")
    out = Path(out_dir) if out_dir else Path("build") / (
        f"compare-{Path(model_path).stem}" + (f"-{b.name}" if b is not None else ""))
    job_list = [_Job(s, str(model_path), str(calib), None if data is None else str(data), samples, evalset.inputs,
                     board, str(out), max_drop if max_drop is not None else DEFAULT_MAX_DROP,
                     None if qat_data is None else str(qat_data), qat_epochs, device_samples, runs,
                     allow_soft_float, tuple(random_range), random_count) for s in chosen]
    outcomes = _run_all(job_list, jobs, progress, verbose)

    labels = evalset.labels
    metric = "accuracy" if labels is not None else "agreement"
    rows = []
    for o in outcomes:
        r = o.row
        notes += o.notes
        if o.outputs is not None:
            _score(r, o.outputs, reference, labels)
        rows.append(r)
    size = "flash_bytes" if b is not None else "model_bytes"
    for r, on in zip(rows, pareto_front([(_num(getattr(r, size)), r.accuracy) for r in rows])):
        r.pareto_size = on
    for r, on in zip(rows, pareto_front([(r.latency_median, r.accuracy) for r in rows])):
        r.pareto_latency = on
    float_acc = accuracy(reference[0], labels) if reference is not None and labels is not None else None
    return SchemeComparison(str(model_path), b, evalset.source, evalset.count, metric, float_acc, rows, notes)


def _num(v: int | None) -> float | None:
    return None if v is None else float(v)


def _score(row: SchemeRow, outs: list, reference: list | None, labels) -> None:
    """Accuracy (labels) or top-1 agreement with the float model, and the output SQNR."""
    classes = outs[0].shape[1] > 1
    if reference is not None:
        f = np.concatenate([o.reshape(len(o), -1) for o in reference], axis=1)
        q = np.concatenate([o.reshape(len(o), -1) for o in outs], axis=1)
        row.sqnr_db = ErrorStats.of(f, q).sqnr_db
        row.top1_agreement = top1_agreement(reference[0], outs[0]) if classes else None
    row.accuracy = accuracy(outs[0], labels) if labels is not None else row.top1_agreement


def _run_all(job_list: list[_Job], jobs: int | None, progress: SchemeProgress | None,
             verbose: bool) -> list[_Outcome]:
    """Every job, in a pool of ``jobs`` processes (spawned: TensorFlow and QEMU sessions do not survive a
    fork), results in job order; progress messages come back through a queue."""
    report = (lambda msg: progress(*msg)) if progress is not None else (lambda msg: None)
    n = min(jobs or os.cpu_count() or 1, len(job_list))
    if n <= 1:
        return [_guarded(j, lambda j=j: _run(j, _stage_progress(j.scheme, report))) for j in job_list]
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()

    def drain() -> None:
        while True:
            try:
                report(q.get_nowait())
            except queue_module.Empty:
                return

    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_pool_process,
                             initargs=(q, verbose)) as pool:
        futures: list[Future] = [pool.submit(_run_in_pool, j) for j in job_list]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
        drain()
        return [_guarded(j, f.result) for j, f in zip(job_list, futures)]


def _guarded(job: _Job, outcome: Callable[[], _Outcome]) -> _Outcome:
    """A job's outcome; anything but an EdgeqError (which ``_run`` makes the row's reason) -- a bug, a pool
    process that died -- is that row's reason too, so one candidate never ends the comparison."""
    try:
        return outcome()
    except BrokenProcessPool as e:
        return _Outcome(SchemeRow(job.scheme, reason=f"the process measuring it died ({e})"))
    except Exception as e:  # noqa: BLE001 -- reported in the row, named as a bug
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else "(no message)"
        return _Outcome(SchemeRow(job.scheme, reason=f"internal error in edgeq: {type(e).__name__}: {first} "
                                                     "(a bug: please report it)"))
