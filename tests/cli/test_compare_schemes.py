"""`edgeq compare-schemes` on the digits CNN (labelled data): a board run on mps2-an386 in the process pool
(terminal table, the JSON rows exactly as issue 11 names them, the HTML page with its plots and Pareto front,
energy from the board file's own numbers), a float scheme refused on the FPU-less mps2-an385 as a row with its
reason, the host-only table, a scheme edgeq's flow does not know by name, and the user errors.

Kept fast: few samples, the cheap schemes (int16x8, float32) on the board, one run per case. The full
comparison (int8 with the best calibration, int8-partial, QAT) is in docs/compare_schemes.md."""

import base64
import contextlib
import io
import json
import re

import numpy as np
import pytest
from paths import REPO

from edgeq.cli.main import main
from edgeq.targets.boards import load_board

DIGITS = REPO / "examples" / "digits"
MODEL = DIGITS / "digits_cnn.keras"
CALIB = DIGITS / "calib.npy"
ISSUE_KEYS = {"scheme", "accuracy", "sqnr_db", "flash_bytes", "ram_bytes", "latency", "energy_uj", "bit_exact"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    z = np.load(DIGITS / "test.npz")
    np.savez(d / "eval.npz", x=z["x"][:20], y=z["y"][:20])
    return d / "eval.npz"


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refuses the value itself
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def on_an386(data, tmp_path_factory):
    """One board run: int16x8 and float32 on mps2-an386 (in this process: the pool is tested on its own)."""
    d = tmp_path_factory.mktemp("an386")
    from edgeq.report import terminal

    out, err = io.StringIO(), io.StringIO()
    width = terminal.console.width
    terminal.console.width = 160  # headers whole whatever terminal (or pytest-xdist worker) runs this
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # capsys is function-scoped
            code = main(["compare-schemes", str(MODEL), "--calib", str(CALIB), "--data", str(data),
                         "--board", "mps2-an386", "--schemes", "int16x8,float32", "--jobs", "1",
                         "--samples", "20", "--device-samples", "2", "--runs", "1", "--out", str(d / "build"),
                         "--json", str(d / "c.json"), "--html", str(d / "c.html")])
    finally:
        terminal.console.width = width
    return code, out.getvalue(), err.getvalue(), d


def test_board_run_table_json_html(on_an386):
    code, text, err, d = on_an386
    assert code == 0, err
    assert "quantization schemes: digits_cnn.keras on mps2-an386" in text
    for col in ("accuracy", "SQNR dB", "flash B", "RAM B", "latency", "median, in instructions (QEMU)", "energy µJ",
                "bit-exact", "Pareto"):
        assert col in text, col
    assert "estimate: QEMU instructions as cycles x the STM32F405 (Cortex-M4F) datasheet current" in text
    doc = json.loads((d / "c.json").read_text())
    assert doc["kind"] == "compare-schemes" and doc["model"] == str(MODEL) and doc["board"] == "mps2-an386"
    rows = {r["scheme"]: r for r in doc["rows"]}
    assert list(rows) == ["int16x8", "float32"]
    for r in rows.values():
        assert ISSUE_KEYS <= set(r) and r["reason"] is None
        assert 0.8 <= r["accuracy"] <= 1 and r["flash_bytes"] > r["model_bytes"] > 0 and r["ram_bytes"] > 0
        assert set(r["latency"]) == {"median", "unit"} and r["latency"]["unit"] == "instructions (QEMU)"
        assert r["latency"]["median"] > 0 and r["energy_uj"] > 0 and isinstance(r["bit_exact"], bool)
    assert rows["int16x8"]["bit_exact"] is True and rows["float32"]["device_ok"] is True
    assert rows["int16x8"]["sqnr_db"] > 30 and rows["float32"]["sqnr_db"] is None  # float32 vs itself: exact
    # the front: int16x8 is as accurate as float32 on these samples, smaller and faster
    assert rows["int16x8"]["pareto"] == {"size": True, "latency": True}
    assert rows["float32"]["pareto"] == {"size": False, "latency": False}
    html = (d / "c.html").read_text()
    assert "accuracy vs flash and latency, Pareto front marked" in html and "Pareto front" in html
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "<td>int16x8</td>" in html and "size, latency" in html and "calibrated on" in html


def test_energy_is_the_board_files_arithmetic(on_an386):
    """energy = latency (instructions as cycles) / clock x current x voltage, from boards/mps2-an386.toml."""
    import tomllib

    _, _, _, d = on_an386
    toml = tomllib.loads((REPO / "boards" / "mps2-an386.toml").read_text())
    hz, ma, v = toml["clock"]["hz"], toml["power"]["run_current_ma"], toml["power"]["supply_v"]
    for r in json.loads((d / "c.json").read_text())["rows"]:
        assert r["energy_uj"] == pytest.approx(r["latency"]["median"] / hz * (ma / 1000) * v * 1e6)
    assert load_board("mps2-an386").energy_uj(hz) == pytest.approx(ma * v * 1000)  # one second


def test_float_scheme_on_a_board_without_an_fpu_is_a_row_with_its_reason(data, tmp_path, capsys):
    """mps2-an385 (Cortex-M3) has no FPU: float32 is not deployed (soft float), the row says why, the host
    figures stay and the comparison ends normally."""
    js = tmp_path / "c.json"
    code, text, err = run(["compare-schemes", str(MODEL), "--calib", str(CALIB), "--data", str(data),
                           "--board", "mps2-an385", "--schemes", "float32", "--jobs", "1", "--samples", "10",
                           "--out", str(tmp_path / "build"), "--json", str(js)], capsys)
    assert code == 0, err
    (r,) = json.loads(js.read_text())["rows"]
    assert r["scheme"] == "float32" and r["reason"].startswith("not run: mps2-an385 (cortex-m3) has no FPU")
    assert "--allow-soft-float" in r["reason"] and "no FPU" in text
    assert r["accuracy"] is not None and r["model_bytes"] > 0 and r["arena_bytes"] > 0
    assert r["latency"] is None and r["energy_uj"] is None and r["bit_exact"] is None
    assert not (tmp_path / "build" / "float32" / "build").exists()  # nothing was built


def test_host_only_rows(data, tmp_path, capsys):
    js = tmp_path / "c.json"
    code, text, err = run(["compare-schemes", str(MODEL), "--calib", str(CALIB), "--schemes", "float32,int16x8",
                           "--jobs", "1", "--samples", "10", "--out", str(tmp_path / "b"), "--json", str(js)], capsys)
    assert code == 0, err
    assert "host only (no --board)" in text and "arena B" in text and "flash B" not in text
    assert "top-1 agreement with the float model (no labels)" in text  # the calibration samples have no labels
    doc = json.loads(js.read_text())
    assert doc["board"] is None
    for r in doc["rows"]:
        assert r["latency"] is None and r["flash_bytes"] is None and r["ram_bytes"] == r["arena_bytes"] > 0
        assert r["accuracy"] == r["top1_agreement"]


def test_a_scheme_the_flow_does_not_know_by_name_is_still_a_row(monkeypatch, tmp_path):
    """A name added to SCHEMES is converted by quantize_model(scheme=name); when that fails the row says why
    and the other schemes are still measured."""
    from edgeq.flows import compare_schemes as cs

    monkeypatch.setattr(cs, "SCHEMES", ("float32", "int3"))
    assert cs.candidate_names(partial=False) == ["float32", "int3", "int8-c16", "int8-c64", "int8-c256",
                                                 "int16x8-c16"]
    c = cs.compare_schemes(MODEL, str(CALIB), max_drop=None, samples=5, jobs=1, out_dir=tmp_path,
                           schemes=["float32", "int3"])
    rows = {r.scheme: r for r in c.rows}
    assert list(rows) == ["float32", "int3"]
    assert rows["float32"].reason is None and rows["float32"].model_bytes > 0
    assert "unknown quantization scheme 'int3'" in rows["int3"].reason and rows["int3"].accuracy is None


def test_sub8_bit_candidates(tmp_path):
    """int8x4 and the clustered int8 / int16x8 variants are rows of their own (host figures: packed weights are
    smaller)."""
    from edgeq.flows import compare_schemes as cs

    c = cs.compare_schemes(MODEL, str(CALIB), max_drop=None, samples=5, jobs=1, out_dir=tmp_path,
                           schemes=["int8x4", "int8-c16", "int16x8-c16"])
    rows = {r.scheme: r for r in c.rows}
    assert all(rows[s].reason is None for s in ("int8x4", "int8-c16", "int16x8-c16")), rows
    assert "k-means to 16 values" in rows["int8-c16"].how and "then int16x8" in rows["int16x8-c16"].how
    assert rows["int16x8-c16"].accuracy is not None and rows["int16x8-c16"].model_bytes > 0
    assert rows["int8x4"].accuracy is not None and rows["int8x4"].model_bytes > 0


def test_qat_int8x4_candidate(tmp_path):
    """With --qat-data, qat-int8x4 is a row: 4-bit weights trained, then kept by quantize --scheme int8x4."""
    from edgeq.flows import compare_schemes as cs
    from edgeq.flows.quantize import quantize_model
    from edgeq.frontend.tflite.reader import read_tflite

    assert cs.candidate_names(qat=True)[-2:] == ["qat-int8", "qat-int8x4"]
    z = np.load(DIGITS / "test.npz")
    np.savez(tmp_path / "train.npz", x=z["x"][:64], y=z["y"][:64])
    c = cs.compare_schemes(MODEL, str(CALIB), max_drop=None, samples=5, jobs=1, out_dir=tmp_path / "out",
                           qat_data=str(tmp_path / "train.npz"), qat_epochs=1, schemes=["qat-int8x4"])
    (row,) = c.rows
    assert row.scheme == "qat-int8x4" and row.reason is None, row
    assert row.how.startswith("1 epoch(s) from ") and row.how.endswith(" ranges, then int8x4"), row.how
    assert row.accuracy is not None
    tflite = quantize_model(tmp_path / "out" / "qat_int8x4" / "digits_cnn_qat.keras", None, scheme="int8x4").tflite
    assert row.model_bytes == len(tflite)  # the trained model, kept at 4 bits
    g = read_tflite(tflite)
    assert {g.tensor(op.inputs[1]).dtype for op in g.ops if op.kind in ("CONV_2D", "FULLY_CONNECTED")} == {"int4"}


def test_schemes_run_in_a_process_pool(tmp_path):
    """Two candidates in two spawned processes: rows come back in order, each with its own outcome (here
    schemes no converter knows, which fail before loading anything)."""
    from edgeq.flows import compare_schemes as cs

    jobs = [cs._Job(name, str(MODEL), str(CALIB), None, 5, [np.zeros((1, 8, 8, 1), np.float32)], None,
                    str(tmp_path), 0.01, None, 1, 1, 1, False, (-1.0, 1.0), 10) for name in ("int4", "int2")]
    seen = []
    out = cs._run_all(jobs, 2, lambda *msg: seen.append(msg), verbose=False)
    assert [o.row.scheme for o in out] == ["int4", "int2"]
    assert [o.row.reason for o in out] == [f"unknown quantization scheme '{n}'" for n in ("int4", "int2")]


@pytest.mark.parametrize("argv, message", [
    (["--schemes", "int8"], "compare-schemes needs calibration data"),
    (["--calib", str(CALIB), "--schemes", "qat-int8"], "cannot compare qat-int8"),
    (["--calib", str(CALIB), "--schemes", "qat-int8x4"], "qat-int8x4: needs --qat-data"),
    (["--calib", str(CALIB), "--board", "no-such-board"], "unknown board 'no-such-board'"),
])
def test_user_errors(argv, message, capsys):
    code, _, err = run(["compare-schemes", str(MODEL), *argv], capsys)
    assert code != 0 and message in err and "hint" in err.lower()


def test_pareto_front():
    from edgeq.flows.compare_schemes import pareto_front

    # (cost, accuracy): the cheapest of an accuracy and the most accurate of a cost are on the front
    pts = [(10, 0.90), (20, 0.95), (30, 0.95), (15, 0.80), (None, 0.99), (40, None), (20, 0.95)]
    assert pareto_front(pts) == [True, True, False, False, False, False, True]
    assert pareto_front([]) == [] and pareto_front([(1, float("nan"))]) == [False]


def test_a_bug_in_one_candidate_is_its_row_not_the_end(monkeypatch, tmp_path):
    """Anything but an EdgeqError raised while measuring one candidate (a bug) is that row's reason, named
    as a bug; the other rows are still measured."""
    from edgeq.flows import compare_schemes as cs

    real = cs._make

    def make(job, progress):
        if job.scheme == "int16x8":
            raise ZeroDivisionError("boom")
        return real(job, progress)

    monkeypatch.setattr(cs, "_make", make)
    c = cs.compare_schemes(MODEL, str(CALIB), schemes=["int16x8", "float32"], samples=5, jobs=1, out_dir=tmp_path)
    bad, good = c.rows
    assert bad.reason.startswith("internal error in edgeq: ZeroDivisionError: boom") and "bug" in bad.reason
    assert good.reason is None and good.accuracy is not None
