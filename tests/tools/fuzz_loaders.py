"""Loader fuzzing (issue 16, part 6): damaged ``.h5`` / ``.keras`` / SavedModel / ``.tflite`` files must end in
an edgeq error within a time bound, never a crash of edgeq or a traceback.

Seeds: a small Keras model (conv, batch norm, dense, softmax) saved as ``.keras``, ``.h5``, a SavedModel
folder (``model.export``) and an int8 ``.tflite``, built once and cached by the hash of this file. Each case
is a seeded mutation of one seed: byte flips (1 to 64 random bytes XORed), a truncation, or, for ``.keras``,
damage to one zip member with the archive rewritten so its CRCs are right (the bytes then reach h5py and
Keras, not just the zip reader); for a SavedModel, flips in or a truncation of one of its files.

Each case runs ``edgeq.frontend.load.load_model`` with the worker on (``EDGEQ_ISOLATION=process``), as every
edgeq command loads a model, with EDGEQ_WORKER_TIMEOUT=30. Outcomes: ``loaded`` (the mutation was harmless),
``error`` (an EdgeqError), ``crash contained`` (the worker died: still one EdgeqError for the user), ``timeout`` (the worker was
stopped) and ``FAIL`` (any other exception: a traceback for the user; or over the time bound). With
``--cli`` every case also runs ``edgeq generate`` (``.tflite``) or ``edgeq quantize --calib random``
(Keras, SavedModel) through ``edgeq.cli.main.main`` and checks exit status 0 or 2 with one ``error:`` line.

    python -m tests.tools.fuzz_loaders --cases 400 --seed 1 --json fuzz.json     # the long run
    python -m pytest -q tests/robustness/test_fuzz_loaders.py                  # the fast subset
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMATS = ("keras", "h5", "savedmodel", "tflite")
BOUND_SECONDS = 120.0  # per case; the first case of a run also starts the worker and imports TensorFlow there
CALL_TIMEOUT = "30"  # EDGEQ_WORKER_TIMEOUT while fuzzing: a loader looping on a damaged file is stopped sooner


def seed_models(root: Path | None = None) -> dict[str, Path]:
    """The four seed files (built once, cached under the edgeq cache by the hash of this file)."""
    from edgeq.files import cache_dir

    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    d = (root or cache_dir() / "fuzz-loaders") / key
    seeds = {"keras": d / "seed.keras", "h5": d / "seed.h5", "savedmodel": d / "seed_savedmodel",
             "tflite": d / "seed.tflite"}
    if all(p.exists() for p in seeds.values()):
        return seeds
    import keras

    from edgeq.api import quantize_model

    tmp = d.with_name(d.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(x), name="fuzzseed")
    model.save(tmp / "seed.keras")
    model.save(tmp / "seed.h5")
    model.export(str(tmp / "seed_savedmodel"), verbose=False)
    (tmp / "seed.tflite").write_bytes(quantize_model(tmp / "seed.keras", "random", random_count=8).tflite)
    try:
        tmp.rename(d)
    except OSError:  # built by another process meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return seeds


# --------------------------------------------------------------------------------------------------
# Mutations


def flip_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    buf = bytearray(data)
    n = int(rng.integers(1, 65))
    for pos in rng.integers(0, len(buf), n):
        buf[pos] ^= int(rng.integers(1, 256))
    return bytes(buf), f"{n} byte flips"


def truncate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    keep = int(rng.integers(0, len(data)))
    return data[:keep], f"truncated to {keep} of {len(data)} bytes"


def damage_zip_member(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One member of a zip archive flipped or truncated, the archive rewritten (valid CRCs)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    victim = names[int(rng.integers(0, len(names)))]
    out, how = io.BytesIO(), "empty, left as it was"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for name in names:
            body = src.read(name)
            if name == victim and body:
                body, how = (flip_bytes if rng.random() < 0.7 else truncate)(body, rng)
            dst.writestr(name, body)
    return out.getvalue(), f"zip member {victim}: {how}"


def mutate(fmt: str, seed: Path, dest: Path, rng: np.random.Generator) -> str:
    """Write a mutated copy of ``seed`` to ``dest``; returns what was done."""
    if fmt == "savedmodel":
        shutil.copytree(seed, dest)
        files = sorted(p for p in dest.rglob("*") if p.is_file())
        victim = files[int(rng.integers(0, len(files)))]
        body, how = (flip_bytes if rng.random() < 0.7 else truncate)(victim.read_bytes(), rng)
        victim.write_bytes(body)
        return f"{victim.relative_to(dest)}: {how}"
    data = seed.read_bytes()
    choices: list[Callable] = [flip_bytes, truncate] + ([damage_zip_member] * 2 if fmt == "keras" else [])
    body, how = choices[int(rng.integers(0, len(choices)))](data, rng)
    dest.write_bytes(body)
    return how


# --------------------------------------------------------------------------------------------------
# Running


def _cli_case(fmt: str, path: Path, work: Path) -> str | None:
    """The CLI on a mutated file: None if it ended in success or in one error line with exit status 2."""
    from edgeq.cli.main import main

    out = work / ("lib" if fmt == "tflite" else "o.tflite")
    argv = (["generate", str(path), "-o", str(out)] if fmt == "tflite"
            else ["quantize", str(path), "--calib", "random", "--random-count", "4", "-o", str(out)])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    text = err.getvalue()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    if code == 0 and not errors:
        return None
    if code == 2 and len(errors) == 1 and "Traceback" not in text:
        return None
    return f"exit {code}: {text.strip()[:300]}"


def run_case(fmt: str, seed: Path, index: int, base_seed: int, work: Path, cli: bool) -> dict:
    """One mutated file through the loader (and the CLI): its outcome, what was mutated, seconds."""
    from edgeq import isolation
    from edgeq.errors import EdgeqError
    from edgeq.frontend.load import load_model

    rng = np.random.default_rng([base_seed, FORMATS.index(fmt), index])
    case = work / f"case{index}"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir()
    path = case / (seed.name if fmt != "savedmodel" else "mutant_savedmodel")
    how = mutate(fmt, seed, path, rng)
    start = time.monotonic()
    detail = ""
    try:
        load_model(path)
        outcome = "loaded"
    except isolation.WorkerCrashed as e:
        outcome, detail = "crash contained", f"{e.what} (the worker's log: {e.log})"  # kept, to look into
    except isolation.WorkerTimeout as e:
        outcome, detail = "timeout", e.what
    except EdgeqError as e:
        outcome, detail = "error", e.what
    except Exception as e:  # noqa: BLE001 - exactly what the fuzzing looks for
        outcome, detail = "FAIL", f"{type(e).__name__}: {e}"[:300]
    if cli and outcome != "FAIL":
        problem = _cli_case(fmt, path, case)
        if problem:
            outcome, detail = "FAIL", f"cli: {problem}"
    seconds = time.monotonic() - start
    if seconds > BOUND_SECONDS and outcome != "FAIL":
        outcome, detail = "FAIL", f"took {seconds:.0f} s (bound {BOUND_SECONDS:.0f} s)"
    shutil.rmtree(case, ignore_errors=True)
    return {"format": fmt, "case": index, "mutation": how, "outcome": outcome, "detail": detail,
            "seconds": round(seconds, 3)}


def fuzz(cases: int, base_seed: int = 1, formats: tuple[str, ...] = FORMATS, cli: bool = False,
         progress: Callable[[dict], None] | None = None) -> list[dict]:
    """``cases`` mutated files per format, each through :func:`run_case` (the worker on)."""
    os.environ["EDGEQ_ISOLATION"] = "process"
    os.environ["EDGEQ_WORKER_TIMEOUT"] = CALL_TIMEOUT
    seeds = seed_models()
    results = []
    with tempfile.TemporaryDirectory(prefix="edgeq-fuzz-") as tmp:
        for i in range(cases):
            for fmt in formats:
                r = run_case(fmt, seeds[fmt], i, base_seed, Path(tmp), cli)
                results.append(r)
                if progress is not None:
                    progress(r)
    return results


def summary(results: list[dict]) -> str:
    rows = []
    for fmt in dict.fromkeys(r["format"] for r in results):
        mine = [r for r in results if r["format"] == fmt]
        counts = Counter(r["outcome"] for r in mine)
        secs = sorted(r["seconds"] for r in mine)
        rows.append(f"{fmt:<11} {len(mine):>5} cases  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                    + f"  (median {secs[len(secs) // 2]:.2f} s, max {secs[-1]:.2f} s)")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=100, help="mutated files per format (default 100)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset of " + ", ".join(FORMATS))
    p.add_argument("--cli", action="store_true", help="also run edgeq generate / quantize on every mutated file")
    p.add_argument("--json", help="write every case's result here")
    args = p.parse_args(argv)
    started = time.monotonic()

    def show(r: dict) -> None:
        if r["outcome"] == "FAIL":
            print(f"FAIL {r['format']} case {r['case']} ({r['mutation']}): {r['detail']}", flush=True)

    results = fuzz(args.cases, args.seed, tuple(args.formats.split(",")), args.cli, show)
    print(summary(results))
    print(f"{len(results)} cases in {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if any(r["outcome"] == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
