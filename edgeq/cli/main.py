"""The `edgeq` command: parses arguments, calls one flow or stage, prints. No logic here.

Heavy packages (TensorFlow, Keras, LiteRT, TFLM, matplotlib) are imported by the functions that need
them, so `edgeq --help` and `edgeq boards` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgeq.errors import EdgeqError  # noqa: E402
from edgeq.files import write_atomic  # noqa: E402
from edgeq.flows import board as board_flows  # noqa: E402
from edgeq.flows.convert_and_flash import convert_and_flash  # noqa: E402
from edgeq.flows.generate import generate_c, lower_tflite, read_deployable  # noqa: E402
from edgeq.flows.quantize import quantize_model, summarize  # noqa: E402
from edgeq.frontend.calibrate import parse_method  # noqa: E402
from edgeq.frontend.data import load_dataset, tflite_inputs  # noqa: E402
from edgeq.frontend.load import load_model  # noqa: E402
from edgeq.ir import ALIAS_OPS  # noqa: E402
from edgeq.passes.lower import supported_signatures  # noqa: E402
from edgeq.quality.calibrations import compare_calibrations  # noqa: E402
from edgeq.quality.sensitivity import analyze, quantize_partial  # noqa: E402
from edgeq.quality.validate import validate  # noqa: E402
from edgeq.report import terminal as report  # noqa: E402
from edgeq.report.html import analysis_report, calibration_report, flow_report, validate_report  # noqa: E402
from edgeq.report.json import document, write_json  # noqa: E402
from edgeq.targets.boards import list_boards, load_board  # noqa: E402


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not LO,HI (for example -1,1)") from None
    if not lo < hi:
        raise argparse.ArgumentTypeError(f"range {text}: LO must be below HI")
    return lo, hi


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive integer")
    return v


def _write_json(path: str | None, kind: str, body: dict) -> None:
    if path:
        write_json(path, document(kind, body))


def _percent(text: str) -> float:
    try:
        v = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a percentage (for example 1%)") from None
    if not 0 <= v < 100:
        raise argparse.ArgumentTypeError(f"{text}: give a percentage from 0 to below 100")
    return v / 100.0


def _nonnegative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number >= 0")
    return int(text)


def _calibration_method(text: str) -> str:
    try:
        return parse_method(text).name
    except EdgeqError as e:
        raise argparse.ArgumentTypeError(f"{e.what} ({e.hint})") from None


def _say(msg: str) -> None:
    report.err_console.print(msg, markup=False)


def cmd_quantize(a) -> int:
    if a.granularity is not None:
        if a.per_tensor and a.granularity != "per-tensor":
            raise EdgeqError("--per-tensor contradicts --granularity per-channel")
        a.per_tensor = a.granularity == "per-tensor"
    if a.compare_calibrations:
        return _quantize_compare(a)
    if a.keep_float is not None or a.max_drop is not None:
        return _quantize_partial(a)
    with report.progress_bars() as bars:
        r = quantize_model(a.model, a.calib, random_range=a.random_range, random_count=a.random_count,
                           per_channel=not a.per_tensor, progress=bars, scheme=a.scheme,
                           calibration=a.calibration)
    write_atomic(a.output, r.tflite)
    report.quantize_table(r)
    report.console.print(f"wrote {a.output}")
    _write_json(a.json, "quantize", r.to_json())
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
    _write_json(a.json, "compare-calibrations", c.to_json())
    if a.html:
        report.console.print(f"wrote {calibration_report(c, a.html)}")
    return 0


def _quantize_partial(a) -> int:
    if a.keep_float is not None and a.max_drop is not None:
        raise EdgeqError("give --keep-float N or --max-drop PCT, not both")
    if a.scheme != "int8":
        raise EdgeqError(f"--keep-float / --max-drop leave ops of an int8 model in float32; not with --scheme {a.scheme}")
    if a.calib is None:
        raise EdgeqError("partial quantization needs calibration data", hint="--calib DATA, or --calib random")
    with report.progress_bars() as bars:
        p = quantize_partial(a.model, a.calib, keep_float=a.keep_float, max_drop=a.max_drop, data=a.data,
                             samples=a.samples, random_range=a.random_range, random_count=a.random_count,
                             per_channel=not a.per_tensor, calibration=a.calibration, progress=bars)
    write_atomic(a.output, p.tflite)
    report.partial_table(p)
    report.console.print(f"wrote {a.output}: {len(p.kept_float)} op(s) in float32, the rest int8 "
                         f"({len(p.tflite):,} B)")
    report.unsupported_list(summarize(p.tflite, Path(a.model).stem)[2])
    _write_json(a.json, "partial-quantization", p.to_json())
    if a.html:
        report.console.print(f"wrote {analysis_report(p.analysis, a.html, partial=p)}")
    return 0


def cmd_analyze(a) -> int:
    with report.progress_bars() as bars:
        res = analyze(a.model, a.calib, data=a.data, samples=a.samples, random_range=a.random_range,
                      random_count=a.random_count, per_channel=not a.per_tensor, calibration=a.calibration,
                      single_float=not a.no_single_float, progress=bars)
    report.analysis_tables(res, top=a.top)
    _write_json(a.json, "analyze", res.to_json())
    if a.html:
        report.console.print(f"wrote {analysis_report(res, a.html)}")
    return 0


def cmd_validate(a) -> int:
    model = read_deployable(a.model)
    keras_model = None
    if a.keras:
        keras_model = load_model(a.keras).keras_model
        if keras_model is None:
            raise EdgeqError(f"--keras {a.keras} is not a Keras model (.keras or .h5)")
    data = load_dataset(a.data, tflite_inputs(model)) if a.data else None
    if not (a.c_host or data is not None):
        report.console.print("nothing to compare: pass --data (with --keras for accuracy) and/or --c-host")
    with report.progress_bars() as bars:
        rep = validate(model, name=Path(a.model).stem, keras_model=keras_model, data=data, c_host=a.c_host,
                       samples=a.samples, progress=bars)
    report.validation_tables(rep)
    _write_json(a.json, "validate", rep.to_json())
    if a.html:
        graph = lower_tflite(model, "litert", rep.model)
        report.console.print(f"wrote {validate_report(rep, a.html, graph=graph)}")
    return 0 if rep.ok else 1


def cmd_generate(a) -> int:
    model = read_deployable(a.model)
    g = lower_tflite(model, a.rounding, name=Path(a.model).stem, cpu=a.cpu)
    lib = generate_c(model, a.output, a.rounding, prefix=a.prefix, graph=g)
    report.plan_table(g)
    ctx = lib.context
    report.console.print(f"wrote {lib.dir}/ ({len(lib.sources)} files): {ctx['prefix']}.h, {ctx['prefix']}.c, "
                         f"{ctx['prefix']}_data.c, kernels, Makefile, CMakeLists.txt; "
                         f"constant data {ctx['weights_bytes']:,} B")
    return 0


def cmd_ops(a) -> int:
    report.ops_list(supported_signatures(), ALIAS_OPS)
    return 0


def cmd_convert_and_flash(a) -> int:
    with report.progress_bars() as bars:
        res = convert_and_flash(a.model, board_name=a.board, calib=a.calib, random_range=a.random_range,
                                data=a.data, port=a.port, runs=a.runs, samples=a.samples, out_dir=a.out,
                                scheme=a.scheme, calibration=a.calibration, progress=bars, say=_say)
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
    _write_json(a.json, "bench", res.to_json())
    return 0


def cmd_stop(a) -> int:
    board = load_board(a.board)
    report.console.print(f"stopped the {board.name} emulator" if board_flows.stop(board.name)
                         else f"no {board.name} emulator was running")
    return 0


def cmd_boards(a) -> int:
    report.boards_table(list_boards())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeq", description="Keras -> int8 TFLite -> bit-exact C for microcontrollers")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    q = sub.add_parser("quantize", help="full-integer int8 post-training quantization")
    q.add_argument("model", help=".keras, .h5, SavedModel directory, or an int8 .tflite (passed through)")
    q.add_argument("--calib",
                   help="calibration samples: .npy/.npz (N x input shape, float), .bin (float32), or 'random' "
                        "(needed unless --scheme float32 or the model is an int8 .tflite)")
    q.add_argument("-o", "--output", required=True, help="output .tflite")
    q.add_argument("--scheme", choices=("int8", "int16x8", "float32"), default="int8",
                   help="int8 (default), int16x8 (int16 activations, int8 weights), or float32 (no quantization)")
    q.add_argument("--keep-float", type=_nonnegative, metavar="N",
                   help="leave the N ops whose quantization costs the most in float32 (see edgeq analyze)")
    q.add_argument("--max-drop", type=_percent, metavar="PCT",
                   help="leave the costliest ops in float32, one at a time, until the drop is at most PCT (e.g. 1%%): "
                        "accuracy on --data labels, else top-1 disagreement with the float model, else output NSR")
    q.add_argument("--data", help="evaluation data for --keep-float/--max-drop/--compare-calibrations: .npz with x "
                                  "(and y), or .npy (default: the calibration samples)")
    q.add_argument("--samples", type=_positive, default=100, metavar="N",
                   help="evaluation samples for --keep-float/--max-drop/--compare-calibrations (default 100)")
    q.add_argument("--html", metavar="FILE",
                   help="with --keep-float/--max-drop/--compare-calibrations: also write an HTML report")
    q.add_argument("--calibration", type=_calibration_method, default="minmax", metavar="METHOD",
                   help="activation ranges: minmax (default, the converter's), percentile[:P] (P-th percentile "
                        "of |x|, default 99.99), mse (the clip minimising int8 MSE) or entropy (TensorRT's KL)")
    q.add_argument("--compare-calibrations", action="store_true",
                   help="quantize with every calibration method, print accuracy (--data labels) and SQNR vs the "
                        "float model for each, and write the best to -o")
    q.add_argument("--metric", choices=("accuracy", "sqnr"),
                   help="what --compare-calibrations maximises (default: accuracy with labels, else sqnr)")
    q.add_argument("--granularity", choices=("per-channel", "per-tensor"),
                   help="weight quantization granularity (default per-channel)")
    q.add_argument("--random-range", type=_range, default=(-1.0, 1.0), metavar="LO,HI",
                   help="range of --calib random (default -1,1)")
    q.add_argument("--random-count", type=_positive, default=100, metavar="N", help="samples of --calib random")
    q.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")
    q.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    q.set_defaults(fn=cmd_quantize)

    an = sub.add_parser("analyze", help="per-layer quantization sensitivity: which layers int8 costs the most")
    an.add_argument("model", help=".keras, .h5 or SavedModel directory (the float model)")
    an.add_argument("--calib", required=True,
                    help="calibration samples: .npy/.npz (N x input shape, float), .bin (float32), or 'random'")
    an.add_argument("--data", help="evaluation data: .npz with x (and y for accuracy), or .npy "
                                   "(default: the calibration samples)")
    an.add_argument("--samples", type=_positive, default=100, metavar="N", help="evaluation samples (default 100)")
    an.add_argument("--random-range", type=_range, default=(-1.0, 1.0), metavar="LO,HI",
                    help="range of --calib random (default -1,1)")
    an.add_argument("--random-count", type=_positive, default=100, metavar="N", help="samples of --calib random")
    an.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")
    an.add_argument("--calibration", type=_calibration_method, default="minmax", metavar="METHOD",
                    help="activation ranges, as for quantize: minmax (default), percentile[:P], mse or entropy")
    an.add_argument("--no-single-float", action="store_true",
                    help="skip the single-layer-float runs (output SQNR with only one op in float32)")
    an.add_argument("--top", type=_positive, default=12, metavar="N", help="ranking rows to print (default 12)")
    an.add_argument("--json", metavar="FILE", help="also write every layer's numbers as JSON")
    an.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    an.set_defaults(fn=cmd_analyze)

    v = sub.add_parser("validate", help="check an int8 model: accuracy, and generated C vs LiteRT and TFLM")
    v.add_argument("model", help="int8 .tflite")
    v.add_argument("--keras", metavar="FLOAT_MODEL", help="the float model, for accuracy / SQNR")
    v.add_argument("--data", metavar="DATA", help=".npz with x (and y for accuracy), or .npy")
    v.add_argument("--c-host", action="store_true", help="generate C, compile with host gcc, compare bytes")
    v.add_argument("--samples", type=_positive, default=100, metavar="N", help="samples to run (default 100)")
    v.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    v.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    v.set_defaults(fn=cmd_validate)

    gen = sub.add_parser("generate", help="generate the self-contained C library")
    gen.add_argument("model", help="int8 .tflite")
    gen.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    gen.add_argument("--rounding", choices=("litert", "tflm"), default="litert",
                     help="match LiteRT's reference kernels (default) or TFLite Micro byte for byte")
    gen.add_argument("--prefix", default="model", help="C symbol prefix (default: model)")
    gen.add_argument("--cpu", choices=("any", "dsp", "portable"), default="any",
                     help="kernel variants to include: any (default: runs on every core), dsp (Cortex-M4/M7/M33 "
                          "with the DSP extension only; smallest flash there), portable (plain C only)")
    gen.set_defaults(fn=cmd_generate)

    o = sub.add_parser("ops", help="list the ops the C backend supports")
    o.set_defaults(fn=cmd_ops)

    c = sub.add_parser("convert-and-flash", help="quantize, validate, generate, build, flash, check and benchmark")
    c.add_argument("model", help=".keras, .h5, SavedModel directory, or an int8 .tflite")
    c.add_argument("--board", default=None, help="board name or board .toml (default: mps2-an386, emulated)")
    c.add_argument("--calib", help="calibration data (as for quantize); not needed for an int8 .tflite")
    c.add_argument("--random-range", type=_range, default=(-1.0, 1.0), metavar="LO,HI",
                   help="range of --calib random (default -1,1)")
    c.add_argument("--scheme", choices=("int8", "int16x8", "float32"), default="int8",
                   help="how a Keras model is converted: int8 (default), int16x8, or float32 (no quantization)")
    c.add_argument("--calibration", default="minmax", metavar="METHOD",
                   help="int8 activation ranges, as for quantize: minmax (default), percentile[:P], mse or entropy")
    c.add_argument("--data", help="validation data: .npz with x (and y for accuracy), or .npy")
    c.add_argument("--port", help="serial port of a real board (emulated boards make their own)")
    c.add_argument("--runs", type=_positive, default=10, metavar="N", help="latency runs (default 10)")
    c.add_argument("--samples", type=_positive, default=10, metavar="N",
                   help="validation samples checked byte for byte on the device (default 10)")
    c.add_argument("--out", metavar="DIR", help="where the int8 model, C library and firmware go")
    c.add_argument("--report", metavar="FILE", help="write the JSON report")
    c.add_argument("--profile", action="store_true", help="print the per-layer profile")
    c.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    c.set_defaults(fn=cmd_convert_and_flash)

    b = sub.add_parser("build", help="build the bench firmware around a generated library")
    b.add_argument("dir", help="library folder made by edgeq generate")
    b.add_argument("--board", default=None, help="board name or .toml (default: mps2-an386)")
    b.add_argument("--out", metavar="DIR", help="firmware output folder (default: DIR-BOARD)")
    b.set_defaults(fn=cmd_build)

    f = sub.add_parser("flash", help="flash the bench firmware (emulated boards: start QEMU and keep it running)")
    f.add_argument("dir", help="library folder made by edgeq generate (built first if needed)")
    f.add_argument("--board", default=None, help="board name or .toml (default: mps2-an386)")
    f.add_argument("--port", help="serial port (real boards; used by bench)")
    f.add_argument("--out", metavar="DIR", help="firmware folder (default: DIR-BOARD)")
    f.set_defaults(fn=cmd_flash)

    be = sub.add_parser("bench", help="benchmark whatever bench firmware is running on the board")
    be.add_argument("--board", default=None, help="board name or .toml (default: mps2-an386)")
    be.add_argument("--port", help="serial port (default: the running emulator's)")
    be.add_argument("--runs", type=_positive, default=10, metavar="N", help="latency runs (default 10)")
    be.add_argument("--model", metavar="MODEL", help="refuse unless the firmware was built from this int8 .tflite "
                    "or generated library folder")
    be.add_argument("--timeout", type=float, default=5.0, metavar="S",
                    help="seconds without an answer before a request is retried (default 5)")
    be.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    be.set_defaults(fn=cmd_bench)

    st = sub.add_parser("stop", help="stop an emulator started by edgeq flash")
    st.add_argument("--board", default=None, help="board name (default: mps2-an386)")
    st.set_defaults(fn=cmd_stop)

    bo = sub.add_parser("boards", help="list the boards edgeq knows")
    bo.set_defaults(fn=cmd_boards)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except EdgeqError as e:
        report.err_console.print(e.format(), markup=False)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted (outputs of this run were not put in place; earlier outputs are untouched)",
              file=sys.stderr)
        return 130
    except OSError as e:  # disk full, permission denied, ... while reading or writing a file
        where = f" ({e.filename})" if e.filename else ""
        err = EdgeqError(f"{e.strerror or e}{where}", hint="check the path, its permissions and the free disk space; "
                         "outputs of this run were not put in place")
        report.err_console.print(err.format(), markup=False)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
