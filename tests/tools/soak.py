"""Endurance soak: back-to-back inferences on an emulated board through the bench protocol.

::

    python -m tests.tools.soak --inferences 10000                      # fault-free link
    python -m tests.tools.soak --inferences 10000 --fault-rate 0.01    # through the FaultProxy, 1 % per byte
    python -m tests.tools.soak --duration 3600                         # the one-hour mode

It generates the C library of a model, builds its bench firmware for the board (default ``mps2-an386``,
a Cortex-M4 under QEMU) through the board's :class:`~edgeq.targets.base.Target`, and runs it in a
session. A pool of inputs (seeded random values over the input type's whole range) and their outputs
from LiteRT's reference kernels are computed first; inference ``i`` sends input ``i % pool`` and
compares the bytes read back with the pool's expected outputs. Each inference is:

* **correct**: the outputs are byte-identical to LiteRT's;
* **refused**: :meth:`Device.infer` raised an EdgeqError (a link that lost a request even after its
  retries, a failed CRC check): allowed through a faulty link, never on a clean one;
* **wrong**: outputs returned without an error but different from LiteRT's. Must never happen.

Every ``--window`` inferences a row records the window's median and mean time per inference, the
board's stack high-water mark (the STACK request: bytes of stack ever used since boot), this process's
resident memory (VmRSS from /proc/self/status; the fault proxy's thread runs in this process too), the
link's retries and the proxy's injected faults. The verdict compares the last window with the first:
stack constant, RSS growth below a bound, time per inference flat. A table goes to stdout and the
whole record to ``--json``.

The default model is the example digits CNN (``examples/digits``: 64-byte input, 10-byte output),
quantized with its calibration set and cached by content hash under ``$EDGEQ_CACHE/tflite``: short
frames keep a 1 %-per-byte link usable (about 0.3 s per inference, against 8 s for the 640-byte
frames of MLPerf Tiny's ad01). ``--model`` takes any int8 ``.tflite``.
Used by ``tests/robustness/test_endurance.py``; the figures are in ``docs/reliability.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import resource
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.files import cache_dir
from edgeq.targets import protocol as P
from edgeq.targets.select import target_for
from tests.tools.faultproxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits"
BOARD = "mps2-an386"


# --- the model and its reference answers ---------------------------------------------------------------

def digits_int8() -> bytes:
    """The example digits CNN quantized to int8 with its calibration set; cached by content hash (the same
    file ``tests/robustness/test_sanitizers.py`` caches)."""
    from edgeq.api import quantize_model

    model, calib = DIGITS / "digits_cnn.keras", DIGITS / "calib.npy"
    key = hashlib.sha256(model.read_bytes() + calib.read_bytes()).hexdigest()[:24]
    path = cache_dir() / "tflite" / f"digits-example-{key}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(quantize_model(model, str(calib)).tflite)
        tmp.replace(path)
    return path.read_bytes()


@dataclass(frozen=True)
class Case:
    inputs: tuple[bytes, ...]  # one per model input
    outputs: tuple[bytes, ...]  # LiteRT's reference outputs, one per model output


def reference_pool(model: bytes, size: int, seed: int = 0) -> list[Case]:
    """``size`` seeded random inputs over each input type's whole range, with LiteRT's outputs."""
    from edgeq.quality.references import LiteRT

    ref = LiteRT(model)
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(size):
        xs = []
        for d in ref.inputs:
            lim = np.iinfo(d["dtype"])
            xs.append(rng.integers(lim.min, int(lim.max) + 1, tuple(d["shape"]), dtype=d["dtype"]))
        outs = ref.run(xs)
        pool.append(Case(tuple(x.tobytes() for x in xs), tuple(np.ascontiguousarray(o).tobytes() for o in outs)))
    return pool


# --- measurements --------------------------------------------------------------------------------------

def rss_kib() -> int:
    """This process's resident set size now (VmRSS), in KiB; the peak (ru_maxrss) where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class Window:
    index: int
    first: int  # index of the window's first inference
    inferences: int
    correct: int
    refused: int
    wrong: int
    seconds: float
    median_ms: float
    mean_ms: float
    stack_used: int | None  # the board's stack high-water mark after the window (None: STACK refused)
    rss_kib: int
    retries: int  # link retries during the window
    faults: int  # bytes the proxy hit during the window


@dataclass
class Soak:
    model: str
    board: str
    fault_rate: float
    seed: int
    pool: int
    distinct_outputs: int  # distinct expected outputs in the pool: a mixed-up answer shows as wrong
    timeout: float
    retries_allowed: int
    inferences: int = 0
    correct: int = 0
    refused: int = 0
    wrong: int = 0
    seconds: float = 0.0
    stack_size: int = 0
    rss_start_kib: int = 0  # after HELLO, before the first window
    windows: list[Window] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)  # message (seq numbers removed) -> count
    wrong_examples: list[dict] = field(default_factory=list)  # the first few, for the report
    link: dict = field(default_factory=dict)
    proxy: dict = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C: the windows before it are kept

    # verdict ---------------------------------------------------------------------------------------------
    def stack_values(self) -> list[int]:
        return [w.stack_used for w in self.windows if w.stack_used is not None]

    def rss_growth_kib(self) -> int:
        """RSS of the last window minus the first window's (the first window absorbs warm-up)."""
        return self.windows[-1].rss_kib - self.windows[0].rss_kib if self.windows else 0

    def time_ratio(self) -> float:
        """Median time per inference, last window over first window."""
        first, last = self.windows[0], self.windows[-1]
        return last.median_ms / first.median_ms if first.median_ms else float("inf")

    def summary(self) -> dict:
        stack = self.stack_values()
        return {"inferences": self.inferences, "correct": self.correct, "refused": self.refused,
                "wrong": self.wrong, "seconds": round(self.seconds, 1),
                "stack_used": sorted(set(stack)), "stack_size": self.stack_size,
                "rss_first_kib": self.windows[0].rss_kib if self.windows else None,
                "rss_last_kib": self.windows[-1].rss_kib if self.windows else None,
                "rss_growth_kib": self.rss_growth_kib(),
                "median_ms_first": self.windows[0].median_ms if self.windows else None,
                "median_ms_last": self.windows[-1].median_ms if self.windows else None,
                "time_ratio_last_first": round(self.time_ratio(), 3) if self.windows else None}

    def to_json(self) -> dict:
        d = asdict(self)
        d["summary"] = self.summary()
        return d


def _refusal_key(e: EdgeqError) -> str:
    return re.sub(r"\(seq \d+\)", "(seq N)", e.what)


def run(port: str, pool: list[Case], *, inferences: int | None, duration: float | None, window: int,
        fault_rate: float = 0.0, seed: int = 0, timeout: float = 2.0, invoke_timeout: float = 10.0,
        retries: int = 3, soak: Soak, progress=None) -> Soak:
    """Run the soak against the bench firmware on ``port`` (through a FaultProxy when ``fault_rate``)
    until ``inferences`` are done or ``duration`` seconds have passed (whichever comes first)."""
    proxy_cm = (FaultProxy(port, to_device=fault_rate, to_host=fault_rate, seed=seed) if fault_rate
                else contextlib.nullcontext())
    with proxy_cm as proxy:
        with P.open_device(proxy.port if proxy else port, timeout=timeout, invoke_timeout=invoke_timeout,
                           retries=retries) as dev:
            _hello(dev, attempts=retries + 1)
            soak.stack_size = dev.info.stack_size
            soak.rss_start_kib = rss_kib()
            t_start = time.monotonic()
            end = t_start + duration if duration else None
            i = 0
            try:
                while (inferences is None or i < inferences) and (end is None or time.monotonic() < end):
                    n = window if inferences is None else min(window, inferences - i)
                    soak.windows.append(_window(dev, pool, i, n, soak, proxy))
                    i += n
                    if progress:
                        progress(soak.windows[-1])
            except KeyboardInterrupt:  # a long soak cut short still reports its complete windows
                soak.interrupted = True
            soak.seconds = time.monotonic() - t_start
            soak.link = dict(dev.link.stats) | {"chunk_shrinks": dev.stats["chunk_shrinks"]}
        if proxy:
            soak.proxy = proxy.stats
    return soak


def _hello(dev: P.Device, attempts: int) -> None:
    """HELLO with at least 1 s per attempt: until HELLO is answered the link's filler before a re-sent
    request grows to 4,106 bytes, which QEMU takes ~160 ms to swallow; a short timeout would re-send
    before the board caught up, and only hear stale replies."""
    short = dev.link.timeout
    dev.link.timeout = max(short, 1.0)
    try:
        for k in range(attempts):
            try:
                dev.hello()
                return
            except P.NoReply:
                if k == attempts - 1:
                    raise
    finally:
        dev.link.timeout = short


def _infer(dev: P.Device, case: Case, soak: Soak, index: int) -> str:
    try:
        outs, _ = dev.infer(case.inputs)
    except EdgeqError as e:
        key = _refusal_key(e)
        soak.refusals[key] = soak.refusals.get(key, 0) + 1
        return "refused"
    if tuple(outs) == case.outputs:
        return "correct"
    if len(soak.wrong_examples) < 5:
        soak.wrong_examples.append({"inference": index, "got": [o.hex() for o in outs],
                                    "expected": [o.hex() for o in case.outputs]})
    return "wrong"


def _stack(dev: P.Device, attempts: int = 3) -> int | None:
    for _ in range(attempts):
        try:
            return dev.stack()[0]
        except P.NoReply:
            continue
    return None


def _window(dev: P.Device, pool: list[Case], first: int, n: int, soak: Soak, proxy) -> Window:
    counts = {"correct": 0, "refused": 0, "wrong": 0}
    times = []
    retries0 = dev.link.stats["retries"]
    faults0 = proxy.injected() if proxy else 0
    t0 = time.monotonic()
    for i in range(first, first + n):
        t = time.perf_counter()
        counts[_infer(dev, pool[i % len(pool)], soak, i)] += 1
        times.append(time.perf_counter() - t)
    seconds = time.monotonic() - t0
    soak.inferences += n
    soak.correct += counts["correct"]
    soak.refused += counts["refused"]
    soak.wrong += counts["wrong"]
    return Window(index=len(soak.windows), first=first, inferences=n, **counts, seconds=round(seconds, 3),
                  median_ms=round(statistics.median(times) * 1e3, 3), mean_ms=round(seconds / n * 1e3, 3),
                  stack_used=_stack(dev), rss_kib=rss_kib(), retries=dev.link.stats["retries"] - retries0,
                  faults=(proxy.injected() - faults0) if proxy else 0)


# --- the whole run: build, boot, soak ----------------------------------------------------------------

def soak_model(model: bytes, *, name: str, board: str = BOARD, inferences: int | None = 10_000,
               duration: float | None = None, window: int = 500, pool_size: int = 64, fault_rate: float = 0.0,
               seed: int = 1, timeout: float | None = None, retries: int | None = None, work: Path | None = None,
               progress=None) -> Soak:
    """Generate, build and boot ``model``'s bench firmware on ``board``, then :func:`run` the soak.

    ``timeout`` / ``retries`` per request default to 2 s / 3 on a clean link and 0.1 s / 6 through the
    proxy (the board answers within milliseconds; a lost request costs the timeout)."""
    from edgeq.api import generate_c

    if inferences is None and duration is None:
        raise ValueError("give inferences, duration or both")
    faulty = fault_rate > 0
    timeout = timeout if timeout is not None else (0.1 if faulty else 2.0)
    retries = retries if retries is not None else (6 if faulty else 3)
    pool = reference_pool(model, pool_size, seed)
    soak = Soak(model=name, board=board, fault_rate=fault_rate, seed=seed, pool=pool_size,
                distinct_outputs=len({c.outputs for c in pool}), timeout=timeout, retries_allowed=retries)
    target = target_for(board)
    with contextlib.ExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgeq-soak-")))
        lib = generate_c(model, work / "model", prefix="model")
        build = target.build(lib.dir, work / "fw")
        with target.session(build.elf) as port:
            return run(port, pool, inferences=inferences, duration=duration, window=window, fault_rate=fault_rate,
                       seed=seed, timeout=timeout, invoke_timeout=max(10 * timeout, 1.0), retries=retries,
                       soak=soak, progress=progress)


# --- output ------------------------------------------------------------------------------------------

COLUMNS = ("window", "inferences", "correct", "refused", "wrong", "median ms", "mean ms", "stack B", "RSS KiB",
           "retries", "faults")


def window_row(w: Window) -> tuple:
    return (w.index, f"{w.first}-{w.first + w.inferences - 1}", w.correct, w.refused, w.wrong,
            f"{w.median_ms:.2f}", f"{w.mean_ms:.2f}", "-" if w.stack_used is None else w.stack_used, w.rss_kib,
            w.retries, w.faults)


def format_table(soak: Soak, max_rows: int = 12) -> str:
    ws = soak.windows
    if len(ws) > max_rows:  # the first and last windows, and evenly spaced ones between
        keep = sorted({round(k * (len(ws) - 1) / (max_rows - 1)) for k in range(max_rows)})
        ws = [ws[k] for k in keep]
    rows = [COLUMNS] + [tuple(map(str, window_row(w))) for w in ws]
    widths = [max(len(r[c]) for r in rows) for c in range(len(COLUMNS))]
    lines = ["  ".join(v.rjust(wd) for v, wd in zip(r, widths)) for r in rows]
    s = soak.summary()
    lines += [
        "",
        f"{soak.model} on {soak.board}, fault rate {soak.fault_rate:.2%} per byte each way, pool of {soak.pool} "
        f"inputs ({soak.distinct_outputs} distinct outputs), timeout {soak.timeout:g} s x {soak.retries_allowed + 1}",
        f"inferences {s['inferences']:,} in {s['seconds']:,} s: correct {s['correct']:,}, refused {s['refused']:,}, "
        f"wrong {s['wrong']:,}",
        f"stack high-water mark: {', '.join(map(str, s['stack_used'])) or '-'} of {s['stack_size']:,} bytes",
        f"RSS: {s['rss_first_kib']} KiB (first window) -> {s['rss_last_kib']} KiB (last), "
        f"growth {s['rss_growth_kib']} KiB",
        f"median time per inference: {s['median_ms_first']} ms (first window) -> {s['median_ms_last']} ms (last), "
        f"ratio {s['time_ratio_last_first']}",
    ]
    if soak.proxy:
        p = soak.proxy
        lines.append(f"faults injected: {p['to_device']['faults']:,} to the board, {p['to_host']['faults']:,} to the "
                     f"host, in {p['to_device']['bytes'] + p['to_host']['bytes']:,} bytes; link retries "
                     f"{soak.link.get('retries', 0):,}")
    if soak.interrupted:
        lines.append("interrupted: the figures above cover the finished windows")
    for msg, k in soak.refusals.items():
        lines.append(f"refused x{k}: {msg}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.tools.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="an int8 .tflite (default: the example digits CNN)")
    ap.add_argument("--board", default=BOARD, help="an emulated board (default %(default)s)")
    ap.add_argument("--inferences", type=int, help="stop after this many (default 10,000 without --duration)")
    ap.add_argument("--duration", type=float, help="stop after this many seconds (3600: the one-hour mode)")
    ap.add_argument("--window", type=int, default=500, help="inferences per row (default %(default)s)")
    ap.add_argument("--pool", type=int, default=64, help="distinct inputs with known outputs (default %(default)s)")
    ap.add_argument("--fault-rate", type=float, default=0.0, help="fraction of bytes hit each way, e.g. 0.01")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, help="per request, s (default 2, or 0.1 through the proxy)")
    ap.add_argument("--retries", type=int, help="per request (default 3, or 6 through the proxy)")
    ap.add_argument("--json", type=Path, help="write the whole record here")
    ap.add_argument("--quiet", action="store_true", help="no row per window while running")
    a = ap.parse_args(argv)
    inferences = a.inferences if a.inferences is not None or a.duration is not None else 10_000
    model = a.model.read_bytes() if a.model else digits_int8()
    name = a.model.stem if a.model else "digits_cnn (examples/digits, int8)"

    def progress(w: Window) -> None:
        if not a.quiet:
            print("  ".join(f"{c}={v}" for c, v in zip(COLUMNS, window_row(w))), flush=True)

    def stop(signum, frame):  # SIGTERM ends a long soak like Ctrl-C: the finished windows are reported
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        soak = soak_model(model, name=name, board=a.board, inferences=inferences, duration=a.duration,
                          window=a.window, pool_size=a.pool, fault_rate=a.fault_rate, seed=a.seed, timeout=a.timeout,
                          retries=a.retries, progress=progress)
    except EdgeqError as e:
        print(e.format(), file=sys.stderr)
        return 2
    print(format_table(soak))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(soak.to_json(), indent=1) + "\n")
    return 1 if soak.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
