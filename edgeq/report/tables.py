"""Every result as table columns and rows of text: shared by the terminal (rich) and the HTML report, so
both show the same numbers the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeq.report.format import db, fmt, pct, short_name

if TYPE_CHECKING:  # types only: report renders results, it never runs a flow
    from edgeq.flows.compare_schemes import SchemeComparison
    from edgeq.quality.calibrations import CalibrationComparison
    from edgeq.quality.sensitivity import Analysis, PartialResult


def quality_line(out: dict, metric: str) -> str:
    parts = [f"output SQNR {db(out['sqnr_db'])} dB"]
    if metric == "accuracy":
        parts.append(f"accuracy {pct(out['accuracy'])} (float {pct(out['float_accuracy'])})")
    if out.get("agreement") is not None:
        parts.append(f"top-1 agreement with float {pct(out['agreement'])}")
    if metric == "nsr":
        parts.append(f"output NSR {pct(out['drop'])}")
    return ", ".join(parts)


def ranking_rows(a: Analysis, top: int | None = None) -> tuple[list[str], list[list]]:
    """The ranking as table columns and rows (worst first): shared by the terminal and the HTML report."""
    cols = ["rank", "op", "kind", "tensor", "SQNR dB", "RMSE", "RMSE (LSB)", "added dB"]
    if a.single_float:
        cols += ["only this float: SQNR dB", "gain dB"]
    rows = []
    for k, r in enumerate(a.ranking[:top] if top else a.ranking, start=1):
        row = [k, r["op"], r["kind"], short_name(r["name"]), db(r["sqnr_db"]), f"{r['rmse']:.4g}",
               "-" if r["rmse_lsb"] is None else f"{r['rmse_lsb']:.2f}", db(r["added_db"])]
        if a.single_float:
            row += ["(cannot be float)", "-"] if r["keepable"] is False else [db(r["float_sqnr_db"]),
                                                                                db(r["gain_db"])]
        rows.append(row)
    return cols, rows


def kept_as(scheme: str) -> str:
    """What partial quantization and the single-layer sensitivity give a layer back: float32 (int8 models), int8
    weights (int8x4 models, int8 activations throughout)."""
    return "int8 weights" if scheme == "int8x4" else "float32"


def step_rows(p: PartialResult) -> tuple[list[str], list[list]]:
    cols = ["step", f"op tried in {kept_as(p.scheme)}", "kind", "gain dB", "output SQNR dB"]
    if p.metric == "accuracy":
        cols += ["accuracy", "drop"]
    elif p.metric == "agreement":
        cols += ["top-1 agreement", "drop"]
    else:
        cols += ["output NSR"]
    cols += ["TFLite bytes", "kept"]
    rows = []
    for k, s in enumerate(p.steps):
        row = [k, "(all int8)" if s["added"] is None else f"#{s['op']} {short_name(s['added'], 40)}",
               s["kind"] or "", db(s["gain_db"]), db(s["sqnr_db"])]
        if p.metric == "accuracy":
            row += [pct(s["accuracy"]), pct(s["drop"])]
        elif p.metric == "agreement":
            row += [pct(s["agreement"]), pct(s["drop"])]
        else:
            row += [pct(s["drop"])]
        rows.append(row + [f"{s['bytes']:,}", "yes" if s["kept"] else "no"])
    return cols, rows


COLUMNS = ("method", "accuracy", "top-1 as float", "SQNR (dB)", "cosine", "clipped tensors", "")


def table_rows(c: CalibrationComparison) -> list[list[str]]:
    """The comparison as text cells, in :data:`COLUMNS` order."""
    return [[r["method"], pct(r["accuracy"]), pct(r["top1_agreement"]), db(r["sqnr_db"]), f"{r['cosine']:.6f}",
             str(r["clipped_tensors"]), "best" if r["best"] else ""] for r in c.rows]


def calibration_legend(c: CalibrationComparison) -> str:
    grain = "per-channel" if c.per_channel else "per-tensor"
    text = (f"int8 models ({grain} weights) in LiteRT's reference kernels vs the float model, on {c.samples} "
            f"samples of {c.data}; best by {c.metric}")
    if c.float_accuracy is not None:
        text += f"; float model accuracy {pct(c.float_accuracy)}"
    return text


# --- compare-schemes ------------------------------------------------------------------------------

def scheme_columns(c: SchemeComparison, detail: bool = True) -> list[str]:
    """The columns of the scheme comparison: the board's measurements only when there is a board;
    ``detail`` adds how each model was made and the reason for missing figures (the terminal prints those
    below the table instead, see :func:`scheme_details`)."""
    cols = ["scheme"] + (["how"] if detail else [])
    cols += ["accuracy" if c.metric == "accuracy" else "top-1 as float", "SQNR dB", "model B"]
    if c.board is not None:
        cols += ["flash B", "RAM B", "latency", "energy µJ", "bit-exact"]
    else:
        cols += ["arena B"]
    return cols + ["Pareto"] + (["note"] if detail else [])


def scheme_rows(c: SchemeComparison, detail: bool = True) -> list[list[str]]:
    """The comparison as text cells in :func:`scheme_columns` order."""
    rows = []
    for r in c.rows:
        row = [r.scheme] + ([r.how] if detail else [])
        row += [pct(r.accuracy), db(r.sqnr_db), fmt(r.model_bytes)]
        if c.board is not None:
            exact = "-" if r.bit_exact is None else ("yes" if r.bit_exact else
                                                     "within tol." if r.device_ok else "NO")
            row += [fmt(r.flash_bytes), fmt(r.ram_bytes), fmt(r.latency_median),
                    "-" if r.energy_uj is None else f"{r.energy_uj:,.1f}", exact]
        else:
            row += [fmt(r.arena_bytes)]
        front = [k for k, on in (("size", r.pareto_size), ("latency", r.pareto_latency)) if on]
        rows.append(row + [", ".join(front)] + ([r.reason or ""] if detail else []))
    return rows


def scheme_details(c: SchemeComparison) -> list[str]:
    """One line per scheme: how its model was made, and why figures are missing when they are."""
    return [f"{r.scheme}: {r.how}" + (f" -- {r.reason}" if r.reason else "") for r in c.rows]


def scheme_legend(c: SchemeComparison) -> list[str]:
    """What the table's numbers are, line by line."""
    what = ("top-1 accuracy on the labels" if c.metric == "accuracy"
            else "top-1 agreement with the float model (no labels)")
    lines = [f"accuracy: {what}, {c.samples} samples of {c.data}, each model in LiteRT's reference kernels; "
             "SQNR: all outputs vs the float model" + (f"; float model accuracy {pct(c.float_accuracy)}"
                                                        if c.float_accuracy is not None else "")]
    if c.board is None:
        lines.append("host only (no --board): model bytes and the arena of the memory plan; no flash, latency or "
                     "energy")
    else:
        b = c.board
        lines.append(f"on {b.name} ({b.cpu.core}, {b.clock.hz / 1e6:g} MHz{', emulated' if b.emulated else ''}): "
                     "flash = whole bench image; RAM = arena + state + measured stack; latency = median, in "
                     f"{next((r.latency_unit for r in c.rows if r.latency_unit), b.counter_unit)}; bit-exact = "
                     "every device output byte equal to LiteRT's (float32 outputs: within the stated tolerance)")
        lines.append(f"energy: {c.energy_note}" if c.energy_note else "energy: the board file has no [power] table")
    lines.append("Pareto: on the front of accuracy vs " + ("flash" if c.board is not None else "model bytes")
                 + " (size) or vs latency: no other scheme is as accurate for less")
    return lines
