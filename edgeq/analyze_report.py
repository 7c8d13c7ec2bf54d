"""Presentation of the sensitivity analysis and of partial quantization: terminal tables and the HTML
report. No pipeline logic here (the numbers come from :mod:`edgeq.analyze`)."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from edgeq.analyze import METRICS, Analysis, PartialResult
from edgeq.report import console, err_console


def short(name: str, n: int = 40) -> str:
    """A readable layer name from a TFLite tensor name, at most ``n`` characters.

    TFLite names list every TF op fused into the tensor's op, joined by ';', each ``model/layer/op``;
    the conv / dense layer among them (else the last one) names it best.
    """
    layers = [p.split("/")[1] for p in name.split(";") if p.count("/") >= 2]
    weighted = [x for x in layers if "conv" in x or "dense" in x]
    name = (weighted or layers)[-1] if layers else name.split(";")[0]
    return name if len(name) <= n else "..." + name[-(n - 3):]


def _db(v) -> str:
    if v is None:
        return "-"
    return "exact" if math.isinf(v) else f"{v:+.2f}" if v < 0 else f"{v:.2f}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _quality(out: dict, metric: str) -> str:
    parts = [f"output SQNR {_db(out['sqnr_db'])} dB"]
    if metric == "accuracy":
        parts.append(f"accuracy {_pct(out['accuracy'])} (float {_pct(out['float_accuracy'])})")
    if out.get("agreement") is not None:
        parts.append(f"top-1 agreement with float {_pct(out['agreement'])}")
    if metric == "nsr":
        parts.append(f"output NSR {_pct(out['drop'])}")
    return ", ".join(parts)


def ranking_rows(a: Analysis, top: int | None = None) -> tuple[list[str], list[list]]:
    """The ranking as table columns and rows (worst first): shared by the terminal and the HTML report."""
    cols = ["rank", "op", "kind", "tensor", "SQNR dB", "RMSE", "RMSE (LSB)", "added dB"]
    if a.single_float:
        cols += ["only this float: SQNR dB", "gain dB"]
    rows = []
    for k, r in enumerate(a.ranking[:top] if top else a.ranking, start=1):
        row = [k, r["op"], r["kind"], short(r["name"]), _db(r["sqnr_db"]), f"{r['rmse']:.4g}",
               "-" if r["rmse_lsb"] is None else f"{r['rmse_lsb']:.2f}", _db(r["added_db"])]
        if a.single_float:
            row += ["(cannot be float)", "-"] if r["keepable"] is False else [_db(r["float_sqnr_db"]),
                                                                                _db(r["gain_db"])]
        rows.append(row)
    return cols, rows


def _add_column(t: Table, name: str, left: tuple[str, ...]) -> None:
    """Op kinds are never squeezed (a narrow terminal shortens tensor names instead)."""
    if name == "kind":
        t.add_column(name, justify="left", no_wrap=True, min_width=len("DEPTHWISE_CONV_2D"))
    elif name in ("tensor", "op tried in float32"):
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
    console.print(f"all-int8 model: {_quality(a.output, a.metric)}; data: {a.data}")
    console.print("SQNR/RMSE: the op's int8 output vs the float model's tensor (accumulated error); added dB: "
                  "SQNR lost at this op vs its worst input"
                  + ("; gain: output SQNR with only this op in float32 minus the all-int8 model's" if a.single_float
                     else ""))
    if a.calibration_warning:
        err_console.print(f"[bold yellow]warning:[/] {a.calibration_warning}")


def step_rows(p: PartialResult) -> tuple[list[str], list[list]]:
    cols = ["step", "op tried in float32", "kind", "gain dB", "output SQNR dB"]
    if p.metric == "accuracy":
        cols += ["accuracy", "drop"]
    elif p.metric == "agreement":
        cols += ["top-1 agreement", "drop"]
    else:
        cols += ["output NSR"]
    cols += ["TFLite bytes", "kept"]
    rows = []
    for k, s in enumerate(p.steps):
        row = [k, "(all int8)" if s["added"] is None else f"#{s['op']} {short(s['added'], 40)}",
               s["kind"] or "", _db(s["gain_db"]), _db(s["sqnr_db"])]
        if p.metric == "accuracy":
            row += [_pct(s["accuracy"]), _pct(s["drop"])]
        elif p.metric == "agreement":
            row += [_pct(s["agreement"]), _pct(s["drop"])]
        else:
            row += [_pct(s["drop"])]
        rows.append(row + [f"{s['bytes']:,}", "yes" if s["kept"] else "no"])
    return cols, rows


def partial_table(p: PartialResult) -> None:
    cols, rows = step_rows(p)
    budget = "" if p.max_drop is None else f", budget: drop <= {100 * p.max_drop:g}%"
    t = Table(title=f"partial quantization: ops kept in float32, costliest first ({p.metric}{budget})")
    for c in cols:
        _add_column(t, c, left=("op tried in float32", "kind"))
    for row in rows:
        t.add_row(*[str(v) for v in row])
    console.print(t)
    console.print(f"metric: {METRICS[p.metric]}")
    if p.analysis.output.get("float_accuracy") is not None:
        console.print(f"float model accuracy: {_pct(p.analysis.output['float_accuracy'])} on {p.analysis.data}")
    if not p.reached:
        err_console.print(f"[bold yellow]warning:[/] the drop is still above {100 * p.max_drop:g}% after trying "
                          f"every op that can be float32 ({len(p.kept_float)} kept: the best model found, written)")
    else:
        console.print("kept: an op tried in float32 stays float only if the drop falls (or, at an equal drop, the "
                      "output SQNR rises)" if p.max_drop is not None else "")


def write_html(a: Analysis, path: str | Path, partial: PartialResult | None = None) -> Path:
    """The analysis (and the partial-quantization steps) as a self-contained HTML report with plots."""
    from edgeq.htmlreport import Report, plot_layer_sqnr

    r = Report(f"quantization sensitivity: {Path(a.model).name}",
               subtitle=f"calibration {a.calibration}; evaluated on {a.data}")
    kv = {"output SQNR (dB)": a.output["sqnr_db"], "output RMSE": a.output["rmse"],
          "float accuracy": _pct(a.output.get("float_accuracy")), "int8 accuracy": _pct(a.output.get("accuracy")),
          "top-1 agreement with float": _pct(a.output.get("agreement")),
          "metric": f"{a.metric}: {METRICS[a.metric]}"}
    r.add_kv("all-int8 model", {k: v for k, v in kv.items() if v not in (None, "-")})
    if a.calibration_warning:
        r.add_text(f"warning: {a.calibration_warning}")
    layers = [x for x in a.layers if x["quantized"]]
    r.add_plot("per-layer SQNR (accumulated error at each op's output, model order)",
               plot_layer_sqnr([dict(x, name=short(x["name"], 34)) for x in layers]),
               caption="int8 output of each op (dequantized) vs the float model's tensor on the same inputs; "
                       "the worst three in red")
    if a.single_float:
        r.add_plot("single-layer float sensitivity", plot_gain(layers),
                   caption="output SQNR gain when only this op is kept in float32 (all others int8): "
                           "what quantizing the op costs at the output")
    cols, rows = ranking_rows(a)
    r.add_table("ranking, costliest first", cols, rows)
    if partial is not None:
        cols, rows = step_rows(partial)
        r.add_table("partial quantization steps", cols, rows, note=f"metric: {METRICS[partial.metric]}")
    return r.write(path)


def plot_gain(layers: list[dict]):
    """Bars of the single-layer-float gain (dB) per op, in model order."""
    from edgeq.htmlreport import BLUE, GREY, RED, _figure, _rows_height

    n = len(layers)
    fig = _figure(11, _rows_height(n))
    ax = fig.subplots()
    vals = [x["gain_db"] if x.get("gain_db") is not None and math.isfinite(x["gain_db"]) else 0.0 for x in layers]
    worst = set(sorted(range(n), key=lambda i: -vals[i])[:3])
    colours = [GREY if x.get("keepable") is False else RED if i in worst else BLUE for i, x in enumerate(layers)]
    ax.barh(range(n), vals, color=colours, height=0.7)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_yticks(range(n), [f"#{x['op']} {short(x['name'], 30)} ({x['kind']})" for x in layers], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("output SQNR gain with only this op in float32 (dB); grey: the quantizer cannot keep it float")
    ax.grid(axis="x", alpha=0.3)
    return fig
