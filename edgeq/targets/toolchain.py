"""Cross-compile firmware for a board with arm-none-eabi-gcc.

:func:`build_firmware` renders the board's ``board_config.h`` and linker script, compiles the application
sources plus the board's platform sources (startup, UART driver, cycle counter, a minimal libc), links with
``-nostdlib`` (only libgcc), writes ``.elf``, ``.hex`` and ``.bin``, and checks the image fits the board.
Sizes come from the ELF section headers; :meth:`FirmwareImage.sizes_by_source` and
:meth:`FirmwareImage.symbols` attribute every byte to the object (source file) it came from using the link
map, so callers can split kernel code, generated model code, weights and the bench harness.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from edgeq.targets.boards import PLATFORM_DIR, Board, BoardLimits, render_board_config, render_linker_script
from edgeq.errors import EdgeqError, ToolMissingError

CC = "arm-none-eabi-gcc"
OBJCOPY = "arm-none-eabi-objcopy"
OBJDUMP = "arm-none-eabi-objdump"
APT_HINT = "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi  (or `make deps` as root)"
CFLAGS = ["-std=c11", "-O2", "-g", "-ffunction-sections", "-fdata-sections", "-fno-common",
          "-Wall", "-Wextra"]
LDLIBS = ["-lgcc"]


@dataclass(frozen=True)
class Sizes:
    """Bytes by kind. ``flash`` = text + rodata + data (initial values); ``ram`` = data + bss."""

    text: int = 0
    rodata: int = 0
    data: int = 0
    bss: int = 0

    @property
    def flash(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss

    def __add__(self, o: "Sizes") -> "Sizes":
        return Sizes(self.text + o.text, self.rodata + o.rodata, self.data + o.data, self.bss + o.bss)


@dataclass(frozen=True)
class Symbol:
    name: str      # the symbol (input section name without its .text./.rodata./... prefix)
    kind: str      # text | rodata | data | bss
    size: int
    source: str    # source file path, or "libgcc.a(_udivsi3.o)" etc.


@dataclass(frozen=True)
class FirmwareImage(BoardLimits):
    board: Board
    elf: Path
    hex: Path
    bin: Path
    map: Path
    text: int             # Berkeley-style: code + rodata + vectors
    data: int
    bss: int
    stack: int
    flash_bytes: int      # text + data
    ram_bytes: int        # data + bss + stack
    objects: dict[str, Path] = field(default_factory=dict)  # source path -> object file
    external_bytes: int = 0  # sections in the board's memory.external (the weights, when placed there)

    def symbols(self) -> list[Symbol]:
        """Every input section kept in the image, by source file (with -ffunction-sections and
        -fdata-sections that is one function or variable each)."""
        return _parse_map(self.map.read_text(), {str(o): s for s, o in self.objects.items()})

    def sizes_by_source(self) -> dict[str, Sizes]:
        out: dict[str, Sizes] = {}
        for s in self.symbols():
            out[s.source] = out.get(s.source, Sizes()) + Sizes(**{s.kind: s.size})
        return out

    def group_sizes(self, classify: Callable[[str], str]) -> dict[str, Sizes]:
        """Sum :meth:`sizes_by_source` into groups: ``classify(source) -> group name``."""
        out: dict[str, Sizes] = {}
        for src, sz in self.sizes_by_source().items():
            g = classify(src)
            out[g] = out.get(g, Sizes()) + sz
        return out


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if not exe:
        raise ToolMissingError(f"{name} is not installed; building firmware for a board needs the Arm GNU toolchain",
                               hint=APT_HINT)
    return exe


def _object_names(sources: list[Path]) -> list[str]:
    """Unique object file names: the stem, prefixed with parent folders only where stems collide."""
    names, seen = [], set()
    for s in sources:
        n, parts = s.stem, list(s.parent.parts)
        while n in seen and parts:
            n = f"{parts.pop()}_{n}"
        while n in seen:
            n += "_"
        seen.add(n)
        names.append(n + ".o")
    return names


def _compile(cmd: list[str], src: Path) -> str | None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return f"{src}:\n{r.stderr.strip()}"
    return None


def build_firmware(board: Board, sources: Iterable[Path | str], include_dirs: Iterable[Path | str],
                   out_dir: Path | str, extra_cflags: Iterable[str] = (),
                   force_includes: Mapping[Path | str, Path | str] | None = None, *, name: str = "firmware",
                   include_platform: bool = True, warnings_as_errors: bool = True,
                   weights_external: bool = False) -> FirmwareImage:
    """Compile and link ``sources`` (plus the board's platform sources) into ``out_dir/<name>.elf``.

    ``force_includes`` maps a source path to a header passed as ``-include`` when compiling that file only.
    ``out_dir`` also receives ``board_config.h``, ``linker.ld``, the objects, ``<name>.map/.hex/.bin``.
    ``weights_external``: the linker script puts the model's constant arrays in the board's memory.external
    (the ``.bin`` then holds the flash image only; the ELF and ``.hex`` hold both).
    Raises :class:`EdgeqError` when a file does not compile, the toolchain is missing, or the image does not
    fit the board's flash or RAM (naming both sizes and limits).
    """
    cc = _tool(CC)
    out = Path(out_dir)
    obj_dir = out / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    (out / "board_config.h").write_text(render_board_config(board))
    ld_script = out / "linker.ld"
    ld_script.write_text(render_linker_script(board, weights_external))

    srcs = [Path(s).resolve() for s in sources]
    if include_platform:
        srcs = [p for p in board.platform_sources() if p not in srcs] + srcs
    missing = [s for s in srcs if not s.is_file()]
    if missing:
        raise EdgeqError(f"firmware source {missing[0]} does not exist", detail=[str(m) for m in missing[1:]])
    forced = {Path(k).resolve(): Path(v).resolve() for k, v in (force_includes or {}).items()}
    unknown = [k for k in forced if k not in srcs]
    if unknown:
        raise EdgeqError(f"force_includes names {unknown[0]}, which is not among the sources")

    incs = [out, PLATFORM_DIR] + [Path(i).resolve() for i in include_dirs]
    flags = CFLAGS + (["-Werror"] if warnings_as_errors else []) + board.cflags() + list(extra_cflags)
    flags += [f"-I{i}" for i in incs]

    objects: dict[str, Path] = {}
    jobs = []
    for src, oname in zip(srcs, _object_names(srcs)):
        obj = obj_dir / oname
        objects[str(src)] = obj
        cmd = [cc, *flags]
        if src in forced:
            cmd += ["-include", str(forced[src])]
        jobs.append((cmd + ["-c", str(src), "-o", str(obj)], src))
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        errors = [e for e in pool.map(lambda j: _compile(*j), jobs) if e]
    if errors:
        lines = "\n".join(errors).splitlines()
        raise EdgeqError(f"firmware for board {board.name!r} failed to compile ({len(errors)} file(s))",
                         detail=lines[:40], hint="fix the errors above; edgeq's own files compile with -Werror")

    elf, map_file = out / f"{name}.elf", out / f"{name}.map"
    link = [cc, *board.ldflags(ld_script, map_file), "-o", str(elf), *map(str, objects.values()), *LDLIBS]
    r = subprocess.run(link, capture_output=True, text=True)
    if r.returncode != 0:
        if "overflowed by" in r.stderr:
            _raise_does_not_fit(board, link, elf, r.stderr)
        raise EdgeqError(f"firmware for board {board.name!r} failed to link", detail=r.stderr.strip().splitlines()[:30],
                         hint="undefined references name a function no source defines")

    sec = _sections(elf)
    ext = [s for s in sec if _in_external(board, s)]
    text, data, bss = _berkeley([s for s in sec if s not in ext])
    stack = board.memory.stack_bytes
    img = FirmwareImage(board, elf, out / f"{name}.hex", out / f"{name}.bin", map_file, text, data, bss, stack,
                        text + data, data + bss + stack, objects, sum(s.size for s in ext))
    _check_fits(board, img.flash_bytes, img.ram_bytes)
    objcopy = _tool(OBJCOPY)
    for fmt, path in (("ihex", img.hex), ("binary", img.bin)):
        drop = [a for s in ext for a in ("-R", s.name)] if fmt == "binary" else []  # one raw image: flash only
        subprocess.run([objcopy, "-O", fmt, *drop, str(elf), str(path)], check=True, capture_output=True)
    return img


# ------------------------------------------------------------------------------------------ sizes
@dataclass(frozen=True)
class _Section:
    name: str
    size: int
    vma: int
    lma: int
    flags: frozenset[str]


def _sections(elf: Path) -> list[_Section]:
    r = subprocess.run([_tool(OBJDUMP), "-h", "-w", str(elf)], capture_output=True, text=True, check=True)
    out = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+\S+\s+(.*)$", line)
        if m:
            flags = frozenset(f.strip() for f in m.group(5).split(","))
            out.append(_Section(m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16), flags))
    return out


def _in_external(board: Board, s: _Section) -> bool:
    ext = board.memory.external
    return ext is not None and "ALLOC" in s.flags and s.size > 0 and ext.origin <= s.vma < ext.end


def _berkeley(sections: list[_Section]) -> tuple[int, int, int]:
    """(text, data, bss) like `size`: allocated read-only / writable with contents / without; the stack
    section is not counted (it is reported separately)."""
    text = data = bss = 0
    for s in sections:
        if "ALLOC" not in s.flags or s.name == ".stack":
            continue
        if "READONLY" in s.flags or "CODE" in s.flags:
            text += s.size
        elif "LOAD" in s.flags:
            data += s.size
        else:
            bss += s.size
    return text, data, bss


def _check_fits(board: Board, flash: int, ram: int) -> None:
    fl, rl = board.memory.flash.length, board.memory.ram.length
    if flash <= fl and ram <= rl:
        return
    over = []
    if flash > fl:
        over.append(f"flash: {flash} bytes needed, {fl} available ({flash - fl} over)")
    if ram > rl:
        over.append(f"RAM: {ram} bytes needed (data + bss + {board.memory.stack_bytes} stack), {rl} available "
                    f"({ram - rl} over)")
    raise EdgeqError(f"the firmware does not fit board {board.name!r}", detail=over,
                     hint="use a board with more memory, a smaller model, or a smaller memory.stack_bytes")


def _raise_does_not_fit(board: Board, link: list[str], elf: Path, stderr: str) -> None:
    """The link failed with a region overflow: link again keeping the output to measure it, then report."""
    probe = elf.with_suffix(".overflow.elf")
    cmd = [a if a != str(elf) else str(probe) for a in link]
    cmd.insert(-len(LDLIBS), "-Wl,--noinhibit-exec")
    subprocess.run(cmd, capture_output=True, text=True)
    if probe.exists():
        text, data, bss = _berkeley([s for s in _sections(probe) if not _in_external(board, s)])
        probe.unlink()
        _check_fits(board, text + data, data + bss + board.memory.stack_bytes)
    raise EdgeqError(f"the firmware does not fit board {board.name!r}",
                     detail=[ln for ln in stderr.splitlines() if "overflowed" in ln],
                     hint="use a board with more memory or a smaller model")


# ------------------------------------------------------------------------------------------ link map
_KIND = (("text", (".text", ".vectors", ".ARM.exidx", ".glue_7", ".vfp11_veneer", ".v4_bx", ".iplt")),
         ("rodata", (".rodata",)), ("data", (".data",)), ("bss", (".bss", "COMMON")))
_MAP_LINE = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_MAP_CONT = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_MAP_NAME = re.compile(r"^ (\S+)$")


def _kind(section: str) -> str | None:
    for kind, prefixes in _KIND:
        if any(section == p or section.startswith(p + ".") for p in prefixes):
            return kind
    return None


def _symbol_name(section: str) -> str:
    """``.text.startup.main`` -> ``main``, ``.rodata.weights`` -> ``weights``, ``.vectors`` -> ``vectors``."""
    for _, prefixes in _KIND:
        for p in prefixes:
            if section == p:
                return section.lstrip(".")
            if section.startswith(p + "."):
                name = section[len(p) + 1:]
                for sub in ("startup.", "unlikely.", "hot.", "exit."):
                    if p == ".text" and name.startswith(sub):
                        return name[len(sub):]
                return name
    return section


def _parse_map(text: str, obj_to_source: dict[str, str]) -> list[Symbol]:
    """Input sections of the link map (after "Linker script and memory map"), as symbols by source."""
    start = text.find("Linker script and memory map")
    out: list[Symbol] = []
    if start < 0:
        return out
    pending: str | None = None
    for line in text[start:].splitlines():
        m = _MAP_LINE.match(line)
        if m:
            name, size, obj = m.group(1), int(m.group(3), 16), m.group(4)
        elif pending and (c := _MAP_CONT.match(line)):
            # a long input-section name stands alone; its address, size and file follow on the next line
            name, size, obj = pending, int(c.group(2), 16), c.group(3)
        else:
            n = _MAP_NAME.match(line)
            pending = n.group(1) if n else None
            continue
        pending = None
        kind = _kind(name)
        if kind is None or size == 0:
            continue
        obj = obj.strip()
        out.append(Symbol(_symbol_name(name), kind, size, obj_to_source.get(obj, Path(obj).name)))
    return out
