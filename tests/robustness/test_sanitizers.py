"""The generated C under AddressSanitizer and UndefinedBehaviorSanitizer.

Each model's library is compiled with host gcc ``-fsanitize=address,undefined -fno-sanitize-recover=all``
into a standalone program (sanitize_main.c: reads samples on stdin, writes outputs on stdout; model inputs
and outputs are exact-size heap blocks) and run in a subprocess on several inputs. On top of ASan's own
checks (heap blocks, global redzones around the arena and every constant array), per-op hooks poison the
whole arena before each op and unpoison only that op's input, output and scratch regions (from the memory
plan), so a kernel touching another tensor's bytes inside the arena is reported too. Passing means: exit 0,
no sanitizer report, and outputs byte-equal to the normal (ctypes, -O2) host build.
"""

import hashlib
import os
import shutil
import subprocess

import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.api import lower_tflite
from edgeq.codegen.emit import generate
from edgeq.files import cache_dir
from edgeq.targets.host import HostModel
from tests.tools.soak import digits_int8  # the example digits CNN, quantized once and cached

HERE = REPO / "tests" / "robustness"
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"]
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
HOOKS_H = """#include <stddef.h>
void edgeq_san_begin(int op, unsigned char *arena, size_t size);
void edgeq_san_end(int op, unsigned char *arena, size_t size);
#define EDGEQ_OP_BEGIN(index) edgeq_san_begin((index), model_arena, sizeof(model_arena))
#define EDGEQ_OP_END(index, data, bytes) edgeq_san_end((index), model_arena, sizeof(model_arena))
"""

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="needs host gcc")


MODELS = {
    "ad01": lambda: (MLPERF / "ad01_int8.tflite").read_bytes(),
    "kws": lambda: (MLPERF / "kws_dscnn_int8.tflite").read_bytes(),
    "resnet8": lambda: (MLPERF / "resnet8_int8.tflite").read_bytes(),
    "digits": digits_int8,
}


def op_regions(g) -> dict[int, list[tuple[int, int]]]:
    """Arena (offset, bytes) each lowered op may touch: its non-constant inputs, its output, its scratch (a
    row-band group: the group's input, output and scratch, at its first member)."""
    regions = {}
    for op in g.ops:
        low = op.lowered
        if low is None:
            continue
        if low.band is not None:  # a row-band group runs at its first member: its input, output and scratch
            grp = low.band
            if op.id == grp.ops[0]:
                regions[op.id] = [(g.plan.offsets[t], g.tensor(t).nbytes) for t in (grp.input, grp.output)] + [
                    (g.plan.scratch[op.id], grp.scratch_bytes)]
            continue
        tids = [t for a in low.args for t in (a if isinstance(a, tuple) else (a,))]
        r = [(g.plan.offsets[t], g.tensor(t).nbytes) for t in tids if t >= 0 and not g.tensor(t).is_const]
        if low.scratch_bytes:
            r.append((g.plan.scratch[op.id], low.scratch_bytes))
        regions[op.id] = r
    return regions


def plan_c(regions: dict[int, list[tuple[int, int]]]) -> str:
    n = max(regions) + 1
    flat, first = [], []
    for i in range(n):
        first.append(len(flat))
        flat += regions.get(i, [])
    first.append(len(flat))
    rows = ", ".join(f"{{{o}u, {b}u}}" for o, b in flat) or "{0u, 0u}"
    return f"""#include <stddef.h>
#include <sanitizer/asan_interface.h>
static const size_t regions[][2] = {{{rows}}};
static const int first[] = {{{", ".join(map(str, first))}}};
void edgeq_san_begin(int op, unsigned char *arena, size_t size) {{
  ASAN_POISON_MEMORY_REGION(arena, size);
  for (int k = first[op]; k < first[op + 1]; k++) ASAN_UNPOISON_MEMORY_REGION(arena + regions[k][0], regions[k][1]);
}}
void edgeq_san_end(int op, unsigned char *arena, size_t size) {{
  (void)op;
  ASAN_UNPOISON_MEMORY_REGION(arena, size);
}}
"""


def build_sanitized(lib, regions, work) -> str:
    """Compile ``lib`` + sanitize_main.c + the arena hooks with the sanitizers; cached by content hash."""
    hooks, plan = HOOKS_H, plan_c(regions)
    main_c = (HERE / "sanitize_main.c").read_text()
    sources = [lib.dir / s for s in lib.context["sources"]]
    h = hashlib.sha256((lib.digest + hooks + plan + main_c + " ".join(SAN_FLAGS)).encode()).hexdigest()[:24]
    exe = cache_dir() / "sanitize" / h / "model_san"
    if exe.exists():
        return str(exe)
    work.mkdir(parents=True, exist_ok=True)
    (work / "hooks.h").write_text(hooks)
    (work / "plan.c").write_text(plan)
    (work / "main.c").write_text(main_c)
    out = work / "model_san"
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *SAN_FLAGS, f"-I{lib.dir}", "-include",
           str(work / "hooks.h"), "-o", str(out), str(work / "main.c"), str(work / "plan.c"), *map(str, sources), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_suffix(f".tmp{os.getpid()}")
    shutil.copyfile(out, tmp)
    os.chmod(tmp, 0o755)
    tmp.replace(exe)
    return str(exe)


def run_sanitized(exe, samples: list[list[np.ndarray]]) -> tuple[int, bytes, str]:
    data = b"".join(a.tobytes() for s in samples for a in s)
    r = subprocess.run([exe], input=data, capture_output=True, timeout=120, env={**os.environ, **SAN_ENV})
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def inputs_for(g, n_random: int = 5) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(7)
    samples = []
    ts = [g.tensor(t) for t in g.inputs]
    for k in range(n_random + 3):
        s = []
        for t in ts:
            info = np.iinfo(t.dtype)
            if k == n_random:
                a = np.full(t.shape, info.min, t.dtype)
            elif k == n_random + 1:
                a = np.full(t.shape, info.max, t.dtype)
            elif k == n_random + 2:
                a = np.zeros(t.shape, t.dtype)
            else:
                a = rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype)
            s.append(a)
        samples.append(s)
    return samples


@pytest.mark.parametrize("name", list(MODELS))
def test_model_is_clean_under_asan_and_ubsan(name, tmp_path):
    model = MODELS[name]()
    g = lower_tflite(model, name=name)
    assert all(g.tensor(t).dtype in ("int8", "uint8", "int16") for t in g.inputs)
    lib = generate(g, tmp_path / "lib")
    exe = build_sanitized(lib, op_regions(g), tmp_path / "san")
    samples = inputs_for(g)
    code, out, err = run_sanitized(exe, samples)
    assert code == 0 and "ERROR: AddressSanitizer" not in err and "runtime error" not in err, err[-4000:]
    assert f"{len(samples)} samples" in err
    host = HostModel(lib)
    want = b"".join(o.tobytes() for s in samples for o in host.run(s))
    assert out == want  # sanitized build == normal build, byte for byte


def test_arena_poisoning_catches_an_op_touching_another_tensor(tmp_path):
    """Plant the bug the hooks exist for: shrink op 0's output region by one 16-byte step, as if the kernel
    wrote past its output into the next tensor. ASan must stop the program with a report."""
    model = MODELS["ad01"]()
    g = lower_tflite(model, name="ad01")
    lib = generate(g, tmp_path / "lib")
    regions = op_regions(g)
    first = min(regions)
    (off, n), *rest = sorted(regions[first], key=lambda r: r[0] == g.plan.offsets[g.ops[0].lowered.args[-1]])[::-1]
    assert n > 16
    regions[first] = [(off, n - 16), *rest]
    exe = build_sanitized(lib, regions, tmp_path / "san")
    code, _, err = run_sanitized(exe, inputs_for(g, 1)[:1])
    assert code != 0 and "AddressSanitizer" in err and "use-after-poison" in err
