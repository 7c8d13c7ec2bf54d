"""`edgeq compare-schemes`: every quantization scheme on the user's model and board (see
edgeq.flows.compare_schemes)."""

from __future__ import annotations

from edgeq.errors import EdgeqError
from edgeq.flows.compare_schemes import compare_schemes
from edgeq.report import terminal as report
from edgeq.report.html import scheme_report
from edgeq.report.json import document, write_json


def cmd_compare_schemes(a) -> int:
    if a.calib is None:
        raise EdgeqError("compare-schemes needs calibration data to quantize the model",
                         hint="--calib DATA (.npy/.npz/.bin), with --data DATA.npz holding labels y for accuracy; "
                              "or --calib random for a quick, unrepresentative try")
    schemes = [s.strip() for s in a.schemes.split(",") if s.strip()] if a.schemes else None
    with report.scheme_bars() as bars:
        c = compare_schemes(a.model, a.calib, data=a.data, board=a.board, qat_data=a.qat_data, schemes=schemes,
                            max_drop=None if a.no_partial else a.max_drop, qat_epochs=a.qat_epochs,
                            samples=a.samples, device_samples=a.device_samples, runs=a.runs, jobs=a.jobs,
                            allow_soft_float=a.allow_soft_float, out_dir=a.out, random_range=a.random_range,
                            random_count=a.random_count, verbose=a.verbose, progress=bars)
    report.scheme_table(c)
    if a.json:
        write_json(a.json, document("compare-schemes", c.to_json()))
        report.console.print(f"wrote {a.json}")
    if a.html:
        report.console.print(f"wrote {scheme_report(c, a.html)}")
    return 0
