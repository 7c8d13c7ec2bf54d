"""The sweep's fast subset (issue 16): edgeq commands over zoo and MLPerf models, with the worker on, end in
success or in exit status 2 with one error line. The whole sweep (every model, every command, two through
convert-and-flash on the emulated board): ``python -m tests.tools.sweep --json sweep.json``."""

from edgeq import isolation
from tools import sweep


def test_commands_over_zoo_models_end_in_success_or_one_error(monkeypatch):
    isolation.shutdown()
    monkeypatch.setenv("EDGEQ_ISOLATION", "process")
    try:
        results = sweep.sweep(["dense_odd", "ad01"], ("ops", "generate", "validate"))
    finally:
        isolation.shutdown()
    assert [(r["model"], r["command"]) for r in results] == [
        ("-", "ops"), ("dense_odd", "generate"), ("dense_odd", "validate"), ("ad01", "generate"),
        ("ad01", "validate")]
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]


def test_the_sweep_tells_a_traceback_from_an_error():
    assert sweep.run_command(["generate", "/nonexistent.tflite", "-o", "/nonexistent-out"])["ok"]
    bad = sweep.run_command(["--no-such-flag"])  # argparse: SystemExit, not edgeq's one error line
    assert not bad["ok"] and "SystemExit" in str(bad["exit"])
