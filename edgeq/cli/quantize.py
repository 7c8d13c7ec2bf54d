"""`edgeq quantize` (with --compare-calibrations, --keep-float / --max-drop) and `edgeq analyze`."""

from __future__ import annotations

from pathlib import Path

from edgeq.errors import EdgeqError
from edgeq.files import write_atomic
from edgeq.flows.quantize import quantize_model, summarize
from edgeq.frontend.calibrate import parse_method
from edgeq.frontend.int4 import INT4_KINDS
from edgeq.frontend.state import parse_state_specs
from edgeq.quality.calibrations import compare_calibrations
from edgeq.quality.sensitivity import analyze, quantize_partial
from edgeq.report import terminal as report
from edgeq.report.format import short_name
from edgeq.report.html import analysis_report, calibration_report
from edgeq.report.json import document, write_json


INT8X4_KEPT = ("int8x4: a layer \"kept in int8 weights\" is a conv / depthwise / dense layer given its int8 "
               "weights back (int8 activations throughout); the all-int8 model is the int8x4 model")


def cmd_quantize(a) -> int:
    parse_method(a.calibration)  # a misspelt method is refused before anything is loaded
    if a.granularity is not None:
        if a.per_tensor and a.granularity != "per-tensor":
            raise EdgeqError("--per-tensor contradicts --granularity per-channel")
        a.per_tensor = a.granularity == "per-tensor"
    if a.clusters_per_channel and a.clusters is None:
        raise EdgeqError("--clusters-per-channel needs --clusters K", hint="e.g. --clusters 16 --clusters-per-channel")
    if a.clusters is not None and (a.compare_calibrations or a.keep_float is not None or a.max_drop is not None):
        raise EdgeqError("--clusters is not taken with --compare-calibrations, --keep-float or --max-drop",
                         hint="quantize with --clusters K alone, then check it with edgeq validate")
    if a.compare_calibrations:
        return _quantize_compare(a)
    if a.keep_float is not None or a.max_drop is not None:
        return _quantize_partial(a)
    with report.progress_bars() as bars:
        r = quantize_model(a.model, a.calib, random_range=a.random_range, random_count=a.random_count,
                           per_channel=not a.per_tensor, progress=bars, scheme=a.scheme,
                           calibration=a.calibration, state=parse_state_specs(a.state),
                           clusters=a.clusters, clusters_per_channel=a.clusters_per_channel)
    write_atomic(a.output, r.tflite)
    report.quantize_table(r)
    report.console.print(f"wrote {a.output}")
    if a.json:
        write_json(a.json, document("quantize", r.to_json()))
    return 0


def _quantize_compare(a) -> int:
    if a.keep_float is not None or a.max_drop is not None or a.scheme != "int8":
        raise EdgeqError("--compare-calibrations compares int8 models; not with --keep-float, --max-drop or --scheme")
    if a.calib is None:
        raise EdgeqError("--compare-calibrations needs calibration data", hint="--calib DATA")
    method = parse_method(a.calibration)
    with report.progress_bars() as bars:
        c = compare_calibrations(a.model, a.calib, data=a.data, samples=a.samples, metric=a.metric,
                                 per_channel=not a.per_tensor, random_range=a.random_range,
                                 random_count=a.random_count, progress=bars,
                                 percentile=method.percentile if method.kind == "percentile" else None)
    write_atomic(a.output, c.tflite)
    report.comparison_table(c)
    report.console.print(f"best by {c.metric}: {c.best}; wrote {a.output}")
    report.unsupported_list(summarize(c.tflite, Path(a.model).stem)[2])
    if a.json:
        write_json(a.json, document("compare-calibrations", c.to_json()))
    if a.html:
        report.console.print(f"wrote {calibration_report(c, a.html)}")
    return 0


def _quantize_partial(a) -> int:
    if a.keep_float is not None and a.max_drop is not None:
        raise EdgeqError("give --keep-float N or --max-drop PCT, not both")
    if a.scheme not in ("int8", "int8x4"):
        raise EdgeqError(f"--keep-float / --max-drop leave ops of an int8 model in float32 (or give layers of an "
                         f"int8x4 model int8 weights back); not with --scheme {a.scheme}")
    if a.calib is None:
        raise EdgeqError("partial quantization needs calibration data", hint="--calib DATA, or --calib random")
    with report.progress_bars() as bars:
        p = quantize_partial(a.model, a.calib, keep_float=a.keep_float, max_drop=a.max_drop, data=a.data,
                             samples=a.samples, random_range=a.random_range, random_count=a.random_count,
                             per_channel=not a.per_tensor, calibration=a.calibration, progress=bars,
                             scheme=a.scheme)
    write_atomic(a.output, p.tflite)
    report.partial_table(p)
    if p.scheme == "int8x4":
        report.console.print(INT8X4_KEPT)
        kept = f": {', '.join(map(short_name, p.kept_float))}" if p.kept_float else ""
        report.console.print(f"wrote {a.output}: {len(p.kept_float)} layer(s) with int8 weights, the rest int4 "
                             f"({len(p.tflite):,} B){kept}")
    else:
        report.console.print(f"wrote {a.output}: {len(p.kept_float)} op(s) in float32, the rest int8 "
                             f"({len(p.tflite):,} B)")
    report.unsupported_list(summarize(p.tflite, Path(a.model).stem)[2])
    if a.json:
        write_json(a.json, document("partial-quantization", p.to_json()))
    if a.html:
        report.console.print(f"wrote {analysis_report(p.analysis, a.html, partial=p)}")
    return 0


def cmd_analyze(a) -> int:
    parse_method(a.calibration)
    with report.progress_bars() as bars:
        res = analyze(a.model, a.calib, data=a.data, samples=a.samples, random_range=a.random_range,
                      random_count=a.random_count, per_channel=not a.per_tensor, calibration=a.calibration,
                      single_float=not a.no_single_float, progress=bars, scheme=a.scheme)
    report.analysis_tables(res, top=a.top)
    if res.scheme == "int8x4":
        report.console.print(INT8X4_KEPT)
        report.console.print("SQNR of each weighted layer's output with every weight int8 (the same ranges) -> in "
                             "the int8x4 model, in model order (accumulated, as above):")
        for r in res.layers:
            if r["kind"] in INT4_KINDS and r.get("int4_cost_db") is not None:
                report.console.print(f"  op {r['op']:>3} {r['kind']:<18} {r['int8_sqnr_db']:6.2f} -> "
                                     f"{r['sqnr_db']:6.2f} dB  (4-bit cost {r['int4_cost_db']:5.2f} dB)  "
                                     f"{short_name(r['name'])}")
    if a.json:
        write_json(a.json, document("analyze", res.to_json()))
    if a.html:
        report.console.print(f"wrote {analysis_report(res, a.html)}")
    return 0
