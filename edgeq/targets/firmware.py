"""Bench firmware sources and their generated configuration header.

The bench application (``firmware/bench``) is board-independent C; what it needs to know about the board
and the model comes from ``bench_config.h``, rendered here from ``templates/firmware/bench_config.h.j2``.
Values are checked and formatted as C text in Python; the template only places them.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeq.targets.protocol import PROTO_VERSION
from edgeq.codegen.emit import template_env
from edgeq.errors import EdgeqError

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
