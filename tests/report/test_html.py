"""Self-contained HTML reports: the plot builders, the page, the commands' --html, and a real browser."""

import base64
import dataclasses
import io
import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle
from PIL import Image

from paths import MLPERF
from edgeq.report import html as hr
from edgeq.report import plots
from edgeq.report.format import fmt
from edgeq.cli.main import main
from edgeq.errors import EdgeqError
from edgeq.flows.convert_and_flash import Accuracy, DeviceValidation, FlowResult, ModelInfo, ProfileRow
from edgeq.targets.bench import Latency
from edgeq.targets.boards import load_board
from edgeq.targets.firmware import FirmwareMemory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AD01 = MLPERF / "ad01_int8.tflite"
UNIT = "instructions (QEMU)"


def _images(page: str) -> list[Image.Image]:
    """Every embedded PNG of a page, decoded (fails if one is not a valid PNG)."""
    out = []
    for b64 in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        im = Image.open(io.BytesIO(base64.b64decode(b64)))
        im.load()
        assert im.format == "PNG"
        out.append(im)
    return out


def _self_contained(page: str) -> None:
    # nothing is fetched: no src/href to another document, no @import, no url() in the CSS
    for attr in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert attr.startswith(("data:image/png;base64,", "#")), attr[:60]
    assert "@import" not in page and "url(" not in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


@pytest.fixture(scope="module")
def ad01_graph():
    from edgeq.api import lower_tflite

    return lower_tflite(AD01.read_bytes(), "litert", "ad01")


def _profile_rows():
    return [ProfileRow(0, "CONV_2D", "a/conv;x", 80_000.0, 40_000), ProfileRow(1, "MAX_POOL_2D", "a/pool", 8_000.0, 0),
            ProfileRow(2, "FULLY_CONNECTED", "a/fc", 12_000.0, 9_000)]


# --- formatting and the page ------------------------------------------------------------------------

def test_cell_formatting():
    assert fmt(389240.0) == "389,240"
    assert fmt(12345) == "12,345"
    assert fmt(0.51382) == "0.5138"
    assert fmt(1234.56) == "1,234.6"
    assert fmt(float("inf")) == "∞"
    assert fmt(None) == "–"
    assert fmt(True) == "yes" and fmt(False) == "no"


def test_page_is_self_contained_escaped_and_written_atomically(tmp_path):
    r = hr.Report("a <b> & c", subtitle="sub")
    r.add_kv("summary", {"bit-exact": True, "  indented": 3, "broken": False})
    r.add_table("t", ["name", "value"], [["<script>alert(1)</script>", 1.5], ["x", None]], note="n < m")
    r.add_plot("p", plots.plot_calibrations([{"method": "minmax", "accuracy": 0.5}]), caption="cap")
    r.add_text("first\n\nsecond")
    out = tmp_path / "new" / "dir" / "r.html"
    assert r.write(out) == out
    page = out.read_text()
    _self_contained(page)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>a &lt;b&gt; &amp; c</title>" in page
    assert '<td class="ok">yes</td>' in page and '<td class="bad">no</td>' in page
    assert '<th scope="row" class="sub">indented</th>' in page
    assert "<p>first</p><p>second</p>" in page and "n &lt; m" in page
    (im,) = _images(page)
    assert im.width > 500 and im.height > 200
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]  # no temporary file left behind


def test_unwritable_path_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(EdgeqError, match="cannot write the HTML report"):
        hr.Report("x").write(tmp_path / "file" / "r.html")  # a file where a folder should be
    assert not list(tmp_path.glob("**/.r.html.tmp*"))


# --- plot builders on synthetic data ----------------------------------------------------------------

def _bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_plot_layer_sqnr_highlights_the_worst_layers():
    sq = [31.0, 12.5, 40.2, float("inf"), 18.0, 25.0, None]
    layers = [{"name": f"model/layer_{i};fused", "kind": "CONV_2D", "sqnr_db": v, "rmse": 0.01 * i}
              for i, v in enumerate(sq)]
    fig = plots.plot_layer_sqnr(layers, worst=2)
    ax, rmse_ax = fig.axes[:2]
    bars = _bars(ax)[: len(layers)]
    red = {i for i, b in enumerate(bars) if to_hex(b.get_facecolor()) == plots.RED.lower()}
    assert red == {1, 4}  # 12.5 and 18.0 dB
    assert bars[2].get_width() == pytest.approx(40.2)
    assert bars[3].get_hatch() == "//" and bars[3].get_width() > 40.2  # exact: capped above the rest
    assert bars[6].get_width() == 0  # no measurement: empty, not a crash
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "model/layer_0 (CONV_2D)"
    assert [b.get_width() for b in _bars(rmse_ax)[: len(layers)]] == pytest.approx([0.01 * i for i in range(7)])
    assert hr.figure_png(fig).startswith(b"\x89PNG")
    # without rmse: one axes
    assert len(plots.plot_layer_sqnr([{"name": "a", "sqnr_db": 3.0}]).axes) == 1
    with pytest.raises(ValueError):
        plots.plot_layer_sqnr([])


def test_plot_memory_plan_draws_every_buffer_at_its_offset(ad01_graph):
    g = ad01_graph
    plan = g.plan
    fig = plots.plot_memory_plan(g)
    ax, live_ax = fig.axes[:2]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    bufs = [b for b in plan.buffers if b.size]
    assert len(boxes) == len(bufs) and len(bufs) >= 10
    got = sorted((round(p.get_x() + 0.45), round(p.get_y()), round(p.get_height())) for p in boxes)
    want = sorted((b.first, plan.offset(b), b.size) for b in bufs)  # plan < 4 KiB: axis in bytes
    assert got == want
    hlines = {round(line.get_ydata()[0]) for line in ax.get_lines() if len(set(line.get_ydata())) == 1}
    assert {plan.size, plan.lower_bound} <= hlines
    # the live-bytes curve is the liveness model's bytes at steps -1 .. len(ops); its peak is the lower
    # bound, at most the arena; for this model the greedy plan meets the bound (768 B)
    curve = next(line for line in live_ax.get_lines() if len(line.get_ydata()) > 2)
    assert list(curve.get_xdata()) == list(range(-1, len(g.ops) + 1))
    assert list(curve.get_ydata()) == list(plan.live)
    assert max(plan.live) == plan.lower_bound == 768 <= plan.size
    assert "arena 768 B" in ax.get_title(loc="left")


def test_memory_plan_rows_name_tensors_and_scratch():
    from edgeq.api import lower_tflite

    g = lower_tflite((MLPERF / "kws_dscnn_int8.tflite").read_bytes(), "litert", "kws")  # im2col scratch
    cols, rows = hr.memory_plan_rows(g, top=len(g.plan.buffers))
    assert cols[:3] == ["tensor", "bytes", "offset"] and len(rows) == len(g.plan.buffers)
    scratch = {name: (size, off) for name, size, off, _ in rows if name.startswith("scratch op ")}
    assert scratch and scratch == {f"scratch op {b.id}": (b.size, g.plan.scratch[b.id])
                                   for b in g.plan.buffers if b.kind == "scratch"}
    tensors = sorted((size, off) for name, size, off, _ in rows if not name.startswith("scratch op "))
    assert tensors == sorted((b.size, g.plan.offsets[b.id]) for b in g.plan.buffers if b.kind == "tensor")
    _, top = hr.memory_plan_rows(g, top=3)
    assert len(top) == 4 and top[-1][0] == f"… {len(g.plan.buffers) - 3} more"


def test_plot_memory_plan_needs_a_plan(ad01_graph):
    import dataclasses

    with pytest.raises(ValueError, match="no memory plan"):
        plots.plot_memory_plan(dataclasses.replace(ad01_graph, plan=None))


def test_plot_latency_bars_and_macs_per_instruction():
    rows = _profile_rows()
    fig = plots.plot_latency(rows, UNIT)
    ax, eff_ax = fig.axes[:2]
    assert [b.get_width() for b in _bars(ax)[:3]] == [80_000.0, 8_000.0, 12_000.0]
    assert [b.get_width() for b in _bars(eff_ax)[:3]] == pytest.approx([0.5, 0.0, 0.75])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["#0 CONV_2D", "#1 MAX_POOL_2D", "#2 FULLY_CONNECTED"]
    assert "100,000 instructions (QEMU)" in ax.get_title(loc="left")
    colours = [to_hex(b.get_facecolor()) for b in _bars(ax)[:3]]
    assert len(set(colours)) == 3  # one colour per op kind


def test_plot_calibrations_marks_the_best():
    rows = [{"method": "minmax", "accuracy": 0.81, "sqnr_db": 20.1},
            {"method": "percentile:99.99", "accuracy": 0.84, "sqnr_db": 19.0},
            {"method": "mse", "accuracy": None, "sqnr_db": 23.5}]
    fig = plots.plot_calibrations(rows)
    acc_ax, sq_ax = fig.axes[:2]
    acc = _bars(acc_ax)[:3]
    assert [b.get_width() for b in acc] == pytest.approx([81.0, 84.0, 0.0])
    assert [to_hex(b.get_facecolor()) == plots.GREEN.lower() for b in acc] == [False, True, False]
    assert [to_hex(b.get_facecolor()) == plots.GREEN.lower() for b in _bars(sq_ax)[:3]] == [False, False, True]
    assert len(plots.plot_calibrations([{"method": "a", "sqnr_db": 3.0}]).axes) == 1  # only the metric given
    with pytest.raises(ValueError):
        plots.plot_calibrations([{"method": "a"}])


# --- the commands' reports ----------------------------------------------------------------------------

def test_validate_report_with_accuracy_fidelity_and_layers(tmp_path, ad01_graph):
    from edgeq.quality.compare import ByteCompare
    from edgeq.quality.validate import ValidationReport

    cmp = ByteCompare("litert-ref", samples=4, exact_samples=3, mismatched_bytes=2, total_bytes=40,
                      max_abs_diff=1, first_bad_op={"op": 3, "kind": "ADD", "tensor": "t3",
                                                    "mismatched_bytes": 2, "bytes": 10})
    rep = ValidationReport("tiny", samples=4, accuracy={"float": 0.75, "quantized": 0.5, "top1_agreement": 0.75},
                           fidelity=[{"output": "out", "sqnr_db": 21.5, "cosine": 0.99, "max_abs_err": 0.1}],
                           c_host={"litert": cmp}, arena={"edgeq": {"arena": 768, "lower_bound": 768}})
    rep.layers = [{"name": "conv", "kind": "CONV_2D", "sqnr_db": 30.0}, {"name": "fc", "kind": "FC", "sqnr_db": 9.0}]
    page = hr.validate_report(rep, tmp_path / "v.html", graph=ad01_graph).read_text()
    _self_contained(page)
    for text in ("accuracy on 4 samples", "75.00%", "quantized model (LiteRT) vs float model", "21.5",
                 "first mismatching op", "per-layer SQNR", "memory plan", "largest buffers",
                 '<td class="bad">no</td>'):
        assert text in page, text
    assert len(_images(page)) == 2  # per-layer SQNR and memory plan


def _flow_result(graph=None) -> FlowResult:
    return FlowResult(
        model=ModelInfo(path="m/tiny.keras", sha256="ab" * 32, ops={"CONV_2D": 1}, macs=49_000,
                        tflite="out/tiny_int8.tflite", scheme="int8", calibration="random (10 samples)",
                        calibration_warning="random calibration is not representative"),
        board=load_board("mps2-an386"),
        memory=FirmwareMemory(flash_bytes=47932, weights_bytes=35972, code_bytes=8176, library_const_bytes=28,
                              harness_bytes=3680, ram_bytes=23800, arena_bytes=3136, stack_bytes=716,
                              flash_limit=4194304, ram_limit=4194304),
        latency=Latency(unit=UNIT, median=100_000.0, min=99_960.0, max=100_040.0, runs=3, resolution=40.0,
                        macs_per_unit=0.49, ms_at_clock=4.0),
        profile=_profile_rows(),
        validation=DeviceValidation(reference="litert-ref (BUILTIN_REF)", samples=5, mismatched_bytes=0,
                                    bit_exact=True, ok=True),
        accuracy=Accuracy(samples=5, float_model=0.8, host=0.8, device=0.6), graph=graph)


def test_flow_report(tmp_path, ad01_graph):
    page = hr.flow_report(_flow_result(ad01_graph), tmp_path / "f.html").read_text()
    _self_contained(page)
    for text in ("tiny.keras on mps2-an386", "cortex-m4, 25 MHz, emulated in QEMU", "47,932", "35,972",
                 "per-layer profile", "80.0%", "MACs/instruction", "int8 on the device", "60.00%",
                 "random calibration is not representative", "memory plan"):
        assert text in page, text
    assert len(_images(page)) == 2  # latency, memory plan
    assert "float32" not in page
    res = _flow_result()
    res.profile = []
    res.validation = dataclasses.replace(res.validation, bit_exact=False, ok=True, float32={
        "max_abs_diff": 3e-8, "max_rel_diff": 3e-8, "within_tolerance": True})
    page = hr.flow_report(res, tmp_path / "f32.html").read_text()
    assert "float32 outputs within tolerance" in page and "3e-08 (3e-08)" in page
    assert not _images(page)  # no profile, no graph: tables only


def test_flow_json_is_versioned_and_says_what_keys_mean(ad01_graph):
    doc = _flow_result(ad01_graph).report
    assert doc["schema_version"] == 2 and doc["kind"] == "convert-and-flash"
    assert doc["accuracy"] == {"samples": 5, "float_model": 0.8, "host": 0.8, "device": 0.6}
    assert doc["model"]["tflite"] == "out/tiny_int8.tflite" and doc["model"]["scheme"] == "int8"
    assert doc["profile"][0] == {"op": 0, "kind": "CONV_2D", "location": "a/conv;x", "count": 80_000.0,
                                 "macs": 40_000}
    assert not [k for section in doc.values() if isinstance(section, dict) for k in section if "int8" in k]
    json.dumps(doc)


@pytest.fixture(scope="module")
def validate_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "r.html"
    code = main(["validate", str(AD01), "--c-host", "--samples", "5", "--html", str(out)])
    assert code == 0
    return out


def test_validate_cli_writes_html(validate_html):
    page = validate_html.read_text()
    _self_contained(page)
    assert "edgeq validate: ad01_int8" in page
    assert "generated C on the host vs reference interpreters" in page
    assert "5/5" in page and '<td class="ok">yes</td>' in page  # bit-exact on 5 samples, both references
    assert page.count("<table") >= 4  # summary, C vs references, arena, largest buffers
    (im,) = _images(page)  # the memory plan
    assert im.width >= 1000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make setup installs it); "
                                              "cannot render the HTML report in a browser")
def test_report_renders_in_headless_chromium(validate_html, tmp_path):
    shot = tmp_path / "shot.png"
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={tmp_path / 'profile'}",
                        f"--screenshot={shot}", "--window-size=1200,2000", validate_html.resolve().as_uri()],
                       check=False, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), r.stderr[-2000:]
    im = Image.open(shot).convert("RGB")
    assert im.size == (1200, 2000)
    px = np.asarray(im).reshape(-1, 3)
    non_white = np.mean(np.any(px < 235, axis=1))
    colours = len(np.unique(px.view(np.dtype((np.void, 3)))))
    assert non_white > 0.05, f"page looks blank: {non_white:.1%} non-white pixels"
    assert colours > 200, f"only {colours} colours: the plot did not render"
    # the memory plan's boxes (activation blue #0072B2 at alpha .55 on white) are on screen
    blueish = np.mean((px[:, 2] > 150) & (px[:, 0] < 140) & (px[:, 1] < 200))
    assert blueish > 0.01, f"{blueish:.2%} blue pixels"


@pytest.mark.slow
def test_convert_and_flash_html_on_qemu(tmp_path):
    out = tmp_path / "caf.html"
    code = main(["convert-and-flash", str(AD01), "--samples", "2", "--runs", "1", "--profile",
                 "--out", str(tmp_path / "build"), "--report", str(tmp_path / "r.json"), "--html", str(out)])
    assert code == 0
    page = out.read_text()
    _self_contained(page)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert f"{rep['memory']['flash_bytes']:,}" in page
    assert f"{int(rep['latency']['median']):,}" in page
    assert page.count("FULLY_CONNECTED") >= 10  # every layer of the profile in the table
    assert len(_images(page)) == 2  # per-layer latency and memory plan
    assert math.isfinite(rep["latency"]["macs_per_unit"])
