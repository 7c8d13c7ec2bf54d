"""Hostile bytes on the device: the bench firmware's frame parser and request handlers under libFuzzer.

``firmware/bench/fuzz/fuzz_protocol.c`` feeds arbitrary byte streams into ``bench_byte()`` (protocol.c's
parser + bench_main.c's handlers, with the generated ad01 model), built with
``clang -fsanitize=fuzzer,address,undefined``: any out-of-bounds access, undefined behaviour, or a reply
that is not a complete, valid frame aborts the run. The seed corpus holds valid requests of every type,
including SET_INPUT / GET_OUTPUT with bad lengths and offsets, DUMP of bad op ids and oversized frames,
RESET_STATE and INVOKE of frames in and out of sequence. It runs twice: with ad01 (no state) and with the
streaming keyword spotter (state kept across invokes: the bench's copy of a frame's start state). The run
is bounded (``FUZZ_RUNS`` executions); the number of executions is printed and checked.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from paths import MLPERF, REPO
from edgeq.api import generate_c
from edgeq.targets import protocol as P
from edgeq.targets.firmware import BENCH_HOOKS_HEADER, render_bench_config

BENCH = REPO / "firmware" / "bench"
FUZZ_SRC = BENCH / "fuzz" / "fuzz_protocol.c"
FUZZ_RUNS = int(os.environ.get("EDGEQ_FUZZ_RUNS", "200000"))  # executions, at most ...
FUZZ_SECONDS = int(os.environ.get("EDGEQ_FUZZ_SECONDS", "15"))  # ... and seconds (whichever ends first)
CLANG = shutil.which("clang") or shutil.which("clang-14")

pytestmark = pytest.mark.skipif(CLANG is None, reason="clang (libFuzzer) not installed")


def seed_corpus(n_in: int, n_out: int, n_ops: int) -> dict[str, bytes]:
    """Valid request frames (and a few near misses). The first byte of each is the fuzz target's mode
    byte: even = from a fresh start."""
    T, f = P.Type, P.encode_frame
    seeds = {
        "hello": f(T.HELLO, 1),
        "set_input": f(T.SET_INPUT, 2, struct.pack("<BI", 0, 0) + bytes(range(256))[:min(n_in, 200)]),
        "set_input_tail": f(T.SET_INPUT, 3, struct.pack("<BI", 0, n_in - 8) + b"\x7f" * 8),
        "set_input_past_end": f(T.SET_INPUT, 4, struct.pack("<BI", 0, n_in - 4) + bytes(8)),
        "set_input_huge_offset": f(T.SET_INPUT, 5, struct.pack("<BI", 0, 0xFFFFFFFC) + bytes(8)),
        "set_input_bad_index": f(T.SET_INPUT, 6, struct.pack("<BI", 7, 0) + bytes(4)),
        "set_input_short": f(T.SET_INPUT, 7, b"\x00\x00"),
        "invoke": f(T.INVOKE, 8),
        "get_output": f(T.GET_OUTPUT, 9, struct.pack("<BIH", 0, 0, min(n_out, 200))),
        "get_output_past_end": f(T.GET_OUTPUT, 10, struct.pack("<BIH", 0, n_out - 2, 4)),
        "get_output_wrap": f(T.GET_OUTPUT, 11, struct.pack("<BIH", 0, 0xFFFFFFFF, 0xFFFF)),
        "get_output_bad_index": f(T.GET_OUTPUT, 12, struct.pack("<BIH", 3, 0, 1)),
        "profile": f(T.PROFILE, 13),
        "dump_0": f(T.DUMP, 14, struct.pack("<H", 0)),
        "dump_last": f(T.DUMP, 15, struct.pack("<H", n_ops - 1)),
        "dump_bad_op": f(T.DUMP, 16, struct.pack("<H", 0xFFFF)),
        "dump_bad_len": f(T.DUMP, 17, b"\x00"),
        "stack": f(T.STACK, 18),
        "stack_with_payload": f(T.STACK, 19, b"x"),
        "reset_state": f(T.RESET_STATE, 25),
        "reset_state_with_payload": f(T.RESET_STATE, 26, b"x"),
        "invoke_frame_0": f(T.INVOKE, 27, struct.pack("<I", 0)),
        "invoke_frame_1": f(T.INVOKE, 28, struct.pack("<I", 1)),
        "invoke_frame_far": f(T.INVOKE, 29, struct.pack("<I", 0xFFFFFFFF)),
        "invoke_bad_len": f(T.INVOKE, 30, b"\x01\x00"),
        "unknown_type": f(0x55, 20, b"abc"),
        "reply_echo": f(T.HELLO | P.REPLY, 21),
        "max_payload": f(T.SET_INPUT, 22, bytes(P.MAX_PAYLOAD)),
        "truncated_then_valid": f(T.SET_INPUT, 23, bytes(100))[:40] + f(T.STACK, 24),
    }
    seeds["session"] = b"".join([seeds["hello"], seeds["set_input"], seeds["invoke"], seeds["get_output"],
                                 seeds["profile"], seeds["dump_0"], seeds["stack"]])
    seeds["sequence"] = b"".join([seeds["reset_state"], seeds["set_input"], seeds["invoke_frame_0"],
                                  seeds["invoke_frame_1"], seeds["profile"], seeds["dump_last"],
                                  seeds["invoke_frame_1"], seeds["invoke_frame_far"], seeds["get_output"]])
    return {k: b"\x00" + v for k, v in seeds.items()}


def build_fuzzer(d: Path, lib, bench_main: Path = BENCH / "bench_main.c") -> Path:
    flags = ["-g", "-O1", "-std=c99", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
             "-DEDGEQ_BENCH_NO_MAIN", f"-I{BENCH}", f"-I{REPO / 'firmware' / 'platform'}", f"-I{lib.dir}",
             f"-I{lib.dir.parent / 'cfg'}"]
    # The generated model and its kernels (tested for bit-exactness elsewhere) are built plainly with -O2:
    # the fuzz target is the firmware's parser and handlers, and a fast model means more executions.
    plain = ["-O2", "-std=c99", f"-I{BENCH}", f"-I{lib.dir}", f"-I{lib.dir.parent / 'cfg'}"]
    objs = []
    for src in [FUZZ_SRC, bench_main, BENCH / "protocol.c"] + [lib.dir / s for s in lib.context["sources"]]:
        obj = d / (src.stem + ".o")
        cflags = plain if src.parent == lib.dir else flags
        hooks = ["-include", str(BENCH_HOOKS_HEADER)] if src.name == "model.c" else []
        r = subprocess.run([CLANG, *cflags, *hooks, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        objs.append(str(obj))
    exe = d / "fuzz_protocol"
    r = subprocess.run([CLANG, *flags, *objs, "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def _lib(d: Path, tflite: bytes):
    lib = generate_c(tflite, d / "model", prefix="model", cpu="portable")
    (d / "cfg").mkdir()
    (d / "cfg" / "bench_config.h").write_text(
        render_bench_config("fuzz", hashlib.sha256(tflite).digest(), 1_000_000_000, "systick"))
    return lib


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return _lib(tmp_path_factory.mktemp("fuzzlib"), (MLPERF / "ad01_int8.tflite").read_bytes())


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory, lib) -> Path:
    return build_fuzzer(tmp_path_factory.mktemp("fuzz"), lib)


@pytest.fixture(scope="module")
def stateful_fuzzer(tmp_path_factory) -> Path:
    from streaming import streaming_kws

    lib = _lib(tmp_path_factory.mktemp("fuzzlib_state"), streaming_kws())
    assert lib.context["state_size"] > 0
    return build_fuzzer(tmp_path_factory.mktemp("fuzz_state"), lib)


def _corpus(d: Path, sizes: tuple[int, int, int] = (640, 640, 10)) -> Path:
    d.mkdir()
    for name, data in seed_corpus(*sizes).items():  # ad01: 640-byte input and output, 10 ops
        (d / name).write_bytes(data)
    return d


def _run(exe: Path, corpus: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    return subprocess.run([str(exe), *args, str(corpus)], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=corpus.parent)


def test_seed_corpus_runs_clean(fuzzer, tmp_path):
    r = _run(fuzzer, _corpus(tmp_path / "seeds"), "-runs=0")  # every seed once, nothing else
    assert r.returncode == 0, r.stderr[-3000:]
    assert "INITED" in r.stderr and "ERROR" not in r.stderr


def test_fuzz_frame_parser_and_handlers(fuzzer, tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    r = _run(fuzzer, corpus, f"-runs={FUZZ_RUNS}", "-max_len=9000", "-seed=1", f"-max_total_time={FUZZ_SECONDS}",
             timeout=FUZZ_SECONDS + 60)
    assert r.returncode == 0, r.stderr[-4000:]
    done = re.findall(r"#(\d+)\s+DONE", r.stderr)
    assert done, r.stderr[-2000:]
    execs = int(done[-1])
    print(f"libFuzzer: {execs} executions, corpus {len(list(corpus.iterdir()))} inputs, no crash")
    assert execs >= min(FUZZ_RUNS, 2_000)


def test_fuzzer_finds_a_planted_bug(lib, tmp_path):
    """The harness can fail: with the SET_INPUT / GET_OUTPUT range checks taken out of bench_main.c,
    the seed corpus alone (it holds out-of-range requests) aborts the run."""
    check, planted = "if (offset > size || n > size - offset) {", "if (0) {"
    src = (BENCH / "bench_main.c").read_text()
    assert check in src
    mutant = tmp_path / "bench_main.c"
    mutant.write_text(src.replace(check, planted))
    exe = build_fuzzer(tmp_path, lib, mutant)
    r = _run(exe, _corpus(tmp_path / "c"), "-runs=0")
    assert r.returncode != 0 and ("AddressSanitizer" in r.stderr or "runtime error" in r.stderr), r.stderr[-2000:]


def test_fuzz_a_model_with_state(stateful_fuzzer, tmp_path):
    """The streaming keyword spotter (10-byte frame, 12-byte output; the sizes only shape the seeds): the
    sequence requests and the state copies under the sanitizers."""
    corpus = _corpus(tmp_path / "corpus", (10, 12, 11))
    r = _run(stateful_fuzzer, corpus, "-runs=0")
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run(stateful_fuzzer, corpus, f"-runs={FUZZ_RUNS}", "-max_len=9000", "-seed=2",
             f"-max_total_time={FUZZ_SECONDS}", timeout=FUZZ_SECONDS + 60)
    assert r.returncode == 0, r.stderr[-4000:]
    done = re.findall(r"#(\d+)\s+DONE", r.stderr)
    assert done and int(done[-1]) >= min(FUZZ_RUNS, 2_000), r.stderr[-2000:]
    print(f"libFuzzer (model with state): {done[-1]} executions, no crash")
