"""Plots for the reports: matplotlib figures built with ``matplotlib.figure.Figure`` (Agg canvas), never
pyplot, so they touch no global backend state and leave no figures behind. Presentation only: every
number comes from a typed result or the planned IR."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from typing import TYPE_CHECKING

from edgeq.report.format import fmt, short_name

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn: `edgeq --help` must not pay for it
    from matplotlib.figure import Figure

# One palette for every plot: colour-blind friendly (Okabe-Ito), readable on white.
BLUE, ORANGE, GREEN, RED, PURPLE, GREY, SKY, YELLOW = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#8C8C8C", "#56B4E9", "#F0E442")
KIND_COLOURS = [BLUE, ORANGE, GREEN, PURPLE, SKY, YELLOW, "#999933", "#882255", "#44AA99", "#AA4499"]
DPI = 100


def _figure(width: float, height: float, **kw) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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


def plot_layer_sqnr(layers: Sequence[dict], worst: int = 3, title: str | None = None) -> Figure:
    """Per-layer SQNR (dB) bars, worst ``worst`` layers in red; RMSE beside it when given.

    ``layers``: dicts with ``name``, ``kind``, ``sqnr_db`` (``inf`` = exact) and optionally ``rmse``.
    """
    from matplotlib.patches import Patch

    if not layers:
        raise ValueError("plot_layer_sqnr: no layers")
    n = len(layers)
    labels = [f"{short_name(str(r.get('name', i)), 34)} ({r.get('kind', '')})" if r.get("kind") else
              short_name(str(r.get("name", i)), 40) for i, r in enumerate(layers)]
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


def buffer_name(g, b) -> str:
    """A memory-plan :class:`~edgeq.ir.Buffer`'s label: its tensor's name, or the op its scratch is for."""
    if b.kind == "scratch":
        return f"scratch op {b.id}"
    return g.tensor(b.id).name.split(";")[0]


def plot_memory_plan(g, title: str | None = None) -> Figure:
    """The arena over time: every buffer a box (op index x arena offset), arena size and lower bound.

    ``g`` must be planned (``g.plan`` set, e.g. by :func:`edgeq.api.lower_tflite`). Below the boxes, the
    bytes live at each step (``plan.live``, the liveness model's count), with its peak, the lower bound,
    marked.
    """
    from matplotlib.patches import Patch, Rectangle

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

    def kind_of(b) -> tuple[str, str]:
        if b.kind == "scratch":
            return "scratch", ORANGE
        if b.id in ins:
            return "model input", GREEN
        if b.id in outs:
            return "model output", PURPLE
        return "activation", BLUE

    used: dict[str, str] = {}
    labels: list[tuple[int, float, float, str]] = []
    top = max(plan.size, plan.lower_bound, 1) * 1.08
    px_per_step = 8.3 * DPI / (n + 2.2)  # the axes are ~8.3 in wide next to the legend
    for b in bufs:
        if not b.size:
            continue
        off = plan.offset(b)
        kind, colour = kind_of(b)
        used[kind] = colour
        x0, x1 = b.first - 0.45, b.last + 0.45
        ax.add_patch(Rectangle((x0, off / scale), x1 - x0, b.size / scale, facecolor=colour, alpha=0.55,
                               edgecolor="#222222", linewidth=0.6))
        chars = int((x1 - x0) * px_per_step / 4.6)  # what fits across the box at 7 pt
        if b.size / top > 0.06 and chars >= 6:
            name = buffer_name(g, b)
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
    live = plan.live
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


def plot_latency(rows: Sequence, unit: str, title: str | None = None) -> Figure:
    """Per-layer device latency bars (``unit``: instructions or cycles) and MACs per ``unit`` beside.

    ``rows``: the profile of a convert-and-flash result (ProfileRow: ``op``, ``kind``, ``count`` in
    ``unit``, ``macs``).
    """
    from matplotlib.patches import Patch

    if not rows:
        raise ValueError("plot_latency: no profile rows")
    n = len(rows)
    kinds = _kind_colours(r.kind for r in rows)
    labels = [f"#{r.op} {r.kind}" for r in rows]
    vals = [float(r.count) for r in rows]
    total = sum(vals) or 1.0
    eff = [(r.macs / v) if r.macs and v else 0.0 for r, v in zip(rows, vals)]
    fig = _figure(11, _rows_height(n))
    ax, ax2 = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1.3])
    y = list(range(n))
    cols = [kinds[r.kind] for r in rows]
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


def plot_gain(layers: list[dict], kept: str = "float32"):
    """Bars of the single-layer-float gain (dB) per op, in model order."""
    n = len(layers)
    fig = _figure(11, _rows_height(n))
    ax = fig.subplots()
    vals = [x["gain_db"] if x.get("gain_db") is not None and math.isfinite(x["gain_db"]) else 0.0 for x in layers]
    worst = set(sorted(range(n), key=lambda i: -vals[i])[:3])
    colours = [GREY if x.get("keepable") is False else RED if i in worst else BLUE for i, x in enumerate(layers)]
    ax.barh(range(n), vals, color=colours, height=0.7)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_yticks(range(n), [f"#{x['op']} {short_name(x['name'], 30)} ({x['kind']})" for x in layers], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"output SQNR gain with only this op in {kept} (dB); grey: the quantizer cannot keep it so")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_scheme_tradeoffs(rows: Sequence[dict], size_label: str, latency_label: str | None,
                          accuracy_label: str = "accuracy (%)") -> Figure:
    """Accuracy vs size and, when measured, accuracy vs latency, one point per scheme; the Pareto front of
    each (the flow's ``pareto_size`` / ``pareto_latency`` flags) drawn as a red staircase through red stars.

    ``rows``: dicts with ``scheme``, ``accuracy`` (0..1), ``size``, ``latency`` and the two flags; rows
    missing a coordinate are left out of that panel (they are in the table, with their reason).
    """
    from matplotlib.lines import Line2D

    panels = [("size", "pareto_size", size_label)]
    if latency_label is not None and any(r.get("latency") is not None for r in rows):
        panels.append(("latency", "pareto_latency", latency_label))
    fig = _figure(11 if len(panels) == 2 else 6.5, 4.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    drawn = False
    for ax, (key, flag, label) in zip(axes, panels):
        pts = [r for r in rows if r.get(key) is not None and r.get("accuracy") is not None]
        span = max((r[key] for r in pts), default=1) or 1
        placed: list[tuple[float, float]] = []
        for r in pts:
            on = bool(r.get(flag))
            x, y = r[key], 100.0 * r["accuracy"]
            ax.plot([x], [y], marker="*" if on else "o", markersize=13 if on else 8,
                    color=RED if on else BLUE, linestyle="none", zorder=4 if on else 3)  # the front on top
            # schemes at (nearly) the same point get their names stacked, not printed over each other
            k = sum(1 for px, py in placed if abs(px - x) < 0.08 * span and abs(py - y) < 0.05)
            placed.append((x, y))
            ax.annotate(r["scheme"], (x, y), textcoords="offset points", xytext=(7, 5 + 12 * k), fontsize=8.5)
            drawn = True
        front = sorted((r for r in pts if r.get(flag)), key=lambda r: (r[key], -r["accuracy"]))
        if len(front) > 1:  # the staircase: each step the cheapest point of that accuracy
            xs, ys = [], []
            for r in front:
                if xs:
                    xs.append(r[key])
                    ys.append(ys[-1])
                xs.append(r[key])
                ys.append(100.0 * r["accuracy"])
            ax.plot(xs, ys, color=RED, linewidth=1.2, alpha=0.8, zorder=2)
        if pts:
            acc = [100.0 * r["accuracy"] for r in pts]
            pad = max(0.5, (max(acc) - min(acc)) * 0.25)
            ax.set_ylim(min(acc) - pad, min(100.0, max(acc)) + pad)
            hi = max(r[key] for r in pts)
            ax.set_xlim(0, hi * 1.25 if hi > 0 else 1)
        ax.set_xlabel(label)
        ax.set_ylabel(accuracy_label)
        ax.grid(alpha=0.3)
        ax.set_title(f"{accuracy_label.split(' (')[0]} vs {label.split(' (')[0]}"
                     + (" size" if key == "size" else ""), loc="left", fontsize=11)
    if not drawn:
        raise ValueError("plot_scheme_tradeoffs: no scheme has both an accuracy and a size")
    axes[-1].legend(handles=[Line2D([], [], marker="*", color=RED, linestyle="-", markersize=11,
                                    label="Pareto front (nothing better for less)"),
                             Line2D([], [], marker="o", color=BLUE, linestyle="none", label="dominated")],
                    loc="lower right", fontsize=8)
    return fig
