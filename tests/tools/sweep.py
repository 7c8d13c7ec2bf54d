"""The sweep (issue 16): every edgeq command over every model of the test zoos ends in success, or in exit
status 2 with exactly one ``error:`` line; never a signal, never a traceback.

Models (``--zoos``, default all):

* ``zoo``: tests/models/zoo.py (seeded random weights; Keras source and edgeq's cached int8 ``.tflite``);
* ``mlperf``: the MLPerf Tiny models in ``../shared/models/mlperf-tiny`` (``.h5`` / ``.keras``, reference
  int8 ``.tflite``);
* ``layers``: tests/models/zoo_layers.py (15 layer-zoo models; ``zoo_layers_path``: the cached int8 file, the
  ``.keras`` and calibration ``.npy`` beside it);
* ``streaming``: tests/streaming.py (the explicit-state keyword spotter; the stateful LSTM, GRU and
  SimpleRNN), the state paired by name as edgeq does by default;
* ``rnn``: the recurrent layers of tests/unit/test_rnn.py (``Input((5, 3), batch 1) -> LSTM/GRU(4) ->
  Dense(2)``), through ``quantize``'s RNN path;
* ``qat``: the digits CNN fine-tuned by ``edgeq qat`` (1 epoch on examples/digits/test.npz): the command is
  swept too, and its output is the model of the other commands;
* ``pathological``: tests/robustness/pathological_models.py (vanishing, all-zero, NaN/Inf weights in
  ``.keras`` and ``.h5``, a zero-sized layer, an ADD of two branches) and ``huge`` (one Dense of 4.6 M
  weights).

Commands per model: ``qat`` (the qat model only), ``quantize`` (Keras source, its calibration data or
``--calib random`` over the model's range), ``validate --c-host`` and ``generate`` (the int8 ``.tflite``: the
zoo's, else the one this ``quantize`` wrote; none: not run), ``analyze`` (Keras source, ``--no-single-float``),
``ops`` once, and ``convert-and-flash`` on the emulated ``mps2-an386`` for the models named by ``--flash`` (a
pathological model from its Keras source).
Each command runs through ``edgeq.cli.main.main`` in this process, as a user types it, with edgeq's worker on
(``EDGEQ_ISOLATION=process``); a native crash is then an error line, and any other ending (a traceback, an
exit status other than 0 and 2, two error lines) is a FAIL. Each result also records this process's peak
resident memory so far (``maxrss_mb``) and the worker's (``worker_maxrss_mb``, the largest child's).

    python -m tests.tools.sweep --json sweep.json                       # every model, every command
    python -m tests.tools.sweep --models dense_odd,ad01 --commands generate,validate
    python -m tests.tools.sweep --zoos pathological,qat
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # paths, models.zoo, streaming, robustness

from paths import MLPERF, REPO  # noqa: E402

COMMANDS = ("qat", "quantize", "validate", "generate", "analyze", "ops", "convert-and-flash")
ZOOS = ("zoo", "mlperf", "layers", "streaming", "rnn", "qat", "pathological")
MLPERF_MODELS = {"ad01": ("ad01.h5", "ad01_int8.tflite"), "resnet8": ("resnet8.h5", "resnet8_int8.tflite"),
                 "kws_dscnn": ("kws_dscnn.keras", "kws_dscnn_int8.tflite")}
DEFAULT_FLASH = ("dense_odd", "kws_dscnn", "streaming_kws", "nan", "huge")
DIGITS = REPO / "examples" / "digits"


@dataclass
class Case:
    """One model: its zoo, Keras source, int8 ``.tflite`` (None: made by the sweep's ``quantize``), the
    calibration arguments of ``quantize`` and of ``analyze``, and ``qat``'s training data."""

    name: str
    zoo: str
    src: Path | None
    tfl: Path | None
    calib: list[str]
    analyze_calib: list[str]
    train: Path | None = None
    flash_source: bool = False  # convert-and-flash from the Keras source (with ``calib``), not the int8 model


def _random(rng: tuple[float, float] = (-1.0, 1.0)) -> list[str]:
    return ["--calib", "random", f"--random-range={rng[0]},{rng[1]}", "--random-count", "16"]


def _names(zoo: str) -> list[str]:
    """The model names of ``zoo`` (without building anything)."""
    if zoo == "zoo":
        from models.zoo import ZOO
        return list(ZOO)
    if zoo == "mlperf":
        return [n for n, (src, _) in MLPERF_MODELS.items() if (MLPERF / src).exists()]
    if zoo == "layers":
        from models.zoo_layers import ZOO as LAYERS
        return list(LAYERS)
    if zoo == "streaming":
        return ["streaming_kws", "stateful_lstm", "stateful_gru", "stateful_simplernn"]
    if zoo == "rnn":
        return ["rnn_lstm", "rnn_gru"]
    if zoo == "qat":
        return ["digits_qat"]
    from robustness.pathological_models import PATHOLOGICAL
    return [*PATHOLOGICAL, "huge"]


def _case(zoo: str, name: str, tmp: Path) -> Case:
    """Case ``name`` of ``zoo``, building (and caching, where the zoo does) its files; scratch files in ``tmp``."""
    import numpy as np

    if zoo == "zoo":
        from models.zoo import build, zoo_path
        tfl = zoo_path(name)  # quantizes it once (cached), leaving its Keras source beside it
        return Case(name, zoo, tfl.with_suffix(".keras"), tfl, _random(build(name)[1]), _random(build(name)[1]))
    if zoo == "mlperf":
        src, tfl = MLPERF_MODELS[name]
        return Case(name, zoo, MLPERF / src, MLPERF / tfl, _random(), _random())
    if zoo == "layers":
        from models.zoo_layers import zoo_layers_path
        tfl = zoo_layers_path(name)
        calib = ["--calib", str(tfl.with_suffix(".npy"))]
        return Case(name, zoo, tfl.with_suffix(".keras"), tfl, calib, calib)
    if zoo == "streaming":
        import streaming
        if name == "streaming_kws":
            model, data = streaming.kws_keras_model(), streaming.streaming_kws()
            frames = np.random.default_rng(0).standard_normal((64, 1, 10)).astype(np.float32)
        else:
            kind = {"stateful_lstm": "LSTM", "stateful_gru": "GRU", "stateful_simplernn": "SimpleRNN"}[name]
            model, data = streaming.stateful_keras_model(kind), streaming.stateful_rnn(kind)
            frames = streaming.rnn_frames(64, seed=1)
        model.save(tmp / f"{name}.keras")
        (tmp / f"{name}.tflite").write_bytes(data)
        np.save(tmp / f"{name}.npy", frames)
        calib = ["--calib", str(tmp / f"{name}.npy")]
        return Case(name, zoo, tmp / f"{name}.keras", tmp / f"{name}.tflite", calib, calib)
    if zoo == "rnn":
        import keras
        keras.utils.set_random_seed(0)
        inp = keras.Input((5, 3), batch_size=1)
        layer = keras.layers.LSTM(4) if name == "rnn_lstm" else keras.layers.GRU(4)
        keras.Model(inp, keras.layers.Dense(2)(layer(inp))).save(tmp / f"{name}.keras")
        return Case(name, zoo, tmp / f"{name}.keras", None, _random(), _random())
    if zoo == "qat":  # src: qat's output (the command runs first)
        calib = ["--calib", str(DIGITS / "calib.npy")]
        return Case(name, zoo, DIGITS / "digits_cnn.keras", None, [], calib, train=DIGITS / "test.npz")
    from robustness.pathological_models import pathological_file, write_huge, write_pathological
    if name == "huge":
        return Case(name, zoo, write_huge(tmp / "huge.keras"), None, _random(), _random(), flash_source=True)
    if not (tmp / "add.keras").exists():
        write_pathological(tmp)
    return Case(name, zoo, pathological_file(tmp, name), None, _random(), _random(), flash_source=True)


def argv_for(command: str, case: Case, out: Path) -> list[str]:
    src, tfl = str(case.src), str(case.tfl)
    count = case.calib.index("--random-count") if "--random-count" in case.calib else len(case.calib)
    flash_calib = case.calib[:count] + case.calib[count + 2:]  # convert-and-flash takes no --random-count
    return {
        "qat": ["qat", src, "--data", str(case.train), "--epochs", "1", "-o", str(out / "qat.keras")],
        "quantize": ["quantize", src, *case.calib, "-o", str(out / "q.tflite")],
        "validate": ["validate", tfl, "--c-host", "--samples", "5"],
        "generate": ["generate", tfl, "-o", str(out / "lib")],
        "analyze": ["analyze", src, *case.analyze_calib, "--samples", "8", "--no-single-float"],
        "ops": ["ops"],
        "convert-and-flash": ["convert-and-flash", *([src, *flash_calib] if case.flash_source else [tfl]),
                              "--board", "mps2-an386", "--runs", "2", "--samples", "2", "--out", str(out / "flash")],
    }[command]


def _maxrss_mb(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def run_command(argv: list[str]) -> dict:
    """One command through the CLI: exit status, error lines, whether it ended as allowed, seconds."""
    from edgeq.cli.main import main

    err, out = io.StringIO(), io.StringIO()
    start = time.monotonic()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except BaseException as e:  # noqa: BLE001 - what the sweep looks for (SystemExit included)
        code = f"raised {type(e).__name__}: {e}"
    seconds = time.monotonic() - start
    text = err.getvalue()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    ok = "Traceback" not in text and ((code == 0 and not errors) or (code == 2 and len(errors) == 1))
    return {"argv": argv, "exit": code, "error": errors[0] if errors else "", "ok": ok,
            "seconds": round(seconds, 2), "stderr": "" if ok else text[-2000:]}


def sweep(models: list[str] | None = None, commands: tuple[str, ...] = COMMANDS,
          flash: tuple[str, ...] = DEFAULT_FLASH, progress: Callable[[dict], None] | None = None,
          zoos: tuple[str, ...] = ZOOS) -> list[dict]:
    os.environ["EDGEQ_ISOLATION"] = "process"
    results = []

    def record(r: dict) -> None:
        r.update(maxrss_mb=_maxrss_mb(resource.RUSAGE_SELF), worker_maxrss_mb=_maxrss_mb(resource.RUSAGE_CHILDREN))
        results.append(r)
        if progress:
            progress(r)

    with tempfile.TemporaryDirectory(prefix="edgeq-sweep-") as tmp:
        if "ops" in commands:
            record(dict(run_command(["ops"]), model="-", zoo="-", command="ops"))
        for zoo in zoos:
            names = [n for n in _names(zoo) if models is None or n in models]
            if not names:
                continue
            scratch = Path(tmp) / zoo
            scratch.mkdir()
            for name in names:
                case = _case(zoo, name, scratch)
                for command in commands:
                    if command == "ops" or (command == "convert-and-flash" and name not in flash) or (
                            command == "qat" and case.train is None):
                        continue
                    needs_int8 = command in ("validate", "generate") or (
                        command == "convert-and-flash" and not case.flash_source)
                    if needs_int8 and case.tfl is None:
                        continue  # no int8 model: the zoo has none and quantize ended in an error
                    out = Path(tmp) / f"{name}-{command}"
                    out.mkdir()
                    r = dict(run_command(argv_for(command, case, out)), model=name, zoo=zoo, command=command)
                    record(r)
                    if command == "qat":  # the QAT model is the other commands' Keras source
                        case.src = out / "qat.keras" if r["exit"] == 0 else None
                        if case.src is None:
                            break
                    if command == "quantize" and case.tfl is None and r["exit"] == 0:
                        case.tfl = out / "q.tflite"
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated model names (default: every model of the zoos)")
    p.add_argument("--zoos", default=",".join(ZOOS), help="comma-separated subset of " + ", ".join(ZOOS))
    p.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated subset of " + ", ".join(COMMANDS))
    p.add_argument("--flash", default=",".join(DEFAULT_FLASH), help="models also run through convert-and-flash")
    p.add_argument("--json", help="write every command's result here")
    args = p.parse_args(argv)
    started = time.monotonic()

    def show(r: dict) -> None:
        status = "ok  " if r["ok"] else "FAIL"
        print(f"{status} {r['zoo']:<12} {r['model']:<26} {r['command']:<17} exit {r['exit']} {r['seconds']:>7.1f} s "
              f"{r['worker_maxrss_mb']:>7.0f} MB  {r['error'][:100]}", flush=True)

    results = sweep(args.models.split(",") if args.models else None, tuple(args.commands.split(",")),
                    tuple(args.flash.split(",")) if args.flash else (), show, tuple(args.zoos.split(",")))
    counts = Counter((r["command"], "success" if r["exit"] == 0 else "error" if r["ok"] else "FAIL") for r in results)
    for command in dict.fromkeys(r["command"] for r in results):
        secs = [r["seconds"] for r in results if r["command"] == command]
        print(f"{command:<18} " + ", ".join(f"{k[1]} {v}" for k, v in counts.items() if k[0] == command)
              + f"  ({sum(secs):.0f} s, max {max(secs):.1f} s)")
    print(f"{len(results)} commands in {time.monotonic() - started:.0f} s, "
          f"{sum(not r['ok'] for r in results)} FAIL")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if any(not r["ok"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
