"""Formatting shared by every report (terminal, HTML, plots): one name shortener, one way to print dB,
percentages and byte counts."""

from __future__ import annotations

import math
from typing import Any


def short_name(name: str, n: int = 40) -> str:
    """A readable layer name from a TFLite tensor name, at most ``n`` characters.

    TFLite names list every TF op fused into the tensor's op, joined by ';', each ``model/layer/op``;
    the conv / dense layer among them (else the last one) names it best. Names without that structure
    keep their first ';'-part; anything longer than ``n`` keeps its end behind an ellipsis.
    """
    layers = [p.split("/")[1] for p in name.split(";") if p.count("/") >= 2]
    weighted = [x for x in layers if "conv" in x or "dense" in x]
    name = (weighted or layers)[-1] if layers else name.split(";")[0]
    return name if len(name) <= n else "…" + name[-(n - 1):]


def db(v: float | None, signed: bool = False) -> str:
    """SQNR-style decibels: '-' for none, 'exact' for infinity (no error at all), two decimals
    (``signed``: a '+' on positive values, for gains)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if math.isinf(v):
        return "exact" if v > 0 else "-inf"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def pct(v: float | None) -> str:
    """A 0..1 fraction as a percentage with two decimals ('-' for none)."""
    return "-" if v is None else f"{100 * v:.2f}%"


def kb(n: int | None) -> str:
    """Bytes with KiB beside them ('-' for none)."""
    return "-" if n is None else f"{n:,} B ({n / 1024:.1f} KiB)"


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


def accuracy_line(acc, scheme: str) -> str:
    """'float 97.0% / int8 in LiteRT 96.5% / int8 on the device 96.5%' (an Accuracy of a flow)."""
    parts = [("float model", acc.float_model), (f"{scheme} in LiteRT", acc.host), (f"{scheme} on the device", acc.device)]
    return " / ".join(f"{k} {100 * v:.1f}%" for k, v in parts if v is not None)
