"""The bench firmware: its sources, its generated configuration header, and its build around a generated
library for a board.

The bench application (``firmware/bench``) is board-independent C; what it needs to know about the board
and the model comes from ``bench_config.h``, rendered here from ``templates/firmware/bench_config.h.j2``.
Values are checked and formatted as C text in Python; the template only places them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

from edgeq.codegen.emit import MANIFEST
from edgeq.codegen.templates import template_env
from edgeq.errors import EdgeqError
from edgeq.files import atomic_dir
from edgeq.targets.boards import Board
from edgeq.targets.fit import check_fit, estimate_library
from edgeq.targets.protocol import PROTO_VERSION
from edgeq.targets.toolchain import build_firmware

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "firmware" / "bench"

#: Bench sources compiled into every firmware (plus the platform's and the model library's).
BENCH_SOURCES = ("bench_main.c", "protocol.c")
#: Force-included (``-include``) when compiling the generated ``model.c``.
BENCH_HOOKS_HEADER = BENCH_DIR / "bench_hooks.h"
#: The host stand-in for the board platform (tests): see ``firmware/bench/host_platform.c``.
HOST_PLATFORM = BENCH_DIR / "host_platform.c"

COUNTER_KINDS = {"dwt": 0, "systick": 1}


def _c_string(s: str) -> str:
    if not re.fullmatch(r"[ -~]{1,255}", s):
        raise EdgeqError(f"board name {s!r} cannot go into the firmware",
                         hint="board names are 1..255 printable ASCII characters")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def counter_kind_code(kind: int | str) -> int:
    """0 (DWT) or 1 (SysTick) from either the number or the board TOML's ``cycle_counter.kind``."""
    if isinstance(kind, str) and kind.lower() in COUNTER_KINDS:
        return COUNTER_KINDS[kind.lower()]
    if isinstance(kind, int) and not isinstance(kind, bool) and kind in (0, 1):
        return kind
    raise EdgeqError(f"unknown cycle counter kind {kind!r}", hint="use 'dwt' (0) or 'systick' (1)")


def render_bench_config(board_name: str, model_sha256: bytes, clock_hz: int, counter_kind: int | str) -> str:
    """The text of ``bench_config.h``.

    ``model_sha256``: the 32-byte digest the host checks with ``Device.check_model``. The op count comes
    from ``MODEL_NUM_OPS`` of the generated model.h (schedule positions, aliased ops included).
    """
    if not isinstance(board_name, str):
        raise EdgeqError(f"board name must be a string, got {board_name!r}")
    name_c = _c_string(board_name)
    digest = bytes(model_sha256)
    if len(digest) != 32:
        raise EdgeqError(f"model sha256 must be 32 bytes, got {len(digest)}")
    if not isinstance(clock_hz, int) or isinstance(clock_hz, bool) or not 0 < clock_hz < 1 << 32:
        raise EdgeqError(f"clock rate {clock_hz!r} Hz is not a positive 32-bit integer",
                         hint="set [clock] hz in the board's TOML")
    code = counter_kind_code(counter_kind)
    hexbytes = [f"0x{b:02x}" for b in digest]
    return template_env().get_template("firmware/bench_config.h.j2").render(
        proto_version=PROTO_VERSION,
        board_name=board_name.replace("*/", "* /"),
        board_name_c=name_c,
        sha256_hex=digest.hex(),
        sha256_lines=[", ".join(hexbytes[i:i + 8]) for i in range(0, 32, 8)],
        clock_hz=clock_hz,
        counter_kind=code,
        counter_name="systick" if code else "dwt",
    )


def write_bench_config(path: str | Path, *args, **kwargs) -> Path:
    """Render :func:`render_bench_config` into ``path`` (a file, or a directory to hold bench_config.h)."""
    p = Path(path)
    if p.is_dir():
        p = p / "bench_config.h"
    p.write_text(render_bench_config(*args, **kwargs))
    return p


# --- the build ------------------------------------------------------------------------------------

BUILD_INFO = "build.json"


def read_manifest(lib_dir: str | Path) -> dict:
    p = Path(lib_dir) / MANIFEST
    if not p.is_file():
        raise EdgeqError(f"{lib_dir} is not a library made by `edgeq generate` (no {MANIFEST})",
                         hint="generate it first: edgeq generate MODEL.tflite -o DIR")
    try:
        return json.loads(p.read_text())
    except ValueError:
        raise EdgeqError(f"{p} is not valid JSON", hint="re-run edgeq generate") from None


@dataclass(frozen=True)
class FirmwareMemory:
    """Flash and RAM of a bench image, split into what the model costs and what the bench harness costs.
    ``flash_bytes`` is what the image puts in flash; the constant arrays placed in the board's external
    memory are ``external_bytes`` (of ``external_limit``, a ``external_kind`` region), counted in
    ``weights_bytes`` but not in ``flash_bytes``."""

    flash_bytes: int
    weights_bytes: int  # weights, biases, multipliers, per-op params (model_data.c), wherever they are
    code_bytes: int  # kernels + generated model function, machine code only
    library_const_bytes: int  # the library's other constants (tables in kernels)
    harness_bytes: int  # bench app, protocol, startup, UART, libc, libgcc
    ram_bytes: int
    arena_bytes: int
    stack_bytes: int | None  # reserved at build time; the measured high-water mark after a run
    flash_limit: int
    ram_limit: int
    state_bytes: int = 0  # the model's state kept across invokes (static, outside the arena)
    external_bytes: int = 0  # the model's constant arrays in memory.external (0: they are in flash)
    external_limit: int = 0  # the size of the board's memory.external (0: none)
    external_kind: str = ""  # psram, qspi-flash, ... ("" : none)

    def weights_placement(self) -> str | None:
        """The report line when the weights are in external memory, else None."""
        if not self.external_bytes:
            return None
        return (f"weights in external {self.external_kind}: {self.external_bytes:,} bytes "
                f"(of {self.external_limit:,})")


@dataclass
class BenchBuild:
    board: Board
    lib_dir: Path
    out_dir: Path
    elf: Path
    manifest: dict
    memory: FirmwareMemory

    @property
    def model_sha256(self) -> bytes:
        return bytes.fromhex(self.manifest["model_sha256"])


def memory_breakdown(image, lib_dir: Path, arena_bytes: int, state_bytes: int = 0) -> FirmwareMemory:
    """Flash and RAM of a bench image, split into weights, inference code and the bench harness."""
    lib = str(Path(lib_dir).resolve())

    def classify(src: str) -> str:
        if src.startswith(lib):
            return "weights" if src.endswith("_data.c") else "library"
        return "harness"

    g = image.group_sizes(classify)
    lib_sz, w_sz, h_sz = (g.get(k) for k in ("library", "weights", "harness"))
    ext = image.board.memory.external
    return FirmwareMemory(
        flash_bytes=image.flash_bytes, weights_bytes=w_sz.flash if w_sz else 0,
        code_bytes=lib_sz.text if lib_sz else 0,
        library_const_bytes=(lib_sz.rodata + lib_sz.data) if lib_sz else 0,
        harness_bytes=h_sz.flash if h_sz else 0, ram_bytes=image.ram_bytes, arena_bytes=arena_bytes,
        stack_bytes=image.stack, flash_limit=image.flash_limit, ram_limit=image.ram_limit, state_bytes=state_bytes,
        external_bytes=image.external_bytes, external_limit=ext.length if ext else 0,
        external_kind=ext.kind if ext else "")


def build_bench(lib_dir: str | Path, board: Board, out_dir: str | Path | None = None) -> BenchBuild:
    """Compile the bench firmware around a generated library for ``board``."""
    lib_dir = Path(lib_dir).resolve()
    man = read_manifest(lib_dir)
    if man.get("cpu") == "dsp" and not board.cpu.dsp:
        raise EdgeqError(f"{lib_dir} was generated for cores with the DSP extension (--cpu dsp); "
                         f"{board.name} ({board.cpu.core}) has none",
                         hint=f"regenerate it for this board: edgeq generate MODEL.tflite -o {lib_dir} --cpu portable")
    if man.get("prefix") != "model":
        raise EdgeqError(f"{lib_dir} was generated with --prefix {man.get('prefix')}; the bench firmware needs 'model'",
                         hint=f"regenerate: edgeq generate MODEL.tflite -o {lib_dir}")
    # before compiling anything; also decides where the constant arrays go (flash or memory.external)
    est = check_fit(estimate_library(lib_dir, board, man), what=f"the library {lib_dir}")
    out = Path(out_dir) if out_dir else lib_dir.parent / f"{lib_dir.name}-{board.name}"
    with atomic_dir(out) as tmp:  # a failed or interrupted build leaves a previous `out` untouched
        cfg = tmp / "cfg"
        cfg.mkdir(parents=True, exist_ok=True)
        write_bench_config(cfg, board.name, bytes.fromhex(man["model_sha256"]), board.clock.hz,
                           board.counter_kind_code)
        sources = [BENCH_DIR / s for s in BENCH_SOURCES] + [lib_dir / s for s in man["sources"]]
        img = build_firmware(board, sources, [BENCH_DIR, lib_dir, cfg], tmp,
                             force_includes={lib_dir / "model.c": BENCH_HOOKS_HEADER}, name="bench",
                             weights_external=est.weights_external)
        mem = memory_breakdown(img, lib_dir, man["arena_bytes"], man.get("state_bytes", 0))
        elf = out / img.elf.name
        (tmp / BUILD_INFO).write_text(json.dumps({"board": board.name, "elf": str(elf), "lib_dir": str(lib_dir),
                                                  "model_sha256": man["model_sha256"], "memory": dataclasses.asdict(mem)},
                                                 indent=2))
    return BenchBuild(board, lib_dir, out, elf, man, mem)


def built_elf(lib_dir: str | Path, board: Board, out_dir: str | Path | None = None) -> Path:
    """The bench ELF of ``lib_dir`` for ``board``: the one already built in ``out_dir`` (default
    DIR-BOARD beside the library) when there is one, else built now."""
    out = Path(out_dir) if out_dir else Path(lib_dir).resolve().parent / f"{Path(lib_dir).resolve().name}-{board.name}"
    info = out / BUILD_INFO
    if info.is_file():
        try:
            return Path(json.loads(info.read_text())["elf"])
        except (ValueError, KeyError):
            pass  # a damaged build.json: build again
    return build_bench(lib_dir, board, out_dir).elf
