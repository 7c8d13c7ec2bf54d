"""Bench protocol v3, both sides, without QEMU.

* CRC-32 of the Python and the C implementation against zlib.
* The Python (``FrameParser``) and the C (``proto_feed``, through a small harness built with ASan/UBSan)
  parsers fed garbage, truncated frames and flipped bits: only valid frames come out, and they agree.
* The bench application built for the host (``firmware/bench/host_platform.c``) with a real generated
  model, attached to a pty whose /dev/pts slave is opened with pyserial exactly like a board's port:
  HELLO, INFER vs LiteRT byte for byte, PROFILE, DUMP of every op vs LiteRT's intermediates, STACK,
  error replies, the model-hash refusal, and recovery from garbage on the line.
* The Link's retry logic against a scripted in-memory port (lost, corrupted, stale replies).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import struct
import subprocess
import time
import tty
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paths import MLPERF, REPO
from edgeq.api import generate_c, lower_tflite
from edgeq.targets import protocol as P
from edgeq.targets.firmware import BENCH_HOOKS_HEADER, HOST_PLATFORM, render_bench_config
from edgeq.errors import EdgeqError

FW = REPO / "firmware"
BENCH = FW / "bench"
PLATFORM = FW / "platform"
MODEL = MLPERF / "ad01_int8.tflite"
STACK_USED = 1234
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]

needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="host gcc not installed")


def _sanitize_flags(tmp: Path) -> list[str]:
    """ASan + UBSan when this gcc has them (an out-of-bounds access then aborts the program)."""
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
    src = tmp / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    r = subprocess.run(["gcc", *flags, str(src), "-o", str(tmp / "probe")], capture_output=True)
    return flags if r.returncode == 0 else []


def _gcc(args: list, cwd: Path) -> None:
    r = subprocess.run(["gcc", *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0 and "warning" not in r.stderr.lower(), r.stderr


SAN_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1")


# --- CRC -----------------------------------------------------------------------------------------------

def test_crc32_matches_zlib():
    assert P.crc32(b"123456789") == 0xCBF43926 == zlib.crc32(b"123456789")
    assert P.crc32(b"") == 0
    rng = random.Random(1)
    for n in list(range(40)) + [255, 256, 1000, 4096, 4106]:
        data = rng.randbytes(n)
        assert P.crc32(data) == zlib.crc32(data)
        k = rng.randint(0, n)
        assert P.crc32(data[k:], P.crc32(data[:k])) == zlib.crc32(data)  # chaining


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 2**32 - 1))
def test_crc32_matches_zlib_property(data, init):
    assert P.crc32(data, init) == zlib.crc32(data, init)


# --- the C parser through a harness -------------------------------------------------------------------

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "protocol.h"

static uint8_t out[EDGEQ_PROTO_MAX_FRAME];
static void wr(const uint8_t *d, size_t n) { fwrite(d, 1, n, stdout); }

int main(int argc, char **argv) {
  proto_parser_t *p = malloc(sizeof *p); /* heap: ASan sees any access past its end */
  unsigned long k = 0;
  int c;
  if (argc > 1 && strcmp(argv[1], "crc") == 0) { /* crc of stdin, whole and chained */
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, stdin), h = n / 3;
    printf("%08lx %08lx\n", (unsigned long)proto_crc32(buf, n),
           (unsigned long)proto_crc32_update(proto_crc32_update(0, buf, h), buf + h, n - h));
    return 0;
  }
  if (!p) return 2;
  proto_parser_init(p);
  while ((c = getchar()) != EOF) {
    const proto_frame_t *f = proto_feed(p, (uint8_t)c);
    if (!f) continue;
    if (f->len > EDGEQ_PROTO_MAX_PAYLOAD || p->n > sizeof p->buf) abort();
    if (k++ & 1) { /* echo each frame, alternating the two encoders */
      size_t n = proto_encode(out, sizeof out, f->type, f->seq, f->payload, f->len);
      if (!n) abort();
      wr(out, n);
    } else {
      proto_tx_t tx;
      size_t h = f->len / 3;
      if (proto_tx_begin(&tx, wr, f->type, f->seq, f->len)) abort();
      proto_tx_data(&tx, f->payload, h);
      proto_tx_data(&tx, f->payload + h, f->len - h);
      if (proto_tx_end(&tx)) abort();
    }
  }
  free(p);
  return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("host gcc not installed")
    d = tmp_path_factory.mktemp("proto_harness")
    (d / "harness.c").write_text(HARNESS)
    exe = d / "harness"
    _gcc([*WARN, "-O1", *_sanitize_flags(d), f"-I{BENCH}", "harness.c", BENCH / "protocol.c", "-o", exe], d)
    return exe


def c_parse(harness: Path, data: bytes) -> list[P.Frame]:
    r = subprocess.run([str(harness)], input=data, capture_output=True, env=SAN_ENV, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    parser = P.FrameParser()
    frames = parser.feed(r.stdout)
    # the harness writes only the frames it accepted, re-encoded: nothing else may be in its output
    assert b"".join(f.encode() for f in frames) == r.stdout
    return frames


def py_parse(data: bytes, chunk_seed: int = 0) -> list[P.Frame]:
    """Feed in random-sized pieces (the Python parser must not depend on how bytes arrive)."""
    rng = random.Random(chunk_seed)
    parser, out, i = P.FrameParser(), [], 0
    while i < len(data):
        n = rng.choice([1, 1, 2, 7, 64, 1000, 5000])
        out += parser.feed(data[i : i + n])
        i += n
    return out


def test_c_crc_matches_zlib(harness):
    data = random.Random(2).randbytes(100_003)
    r = subprocess.run([str(harness), "crc"], input=data, capture_output=True, env=SAN_ENV, check=True)
    whole, chained = (int(x, 16) for x in r.stdout.split())
    assert whole == chained == zlib.crc32(data)


def _random_frames(rng: random.Random, n: int) -> list[P.Frame]:
    sizes = [0, 1, 2, 5, 17, 255, 256, 1000, P.MAX_PAYLOAD - 1, P.MAX_PAYLOAD]
    return [P.Frame(rng.randrange(256), rng.randrange(256), rng.randbytes(rng.choice(sizes))) for _ in range(n)]


def _garbage(rng: random.Random, n: int, hostile: bool) -> bytes:
    """Random bytes; ``hostile`` adds false syncs with plausible lengths (they swallow what follows)."""
    out = bytearray(rng.randbytes(n))
    if hostile and n >= 6:
        for _ in range(max(1, n // 50)):
            i = rng.randrange(n - 5)
            out[i : i + 6] = P.SYNC + bytes([rng.randrange(256), rng.randrange(256)]) + struct.pack(
                "<H", rng.choice([0, 3, 100, 4000, 4096, 4097, 0xFFFF]))
    return bytes(out)


FLUSH = bytes(P.MAX_FRAME)  # what the host sends before a retry: completes any pending candidate


@pytest.mark.parametrize("hostile", [False, True])
def test_parsers_recover_every_frame_from_garbage(harness, hostile):
    rng = random.Random(10 + hostile)
    frames = _random_frames(rng, 60)
    stream = bytearray()
    for f in frames:
        stream += _garbage(rng, rng.choice([0, 1, 5, 50, 700]), hostile) + f.encode()
    stream += FLUSH
    assert py_parse(bytes(stream)) == frames
    assert c_parse(harness, bytes(stream)) == frames


def test_parsers_drop_truncated_and_corrupted_frames(harness):
    rng = random.Random(20)
    good, stream = [], bytearray()
    for f in _random_frames(rng, 80):
        raw = bytearray(f.encode())
        fault = rng.choice(["none", "truncate", "flip", "flip-len", "flip-crc", "flip-sync"])
        if fault == "truncate":
            raw = raw[: rng.randrange(1, len(raw))]
        elif fault == "flip":
            i = rng.randrange(2, len(raw))
            raw[i] ^= 1 << rng.randrange(8)
        elif fault == "flip-len":
            raw[4 + rng.randrange(2)] ^= 1 << rng.randrange(8)
        elif fault == "flip-crc":
            raw[-1 - rng.randrange(4)] ^= 1 << rng.randrange(8)
        elif fault == "flip-sync":
            raw[rng.randrange(2)] ^= 1 << rng.randrange(8)
        else:
            good.append(f)
        stream += raw
    stream += FLUSH
    assert py_parse(bytes(stream)) == good == oracle(bytes(stream))
    assert c_parse(harness, bytes(stream)) == good


def test_parsers_on_pure_garbage_only_emit_frames_present_in_the_input(harness):
    rng = random.Random(30)
    stream = _garbage(rng, 300_000, hostile=True) + FLUSH
    py, c = py_parse(stream), c_parse(harness, stream)
    assert py == c == oracle(stream)
    for f in py:  # (random data is all but certain to hold none; if it does, it must be genuine)
        assert f.encode() in stream and len(f.payload) <= P.MAX_PAYLOAD


def test_c_parser_at_the_length_limits(harness):
    big = P.Frame(0x02, 9, bytes(range(256)) * 16)  # exactly MAX_PAYLOAD
    over = bytearray(P.SYNC + struct.pack("<BBH", 2, 9, P.MAX_PAYLOAD + 1) + bytes(P.MAX_PAYLOAD + 5))
    huge = P.SYNC + struct.pack("<BBH", 2, 9, 0xFFFF)
    empty = P.Frame(0x01, 0, b"")
    stream = bytes(over) + big.encode() + huge + empty.encode() + big.encode() + FLUSH
    assert c_parse(harness, stream) == py_parse(stream) == [big, empty, big]
    with pytest.raises(ValueError):
        P.encode_frame(1, 0, bytes(P.MAX_PAYLOAD + 1))


def oracle(stream: bytes) -> list[P.Frame]:
    """What a correct parser emits from a stream that ends with FLUSH: scanning left to right, every
    position where a complete, CRC-valid frame starts (and which is not inside one already taken)."""
    out, i = [], 0
    while i + P.OVERHEAD <= len(stream):
        if stream[i : i + 2] == P.SYNC:
            (n,) = struct.unpack_from("<H", stream, i + 4)
            end = i + P.OVERHEAD + n
            if n <= P.MAX_PAYLOAD and end <= len(stream) and \
                    zlib.crc32(stream[i + 2 : end - 4]) == struct.unpack_from("<I", stream, end - 4)[0]:
                out.append(P.Frame(stream[i + 2], stream[i + 3], bytes(stream[i + 6 : end - 4])))
                i = end
                continue
        i += 1
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40),
                          st.builds(lambda t, s, p: P.encode_frame(t, s, p), st.integers(0, 255),
                                    st.integers(0, 255), st.binary(max_size=60)),
                          st.sampled_from([P.SYNC, P.SYNC[:1], P.SYNC + b"\x01\x02\xff\xff",
                                           P.SYNC + b"\x01\x02\x20\x00"])),
                max_size=20), st.integers(0, 100))
def test_python_parser_property(pieces, seed):
    stream = b"".join(pieces) + FLUSH
    out = py_parse(stream, seed)
    assert out == oracle(stream)
    # every frame put in whole comes out, in order (a false sync before it cannot hide it)
    put = [p for p in pieces if len(p) >= P.OVERHEAD and p[:2] == P.SYNC and P.FrameParser().feed(p)]
    got = iter(f.encode() for f in out)
    assert all(any(g == p for g in got) for p in put)


# --- bench_config.h ------------------------------------------------------------------------------------

def test_render_bench_config():
    sha = bytes(range(32))
    text = render_bench_config("mps2-an386", sha, 25_000_000, "systick")
    assert '#define BENCH_BOARD_NAME "mps2-an386"' in text
    assert "#define BENCH_CLOCK_HZ 25000000u" in text and "#define BENCH_COUNTER_KIND 1" in text
    assert f"#define BENCH_PROTO_VERSION {P.PROTO_VERSION}" in text
    assert "0x00, 0x01, 0x02" in text and "0x1f" in text and "BENCH_NUM_OPS" not in text
    assert "#define BENCH_COUNTER_KIND 0" in render_bench_config("b", sha, 1, "dwt")
    for bad in [dict(model_sha256=sha[:31]), dict(board_name='a"b\n'), dict(clock_hz=0), dict(counter_kind="pmu")]:
        args = dict(board_name="b", model_sha256=sha, clock_hz=1, counter_kind=1) | bad
        with pytest.raises(EdgeqError):
            render_bench_config(**args)


# --- the bench application on the host, over a pty -----------------------------------------------------

@pytest.fixture(scope="module")
def tflite() -> bytes:
    return MODEL.read_bytes()


@pytest.fixture(scope="module")
def graph(tflite):
    return lower_tflite(tflite)


def build_host_bench(d: Path, tflite: bytes) -> Path:
    """The bench application + host platform + a generated model library, built with gcc (sanitized)."""
    if not shutil.which("gcc"):
        pytest.skip("host gcc not installed")
    lib = generate_c(tflite, d / "model", prefix="model")
    (d / "cfg").mkdir()
    (d / "cfg" / "bench_config.h").write_text(
        render_bench_config("host-test", hashlib.sha256(tflite).digest(), 1_000_000_000, "systick"))
    san = _sanitize_flags(d)
    inc = [f"-I{BENCH}", f"-I{PLATFORM}", f"-I{lib.dir}", f"-I{d / 'cfg'}"]
    objs = []
    for src in [BENCH / "bench_main.c", BENCH / "protocol.c", HOST_PLATFORM] + [lib.dir / s for s in lib.context["sources"]]:
        obj = d / (src.stem + ".o")
        hooks = ["-include", BENCH_HOOKS_HEADER] if src.name == "model.c" else []
        _gcc([*WARN, "-O2", *san, *inc, *hooks, "-c", src, "-o", obj], d)
        objs.append(obj)
    exe = d / "bench_host"
    _gcc([*san, *objs, "-o", exe], d)
    return exe


@pytest.fixture(scope="module")
def bench_exe(tmp_path_factory, tflite, graph) -> Path:
    return build_host_bench(tmp_path_factory.mktemp("bench_host"), tflite)


class BenchProcess:
    """The host bench attached to a fresh pty; the test talks to the /dev/pts slave with pyserial."""

    def __init__(self, exe: Path, env: dict | None = None):
        import serial

        master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        env = dict(SAN_ENV, EDGEQ_BENCH_FD=str(master), EDGEQ_BENCH_STACK_USED=str(STACK_USED), **(env or {}))
        self.proc = subprocess.Popen([str(exe)], env=env, pass_fds=(master,), stderr=subprocess.PIPE)
        os.close(master)
        self.port = serial.Serial(self.path, 115200, timeout=0.05)

    def close(self) -> int:
        self.port.close()
        os.close(self.slave)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        err = self.proc.stderr.read().decode(errors="replace")
        assert rc == 0, err  # the process ends by itself when the port hangs up; sanitizers found nothing
        return rc


@pytest.fixture(scope="module")
def bench(bench_exe):
    b = BenchProcess(bench_exe)
    yield b
    b.close()


@pytest.fixture
def device(bench):
    return P.Device(bench.port, timeout=2.0, invoke_timeout=10.0)


def _random_input(rng, n):
    return rng.integers(-128, 128, n, dtype=np.int8)


def test_hello(device, bench, tflite, graph):
    info = device.hello()
    assert info.proto_version == P.PROTO_VERSION == 3 and info.board == "host-test"
    assert info.model_sha256 == hashlib.sha256(tflite).digest()
    assert info.arena_bytes == graph.plan.size
    assert info.stack_size == 16384 and info.clock_hz == 1_000_000_000 and info.counter == "systick"
    assert info.n_ops == len(graph.ops) == 10
    assert info.input_bytes == tuple(graph.tensor(t).nbytes for t in graph.inputs) == (640,)
    assert info.output_bytes == tuple(graph.tensor(t).nbytes for t in graph.outputs) == (640,)
    assert info.max_payload == 256  # BENCH_MAX_REQUEST: the longest request the device accepts
    assert info.state_bytes == 0  # a model without state
    assert device.name == bench.path


def test_infer_matches_litert(device, tflite):
    from edgeq.quality.references import LiteRT

    ref, rng = LiteRT(tflite), np.random.default_rng(0)
    for _ in range(10):
        x = _random_input(rng, 640)
        outputs, cycles = device.infer([x.tobytes()])
        expected = ref.run(x)
        assert [o for o in outputs] == [e.astype(np.int8).tobytes() for e in expected]
        assert cycles > 0


def test_repeated_runs_are_identical(device):
    # the memory plan reuses the input's bytes; the bench restores them before every run
    x = _random_input(np.random.default_rng(1), 640).tobytes()
    first, _ = device.infer([x])
    device.invoke()
    device.profile()
    device.dump(0)
    assert device.get_output(0) == first[0]
    assert device.infer(x)[0] == first


def test_profile(device):
    device.infer([_random_input(np.random.default_rng(2), 640).tobytes()])
    prof = device.profile()
    assert len(prof) == device.info.n_ops == 10
    assert all(c > 0 for c in prof)  # every FULLY_CONNECTED runs a kernel
    total = device.invoke()
    assert sum(prof) < 20 * total + 10_000_000  # same order as a whole invoke (host timing is noisy)


def test_dump_every_op_matches_litert(device, tflite, graph):
    from edgeq.quality.references import LiteRT

    ref = LiteRT(tflite, preserve_all=True)
    x = _random_input(np.random.default_rng(3), 640)
    ref.run(x)
    device.set_input(0, x.tobytes())
    for k, op in enumerate(graph.ops):
        tid = op.lowered.args[-1]
        got = device.dump(k)
        assert got == ref.tensor(tid).tobytes(), f"op {k} {op.kind}"


def test_stack(device):
    assert device.stack() == (STACK_USED, 16384)


def test_check_model(device, tflite, bench):
    good = hashlib.sha256(tflite).digest()
    assert device.check_model(good).board == "host-test"
    device.check_model(good.hex())
    other = hashlib.sha256(b"another model").digest()
    with pytest.raises(EdgeqError) as e:
        device.check_model(other)
    msg = e.value.format()
    assert bench.path in msg and good.hex()[:8] in msg and other.hex()[:8] in msg and "edgeq flash" in msg


def _refused(device, type, payload, code):
    with pytest.raises(P.DeviceError) as e:
        device.link.request(type, payload)
    assert e.value.code == code, e.value.format()
    assert device.name in e.value.what
    return e.value


def test_error_replies(device):
    E = P.ErrorCode
    _refused(device, P.Type.SET_INPUT, struct.pack("<BI", 1, 0) + b"x", E.BAD_INDEX)
    _refused(device, P.Type.SET_INPUT, struct.pack("<BI", 0, 640) + b"x", E.BAD_RANGE)
    _refused(device, P.Type.SET_INPUT, struct.pack("<BI", 0, 0xFFFFFFFF) + b"x", E.BAD_RANGE)
    _refused(device, P.Type.SET_INPUT, struct.pack("<BI", 0, 600) + bytes(41), E.BAD_RANGE)
    _refused(device, P.Type.SET_INPUT, b"\x00\x00", E.BAD_LENGTH)
    _refused(device, P.Type.GET_OUTPUT, struct.pack("<BIH", 3, 0, 1), E.BAD_INDEX)
    _refused(device, P.Type.GET_OUTPUT, struct.pack("<BIH", 0, 639, 2), E.BAD_RANGE)
    _refused(device, P.Type.GET_OUTPUT, struct.pack("<BIH", 0, 0xFFFFFFFF, 0xFFFF), E.BAD_RANGE)
    _refused(device, P.Type.GET_OUTPUT, struct.pack("<BI", 0, 0), E.BAD_LENGTH)
    _refused(device, P.Type.DUMP, struct.pack("<H", 10), E.BAD_INDEX)
    _refused(device, P.Type.DUMP, b"\x00", E.BAD_LENGTH)
    _refused(device, P.Type.HELLO, b"\x00", E.BAD_LENGTH)
    _refused(device, P.Type.STACK, b"\x00", E.BAD_LENGTH)
    _refused(device, P.Type.RESET_STATE, b"\x00", E.BAD_LENGTH)
    _refused(device, P.Type.INVOKE, b"\x00\x00", E.BAD_LENGTH)
    device.reset_state()  # a model without state runs sequences too: frame 0, then 1, never 3
    _refused(device, P.Type.INVOKE, struct.pack("<I", 1), E.BAD_FRAME)  # frame 0 has not run yet
    device.invoke(0)
    _refused(device, P.Type.INVOKE, struct.pack("<I", 2), E.BAD_FRAME)
    device.invoke(1)
    device.invoke(1)  # a retry of the current frame
    _refused(device, P.Type.INVOKE, struct.pack("<I", 0), E.BAD_FRAME)
    err = _refused(device, 0x42, b"", E.UNKNOWN_TYPE)
    assert "unknown request" in err.message
    _refused(device, 0x00, b"", E.UNKNOWN_TYPE)
    # edge cases that are fine: an empty write at the end, a read of nothing at the end
    assert device.link.request(P.Type.SET_INPUT, struct.pack("<BI", 0, 640))[0].payload == b""
    assert device.link.request(P.Type.GET_OUTPUT, struct.pack("<BIH", 0, 640, 0))[0].payload == b""
    assert device.hello().n_ops == 10  # still serving


def test_device_ignores_reply_frames_and_host_gives_up_naming_the_port(bench):
    # a reply-type frame is never answered (a line that echoes would otherwise ping-pong forever)
    link = P.Link(bench.port, timeout=0.3, retries=1, resync_pad=False)
    with pytest.raises(EdgeqError) as e:
        link.request(P.Type.HELLO | P.REPLY)
    msg = e.value.format()
    assert bench.path in msg and "after 2 attempts" in msg and "last heard: nothing at all" in msg
    assert P.Device(bench.port).hello().n_ops == 10


def test_device_recovers_from_garbage_and_truncated_requests(bench):
    rng = random.Random(40)
    device = P.Device(P.Link(bench.port, timeout=0.5, retries=2))
    bad = bytearray(P.encode_frame(P.Type.HELLO, 7))
    bad[-1] ^= 0x10
    for junk in [rng.randbytes(5000), bytes(bad), P.encode_frame(P.Type.SET_INPUT, 1, bytes(600))[:300],
                 P.SYNC + struct.pack("<BBH", 1, 1, 4000)]:
        bench.port.write(junk)  # the next request lands inside a false/truncated frame: re-sent after a pad
        info = device.hello()
        assert info.n_ops == 10
    x = _random_input(np.random.default_rng(4), 640).tobytes()
    assert device.infer([x])[0] == P.Device(bench.port).infer([x])[0]


def test_host_process_exits_when_the_port_hangs_up(bench_exe):
    b = BenchProcess(bench_exe)
    assert P.Device(b.port).stack()[1] == 16384
    assert b.close() == 0


def test_host_bench_in_qemu_like_pty_mode(bench_exe):
    """EDGEQ_BENCH_PTY=1: the bench creates its own pty and announces it the way QEMU's -serial pty does."""
    import re

    proc = subprocess.Popen([str(bench_exe)], env=dict(SAN_ENV, EDGEQ_BENCH_PTY="1"), stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline().decode()
        m = re.search(r"char device redirected to (/dev/pts/\d+)", line)
        assert m, line
        with P.open_device(m.group(1)) as device:
            assert device.hello().board == "host-test"
        with P.open_device(m.group(1)) as device:  # a second session on the same port, as after a re-open
            assert device.stack() == (1024, 16384)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_model_with_an_aliased_reshape(tmp_path):
    """kws_dscnn: op 10 is a RESHAPE that runs no kernel (its output aliases its input), so the hook index
    space (MODEL_NUM_OPS = 13) is larger than the 12 kernel calls; the op after it must still be profiled and dumped."""
    from edgeq.quality.references import LiteRT

    tflite = (MLPERF / "kws_dscnn_int8.tflite").read_bytes()
    graph = lower_tflite(tflite)
    aliased = [k for k, op in enumerate(graph.ops) if op.lowered is None]
    assert aliased == [10] and len(graph.ops) == 13
    b = BenchProcess(build_host_bench(tmp_path, tflite))
    try:
        device = P.Device(b.port, invoke_timeout=20.0)
        assert device.hello().n_ops == 13
        prof = device.profile()
        assert len(prof) == 13 and prof[10] == 0 and all(c > 0 for k, c in enumerate(prof) if k != 10)
        with pytest.raises(P.DeviceError) as e:
            device.dump(10)
        assert e.value.code == P.ErrorCode.NO_KERNEL
        ref = LiteRT(tflite, preserve_all=True)
        x = _random_input(np.random.default_rng(5), device.info.input_bytes[0])
        outs, _ = device.infer([x.tobytes()])
        assert outs == [o.astype(np.int8).tobytes() for o in ref.run(x)]
        for k in (0, 1, 11, 12):  # op 0 writes 8000 bytes: a DUMP of several frames
            assert device.dump(k) == ref.tensor(graph.ops[k].lowered.args[-1]).tobytes(), k
    finally:
        b.close()


# --- Link against a scripted port ---------------------------------------------------------------------

class ScriptedPort:
    """In-memory pyserial stand-in: ``respond(frame, n)`` returns the bytes the "device" sends back to
    the n-th request frame it receives."""

    def __init__(self, respond):
        self.respond, self.timeout, self.port = respond, 0.05, "/dev/fake0"
        self.rx, self.parser, self.requests = bytearray(), P.FrameParser(), []

    def write(self, data):
        for f in self.parser.feed(bytes(data)):
            self.requests.append(f)
            self.rx += self.respond(f, len(self.requests))
        return len(data)

    @property
    def in_waiting(self):
        return len(self.rx)

    def read(self, n):
        if not self.rx:
            time.sleep(min(self.timeout, 0.005))
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def reset_input_buffer(self):
        self.rx.clear()


def test_link_retries_lost_corrupted_and_stale_replies():
    def respond(f, n):
        good = P.encode_frame(f.type | P.REPLY, f.seq, b"ok")
        if n == 1:
            return b""  # lost
        if n == 2:
            bad = bytearray(good)
            bad[7] ^= 4
            return bytes(bad)  # corrupted
        if n == 3:
            return P.encode_frame(f.type | P.REPLY, (f.seq - 1) & 0xFF, b"old")  # stale
        return b"noise" + P.encode_frame(f.type | 0x80, f.seq, b"\x00")[:5] + good  # junk, then the answer

    port = ScriptedPort(respond)
    link = P.Link(port, timeout=0.1, retries=3)
    frames = link.request(P.Type.STACK)
    assert [f.payload for f in frames] == [b"ok"]
    assert len({f.seq for f in port.requests}) == 1  # re-sent with the same seq
    assert link.stats["retries"] == 3 and link.stats["stale"] == 1


def test_link_gives_up_with_what_it_heard():
    port = ScriptedPort(lambda f, n: b"Booting bootloader v1.2\r\n")
    with pytest.raises(EdgeqError) as e:
        P.Link(port, timeout=0.05, retries=2).request(P.Type.HELLO)
    msg = e.value.format()
    assert "/dev/fake0" in msg and "HELLO" in msg and "after 3 attempts" in msg and "Booting bootloader" in msg


def test_link_error_reply_is_not_retried():
    port = ScriptedPort(lambda f, n: P.encode_frame(P.Type.ERROR, f.seq, b"\x03no such input"))
    with pytest.raises(P.DeviceError) as e:
        P.Link(port, timeout=0.05).request(P.Type.SET_INPUT, b"\x09" + bytes(4))
    assert e.value.code == P.ErrorCode.BAD_INDEX and "no such input" in e.value.what
    assert len(port.requests) == 1


def test_link_stream_restarts_after_a_lost_chunk():
    data = bytes(range(256)) * 40  # 10240 bytes: 3 chunks

    def respond(f, n):
        out, step = [], P.MAX_PAYLOAD - 4
        for off in range(0, len(data), step):
            if n == 1 and off == step:
                continue  # the first stream loses its middle frame
            out.append(P.encode_frame(P.Type.DUMP | P.REPLY, f.seq, struct.pack("<I", off) + data[off : off + step]))
        out.append(P.encode_frame(P.Type.DUMP | P.REPLY, f.seq, struct.pack("<I", len(data))))
        return b"".join(out)

    port = ScriptedPort(respond)
    frames = P.Link(port, timeout=0.1).request(P.Type.DUMP, b"\x00\x00", stream=True)
    assert b"".join(f.payload[4:] for f in frames) == data
    assert len(port.requests) == 2


def test_parse_hello_rejects_malformed():
    good = (struct.pack("<HB", P.PROTO_VERSION, 4) + b"test" + bytes(32) + struct.pack("<IIIBH", 1, 2, 3, 1, 5)
            + struct.pack("<BI", 1, 10) + struct.pack("<BI", 1, 20) + struct.pack("<HI", 4096, 48))
    info = P.parse_hello(good)
    assert info.board == "test" and info.input_bytes == (10,) and info.output_bytes == (20,) and info.n_ops == 5
    assert info.state_bytes == 48
    for bad in [good[:-1], good + b"\x00", struct.pack("<H", P.PROTO_VERSION - 1) + good[2:], b""]:
        with pytest.raises(EdgeqError):
            P.parse_hello(bad)


# --- the firmware files build for Cortex-M ---------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
def test_firmware_compiles_for_cortex_m(tmp_path, tflite, graph):
    lib = generate_c(tflite, tmp_path / "model", prefix="model")
    (tmp_path / "bench_config.h").write_text(
        render_bench_config("mps2-an386", hashlib.sha256(tflite).digest(), 25_000_000, "systick"))
    cc = ["arm-none-eabi-gcc", "-mthumb", "-O2", *WARN, f"-I{BENCH}", f"-I{PLATFORM}", f"-I{lib.dir}", f"-I{tmp_path}"]
    for cpu in (["-mcpu=cortex-m4"], ["-mcpu=cortex-m3"], ["-mcpu=cortex-m33"]):
        for src, extra in [(BENCH / "protocol.c", []), (BENCH / "bench_main.c", []),
                           (lib.dir / "model.c", ["-include", str(BENCH_HOOKS_HEADER)])]:
            r = subprocess.run([*cc, *cpu, *extra, "-c", str(src), "-o", str(tmp_path / "x.o")],
                               capture_output=True, text=True)
            assert r.returncode == 0 and not r.stderr, f"{cpu} {src.name}: {r.stderr}"


# --- v2 end-to-end checks, early re-send, filler, port errors (scripted device) --------------------------

class FakeBench:
    """A scripted bench device with one 8-byte input and one 8-byte output (output = input + 1)."""

    def __init__(self, max_request=256):
        self.inp, self.out, self.runs, self.max_request = bytearray(8), bytearray(8), 0, max_request
        self.in_crc_error = False

    def hello(self) -> bytes:
        return (struct.pack("<HB", P.PROTO_VERSION, 4) + b"fake" + bytes(32) + struct.pack("<IIIBH", 1, 2, 3, 1, 1)
                + struct.pack("<BI", 1, 8) + struct.pack("<BI", 1, 8) + struct.pack("<HI", self.max_request, 0))

    def __call__(self, f, n) -> bytes:
        t, p = f.type, f.payload
        if t == P.Type.HELLO:
            return P.encode_frame(t | P.REPLY, f.seq, self.hello())
        if t == P.Type.SET_INPUT:
            off = struct.unpack_from("<I", p, 1)[0]
            self.inp[off : off + len(p) - 5] = p[5:]
            return P.encode_frame(t | P.REPLY, f.seq)
        if t == P.Type.INVOKE:
            self.runs += 1
            self.out[:] = bytes((b + 1) & 0xFF for b in self.inp)
            in_crc = zlib.crc32(bytes(self.inp)) ^ (1 if self.in_crc_error else 0)
            return P.encode_frame(t | P.REPLY, f.seq, struct.pack("<IIII", 100, self.runs, in_crc,
                                                                  zlib.crc32(bytes(self.out))))
        if t == P.Type.GET_OUTPUT:
            _, off, k = struct.unpack("<BIH", p)
            return P.encode_frame(t | P.REPLY, f.seq, bytes(self.out[off : off + k]))
        return P.encode_frame(t | P.REPLY, f.seq, struct.pack("<II", 1, 2))


def test_device_checks_inputs_outputs_and_run_counter_end_to_end():
    fake = FakeBench()
    dev = P.Device(ScriptedPort(fake), timeout=0.1)
    x = bytes(range(8))
    outs, cycles = dev.infer(x)
    assert outs == [bytes(range(1, 9))] and cycles == 100 and dev.last_invoke.runs == 1
    fake.runs = 0  # the board restarted
    with pytest.raises(EdgeqError) as e:
        dev.infer(x)
    assert "/dev/fake0 restarted during the benchmark" in e.value.what and "from 1 to 1" in e.value.what
    dev.hello()  # a new session: the counter starts over
    assert dev.infer(x)[0] == [bytes(range(1, 9))]
    fake.in_crc_error = True  # the inputs the board ran on are not the ones sent
    with pytest.raises(EdgeqError) as e:
        dev.infer(x)
    assert "ran on other inputs than were sent" in e.value.what

    class Corrupting(FakeBench):  # outputs read back differ from those the run produced
        def __call__(self, f, n):
            if f.type == P.Type.GET_OUTPUT:
                return P.encode_frame(f.type | P.REPLY, f.seq, bytes(8))
            return super().__call__(f, n)

    dev2 = P.Device(ScriptedPort(Corrupting()), timeout=0.1)
    with pytest.raises(EdgeqError) as e:
        dev2.infer(x)
    assert "are not the ones its last run produced" in e.value.what


def test_link_resends_early_after_a_garbled_reply_and_grows_its_filler():
    writes = []

    def respond(f, n):
        good = P.encode_frame(f.type | P.REPLY, f.seq, b"ok")
        if n < 3:
            bad = bytearray(good)
            bad[-1] ^= 1
            return bytes(bad)  # a garbled reply, then silence
        return good

    port = ScriptedPort(respond)
    real_write = port.write
    port.write = lambda data: (writes.append(bytes(data)), real_write(data))[1]
    link = P.Link(port, timeout=5.0)
    t0 = time.monotonic()
    assert link.request(P.Type.STACK)[0].payload == b"ok"
    assert time.monotonic() - t0 < 1.5  # not 2 x 5 s: re-sent once the line went quiet
    assert link.stats["early"] == 2 and link.stats["retries"] == 2
    pads = [w for w in writes if not w.startswith(P.SYNC)]
    assert [len(w) for w in pads] == [266, 1064] and all(not any(w) for w in pads)


def test_device_shrinks_chunks_on_a_noisy_line():
    fake = FakeBench(max_request=64)
    big = 59  # SET_INPUT chunk at the device's limit

    def respond(f, n):
        if f.type == P.Type.SET_INPUT and len(f.payload) - 5 > 16:
            return b"\xed\x9e garbage"  # long frames never get through, short ones do
        return fake(f, n)

    dev = P.Device(ScriptedPort(respond), timeout=0.05, retries=1)
    dev.hello()
    dev.set_input(0, bytes(range(8)))  # 8 bytes: one short chunk, fine
    assert fake.inp == bytearray(range(8))
    dev.info = P.DeviceInfo(2, "fake", bytes(32), 1, 2, 3, 1, 1, (200,), (8,), 64)
    fake.inp = bytearray(200)
    dev.set_input(0, bytes(range(200)))
    assert fake.inp == bytearray(range(200)) and dev.stats["chunk_shrinks"] >= 1 and dev._step <= 16 < big


def test_open_serial_nonexistent_and_busy_ports():
    with pytest.raises(EdgeqError) as e:
        P.open_device("/dev/ttyEDGEQ-none")
    assert "cannot open serial port /dev/ttyEDGEQ-none: it does not exist" in e.value.what
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        first = P.open_serial(path)
        try:
            with pytest.raises(EdgeqError) as e:
                P.open_serial(path)
            assert f"serial port {path} is busy" in e.value.what
        finally:
            first.close()
        P.open_serial(path).close()  # free again once the holder closed it
    finally:
        os.close(master)
        os.close(slave)
