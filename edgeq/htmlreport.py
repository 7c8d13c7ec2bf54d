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
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

# One palette for every plot: colour-blind friendly (Okabe-Ito), readable on white.
BLUE, ORANGE, GREEN, RED, PURPLE, GREY, SKY, YELLOW = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#8C8C8C", "#56B4E9", "#F0E442")
KIND_COLOURS = [BLUE, ORANGE, GREEN, PURPLE, SKY, YELLOW, "#999933", "#882255", "#44AA99", "#AA4499"]
DPI = 100


# --- cells and formatting -------------------------------------------------------------------------

def fmt(v: Any) -> str:
    """One table cell as text: thousands separators for counts, 4 significant digits otherwise."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.1f}"
        return f"{v:.4g}"
    return str(v)


_NUMERIC = re.compile(r"^[-+−]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?\s?(%|dB|B|KiB)?$|^\d[\d,]*/\d[\d,]*$")


def _cell(v: Any) -> str:
    cls = []
    if isinstance(v, bool):
        cls.append("ok" if v else "bad")
    elif isinstance(v, (int, float)) or v is None or (isinstance(v, str) and _NUMERIC.match(v)):
        cls.append("num")  # right-aligned, also when the caller formatted the number itself
    c = f' class="{" ".join(cls)}"' if cls else ""
    return f"<td{c}>{html.escape(fmt(v))}</td>"


def _short(name: str, n: int = 40) -> str:
    """Long TFLite tensor / op names (``a/b/c;a/b/d;...``) cut to something a label can hold."""
    name = name.split(";")[0]
    return name if len(name) <= n else "…" + name[-(n - 1):]


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
        from edgeq import __version__ as version

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
        from edgeq.api import write_atomic
        from edgeq.errors import EdgeqError

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
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return buf.getvalue()


def _figure(width: float, height: float, **kw) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained", **kw)
    FigureCanvasAgg(fig)
    return fig


def _kind_colours(kinds: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k in kinds:
        if k not in out:
            out[k] = KIND_COLOURS[len(out) % len(KIND_COLOURS)]
    return out


def _rows_height(n: int) -> float:
    return max(2.6, 0.26 * n + 1.3)


# --- plot builders --------------------------------------------------------------------------------

def plot_layer_sqnr(layers: Sequence[dict], worst: int = 3, title: str | None = None) -> Figure:
    """Per-layer SQNR (dB) bars, worst ``worst`` layers in red; RMSE beside it when given.

    ``layers``: dicts with ``name``, ``kind``, ``sqnr_db`` (``inf`` = exact) and optionally ``rmse``.
    """
    if not layers:
        raise ValueError("plot_layer_sqnr: no layers")
    n = len(layers)
    labels = [f"{_short(str(r.get('name', i)), 34)} ({r.get('kind', '')})" if r.get("kind") else
              _short(str(r.get("name", i)), 40) for i, r in enumerate(layers)]
    sq = [float(r["sqnr_db"]) if r.get("sqnr_db") is not None else float("nan") for r in layers]
    finite = [v for v in sq if math.isfinite(v)]
    cap = (max(finite) if finite else 60.0) + 5.0  # exact layers (inf) drawn as a capped, hatched bar
    order = sorted((i for i in range(n) if not math.isnan(sq[i])), key=lambda i: sq[i])
    bad = set(order[:worst])
    has_rmse = any(r.get("rmse") is not None for r in layers)
    fig = _figure(11, _rows_height(n))
    axes = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1.3]) if has_rmse else [fig.subplots()]
    ax = axes[0]
    y = list(range(n))
    vals = [cap if math.isinf(v) else (0.0 if math.isnan(v) else v) for v in sq]
    colours = [RED if i in bad else BLUE for i in range(n)]
    bars = ax.barh(y, vals, color=colours, height=0.7)
    for i, (b, v) in enumerate(zip(bars, sq)):
        if math.isinf(v):
            b.set_hatch("//")
            b.set_facecolor(GREEN)
        text = "exact" if math.isinf(v) else ("–" if math.isnan(v) else f"{v:.1f}")
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {text}", va="center", fontsize=8,
                color=RED if i in bad else "#333333", fontweight="bold" if i in bad else "normal")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("SQNR vs float (dB, higher is better)")
    ax.set_xlim(0, cap * 1.12)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=[Patch(color=BLUE, label="layer"), Patch(color=RED, label=f"worst {len(bad)}")]
              + ([Patch(facecolor=GREEN, hatch="//", label="exact")] if any(map(math.isinf, sq)) else []),
              loc="best", fontsize=8)
    ax.set_title(title or "per-layer SQNR", loc="left", fontsize=11)
    if has_rmse:
        rm = [float(r["rmse"]) if r.get("rmse") is not None else 0.0 for r in layers]
        axes[1].barh(y, rm, color=[RED if i in bad else GREY for i in range(n)], height=0.7)
        axes[1].set_xlabel("RMSE vs float")
        axes[1].grid(axis="x", alpha=0.3)
    return fig


def _buffer_name(g, tid: int) -> str:
    if tid < 0:
        return f"scratch op {-tid - 1}"
    return g.tensor(tid).name.split(";")[0]


def plot_memory_plan(g, title: str | None = None) -> Figure:
    """The arena over time: every buffer a box (op index x arena offset), arena size and lower bound.

    ``g`` must be planned (``g.plan`` set, e.g. by :func:`edgeq.api.lower_tflite`). Below the boxes, the
    bytes live at each step, with its peak marked.
    """
    plan = g.plan
    if plan is None:
        raise ValueError("plot_memory_plan: the graph has no memory plan (lower it first)")
    bufs = list(plan.buffers)
    ins = {g.storage(t) for t in g.inputs}
    outs = {g.storage(t) for t in g.outputs}
    n = len(g.ops)
    fig = _figure(11, 6.4)
    ax, live_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3.2, 1])
    scale, unit = (1024.0, "KiB") if plan.size >= 4096 else (1.0, "B")

    def kind_of(tid: int) -> tuple[str, str]:
        if tid < 0:
            return "scratch", ORANGE
        if tid in ins:
            return "model input", GREEN
        if tid in outs:
            return "model output", PURPLE
        return "activation", BLUE

    used: dict[str, str] = {}
    labels: list[tuple[int, float, float, str]] = []
    top = max(plan.size, plan.lower_bound, 1) * 1.08
    px_per_step = 8.3 * DPI / (n + 2.2)  # the axes are ~8.3 in wide next to the legend
    for b in bufs:
        off = plan.offsets.get(b.tensor)
        if off is None or not b.size:
            continue
        kind, colour = kind_of(b.tensor)
        used[kind] = colour
        x0, x1 = b.first - 0.45, b.last + 0.45
        ax.add_patch(Rectangle((x0, off / scale), x1 - x0, b.size / scale, facecolor=colour, alpha=0.55,
                               edgecolor="#222222", linewidth=0.6))
        chars = int((x1 - x0) * px_per_step / 4.6)  # what fits across the box at 7 pt
        if b.size / top > 0.06 and chars >= 6:
            name = _buffer_name(g, b.tensor)
            name = name if len(name) <= chars else "…" + name[-(chars - 1):]
            labels.append((b.size, (x0 + x1) / 2, off + b.size / 2, f"{name}\n{b.size:,} B"))
    # label the biggest boxes first and skip any label that would cover one already placed
    taken: list[tuple[float, float, float, float]] = []
    for _, cx, cy, text in sorted(labels, key=lambda t: -t[0]):
        w = max(len(x) for x in text.split("\n")) * 4.6 + 4
        px, py = (cx + 1.6) * px_per_step, cy / top * 370.0  # the box axes are ~370 px high
        rect = (px - w / 2, py - 11, px + w / 2, py + 11)
        if any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3] for r in taken):
            continue
        taken.append(rect)
        ax.text(cx, cy / scale, text, ha="center", va="center", fontsize=7, clip_on=True)
    ax.axhline(plan.size / scale, color=RED, linewidth=1.4, label=f"arena {plan.size:,} B")
    ax.axhline(plan.lower_bound / scale, color="#333333", linestyle="--", linewidth=1.2,
               label=f"lower bound {plan.lower_bound:,} B")
    ax.set_ylim(0, top / scale)
    ax.set_xlim(-1.6, n + 0.6)
    ax.set_ylabel(f"arena offset ({unit})")
    handles = [Patch(facecolor=c, alpha=0.55, edgecolor="#222222", label=k) for k, c in used.items()]
    h2, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + h2, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    over = 100.0 * (plan.size / plan.lower_bound - 1) if plan.lower_bound else 0.0
    ax.set_title(title or f"memory plan of {g.name}: {len(bufs)} buffers, arena {plan.size:,} B "
                 + ("= the lower bound" if plan.size <= plan.lower_bound else f"({over:.1f}% above the lower bound)"),
                 loc="left", fontsize=11)
    ax.grid(alpha=0.25)

    steps = list(range(-1, n + 1))
    live = _live_bytes(plan, n)
    live_ax.fill_between(steps, [v / scale for v in live], step="mid", color=SKY, alpha=0.6)
    live_ax.step(steps, [v / scale for v in live], where="mid", color=BLUE, linewidth=1)
    pk = max(range(len(steps)), key=lambda i: live[i])
    live_ax.plot([steps[pk]], [live[pk] / scale], marker="v", color=RED, markersize=8)
    live_ax.annotate(f"peak {live[pk]:,} B at op {steps[pk]}", (steps[pk], live[pk] / scale),
                     textcoords="offset points", xytext=(8, -6), fontsize=8, color=RED, va="top")
    ax.axvline(steps[pk], color=RED, linestyle=":", linewidth=1)
    live_ax.axhline(plan.lower_bound / scale, color="#333333", linestyle="--", linewidth=1)
    live_ax.set_ylim(0, max(max(live), plan.lower_bound, 1) / scale * 1.25)
    live_ax.set_ylabel(f"live ({unit})")
    live_ax.set_xlabel("time (op index; -1 = model inputs, last = model outputs read)")
    live_ax.grid(alpha=0.25)
    if n <= 40:
        live_ax.set_xticks(steps)
        live_ax.tick_params(axis="x", labelsize=7)
    return fig


def _live_bytes(plan, n_ops: int) -> list[int]:
    """Arena bytes in use at each step -1..n_ops (aligned, as the lower bound counts them; bytes shared
    by in-place or overlapping buffers counted once)."""
    align = getattr(plan, "alignment", 16) or 16
    live = []
    for s in range(-1, n_ops + 1):
        spans: set[tuple[int, int]] = set()
        for b in plan.buffers:
            if b.first <= s <= b.last and b.size:
                off = plan.offsets.get(b.tensor, 0)
                spans.add((off, off + (b.size + align - 1) // align * align))
        live.append(_union_len(spans))
    return live


def _union_len(spans: set[tuple[int, int]]) -> int:
    total, end = 0, None
    for lo, hi in sorted(spans):
        if end is None or lo >= end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def plot_latency(rows: Sequence[dict], unit: str, title: str | None = None) -> Figure:
    """Per-layer device latency bars (``unit``: instructions or cycles) and MACs per ``unit`` beside.

    ``rows``: the ``profile`` list of the convert-and-flash report: ``op``, ``kind``, ``<unit>``, ``macs``
    (and ``location``).
    """
    if not rows:
        raise ValueError("plot_latency: no profile rows")
    n = len(rows)
    kinds = _kind_colours(r["kind"] for r in rows)
    labels = [f"#{r['op']} {r['kind']}" for r in rows]
    vals = [float(r[unit]) for r in rows]
    total = sum(vals) or 1.0
    eff = [(r["macs"] / v) if r.get("macs") and v else 0.0 for r, v in zip(rows, vals)]
    fig = _figure(11, _rows_height(n))
    ax, ax2 = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1.3])
    y = list(range(n))
    cols = [kinds[r["kind"]] for r in rows]
    bars = ax.barh(y, vals, color=cols, height=0.7)
    for b, v in zip(bars, vals):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {fmt(v)} ({100 * v / total:.1f}%)",
                va="center", fontsize=7.5)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(vals) * 1.3 if max(vals) > 0 else 1)
    ax.set_xlabel(f"{unit} per inference")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=[Patch(color=c, label=k) for k, c in kinds.items()], loc="best", fontsize=8)
    ax.set_title(title or f"per-layer latency on the device: {fmt(total)} {unit} in all", loc="left", fontsize=11)
    short = unit.split()[0].rstrip("s")
    ax2.barh(y, eff, color=cols, height=0.7, alpha=0.75)
    for yi, e in zip(y, eff):
        ax2.text(e, yi, f" {e:.2f}" if e else " –", va="center", fontsize=7.5)
    ax2.set_xlim(0, max(eff + [0.1]) * 1.35)
    ax2.set_xlabel(f"MACs per {short}")
    ax2.grid(axis="x", alpha=0.3)
    return fig


def plot_calibrations(rows: Sequence[dict], title: str | None = None) -> Figure:
    """Accuracy (%) and/or SQNR (dB) per calibration method; the best of each highlighted.

    ``rows``: dicts with ``method`` and optionally ``accuracy`` (0..1) and ``sqnr_db``.
    """
    if not rows:
        raise ValueError("plot_calibrations: no rows")
    metrics = [(k, lab) for k, lab in (("accuracy", "accuracy (%)"), ("sqnr_db", "output SQNR vs float (dB)"))
               if any(r.get(k) is not None for r in rows)]
    if not metrics:
        raise ValueError("plot_calibrations: rows have neither accuracy nor sqnr_db")
    names = [str(r["method"]) for r in rows]
    fig = _figure(11, max(2.8, 0.45 * len(rows) + 1.4))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    y = list(range(len(rows)))
    for ax, (key, label) in zip(axes, metrics):
        raw = [r.get(key) for r in rows]
        vals = [float("nan") if v is None else (100.0 * v if key == "accuracy" else float(v)) for v in raw]
        fin = [v for v in vals if math.isfinite(v)]
        best = max(fin) if fin else None
        cap = (max(fin) if fin else 1.0)
        shown = [cap if math.isinf(v) else (0.0 if math.isnan(v) else v) for v in vals]
        cols = [GREEN if (best is not None and v == best) else BLUE for v in vals]
        bars = ax.barh(y, shown, color=cols, height=0.6)
        for b, v in zip(bars, vals):
            t = "–" if math.isnan(v) else ("exact" if math.isinf(v) else
                                          (f"{v:.2f}%" if key == "accuracy" else f"{v:.2f} dB"))
            ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {t}", va="center", fontsize=8.5)
        lo = min(fin) if fin else 0.0
        # zoom in on the differences, which are often a fraction of the range
        left = max(0.0, lo - (cap - lo) * 1.5 - (2.0 if key == "accuracy" else 1.0)) if fin else 0.0
        ax.set_xlim(left, cap + (cap - left) * 0.25 + 1e-9)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=9)
    axes[0].invert_yaxis()
    axes[0].set_title(title or "calibration methods compared (best in green)", loc="left", fontsize=11)
    return fig


# --- the reports of edgeq's commands --------------------------------------------------------------

def memory_plan_rows(g, top: int = 12) -> tuple[list[str], list[list]]:
    """The biggest buffers of ``g``'s plan as table rows (what ``edgeq generate`` prints)."""
    plan = g.plan
    bufs = sorted(plan.buffers, key=lambda b: -b.size)
    rows = [[_buffer_name(g, b.tensor), b.size,
             plan.offsets.get(b.tensor, 0), f"{b.first}..{b.last}"] for b in bufs[:top]]
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


def validate_report(rep, path: str | Path, graph=None, model: bytes | None = None) -> Path:
    """HTML version of ``edgeq validate``'s tables (``rep``: a ValidationReport), plus the memory plan.

    The memory plan is ``graph``'s, or that of the int8 ``model`` lowered as ``edgeq generate`` would.
    """
    if graph is None and model is not None:
        from edgeq.api import lower_tflite

        graph = lower_tflite(model, "litert", rep.model)
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
        keys = [k for k in ("float", "int8", "top1_agreement") if k in rep.accuracy]
        r.add_table(f"accuracy on {rep.samples} samples", [k.replace("_", " ") for k in keys],
                    [[f"{100 * rep.accuracy[k]:.2f}%" for k in keys]])
    if rep.fidelity:
        r.add_table("int8 (LiteRT) vs float model", ["output", "SQNR dB", "cosine", "max abs err"],
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


def flow_report(rep: dict, path: str | Path, graph=None) -> Path:
    """HTML version of the convert-and-flash JSON report (plus the memory plan of ``graph``)."""
    m, b, mem, lat, val = rep["model"], rep["board"], rep["memory"], rep["latency"], rep["validation"]
    r = Report(f"{Path(m['path']).name} on {b['name']}",
               subtitle=f"{b['cpu']}, {b['clock_hz'] / 1e6:g} MHz{', emulated in QEMU' if b['emulated'] else ''}")
    unit = lat["unit"]
    short = unit.split()[0].rstrip("s")
    summary: list[tuple[str, Any]] = [
        ("MACs / inference", m["macs"]),
        (f"latency, median of {lat['runs']} ({unit})", lat["median"]),
        ("  min / max", f"{fmt(lat['min'])} / {fmt(lat['max'])}"),
    ]
    if lat.get("macs_per_unit"):
        summary.append((f"  MACs per {short}", round(lat["macs_per_unit"], 3)))
    summary += [(f"  ms at {b['clock_hz'] / 1e6:g} MHz", round(lat["ms_at_clock"], 2)),
                ("bit-exact vs LiteRT on the device", bool(val["bit_exact"])),
                ("  samples checked / bytes differing", f"{val['samples']} / {val['mismatched_bytes']}")]
    if val.get("float32"):  # float32 outputs are held to a tolerance, not to bytes
        f32 = val["float32"]
        summary += [("  float32 outputs within tolerance", bool(f32.get("within_tolerance"))),
                    ("  float32 max |diff| (relative)",
                     f"{f32.get('max_abs_diff', 0):.3g} ({f32.get('max_rel_diff', 0):.3g})")]
    acc = rep.get("accuracy")
    if acc:
        summary.append((f"accuracy on {acc['samples']} samples",
                        " / ".join(f"{k.replace('_', ' ')} {100 * v:.1f}%" for k, v in acc.items()
                                   if k != "samples" and v is not None)))
    summary += [("calibration", m.get("calibration")), ("int8 model", m.get("int8_tflite")),
                ("model sha256", m.get("sha256"))]
    r.add_kv("summary", summary, note=m.get("calibration_warning"))
    r.add_table("memory", ["what", "bytes", "of limit"], [
        ["flash (whole image)", mem["flash_bytes"], mem["flash_limit"]],
        ["  weights and constants", mem["weights_bytes"], None],
        ["  inference code", mem["code_bytes"], None],
        ["  bench harness", mem["harness_bytes"], None],
        ["RAM (whole image)", mem["ram_bytes"], mem["ram_limit"]],
        ["  tensor arena", mem["arena_bytes"], None],
        ["  stack used (high-water)", mem.get("stack_bytes"), None],
    ])
    prof = rep.get("profile") or []
    if prof:
        r.add_plot("per-layer latency", plot_latency(prof, unit),
                   caption=f"{unit} per op on {b['name']}, from the bench firmware's per-op counters; right: "
                           f"MACs per {short} (higher is better).")
        total = sum(p[unit] for p in prof) or 1
        r.add_table("per-layer profile", ["op", "kind", unit, "share", "MACs", f"MACs/{short}", "location"],
                    [[p["op"], p["kind"], p[unit], f"{100 * p[unit] / total:.1f}%", p.get("macs"),
                      round(p["macs"] / p[unit], 3) if p.get("macs") and p[unit] else None,
                      _short(p.get("location", ""), 60)] for p in prof])
    if val.get("first_bad_op"):
        bad = val["first_bad_op"]
        r.add_kv("first op that differs on the device", bad)
    if acc:
        r.add_table("accuracy", [k.replace("_", " ") for k in acc],
                    [[f"{100 * v:.2f}%" if isinstance(v, float) else v for v in acc.values()]])
    cal = rep.get("calibrations")
    if cal:
        r.add_plot("calibration methods", plot_calibrations(cal))
    if graph is not None and getattr(graph, "plan", None) is not None:
        add_memory_plan(r, graph)
    return r.write(path)
