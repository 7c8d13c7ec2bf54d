"""Presentation: tables on the terminal and progress bars. No pipeline logic here."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgeq.report.format import accuracy_line, kb, pct
from edgeq.report.tables import (COLUMNS, calibration_legend, kept_as, quality_line, ranking_rows, scheme_columns,
                                 scheme_details, scheme_legend, scheme_rows, step_rows, table_rows)

if TYPE_CHECKING:  # types only: report renders results, it never runs a flow
    from edgeq.flows.compare_schemes import SchemeComparison
    from edgeq.quality.calibrations import CalibrationComparison
    from edgeq.quality.op_coverage import OpCoverage
    from edgeq.quality.sensitivity import Analysis, PartialResult
    from edgeq.flows.convert_and_flash import FlowResult, ProfileRow
    from edgeq.targets.bench import Latency
    from edgeq.targets.firmware import BenchBuild


def _width(stream) -> int | None:
    """The terminal's width; 120 columns when printing to a file or pipe (rich would use 80)."""
    import os

    if os.environ.get("COLUMNS"):
        return None
    return None if stream.isatty() else 120


console = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


@contextlib.contextmanager
def progress_bars():
    """Yields ``make(description, total) -> step()``; bars go to stderr and vanish when done."""
    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=not sys.stderr.isatty())
    with prog:
        def make(desc: str, total: int):
            task = prog.add_task(desc, total=total)
            return lambda: prog.advance(task)

        yield make


@contextlib.contextmanager
def scheme_bars():
    """Yields ``update(scheme, stage, done, total)``: one bar per scheme (on stderr, gone when done), showing
    the stage that scheme is in."""
    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=not sys.stderr.isatty())
    with prog:
        tasks: dict[str, object] = {}

        def update(scheme: str, stage: str, done: int, total: int) -> None:
            desc = f"{scheme:<14} {stage}"
            if scheme not in tasks:
                tasks[scheme] = prog.add_task(desc, total=total)
            prog.update(tasks[scheme], description=desc, completed=done, total=max(total, 1))

        yield update


def quantize_table(r) -> None:
    t = Table(title=f"quantized {r.model}", show_header=False)
    t.add_column("what")
    t.add_column("value")
    t.add_row("float32 TFLite size", kb(r.float_bytes))
    t.add_row(f"{getattr(r, 'scheme', 'int8')} TFLite size", kb(len(r.tflite)))
    t.add_row("MACs / inference", f"{r.macs:,}")
    t.add_row("calibration", r.calibration)
    t.add_row("ops", ", ".join(f"{k} x{v}" for k, v in r.ops.items()))
    console.print(t)
    if r.calibration_warning:
        err_console.print(f"[bold yellow]warning:[/] {r.calibration_warning}")
    for n in r.notes:
        console.print(f"note: {n}")
    unsupported_list(r.unsupported)


def unsupported_list(bad) -> None:
    if not bad:
        console.print("C backend: every op is supported")
        return
    err_console.print(f"[bold yellow]warning:[/] {len(bad)} op(s) have no C kernel; `edgeq generate` will refuse:")
    for o in bad:
        err_console.print(f"  {o.describe()}", markup=False, highlight=False)


def plan_table(g, top: int = 8) -> None:
    plan = g.plan
    t = Table(title=f"memory plan of {g.name}")
    t.add_column("tensor")
    t.add_column("bytes", justify="right")
    t.add_column("offset", justify="right")
    t.add_column("live (ops)", justify="right")
    bufs = sorted((b for b in plan.buffers), key=lambda b: -b.size)
    for b in bufs[:top]:
        name = g.tensor(b.id).name if b.kind == "tensor" else f"scratch of op {b.id}"
        t.add_row(name, f"{b.size:,}", f"{plan.offset(b):,}", f"{b.first}..{b.last}")
    if len(bufs) > top:
        t.add_row(f"... {len(bufs) - top} more", "", "", "")
    console.print(t)
    console.print(f"arena: {plan.size:,} bytes (lower bound for this schedule: {plan.lower_bound:,} bytes)"
                  + (f"; state kept across invokes: {plan.state_size:,} bytes ({', '.join(p.name for p in g.state)})"
                     if g.state else ""))


def validation_tables(rep) -> None:
    if rep.accuracy:
        t = Table(title=f"accuracy on {rep.samples} samples")
        for k in ("float", "quantized", "top1_agreement"):
            if k in rep.accuracy:
                t.add_column(k.replace("_", " "), justify="right")
        t.add_row(*[f"{100 * rep.accuracy[k]:.2f}%" for k in ("float", "quantized", "top1_agreement")
                    if k in rep.accuracy])
        console.print(t)
    if rep.fidelity:
        t = Table(title="quantized model (LiteRT) vs float model")
        for c in ("output", "SQNR dB", "cosine", "max abs err"):
            t.add_column(c, justify="right")
        for f in rep.fidelity:
            t.add_row(f["output"], f"{f['sqnr_db']:.2f}", f"{f['cosine']:.5f}", f"{f['max_abs_err']:.4g}")
        console.print(t)
    if rep.c_host:
        t = Table(title="generated C on the host vs reference interpreters")
        for c in ("reference", "bit-exact samples", "mismatched bytes", "max |diff|"):
            t.add_column(c, justify="right")
        for mode, c in rep.c_host.items():
            t.add_row(f"{c.reference} (--rounding {mode})", f"{c.exact_samples}/{c.samples}",
                      f"{c.mismatched_bytes}/{c.total_bytes}", str(c.max_abs_diff))
        console.print(t)
        for mode, why in rep.c_host_skipped.items():
            console.print(f"not compared with --rounding {mode}: {why}")
        tf = rep.arena.get("tflm", {})
        ours = rep.arena.get("edgeq", {})
        line = f"arena: edgeq {ours.get('arena', 0):,} B (lower bound {ours.get('lower_bound', 0):,} B)"
        if rep.states:
            line += f" + state {ours.get('state', 0):,} B"
            console.print(f"the samples ran as one sequence of {rep.samples} frames, state fed back: "
                          + ", ".join(rep.states))
        if "total" in tf and "head" in tf:
            line += f"; TFLM {tf['total']:,} B, of which {tf['head']:,} B activations and scratch"
        console.print(line)
        if rep.references_disagree_bytes:
            console.print(f"note: LiteRT and TFLM themselves disagree on {rep.references_disagree_bytes} "
                          "output bytes (single vs double rounding); edgeq matches each in its mode")
        c = rep.c_host.get("litert")
        if c is not None:
            console.print(f"bit-exact: {c.exact_samples}/{c.samples} samples")
            if c.float_summary():
                console.print(c.float_summary())
            if c.first_bad_op:
                b = c.first_bad_op
                err_console.print(f"first mismatching op: #{b['op']} {b['kind']} -> '{b['tensor']}' "
                                  f"({b['mismatched_bytes']} of {b['bytes']} bytes differ)")


def _fmt_num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    return f"{v:,}"


def summary_table(r: FlowResult) -> None:
    """The one table `convert-and-flash` ends with."""
    m, b, mem, lat, val = r.model, r.board, r.memory, r.latency, r.validation
    t = Table(title=f"{Path(m.path).name} on {b.name} ({b.cpu.core}, {b.clock.hz / 1e6:g} MHz"
                    f"{', emulated' if b.emulated else ''})", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("MACs / inference", _fmt_num(m.macs))
    t.add_row(f"latency, median of {lat.runs} ({lat.unit})", _fmt_num(lat.median))
    t.add_row("  min / max", f"{_fmt_num(lat.min)} / {_fmt_num(lat.max)}")
    if lat.macs_per_unit:
        t.add_row(f"  MACs per {lat.unit.split()[0].rstrip('s')}", f"{lat.macs_per_unit:.3f}")
    t.add_row(f"  ms at {b.clock.hz / 1e6:g} MHz", f"{lat.ms_at_clock:.2f}")
    t.add_row("flash (whole image)", f"{_fmt_num(mem.flash_bytes)} B of {_fmt_num(mem.flash_limit)}")
    t.add_row("  weights and constants", f"{_fmt_num(mem.weights_bytes)} B")
    if mem.weights_placement():
        t.add_row(f"  weights in external {mem.external_kind}",
                  f"{_fmt_num(mem.external_bytes)} B of {_fmt_num(mem.external_limit)}")
    t.add_row("  inference code", f"{_fmt_num(mem.code_bytes)} B")
    t.add_row("  bench harness", f"{_fmt_num(mem.harness_bytes)} B")
    t.add_row("RAM (whole image)", f"{_fmt_num(mem.ram_bytes)} B of {_fmt_num(mem.ram_limit)}")
    t.add_row("  arena", f"{_fmt_num(mem.arena_bytes)} B")
    if mem.state_bytes:
        t.add_row("  state (kept across invokes)", f"{_fmt_num(mem.state_bytes)} B")
    t.add_row("  stack used (high-water)", f"{_fmt_num(mem.stack_bytes)} B")
    if r.accuracy is not None:
        t.add_row(f"accuracy on {r.accuracy.samples} samples", accuracy_line(r.accuracy, m.scheme))
    t.add_row("bit-exact vs LiteRT on device",
              f"{'yes' if val.bit_exact else 'NO'} ({val.samples} samples, {val.mismatched_bytes} bytes differ)")
    if val.float32:  # float32 outputs are compared within a tolerance, not bytes
        t.add_row("  float32 outputs vs LiteRT (tolerance, not bytes)", f"max |diff| = {val.float32['max_abs_diff']:.3g}, "
                  f"{'within tolerance' if val.float32['within_tolerance'] else 'OUT OF TOLERANCE'}")
    console.print(t)
    if m.calibration_warning:
        err_console.print(f"[bold yellow]warning:[/] {m.calibration_warning}")
    if val.first_bad_op:
        bad = val.first_bad_op
        err_console.print(f"first op that differs on the device: #{bad['op']} {bad['kind']} -> '{bad['tensor']}' "
                          f"({bad['mismatched_bytes']} of {bad['bytes']} bytes)")


def profile_table(rows: list[ProfileRow], unit: str, top: int = 12) -> None:
    if not rows:
        return
    total = sum(r.count for r in rows) or 1
    t = Table(title=f"per-layer profile ({unit})")
    for c in ("op", "kind", unit, "share", "MACs/unit"):
        t.add_column(c, justify="right")
    for r in sorted(rows, key=lambda r: -r.count)[:top]:
        t.add_row(str(r.op), r.kind, _fmt_num(r.count), f"{100 * r.count / total:.1f}%",
                  f"{r.macs / r.count:.2f}" if r.macs and r.count else "-")
    console.print(t)


def boards_table(boards) -> None:
    t = Table(title="boards")
    t.add_column("name", no_wrap=True)
    for c in ("cpu", "DSP", "FPU", "clock", "flash", "RAM", "counter", "run by"):
        t.add_column(c)
    for b in boards:
        t.add_row(b.name, b.cpu.core, "yes" if b.cpu.dsp else "no", b.cpu.fpu, f"{b.clock.hz / 1e6:g} MHz",
                  f"{b.memory.flash.length // 1024} KiB", f"{b.memory.ram.length // 1024} KiB",
                  b.cycle_counter.kind, "QEMU" if b.emulated else b.flash.method)
    console.print(t)


def bench_table(board, info, lat: Latency, stack_used: int | None) -> None:
    t = Table(title=f"bench on {board.name}: model {info.model_hash8}", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row(f"latency, median of {lat.runs} ({lat.unit})", _fmt_num(lat.median))
    t.add_row("  min / max", f"{_fmt_num(lat.min)} / {_fmt_num(lat.max)}")
    t.add_row(f"  ms at {board.clock.hz / 1e6:g} MHz", f"{lat.ms_at_clock:.2f}")
    t.add_row("arena", f"{info.arena_bytes:,} B")
    t.add_row("stack used / reserved", f"{_fmt_num(stack_used)} / {info.stack_size:,} B")
    console.print(t)


def build_line(b: BenchBuild) -> None:
    """What `edgeq build` made: the ELF and its flash / RAM split."""
    m = b.memory
    console.print(f"built {b.elf}: flash {m.flash_bytes:,} B of {m.flash_limit:,} "
                  f"(weights {m.weights_bytes:,}, inference code {m.code_bytes:,}, "
                  f"harness {m.harness_bytes:,}); RAM {m.ram_bytes:,} B of {m.ram_limit:,} "
                  f"(arena {m.arena_bytes:,}, stack {m.stack_bytes:,})"
                  + (f"; {m.weights_placement()}" if m.weights_placement() else ""))


def ops_table(cov: OpCoverage, alias_ops: tuple[str, ...], tflm_note: str | None = None) -> None:
    """`edgeq ops`: every op kind, the dtype signatures edgeq has kernels for, whether TFLM registers it,
    and the totals."""
    t = Table(title="op kinds: edgeq's C kernels beside the builtins TFLite Micro registers")
    t.add_column("op", no_wrap=True)
    t.add_column("edgeq")
    t.add_column("TFLM", justify="center")
    for r in cov.rows:
        edgeq = ("any (no copy: aliases its input)" if r.kind in alias_ops else ", ".join(r.edgeq)) if r.edgeq else "-"
        t.add_row(r.kind, edgeq, "?" if r.tflm is None else ("yes" if r.tflm else "-"))
    console.print(t)
    n = cov.totals
    if cov.tflm_known:
        console.print(f"edgeq {n['edgeq']} op kinds, TFLM {n['tflm']} builtins: {n['both']} in both, "
                      f"{n['only_edgeq']} only in edgeq, {n['only_tflm']} only in TFLM")
    else:
        console.print(f"edgeq {n['edgeq']} op kinds; TFLM: {tflm_note or 'not asked'}")


# --- sensitivity analysis, partial quantization, calibration methods ------------------------------

def _add_column(t: Table, name: str, left: tuple[str, ...]) -> None:
    """Op kinds are never squeezed (a narrow terminal shortens tensor names instead)."""
    if name == "kind":
        t.add_column(name, justify="left", no_wrap=True, min_width=len("DEPTHWISE_CONV_2D"))
    elif name == "tensor" or name.startswith("op tried in "):
        t.add_column(name, justify="left", overflow="ellipsis", no_wrap=True, max_width=40)
    else:
        t.add_column(name, justify="left" if name in left else "right")


def analysis_tables(a: Analysis, top: int = 12) -> None:
    cols, rows = ranking_rows(a, top)
    t = Table(title=f"quantization sensitivity of {Path(a.model).name}, costliest first "
                    f"({len(a.ranking)} int8 ops, {a.samples} samples)")
    for c in cols:
        _add_column(t, c, left=("kind", "tensor"))
    for row in rows:
        t.add_row(*[str(v) for v in row])
    console.print(t)
    if len(a.ranking) > top:
        console.print(f"... {len(a.ranking) - top} more in --json / --html")
    console.print(f"all-int8 model: {quality_line(a.output, a.metric)}; data: {a.data}")
    console.print("SQNR/RMSE: the op's int8 output vs the float model's tensor (accumulated error); added dB: "
                  "SQNR lost at this op vs its worst input"
                  + (f"; gain: output SQNR with only this op in {kept_as(a.scheme)} minus the all-int8 model's"
                     if a.single_float
                     else ""))
    if a.calibration_warning:
        err_console.print(f"[bold yellow]warning:[/] {a.calibration_warning}")


def partial_table(p: PartialResult) -> None:
    cols, rows = step_rows(p)
    budget = "" if p.max_drop is None else f", budget: drop <= {100 * p.max_drop:g}%"
    t = Table(title=f"partial quantization: ops kept in {kept_as(p.scheme)}, costliest first ({p.metric}{budget})")
    for c in cols:
        _add_column(t, c, left=(f"op tried in {kept_as(p.scheme)}", "kind"))
    for row in rows:
        t.add_row(*[str(v) for v in row])
    console.print(t)
    console.print(f"metric: {p.metric_description}")
    if p.analysis.output.get("float_accuracy") is not None:
        console.print(f"float model accuracy: {pct(p.analysis.output['float_accuracy'])} on {p.analysis.data}")
    if not p.reached:
        err_console.print(f"[bold yellow]warning:[/] the drop is still above {100 * p.max_drop:g}% after trying "
                          f"every op that can be {kept_as(p.scheme)} ({len(p.kept_float)} kept: the best model found, "
                          "written)")
    else:
        console.print(f"kept: an op tried in {kept_as(p.scheme)} stays so only if the drop falls (or, at an equal "
                      "drop, the output SQNR rises)" if p.max_drop is not None else "")


def comparison_table(c: CalibrationComparison) -> None:
    """Print the comparison on the terminal."""
    t = Table(title=f"calibration methods: {Path(c.model).name} (calibrated on {c.calibration})")
    for col in COLUMNS:  # method names stay whole on a narrow terminal; headers may wrap
        t.add_column(col, justify="left" if col in ("method", "") else "right", no_wrap=col == "method",
                     min_width=max(len(r["method"]) for r in c.rows) if col == "method" else None)
    for row in table_rows(c):
        t.add_row(*row, style="bold" if row[-1] else None)
    console.print(t)
    console.print(calibration_legend(c))
    if c.calibration_warning:
        err_console.print(f"[bold yellow]warning:[/] {c.calibration_warning}")


def scheme_table(c: SchemeComparison) -> None:
    """`edgeq compare-schemes`: one row per scheme, then how each model was made and what the numbers are."""
    where = f"on {c.board.name}" if c.board is not None else "on the host"
    t = Table(title=f"quantization schemes: {Path(c.model).name} {where}")
    for col in scheme_columns(c, detail=False):
        t.add_column(col, justify="left" if col in ("scheme", "Pareto") else "right", no_wrap=col != "Pareto",
                     overflow="fold", min_width=len("latency") if col == "Pareto" else None)
    for r, row in zip(c.rows, scheme_rows(c, detail=False)):
        t.add_row(*row, style="dim" if r.reason else None)
    console.print(t)
    for line in scheme_details(c) + scheme_legend(c):
        console.print(line)
    for n in c.notes:
        console.print(f"note: {n}")
