"""Faulty serial links: the bench protocol against flipped, dropped and duplicated bytes, and against boards
that are wrong, absent, busy, reset or killed.

A QEMU board (mps2-an386) runs the bench firmware built around the MLPerf Tiny ad01 model (int8, 640-byte
input and output). ``tests.tools.faultproxy.FaultProxy`` sits between the host and the board's pty and
hits a set fraction of the bytes of each direction with a random fault (bit flip, drop or duplicate;
seeded). Every inference through it must either give outputs byte-identical to LiteRT's reference
kernels (and to the fault-free run) or be refused with an EdgeqError naming the port -- never a wrong
result. The CLI cases check the message and exit code 2 of `edgeq bench`; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tty
from pathlib import Path

import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.targets import protocol as P
from tests.tools.faultproxy import FaultProxy, Faults
from edgeq.errors import EdgeqError

serial = pytest.importorskip("serial")


def _which(name: str) -> bool:
    import shutil

    return shutil.which(name) is not None


pytestmark = pytest.mark.skipif(not (_which("qemu-system-arm") and _which("arm-none-eabi-gcc")),
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")

BOARD = "mps2-an386"
MODEL = MLPERF / "ad01_int8.tflite"
OTHER_MODEL = MLPERF / "kws_dscnn_int8.tflite"
EDGEQ = [sys.executable, "-m", "edgeq.cli.main"]
RESULTS: list[dict] = []  # one row per fault rate, printed at the end of the module


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    from edgeq.api import generate_c
    from edgeq.targets.firmware import build_bench
    from edgeq.targets.boards import load_board

    d = tmp_path_factory.mktemp("serial")
    lib = generate_c(MODEL.read_bytes(), d / "model", prefix="model")
    return build_bench(lib.dir, load_board(BOARD), d / "fw")


class Board:
    """The firmware under QEMU, with a QMP socket for system_reset."""

    def __init__(self, elf: Path, tmp: Path):
        from edgeq.targets.boards import load_board
        from edgeq.targets.qemu import QemuSession

        self.qmp_path = tmp / f"qmp-{os.getpid()}-{time.monotonic_ns()}.sock"
        args = load_board(BOARD).qemu_args(elf) + ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.session = QemuSession(args, board=BOARD)
        self.port = self.session.port

    def qmp(self, command: str) -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.qmp_path))
            f = s.makefile("rwb")
            f.readline()  # greeting
            for cmd in ("qmp_capabilities", command):
                f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                f.flush()
                while True:
                    msg = json.loads(f.readline())
                    if "return" in msg or "error" in msg:
                        assert "error" not in msg, msg
                        break

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="module")
def board(firmware, tmp_path_factory):
    b = Board(firmware.elf, tmp_path_factory.mktemp("qmp"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def samples():
    from edgeq.quality.references import LiteRT

    rng = np.random.default_rng(7)
    xs = [rng.integers(-128, 128, (1, 640), dtype=np.int8) for _ in range(3)]
    ref = LiteRT(MODEL.read_bytes())
    return [(x.tobytes(), [np.ascontiguousarray(o).tobytes() for o in ref.run([x])]) for x in xs]


def _edgeq(*args, timeout: float = 60) -> tuple[int, str, float]:
    t0 = time.monotonic()
    r = subprocess.run([*EDGEQ, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                       env=dict(os.environ, COLUMNS="200"))
    return r.returncode, r.stdout + r.stderr, time.monotonic() - t0


def _wait_until_open(proc: subprocess.Popen, port: str, timeout: float = 30.0) -> None:
    """Wait until ``proc`` has ``port`` open (its start-up can be slow on a loaded machine), then a second
    more for HELLO and the first latency runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            fds = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        except OSError:
            fds = []
        if port in fds:
            time.sleep(1.0)
            assert proc.poll() is None, proc.stdout.read()
            return
        time.sleep(0.05)
    raise AssertionError(f"edgeq bench did not open {port} within {timeout} s")


def test_fault_free_run_matches_litert(board, samples):
    with P.open_device(board.port, timeout=2.0) as dev:
        dev.hello()
        for x, want in samples:
            outs, cycles = dev.infer(x)
            assert outs == want and cycles > 0
        assert dev.link.stats["retries"] == 0


# (rate, inferences, link retries, at least this many correct). At 1 % per byte a 266-byte frame gets
# through 7 % of the time: the chunks shrink to 62 or 16 bytes and, with 6 retries, the inference
# usually gets through. At 5 % even the 92 bytes of a HELLO exchange rarely do: refusing is the answer.
RATES = [(0.001, 2, 3, 1), (0.01, 1, 6, 0), (0.05, 1, 3, 0)]
# A longer soak for docs/reliability.md: EDGEQ_FAULT_SOAK=K runs K times the inferences (and a 0.5 % rate).
SOAK = int(os.environ.get("EDGEQ_FAULT_SOAK", "1"))
if SOAK > 1:
    RATES = [(0.001, 6 * SOAK, 3, 1), (0.005, 2 * SOAK, 6, 0), (0.01, SOAK, 6, 0), (0.05, 1, 3, 0)]


@pytest.mark.parametrize("rate, n, retries, min_ok", RATES)
def test_faulty_link_is_correct_or_refused(board, samples, rate, n, retries, min_ok):
    t0 = time.monotonic()
    ok = refused = 0
    messages = []
    with FaultProxy(board.port, to_device=rate, to_host=rate, seed=int(rate * 1e5)) as proxy:
        with P.open_device(proxy.port, timeout=0.3, invoke_timeout=1.0, retries=retries) as dev:
            for i in range(n):
                x, want = samples[i % len(samples)]
                try:
                    outs, _ = dev.infer(x)
                except EdgeqError as e:
                    msg = e.format()
                    assert proxy.port in msg, msg  # a clear error names the port
                    refused += 1
                    messages.append(e.what)
                    continue
                assert outs == want, f"WRONG result through a {rate:.1%} faulty link"  # never wrong
                ok += 1
            stats, link = proxy.stats, dict(dev.link.stats)
    row = {"rate": rate, "inferences": n, "link_retries": retries, "correct": ok, "refused": refused,
           "faults_to_device": stats["to_device"]["faults"], "faults_to_host": stats["to_host"]["faults"],
           "bytes": stats["to_device"]["bytes"] + stats["to_host"]["bytes"], "retries": link["retries"],
           "seconds": round(time.monotonic() - t0, 1), "refusals": messages}
    RESULTS.append(row)
    print(row)
    assert ok + refused == n and ok >= min_ok
    assert stats["to_device"]["faults"] + stats["to_host"]["faults"] > 0  # faults were really injected
    if refused:
        assert link["retries"] > 0  # refused only after retrying


def test_proxy_counts_faults_deterministically():
    """Same seed, same traffic: the same faults (a pty loop through the proxy, no board)."""
    counts = []
    for _ in range(2):
        master, slave = os.openpty()

        tty.setraw(slave)
        with FaultProxy(os.ttyname(slave), to_device=Faults(0.05), seed=3) as proxy:
            port = serial.Serial(proxy.port, timeout=0.2)
            port.write(bytes(range(256)) * 8)
            got, deadline = b"", time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(master, 4096)
                except BlockingIOError:
                    chunk = b""
                got += chunk
                if len(got) >= 1900 and not chunk:
                    break
                os.set_blocking(master, False)
                time.sleep(0.02)
            port.close()
            s = proxy.stats["to_device"]
        os.close(master)
        os.close(slave)
        assert s["bytes"] == 2048 and s["faults"] == s["flip"] + s["drop"] + s["dup"] > 50
        assert len(got) == 2048 - s["drop"] + s["dup"]
        counts.append(s)
    assert counts[0] == counts[1]


# --- the CLI against wrong, absent and busy boards ------------------------------------------------------

def test_cli_bench_through_the_port(board):
    rc, out, _ = _edgeq("bench", "--board", BOARD, "--port", board.port, "--runs", 2, "--model", MODEL,
                        "--timeout", 2)
    assert rc == 0, out


def test_cli_wrong_firmware_on_the_board(board):
    rc, out, _ = _edgeq("bench", "--board", BOARD, "--port", board.port, "--model", OTHER_MODEL, "--runs", 1,
                        "--timeout", 2)
    assert rc == 2, out
    assert f"firmware on {board.port} was built from model" in out and "expected" in out
    assert "Traceback" not in out


def test_cli_no_board_at_the_port():
    master, slave = os.openpty()  # a port nobody answers
    try:
        path = os.ttyname(slave)
        rc, out, took = _edgeq("bench", "--board", BOARD, "--port", path, "--runs", 1, "--timeout", 0.3)
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 2, out
    # Either every attempt went unanswered, or the pty's buffer filled up first (nothing reads it): both
    # name the port and say nothing was heard.
    assert (f"no valid reply from {path} to HELLO" in out and "after 4 attempts" in out) or \
        f"serial port {path}: write timed out: nothing drains the port" in out, out
    assert "last heard: nothing at all" in out and "Traceback" not in out
    assert took < 8, took  # 4 attempts of 0.3 s or a 2 s write timeout, plus start-up


def test_cli_nonexistent_port():
    rc, out, _ = _edgeq("bench", "--board", BOARD, "--port", "/dev/ttyEDGEQ-nonexistent", "--runs", 1)
    assert rc == 2 and "cannot open serial port /dev/ttyEDGEQ-nonexistent: it does not exist" in out, out


def test_cli_busy_port(board):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import serial, sys, time; s = serial.Serial(sys.argv[1], exclusive=True); "
         "print('held', flush=True); time.sleep(60)", board.port], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        rc, out, _ = _edgeq("bench", "--board", BOARD, "--port", board.port, "--runs", 1, "--timeout", 1)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert rc == 2, out
    assert f"serial port {board.port} is busy" in out and "Traceback" not in out


# --- boards that reset or die mid-benchmark ------------------------------------------------------------

def test_board_reset_between_and_during_inferences(board, samples):
    x, want = samples[0]
    with P.open_device(board.port, timeout=1.0) as dev:
        dev.hello()
        assert dev.infer(x)[0] == want
        board.qmp("system_reset")  # between two inferences: the run counter goes back
        with pytest.raises(EdgeqError) as e:
            dev.infer(x)
        assert f"the board on {board.port} restarted during the benchmark" in e.value.what
        dev.hello()
        assert dev.infer(x)[0] == want  # after a new HELLO the board is usable again
        dev.set_input(0, x)
        board.qmp("system_reset")  # between SET_INPUT and INVOKE: the inputs are gone
        time.sleep(0.2)
        with pytest.raises(EdgeqError) as e:
            dev.invoke()
        assert "restarted" in e.value.what


def test_cli_board_reset_mid_benchmark(board):
    cmd = [*EDGEQ, "bench", "--board", BOARD, "--port", board.port, "--runs", 100000, "--timeout", 1]
    proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO, env=dict(os.environ, COLUMNS="200"))
    try:
        _wait_until_open(proc, board.port)
        # Reset until the bench notices: a reset that lands before the runs start (HELLO, SET_INPUT) is
        # legitimately survived by the retries, so one reset is not enough on a loaded machine.
        deadline = time.monotonic() + 25
        while proc.poll() is None and time.monotonic() < deadline:
            board.qmp("system_reset")
            time.sleep(1.0)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, out
    assert f"the board on {board.port} restarted during the benchmark" in out or "other inputs" in out or \
        "not the ones" in out, out


def test_qemu_killed_mid_run_is_detected_without_hang_or_zombie(firmware, tmp_path, samples):
    b = Board(firmware.elf, tmp_path)
    pid = b.session.proc.pid
    cmd = [*EDGEQ, "bench", "--board", BOARD, "--port", b.port, "--runs", 100000, "--timeout", 1]
    proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO, env=dict(os.environ, COLUMNS="200"))
    try:
        _wait_until_open(proc, b.port)
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        b.close()
    assert proc.returncode == 2, out
    assert b.port in out and ("hung up" in out or "no valid reply" in out), out
    assert "Traceback" not in out
    assert took < 6, took
    assert not b.session.alive and not Path(f"/proc/{pid}").exists()  # reaped: no zombie


def test_qemu_killed_behind_the_fault_proxy(firmware, tmp_path, samples):
    b = Board(firmware.elf, tmp_path)
    x, want = samples[0]
    try:
        with FaultProxy(b.port) as proxy, P.open_device(proxy.port, timeout=0.5) as dev:
            assert dev.infer(x)[0] == want
            os.kill(b.session.proc.pid, signal.SIGKILL)
            t0 = time.monotonic()
            with pytest.raises(EdgeqError) as e:
                for _ in range(50):
                    dev.infer(x)
            assert time.monotonic() - t0 < 5
            assert proxy.hung_up == "board"
        assert proxy.port in e.value.format()
    finally:
        b.close()


@pytest.fixture(scope="module", autouse=True)
def _fault_summary():
    """After the module, print the fault-rate table of the runs this worker made (run with -s to see it)."""
    yield
    if RESULTS:
        _print_summary()


def _print_summary():
    print("\nrate    inferences correct refused faults(to dev/to host) bytes  retries  seconds")
    for r in RESULTS:
        print(f"{r['rate']:<7.1%} {r['inferences']:>10} {r['correct']:>7} {r['refused']:>7} "
              f"{r['faults_to_device']:>10}/{r['faults_to_host']:<10} {r['bytes']:>6} {r['retries']:>7} {r['seconds']:>8}")


def test_flow_names_a_dead_emulator(firmware, samples):
    """Inside a target session (convert-and-flash), a QEMU killed mid-run is named as such, with its exit."""
    from edgeq.targets.select import target_for
    from edgeq.targets.qemu import _LIVE

    x, want = samples[0]
    with pytest.raises(EdgeqError) as e:
        with target_for(BOARD).session(firmware.elf) as port, P.open_device(port, timeout=0.5) as dev:
            assert dev.infer(x)[0] == want
            (s,) = [s for s in _LIVE if s.port == port]
            os.kill(s.proc.pid, signal.SIGKILL)
            for _ in range(50):
                dev.infer(x)
    assert "QEMU running mps2-an386 was killed by signal 9 during the run" in e.value.what
    assert "hung up" in " ".join(e.value.detail)
