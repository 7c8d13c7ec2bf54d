"""The `edgeq` command: parses arguments, calls one flow or stage, prints. No logic here.

The parser is built here; each command lives in a module of this package (quantize, qat, model, board,
boards), imported only when that command runs, so `edgeq --help` and `edgeq boards` start without
NumPy, TensorFlow, LiteRT or matplotlib.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgeq import isolation  # noqa: E402
from edgeq.errors import EdgeqError  # noqa: E402


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


def _random_calibration_args(p: argparse.ArgumentParser) -> None:
    """The options of `--calib random` and of the weights' granularity, as quantize and analyze share them."""
    p.add_argument("--random-range", type=_range, default=(-1.0, 1.0), metavar="LO,HI",
                   help="range of --calib random (default -1,1)")
    p.add_argument("--random-count", type=_positive, default=100, metavar="N", help="samples of --calib random")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")


# = edgeq.flows.quantize.SCHEMES (not imported here: `edgeq --help` loads no heavy package;
# tests/unit/test_structure.py checks that the two agree)
SCHEME_CHOICES = ("int8", "int16x8", "float32", "weight-only", "int8x4")

VERBOSE_HELP = ("show what the native tools (TFLite converter, LiteRT, TFLite Micro, the generated C on the host) "
                "print in edgeq's worker process, and the traceback of an internal error")


def _with_verbose(add_parser):
    """Every command also takes --verbose after its name (``edgeq quantize ... --verbose``)."""

    def add(*args, **kwargs) -> argparse.ArgumentParser:
        parser = add_parser(*args, **kwargs)
        parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        return parser

    return add


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeq", description="Keras -> int8 TFLite -> bit-exact C for microcontrollers")
    p.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser = _with_verbose(sub.add_parser)  # type: ignore[method-assign]

    q = sub.add_parser("quantize", help="full-integer int8 post-training quantization")
    q.add_argument("model", help=".keras, .h5, SavedModel directory, or an int8 .tflite (passed through)")
    q.add_argument("--calib",
                   help="calibration samples: .npy/.npz (N x input shape, float), .bin (float32), or 'random' "
                        "(needed unless --scheme float32 or the model is an int8 .tflite)")
    q.add_argument("-o", "--output", required=True, help="output .tflite")
    q.add_argument("--scheme", choices=SCHEME_CHOICES, default="int8",
                   help="int8 (default), int16x8 (int16 activations, int8 weights), float32 (no quantization), "
                        "weight-only (int8 weights, float32 activations, for boards with an FPU; no --calib), or "
                        "int8x4 (int4 weights for conv / depthwise / dense, int8 activations)")
    q.add_argument("--clusters", type=int, metavar="K",
                   help="cluster each conv / depthwise / dense layer's weights to K values (2..256, seeded k-means) "
                        "before int8 or int16x8 quantization; stored as codebook indices of log2(K) bits (2 to 7; "
                        "256 is plain int8) where that takes fewer bytes")
    q.add_argument("--clusters-per-channel", action="store_true",
                   help="with --clusters: K values per output channel instead of per layer")
    q.add_argument("--keep-float", type=_nonnegative, metavar="N",
                   help="leave the N ops whose quantization costs the most in float32 (see edgeq analyze)")
    q.add_argument("--max-drop", type=_percent, metavar="PCT",
                   help="leave the costliest ops in float32, one at a time, until the drop is at most PCT (e.g. 1%%): "
                        "accuracy on --data labels, else top-1 disagreement with the float model, else output NSR")
    q.add_argument("--data", help="evaluation data for --keep-float/--max-drop/--compare-calibrations: .npz with one "
                                  "array per input (by name, x0..xN or x) and optional y, or .npy "
                                  "(default: the calibration samples)")
    q.add_argument("--samples", type=_positive, default=100, metavar="N",
                   help="evaluation samples for --keep-float/--max-drop/--compare-calibrations (default 100)")
    q.add_argument("--html", metavar="FILE",
                   help="with --keep-float/--max-drop/--compare-calibrations: also write an HTML report")
    q.add_argument("--calibration", default="minmax", metavar="METHOD",
                   help="activation ranges: minmax (default, the converter's), percentile[:P] (P-th percentile "
                        "of |x|, default 99.99), mse (the clip minimising int8 MSE) or entropy (TensorRT's KL)")
    q.add_argument("--compare-calibrations", action="store_true",
                   help="quantize with every calibration method, print accuracy (--data labels) and SQNR vs the "
                        "float model for each, and write the best to -o")
    q.add_argument("--metric", choices=("accuracy", "sqnr"),
                   help="what --compare-calibrations maximises (default: accuracy with labels, else sqnr)")
    q.add_argument("--granularity", choices=("per-channel", "per-tensor"),
                   help="weight quantization granularity (default per-channel)")
    _random_calibration_args(q)
    q.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    q.add_argument("--state", action="append", metavar="IN:OUT",
                   help="a Keras model in explicit-state form: its state input IN is fed from output OUT (repeat "
                        "per pair; default: inputs named state_* paired by name); --calib then holds the other "
                        "inputs, frames in stream order, and the states are those the float model reaches")
    q.set_defaults(fn="quantize:cmd_quantize")

    an = sub.add_parser("analyze", help="per-layer quantization sensitivity: which layers int8 costs the most")
    an.add_argument("model", help=".keras, .h5 or SavedModel directory (the float model)")
    an.add_argument("--calib", required=True,
                    help="calibration samples: .npy/.npz (N x input shape, float), .bin (float32), or 'random'")
    an.add_argument("--data", help="evaluation data: .npz with one array per input (by name, x0..xN or x) and y "
                                   "for accuracy, or .npy (default: the calibration samples)")
    an.add_argument("--samples", type=_positive, default=100, metavar="N", help="evaluation samples (default 100)")
    _random_calibration_args(an)
    an.add_argument("--calibration", default="minmax", metavar="METHOD",
                    help="activation ranges, as for quantize: minmax (default), percentile[:P], mse or entropy")
    an.add_argument("--no-single-float", action="store_true",
                    help="skip the single-layer-float runs (output SQNR with only one op in float32)")
    an.add_argument("--scheme", choices=("int8", "int8x4"), default="int8",
                    help="int8 (default), or int8x4: each layer's error with 4-bit weights, and the gain of giving "
                         "one layer int8 weights back (instead of float32)")
    an.add_argument("--top", type=_positive, default=12, metavar="N", help="ranking rows to print (default 12)")
    an.add_argument("--json", metavar="FILE", help="also write every layer's numbers as JSON")
    an.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    an.set_defaults(fn="quantize:cmd_analyze")

    qt = sub.add_parser("qat", help="quantization-aware training: fine-tune a Keras model with int8 fake quantization")
    qt.add_argument("model", help="the float Keras classifier (.keras, .h5)")
    qt.add_argument("--data", required=True, help="training data: .npz with the inputs (x, or by name) and labels y")
    qt.add_argument("--val", help="validation data (.npz with labels) for the accuracies (default: the training data)")
    qt.add_argument("--epochs", type=_positive, default=3, metavar="N",
                    help="fine-tuning epochs (default 3; about 10%% of the original schedule)")
    qt.add_argument("--lr", type=float, default=1e-4,
                    help="initial learning rate, cosine-annealed to 0 (default 1e-4; about 1%% of the original)")
    qt.add_argument("--batch-size", type=_positive, default=32, metavar="N", help="training batch (default 32)")
    qt.add_argument("--scheme", choices=("int8", "int8x4"), default="int8",
                    help="int8 weights (default) or int8x4 (4-bit weights in [-7, 7]; quantize the result with "
                         "--scheme int8x4)")
    qt.add_argument("--clusters", type=int, metavar="K",
                    help="int8 weights clustered to K values per layer (2..256, k-means), the assignment fixed and "
                         "the centroids trained; quantize the result with --clusters K")
    qt.add_argument("--clusters-per-channel", action="store_true",
                    help="with --clusters: K values per output channel instead of per layer")
    qt.add_argument("--granularity", choices=("per-channel", "per-tensor"), default="per-channel",
                    help="weight quantization granularity (default per-channel)")
    qt.add_argument("--calibration", metavar="METHOD",
                    help="initial activation ranges: minmax, percentile[:P], mse or entropy (default: the most "
                         "accurate of them)")
    qt.add_argument("-o", "--output", required=True, help="output .keras (loads in Keras 3 once edgeq is imported)")
    qt.add_argument("--json", metavar="FILE", help="also write the summary and every epoch as JSON")
    qt.set_defaults(fn="qat:cmd_qat")

    cs = sub.add_parser("compare-schemes", help="every quantization scheme on your model and board: accuracy, flash, "
                                                "RAM, latency, energy, bit-exactness")
    cs.add_argument("model", help="the float model: .keras, .h5 or SavedModel directory")
    cs.add_argument("--calib", help="calibration samples: .npy/.npz (N x input shape, float), .bin, or 'random'")
    cs.add_argument("--data", help="evaluation data: .npz with the inputs (x, or by name) and labels y for accuracy "
                                   "(without y: top-1 agreement with the float model); default: the calibration samples")
    cs.add_argument("--board", help="board name or .toml to deploy every scheme on (without it: host figures only)")
    cs.add_argument("--qat-data", metavar="TRAIN.npz", help="also compare quantization-aware training: training data "
                                                            "with labels y (a short fine-tuning, --qat-epochs)")
    cs.add_argument("--qat-epochs", type=_positive, default=2, metavar="N", help="QAT epochs (default 2)")
    cs.add_argument("--max-drop", type=_percent, default=0.01, metavar="PCT",
                    help="the int8-partial candidate: costliest ops in float32 until the drop is at most PCT "
                         "(default 1%%)")
    cs.add_argument("--no-partial", action="store_true", help="leave out the int8-partial candidate")
    cs.add_argument("--schemes", metavar="A,B", help="compare only these candidates (default: all of them)")
    cs.add_argument("--samples", type=_positive, default=100, metavar="N", help="evaluation samples (default 100)")
    cs.add_argument("--device-samples", type=_positive, default=10, metavar="N",
                    help="samples checked byte for byte on the board per scheme (default 10)")
    cs.add_argument("--runs", type=_positive, default=3, metavar="N", help="latency runs per scheme (default 3)")
    cs.add_argument("--jobs", type=_positive, metavar="N",
                    help="schemes measured at once, each in its own process (default: the CPU count)")
    cs.add_argument("--allow-soft-float", action="store_true",
                    help="on a board without an FPU, deploy schemes with float32 ops too (soft float)")
    cs.add_argument("--out", metavar="DIR", help="where the models and builds go (default build/compare-MODEL-BOARD)")
    cs.add_argument("--random-range", type=_range, default=(-1.0, 1.0), metavar="LO,HI",
                    help="range of --calib random (default -1,1)")
    cs.add_argument("--random-count", type=_positive, default=100, metavar="N", help="samples of --calib random")
    cs.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    cs.add_argument("--html", metavar="FILE", help="also write an HTML page with the plots (Pareto fronts marked)")
    cs.set_defaults(fn="compare:cmd_compare_schemes")

    v = sub.add_parser("validate", help="check an int8 model: accuracy, and generated C vs LiteRT and TFLM")
    v.add_argument("model", help="int8 .tflite")
    v.add_argument("--keras", metavar="FLOAT_MODEL", help="the float model, for accuracy / SQNR")
    v.add_argument("--data", metavar="DATA",
                   help=".npz with one array per input (by name, x0..xN or x) and y for accuracy, or .npy")
    v.add_argument("--c-host", action="store_true", help="generate C, compile with host gcc, compare bytes")
    v.add_argument("--samples", type=_positive, default=100, metavar="N",
                   help="samples to run (default 100; the frames of one sequence for a model with state)")
    v.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    v.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    v.add_argument("--state", action="append", metavar="IN:OUT",
                   help="a state input fed from an output after every invoke (repeat per pair; default: inputs "
                        "named state_* paired by name; --state none: no state)")
    v.set_defaults(fn="model:cmd_validate")

    gen = sub.add_parser("generate", help="generate the self-contained C library")
    gen.add_argument("model", help="int8 .tflite")
    gen.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    gen.add_argument("--rounding", choices=("litert", "tflm"), default="litert",
                     help="match LiteRT's reference kernels (default) or TFLite Micro byte for byte")
    gen.add_argument("--prefix", default="model", help="C symbol prefix (default: model)")
    gen.add_argument("--cpu", choices=("any", "dsp", "mve", "portable"), default="any",
                     help="kernel variants to include: any (default: runs on every core), dsp (Cortex-M4/M7/M33 "
                          "with the DSP extension only; smallest flash there), mve (Cortex-M55/M85 with Helium "
                          "only), portable (plain C only)")
    gen.add_argument("--state", action="append", metavar="IN:OUT",
                   help="a state input fed from an output after every invoke (repeat per pair; default: inputs "
                        "named state_* paired by name; --state none: no state)")
    gen.set_defaults(fn="model:cmd_generate")

    o = sub.add_parser("ops", help="list the ops the C backend supports, beside those TFLite Micro registers")
    o.add_argument("--json", metavar="FILE", help="also write the table and totals as JSON")
    o.set_defaults(fn="model:cmd_ops")

    c = sub.add_parser("convert-and-flash", help="quantize, validate, generate, build, flash, check and benchmark")
    c.add_argument("model", help=".keras, .h5, SavedModel directory, or an int8 .tflite")
    c.add_argument("--board", default=None, help="board name or board .toml (default: mps2-an386, emulated)")
    c.add_argument("--calib", help="calibration data (as for quantize); not needed for an int8 .tflite")
    c.add_argument("--random-range", type=_range, default=(-1.0, 1.0), metavar="LO,HI",
                   help="range of --calib random (default -1,1)")
    c.add_argument("--scheme", choices=SCHEME_CHOICES, default="int8",
                   help="how a Keras model is converted: int8 (default), int16x8, float32 (no quantization), "
                        "weight-only (int8 weights, float32 activations), or int8x4 (int4 conv / dense weights)")
    c.add_argument("--allow-soft-float", action="store_true",
                   help="build float32 computation (weight-only, ops left float) for a board without an FPU anyway, "
                        "in software floating point (several times slower than int8)")
    c.add_argument("--calibration", default="minmax", metavar="METHOD",
                   help="int8 activation ranges, as for quantize: minmax (default), percentile[:P], mse or entropy")
    c.add_argument("--data", help="validation data: .npz with one array per input (by name, x0..xN or x) and y for "
                                  "accuracy, or .npy")
    c.add_argument("--port", help="serial port of a real board (emulated boards make their own)")
    c.add_argument("--runs", type=_positive, default=10, metavar="N", help="latency runs (default 10)")
    c.add_argument("--samples", type=_positive, default=10, metavar="N",
                   help="validation samples checked byte for byte on the device (default 10)")
    c.add_argument("--out", metavar="DIR", help="where the int8 model, C library and firmware go")
    c.add_argument("--report", metavar="FILE", help="write the JSON report")
    c.add_argument("--profile", action="store_true", help="print the per-layer profile")
    c.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    c.add_argument("--state", action="append", metavar="IN:OUT",
                   help="a state input fed from an output after every invoke (repeat per pair; default: inputs "
                        "named state_* paired by name; --state none: no state)")
    c.set_defaults(fn="board:cmd_convert_and_flash")

    b = sub.add_parser("build", help="build the bench firmware around a generated library")
    b.add_argument("dir", help="library folder made by edgeq generate")
    b.add_argument("--board", default=None, help="board name or .toml (default: mps2-an386)")
    b.add_argument("--out", metavar="DIR", help="firmware output folder (default: DIR-BOARD)")
    b.set_defaults(fn="board:cmd_build")

    f = sub.add_parser("flash", help="flash the bench firmware (emulated boards: start QEMU and keep it running)")
    f.add_argument("dir", help="library folder made by edgeq generate (built first if needed)")
    f.add_argument("--board", default=None, help="board name or .toml (default: mps2-an386)")
    f.add_argument("--port", help="serial port (real boards; used by bench)")
    f.add_argument("--out", metavar="DIR", help="firmware folder (default: DIR-BOARD)")
    f.set_defaults(fn="board:cmd_flash")

    be = sub.add_parser("bench", help="benchmark whatever bench firmware is running on the board")
    be.add_argument("--board", default=None, help="board name or .toml (default: mps2-an386)")
    be.add_argument("--port", help="serial port (default: the running emulator's)")
    be.add_argument("--runs", type=_positive, default=10, metavar="N", help="latency runs (default 10)")
    be.add_argument("--model", metavar="MODEL", help="refuse unless the firmware was built from this int8 .tflite "
                    "or generated library folder")
    be.add_argument("--timeout", type=float, default=5.0, metavar="S",
                    help="seconds without an answer before a request is retried (default 5)")
    be.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    be.set_defaults(fn="board:cmd_bench")

    st = sub.add_parser("stop", help="stop an emulator started by edgeq flash")
    st.add_argument("--board", default=None, help="board name (default: mps2-an386)")
    st.set_defaults(fn="board:cmd_stop")

    bo = sub.add_parser("boards", help="list the boards edgeq knows")
    bo.set_defaults(fn="boards:cmd_boards")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, _, name = args.fn.partition(":")
    isolation.set_verbose(args.verbose)
    try:
        # each command's module (and what it needs: NumPy, TensorFlow...) is loaded only when it runs
        return getattr(importlib.import_module(f"edgeq.cli.{module}"), name)(args)
    except EdgeqError as e:
        print(e.format(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        isolation.shutdown(kill=True)
        print("interrupted (outputs of this run were not put in place; earlier outputs are untouched)",
              file=sys.stderr)
        return 130
    except OSError as e:  # disk full, permission denied, ... while reading or writing a file
        where = f" ({e.filename})" if e.filename else ""
        err = EdgeqError(f"{e.strerror or e}{where}", hint="check the path, its permissions and the free disk space; "
                         "outputs of this run were not put in place")
        print(err.format(), file=sys.stderr)
        return err.exit_code
    except Exception as e:  # a bug in edgeq: one message, the traceback only with --verbose
        if args.verbose:
            traceback.print_exc()
        err = EdgeqError(f"internal error in edgeq {args.command}: {type(e).__name__}: {_first_line(e)}",
                         hint="this is a bug in edgeq, not in your files: please report it with the command"
                              + ("" if args.verbose else " and the traceback that --verbose prints"))
        print(err.format(), file=sys.stderr)
        return err.exit_code
    finally:
        isolation.shutdown()


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:300] if lines else "(no message)"


if __name__ == "__main__":
    sys.exit(main())
