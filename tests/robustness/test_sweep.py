"""The sweep's fast subset (issue 16): edgeq commands over models of the test zoos, with the worker on, end in
success or in exit status 2 with one error line. The whole sweep (every zoo -- zoo, MLPerf, layer zoo,
streaming, recurrent, QAT, pathological -- every command, four through convert-and-flash on the emulated
board): ``python -m tests.tools.sweep --json sweep.json``."""

from edgeq import isolation
from tools import sweep


def test_commands_over_zoo_models_end_in_success_or_one_error(monkeypatch):
    isolation.shutdown()
    monkeypatch.setenv("EDGEQ_ISOLATION", "process")
    try:
        results = sweep.sweep(["dense_odd", "streaming_kws"], ("ops", "generate", "validate"),
                              zoos=("zoo", "streaming"))
        results += sweep.sweep(["nan_h5"], ("quantize",), zoos=("pathological",))
    finally:
        isolation.shutdown()
    assert [(r["model"], r["command"]) for r in results] == [
        ("-", "ops"), ("dense_odd", "generate"), ("dense_odd", "validate"), ("streaming_kws", "generate"),
        ("streaming_kws", "validate"), ("nan_h5", "quantize")]
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    assert [r["exit"] for r in results] == [0, 0, 0, 0, 0, 2]  # NaN weights: one error, named
    assert "non-finite weights" in results[-1]["error"]


def test_every_zoo_has_models():
    for zoo in sweep.ZOOS:
        assert sweep._names(zoo), zoo
    assert len(sweep._names("layers")) == 15 and "huge" in sweep._names("pathological")


def test_the_sweep_tells_a_traceback_from_an_error():
    assert sweep.run_command(["generate", "/nonexistent.tflite", "-o", "/nonexistent-out"])["ok"]
    bad = sweep.run_command(["--no-such-flag"])  # argparse: SystemExit, not edgeq's one error line
    assert not bad["ok"] and "SystemExit" in str(bad["exit"])
