"""The sweep (issue 16): every edgeq command over every model of the test zoos ends in success, or in exit
status 2 with exactly one ``error:`` line; never a signal, never a traceback.

Models: the zoo of ``tests/models/zoo.py`` (seeded random weights, Keras source and edgeq's int8 ``.tflite``)
and the MLPerf Tiny models in ``../shared/models/mlperf-tiny`` (``.h5`` / ``.keras`` and the reference int8
``.tflite``). Commands per model: ``quantize`` (Keras source, ``--calib random`` over the model's range),
``validate --c-host`` and ``generate`` (int8 ``.tflite``), ``analyze`` (Keras source, ``--no-single-float``),
``ops`` once, and ``convert-and-flash`` on the emulated ``mps2-an386`` for the models named by ``--flash``.
Each command runs through ``edgeq.cli.main.main`` in this process, as a user types it, with edgeq's worker on
(``EDGEQ_ISOLATION=process``); a native crash is then an error line, and any other ending (a traceback, an
exit status other than 0 and 2, two error lines) is a FAIL.

    python -m tests.tools.sweep --json sweep.json                       # every model, every command
    python -m tests.tools.sweep --models dense_odd,ad01 --commands generate,validate
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # paths, models.zoo

from paths import MLPERF  # noqa: E402

COMMANDS = ("quantize", "validate", "generate", "analyze", "ops", "convert-and-flash")
MLPERF_MODELS = {"ad01": ("ad01.h5", "ad01_int8.tflite"), "resnet8": ("resnet8.h5", "resnet8_int8.tflite"),
                 "kws_dscnn": ("kws_dscnn.keras", "kws_dscnn_int8.tflite")}
DEFAULT_FLASH = ("dense_odd", "kws_dscnn")


def zoo_models(names: list[str] | None = None) -> dict[str, tuple[Path, Path, tuple[float, float]]]:
    """Every model (or those ``names``): name -> (Keras source, int8 .tflite, calibration range)."""
    from models.zoo import ZOO, build, zoo_path

    models = {}
    for name in ZOO:
        if names is not None and name not in names:
            continue
        tfl = zoo_path(name)  # quantizes it once (cached), leaving its Keras source beside it
        models[name] = (tfl.with_suffix(".keras"), tfl, build(name)[1])
    for name, (src, tfl) in MLPERF_MODELS.items():
        if (MLPERF / src).exists() and (names is None or name in names):
            models[name] = (MLPERF / src, MLPERF / tfl, (-1.0, 1.0))
    return models


def argv_for(command: str, src: Path, tfl: Path, rng: tuple[float, float], out: Path) -> list[str]:
    lo_hi = f"{rng[0]},{rng[1]}"
    return {
        "quantize": ["quantize", str(src), "--calib", "random", f"--random-range={lo_hi}", "--random-count", "16",
                     "-o", str(out / "q.tflite")],
        "validate": ["validate", str(tfl), "--c-host", "--samples", "5"],
        "generate": ["generate", str(tfl), "-o", str(out / "lib")],
        "analyze": ["analyze", str(src), "--calib", "random", f"--random-range={lo_hi}", "--random-count", "16",
                    "--samples", "8", "--no-single-float"],
        "ops": ["ops"],
        "convert-and-flash": ["convert-and-flash", str(tfl), "--board", "mps2-an386", "--runs", "2",
                              "--samples", "2", "--out", str(out / "flash")],
    }[command]


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
          flash: tuple[str, ...] = DEFAULT_FLASH, progress: Callable[[dict], None] | None = None) -> list[dict]:
    os.environ["EDGEQ_ISOLATION"] = "process"
    every = zoo_models(models)
    results = []
    with tempfile.TemporaryDirectory(prefix="edgeq-sweep-") as tmp:
        if "ops" in commands:
            r = dict(run_command(["ops"]), model="-", command="ops")
            results.append(r)
            if progress:
                progress(r)
        for name in models or list(every):
            src, tfl, rng = every[name]
            for command in commands:
                if command == "ops" or (command == "convert-and-flash" and name not in flash):
                    continue
                out = Path(tmp) / f"{name}-{command}"
                out.mkdir()
                r = dict(run_command(argv_for(command, src, tfl, rng, out)), model=name, command=command)
                results.append(r)
                if progress:
                    progress(r)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated model names (default: every zoo and MLPerf model)")
    p.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated subset of " + ", ".join(COMMANDS))
    p.add_argument("--flash", default=",".join(DEFAULT_FLASH), help="models also run through convert-and-flash")
    p.add_argument("--json", help="write every command's result here")
    args = p.parse_args(argv)
    started = time.monotonic()

    def show(r: dict) -> None:
        status = "ok  " if r["ok"] else "FAIL"
        print(f"{status} {r['model']:<18} {r['command']:<18} exit {r['exit']} {r['seconds']:>7.1f} s  "
              f"{r['error'][:110]}", flush=True)

    results = sweep(args.models.split(",") if args.models else None, tuple(args.commands.split(",")),
                    tuple(args.flash.split(",")) if args.flash else (), show)
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
