"""`edgeq convert-and-flash` and the board commands: build, flash, bench, stop."""

from __future__ import annotations

from edgeq.flows import board as board_flows
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.frontend.state import parse_state_specs
from edgeq.report import terminal as report
from edgeq.report.html import flow_report
from edgeq.report.json import document, write_json
from edgeq.targets.boards import load_board


def say(msg: str) -> None:
    report.err_console.print(msg, markup=False)


def cmd_convert_and_flash(a) -> int:
    with report.progress_bars() as bars:
        res = convert_and_flash(a.model, board_name=a.board, calib=a.calib, random_range=a.random_range,
                                data=a.data, port=a.port, runs=a.runs, samples=a.samples, out_dir=a.out,
                                scheme=a.scheme, calibration=a.calibration, progress=bars, say=say,
                                state=parse_state_specs(a.state), allow_soft_float=a.allow_soft_float)
    report.summary_table(res)
    if a.profile:
        report.profile_table(res.profile, res.latency.unit)
    if a.report:
        write_json(a.report, res.report)
        report.console.print(f"wrote {a.report}")
    if a.html:
        report.console.print(f"wrote {flow_report(res, a.html)}")
    return 0 if res.ok else 1


def cmd_build(a) -> int:
    b = board_flows.build(a.dir, a.board, a.out)
    report.build_line(b)
    return 0


def cmd_flash(a) -> int:
    report.console.print(board_flows.flash(a.dir, a.board, a.out, a.port))
    return 0


def cmd_bench(a) -> int:
    with report.progress_bars() as bars:
        res = board_flows.bench(a.board, port=a.port, model=a.model, runs=a.runs, timeout=a.timeout, progress=bars)
    report.bench_table(res.board, res.info, res.latency, res.stack_used)
    if a.json:
        write_json(a.json, document("bench", res.to_json()))
    return 0


def cmd_stop(a) -> int:
    board = load_board(a.board)
    report.console.print(f"stopped the {board.name} emulator" if board_flows.stop(board.name)
                         else f"no {board.name} emulator was running")
    return 0
