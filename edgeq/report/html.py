"""Self-contained HTML reports: tables and matplotlib plots in one file, nothing fetched from anywhere.

Plain data in, one ``.html`` out: every plot is a PNG embedded as a ``data:`` URI, the style sheet is
inline, so the file can be mailed, attached to CI runs or opened offline. Presentation only: the
numbers come from the pipeline's own reports (validation, convert-and-flash JSON, memory plan).

    r = Report("resnet8 on mps2-an386")
    r.add_kv("summary", {"MACs": 12_500_000, "bit-exact": True})
    r.add_table("per-layer profile", ["op", "kind", "instructions"], [[0, "CONV_2D", 74600.0]])
    r.add_plot("memory plan", plot_memory_plan(g))
    r.write("report.html")

The plot builders make figures with ``matplotlib.figure.Figure`` (Agg canvas), never pyplot, so they
touch no global backend state and leave no figures behind.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from edgeq import __version__
from edgeq.errors import EdgeqError
from edgeq.files import write_atomic
from edgeq.report.format import accuracy_line, fmt, pct, short_name
from edgeq.report.plots import (DPI, buffer_name, plot_calibrations, plot_gain, plot_latency, plot_layer_sqnr,
                                plot_memory_plan, plot_scheme_tradeoffs)
from edgeq.report.tables import (COLUMNS, calibration_legend, kept_as, ranking_rows, scheme_columns, scheme_legend,
                                 scheme_rows, step_rows, table_rows)

if TYPE_CHECKING:  # types only: report renders results, it never runs a flow
    from edgeq.flows.compare_schemes import SchemeComparison
    from edgeq.quality.calibrations import CalibrationComparison
    from edgeq.quality.sensitivity import Analysis, PartialResult
    from edgeq.flows.convert_and_flash import FlowResult

# --- cells and formatting -------------------------------------------------------------------------



_NUMERIC = re.compile(r"^[-+−]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?\s?(%|dB|B|KiB)?$|^\d[\d,]*/\d[\d,]*$")


def _cell(v: Any) -> str:
    cls = []
    if isinstance(v, bool):
        cls.append("ok" if v else "bad")
    elif isinstance(v, (int, float)) or v is None or (isinstance(v, str) and _NUMERIC.match(v)):
        cls.append("num")  # right-aligned, also when the caller formatted the number itself
    c = f' class="{" ".join(cls)}"' if cls else ""
    return f"<td{c}>{html.escape(fmt(v))}</td>"


# --- the report -----------------------------------------------------------------------------------

@dataclass
class _Section:
    title: str
    body: str


@dataclass
class Report:
    """An HTML page built section by section; :meth:`write` emits one self-contained file."""

    title: str
    subtitle: str | None = None
    sections: list[_Section] = field(default_factory=list)

    def add_text(self, text: str, title: str | None = None) -> Report:
        paras = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
        self.sections.append(_Section(title or "", paras))
        return self

    def add_table(self, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                  note: str | None = None) -> Report:
        """A table; cells are str / int / float / bool / None (formatted and escaped here)."""
        rows = [list(r) for r in rows]
        cells = [[_cell(v) for v in row] for row in rows]
        # a column of numbers gets a right-aligned header over its right-aligned cells
        numeric = [bool(rows) and all('class="num"' in row[i] for row in cells if i < len(row))
                   for i in range(len(columns))]
        head = "".join(("<th class=\"num\">" if numeric[i] else "<th>") + f"{html.escape(str(c))}</th>"
                       for i, c in enumerate(columns))
        body = "".join("<tr>" + "".join(row) + "</tr>" for row in cells)
        text = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        if note:
            text += f'<p class="note">{html.escape(note)}</p>'
        self.sections.append(_Section(title, text))
        return self

    def add_kv(self, title: str, items: dict[str, Any] | Iterable[tuple[str, Any]], note: str | None = None) -> Report:
        """A two-column "what / value" table (like the CLI's summary tables)."""
        pairs = list(items.items()) if isinstance(items, dict) else list(items)
        def key(k: str) -> str:  # leading spaces (sub-items, as in the CLI's tables) become an indent
            k = str(k)
            cls = ' class="sub"' if k.startswith(" ") else ""
            return f'<th scope="row"{cls}>{html.escape(k.strip())}</th>'

        body = "".join(f"<tr>{key(k)}{_cell(v)}</tr>" for k, v in pairs)
        text = f'<table class="kv"><tbody>{body}</tbody></table>'
        if note:
            text += f'<p class="note">{html.escape(note)}</p>'
        self.sections.append(_Section(title, text))
        return self

    def add_plot(self, title: str, fig, caption: str | None = None) -> Report:
        """Embed a matplotlib figure as a PNG data URI (the figure is closed afterwards)."""
        png = figure_png(fig)
        src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        text = f'<figure><img src="{src}" alt="{html.escape(title)}">'
        if caption:
            text += f"<figcaption>{html.escape(caption)}</figcaption>"
        self.sections.append(_Section(title, text + "</figure>"))
        return self

    def html(self) -> str:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        version = __version__

        toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
                      for i, s in enumerate(self.sections) if s.title)
        parts = [f'<section id="s{i}">' + (f"<h2>{html.escape(s.title)}</h2>" if s.title else "") + s.body
                 + "</section>" for i, s in enumerate(self.sections)]
        sub = f'<p class="subtitle">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<meta name="generator" content="edgeq {html.escape(version)}">'
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body>"
                f"<header><h1>{html.escape(self.title)}</h1>{sub}"
                f'<p class="meta">edgeq {html.escape(version)} · {when}</p>'
                + (f'<nav><ol>{toc}</ol></nav>' if len(self.sections) > 3 else "")
                + "</header><main>" + "".join(parts) + "</main></body></html>\n")

    def write(self, path: str | Path) -> Path:
        try:
            write_atomic(path, self.html().encode("utf-8"))
        except OSError as e:
            raise EdgeqError(f"cannot write the HTML report {path}: {e.strerror or e}",
                             hint="pass --html a path in a folder you can write to") from None
        return Path(path)


CSS = """
:root { --fg:#1b1f24; --muted:#5b6570; --line:#d8dde3; --bg:#ffffff; --band:#f4f6f8; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:15px/1.45 "Liberation Sans", "Helvetica Neue", Arial, sans-serif; }
header { padding:24px 40px 12px; border-bottom:3px solid var(--accent); background:var(--band); }
h1 { margin:0 0 4px; font-size:26px; }
h2 { margin:0 0 10px; font-size:19px; border-bottom:1px solid var(--line); padding-bottom:4px; }
.subtitle { margin:0; font-size:16px; color:var(--fg); }
.meta { margin:4px 0 0; color:var(--muted); font-size:13px; }
nav ol { margin:8px 0 0; padding-left:20px; columns:3; font-size:14px; }
nav a { color:var(--accent); text-decoration:none; }
main { padding:8px 40px 40px; max-width:1200px; }
section { margin:22px 0; }
table { border-collapse:collapse; font-size:14px; min-width:360px; }
th, td { padding:4px 12px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { background:var(--band); border-bottom:2px solid var(--line); }
tbody tr:nth-child(even) > * { background:#fafbfc; }
table.kv th { font-weight:normal; color:var(--muted); }
table.kv th.sub { padding-left:28px; }
table.kv td.num { text-align:left; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.ok { color:#007a55; font-weight:bold; }
td.bad { color:#c0392b; font-weight:bold; }
figure { margin:0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); }
figcaption, .note { color:var(--muted); font-size:13px; margin-top:4px; }
"""


def figure_png(fig) -> bytes:
    """PNG bytes of a matplotlib figure; closes it if pyplot manages it."""
    if fig.canvas is None or not hasattr(fig.canvas, "print_png"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return buf.getvalue()


# --- plot builders --------------------------------------------------------------------------------


# --- the reports of edgeq's commands --------------------------------------------------------------

def memory_plan_rows(g, top: int = 12) -> tuple[list[str], list[list]]:
    """The biggest buffers of ``g``'s plan as table rows (what ``edgeq generate`` prints)."""
    plan = g.plan
    bufs = sorted(plan.buffers, key=lambda b: -b.size)
    rows = [[buffer_name(g, b), b.size, plan.offset(b), f"{b.first}..{b.last}"] for b in bufs[:top]]
    if len(bufs) > top:
        rows.append([f"… {len(bufs) - top} more", None, None, ""])
    return ["tensor", "bytes", "offset", "live (ops)"], rows


def add_memory_plan(r: Report, g) -> None:
    r.add_plot("memory plan", plot_memory_plan(g),
               caption="Each box is a buffer in the tensor arena: horizontally the ops it is live for, vertically "
                       "its byte range; darker where an op's output overwrites an input it has finished reading "
                       "(in place or overlapping). The red line is the arena size, the dashed line the lower "
                       "bound (most bytes live at any one step): no plan for this schedule can be smaller.")
    cols, rows = memory_plan_rows(g)
    r.add_table("largest buffers", cols, rows,
                note=f"arena {g.plan.size:,} B, lower bound {g.plan.lower_bound:,} B")


def validate_report(rep, path: str | Path, graph=None) -> Path:
    """HTML version of ``edgeq validate``'s tables (``rep``: a ValidationReport), plus the memory plan of
    ``graph`` (the model lowered as ``edgeq generate`` would) when given."""
    r = Report(f"edgeq validate: {rep.model}", subtitle=f"{rep.samples} samples")
    summary: dict[str, Any] = {"model": rep.model, "samples": rep.samples}
    lit = rep.c_host.get("litert") if rep.c_host else None
    if lit is not None:
        summary["generated C bit-exact vs LiteRT"] = lit.bit_exact
        if getattr(lit, "float_outputs", 0):
            summary["generated C within the float32 tolerance"] = bool(lit.ok)
    for k, v in (rep.accuracy or {}).items():
        summary[f"accuracy {k.replace('_', ' ')}"] = f"{100 * v:.2f}%"
    r.add_kv("summary", summary)
    if rep.accuracy:
        keys = [k for k in ("float", "quantized", "top1_agreement") if k in rep.accuracy]
        r.add_table(f"accuracy on {rep.samples} samples", [k.replace("_", " ") for k in keys],
                    [[f"{100 * rep.accuracy[k]:.2f}%" for k in keys]])
    if rep.fidelity:
        r.add_table("quantized model (LiteRT) vs float model", ["output", "SQNR dB", "cosine", "max abs err"],
                    [[f["output"], f["sqnr_db"], f["cosine"], f["max_abs_err"]] for f in rep.fidelity])
    layers = getattr(rep, "layers", None)
    if layers:
        r.add_plot("per-layer SQNR", plot_layer_sqnr(layers))
    if rep.c_host:
        r.add_table("generated C on the host vs reference interpreters",
                    ["reference", "bit-exact", "bit-exact samples", "mismatched bytes", "max |diff|"],
                    [[f"{c.reference} (--rounding {mode})", c.bit_exact, f"{c.exact_samples}/{c.samples}",
                      f"{c.mismatched_bytes}/{c.total_bytes}", c.max_abs_diff] for mode, c in rep.c_host.items()],
                    note=("LiteRT and TFLM themselves disagree on "
                          f"{rep.references_disagree_bytes} output bytes (single vs double rounding); edgeq "
                          "matches each in its mode") if rep.references_disagree_bytes else None)
        floats = [f"{mode}: {c.float_summary()}" for mode, c in rep.c_host.items()
                  if getattr(c, "float_summary", None) and c.float_summary()]
        if floats:  # float32 outputs are held to a tolerance, not to bytes
            r.add_text("\n\n".join(floats), title="float32 outputs")
        bad = [c.first_bad_op for c in rep.c_host.values() if c.first_bad_op]
        if bad:
            r.add_table("first mismatching op", ["op", "kind", "tensor", "mismatched bytes", "bytes"],
                        [[b["op"], b["kind"], b["tensor"], b["mismatched_bytes"], b["bytes"]] for b in bad])
    if rep.arena:
        tf, ours = rep.arena.get("tflm", {}), rep.arena.get("edgeq", {})
        r.add_kv("arena (bytes)", [
            ("edgeq arena", ours.get("arena")), ("edgeq lower bound", ours.get("lower_bound")),
            ("TFLM arena (total)", tf.get("total") if isinstance(tf, dict) else None),
            ("TFLM activations and scratch", tf.get("head") if isinstance(tf, dict) else None)])
    if graph is not None and graph.plan is not None:
        add_memory_plan(r, graph)
    return r.write(path)


def flow_report(res: FlowResult, path: str | Path) -> Path:
    """HTML version of a convert-and-flash result (plus the memory plan of the graph it generated)."""
    m, b, mem, lat, val = res.model, res.board, res.memory, res.latency, res.validation
    r = Report(f"{Path(m.path).name} on {b.name}",
               subtitle=f"{b.cpu.core}, {b.clock.hz / 1e6:g} MHz{', emulated in QEMU' if b.emulated else ''}")
    unit = lat.unit
    short = unit.split()[0].rstrip("s")
    summary: list[tuple[str, Any]] = [
        ("MACs / inference", m.macs),
        (f"latency, median of {lat.runs} ({unit})", lat.median),
        ("  min / max", f"{fmt(lat.min)} / {fmt(lat.max)}"),
    ]
    if lat.macs_per_unit:
        summary.append((f"  MACs per {short}", round(lat.macs_per_unit, 3)))
    summary += [(f"  ms at {b.clock.hz / 1e6:g} MHz", round(lat.ms_at_clock, 2)),
                ("bit-exact vs LiteRT on the device", bool(val.bit_exact)),
                ("  samples checked / bytes differing", f"{val.samples} / {val.mismatched_bytes}")]
    if val.float32:  # float32 outputs are held to a tolerance, not to bytes
        f32 = val.float32
        summary += [("  float32 outputs within tolerance", bool(f32.get("within_tolerance"))),
                    ("  float32 max |diff| (relative)",
                     f"{f32.get('max_abs_diff', 0):.3g} ({f32.get('max_rel_diff', 0):.3g})")]
    acc = res.accuracy
    if acc is not None:
        summary.append((f"accuracy on {acc.samples} samples", accuracy_line(acc, m.scheme)))
    summary += [("scheme", m.scheme), ("calibration", m.calibration), ("deployed model", m.tflite),
                ("model sha256", m.sha256)]
    r.add_kv("summary", summary, note=m.calibration_warning)
    r.add_table("memory", ["what", "bytes", "of limit"], [
        ["flash (whole image)", mem.flash_bytes, mem.flash_limit],
        ["  weights and constants", mem.weights_bytes, None],
        ["  inference code", mem.code_bytes, None],
        ["  bench harness", mem.harness_bytes, None],
        ["RAM (whole image)", mem.ram_bytes, mem.ram_limit],
        ["  tensor arena", mem.arena_bytes, None],
        ["  stack used (high-water)", mem.stack_bytes, None],
    ])
    prof = res.profile
    if prof:
        r.add_plot("per-layer latency", plot_latency(prof, unit),
                   caption=f"{unit} per op on {b.name}, from the bench firmware's per-op counters; right: "
                           f"MACs per {short} (higher is better).")
        total = sum(p.count for p in prof) or 1
        r.add_table("per-layer profile", ["op", "kind", unit, "share", "MACs", f"MACs/{short}", "location"],
                    [[p.op, p.kind, p.count, f"{100 * p.count / total:.1f}%", p.macs,
                      round(p.macs / p.count, 3) if p.macs and p.count else None,
                      short_name(p.location, 60)] for p in prof])
    if val.first_bad_op:
        r.add_kv("first op that differs on the device", val.first_bad_op)
    if acc is not None:
        r.add_table("accuracy", ["samples", "float model", f"{m.scheme} in LiteRT", f"{m.scheme} on the device"],
                    [[acc.samples] + [None if v is None else f"{100 * v:.2f}%"
                                      for v in (acc.float_model, acc.host, acc.device)]])
    if res.graph is not None and res.graph.plan is not None:
        add_memory_plan(r, res.graph)
    return r.write(path)


def analysis_report(a: Analysis, path: str | Path, partial: PartialResult | None = None) -> Path:
    """The analysis (and the partial-quantization steps) as a self-contained HTML report with plots."""
    r = Report(f"quantization sensitivity: {Path(a.model).name}",
               subtitle=f"calibration {a.calibration}; evaluated on {a.data}")
    kv = {"output SQNR (dB)": a.output["sqnr_db"], "output RMSE": a.output["rmse"],
          "float accuracy": pct(a.output.get("float_accuracy")), "int8 accuracy": pct(a.output.get("accuracy")),
          "top-1 agreement with float": pct(a.output.get("agreement")),
          "metric": f"{a.metric}: {a.metric_description}"}
    r.add_kv("all-int8 model", {k: v for k, v in kv.items() if v not in (None, "-")})
    if a.calibration_warning:
        r.add_text(f"warning: {a.calibration_warning}")
    layers = [x for x in a.layers if x["quantized"]]
    r.add_plot("per-layer SQNR (accumulated error at each op's output, model order)",
               plot_layer_sqnr([dict(x, name=short_name(x["name"], 34)) for x in layers]),
               caption="int8 output of each op (dequantized) vs the float model's tensor on the same inputs; "
                       "the worst three in red")
    if a.single_float:
        r.add_plot("single-layer float sensitivity", plot_gain(layers, kept_as(a.scheme)),
                   caption=f"output SQNR gain when only this op is kept in {kept_as(a.scheme)} (all others int8): "
                           "what quantizing the op costs at the output")
    cols, rows = ranking_rows(a)
    r.add_table("ranking, costliest first", cols, rows)
    if partial is not None:
        cols, rows = step_rows(partial)
        r.add_table("partial quantization steps", cols, rows, note=f"metric: {partial.metric_description}")
    return r.write(path)


def calibration_report(c: CalibrationComparison, path: str | Path) -> Path:
    """The comparison as a self-contained HTML page: a plot per metric and the table."""
    r = Report(f"calibration methods: {Path(c.model).name}", subtitle=f"calibrated on {c.calibration}")
    r.add_plot("accuracy / SQNR per calibration method", plot_calibrations(c.rows), caption=calibration_legend(c))
    r.add_table("methods", list(COLUMNS[:-1]) + ["best"], table_rows(c),
                note="SQNR and cosine: all outputs of the int8 model (dequantized) against the float model; "
                     "clipped tensors: activations whose range the method narrowed below min/max")
    return r.write(path)


def scheme_report(c: SchemeComparison, path: str | Path) -> Path:
    """The scheme comparison as a self-contained HTML page: accuracy vs flash (model bytes without a board)
    and vs latency with the Pareto fronts marked, then the table and what its numbers are."""
    b = c.board
    r = Report(f"quantization schemes: {Path(c.model).name}",
               subtitle=(f"on {b.name} ({b.cpu.core}, {b.clock.hz / 1e6:g} MHz"
                         f"{', emulated in QEMU' if b.emulated else ''})" if b is not None else "on the host (no board)"))
    size = c.size_key
    points = [{"scheme": x.scheme, "accuracy": x.accuracy, "size": getattr(x, size), "latency": x.latency_median,
               "pareto_size": x.pareto_size, "pareto_latency": x.pareto_latency} for x in c.rows]
    unit = next((x.latency_unit for x in c.rows if x.latency_unit), None)
    acc_label = "accuracy (%)" if c.metric == "accuracy" else "top-1 agreement with float (%)"
    legend = scheme_legend(c)
    if any(p["accuracy"] is not None and p["size"] is not None for p in points):
        r.add_plot("accuracy vs flash and latency, Pareto front marked",
                   plot_scheme_tradeoffs(points, "flash (bytes)" if b is not None else "model (bytes)",
                                         f"latency ({unit})" if unit else None, acc_label),
                   caption=legend[-1])
    r.add_table("schemes", scheme_columns(c), scheme_rows(c), note=" ".join(legend[:-1]))
    if c.notes:
        r.add_text("\n\n".join(c.notes), title="notes")
    return r.write(path)
