"""The board platform end to end: firmware/platform/hello.c builds, links and fits for every board file (real
boards included), and every emulated board boots under QEMU with its UART on a `-serial pty` that pyserial
opens like a real /dev/ttyACM0: the banner arrives, bytes echo back, and the SysTick counter is deterministic
under -icount and converts to instruction counts as documented."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edgeq.targets.boards import BOARDS_DIR, PLATFORM_DIR, Board, list_boards, load_board
from edgeq.errors import EdgeqError
from edgeq.targets.toolchain import build_firmware

serial = pytest.importorskip("serial")

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")

HELLO = PLATFORM_DIR / "hello.c"
ALL = [b.name for b in list_boards()]
EMULATED = [b.name for b in list_boards() if b.emulated]
BANNER_RE = re.compile(
    r"edgeq hello (?P<name>\S+)\r\nclock (?P<hz>\d+) counter (?P<kind>\w+)\r\n"
    r"(?P<loops>(?:loop \d+ cycles \d+\r\n)+)stack (?P<used>\d+)/(?P<size>\d+)\r\ndata ok\r\nready\r\n")
_PTY_RE = re.compile(rb"char device redirected to (/dev/pts/\d+)")


@pytest.fixture(scope="module")
def hello_images(tmp_path_factory):
    """hello.c built once per board for this module."""
    root = tmp_path_factory.mktemp("hello")
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = build_firmware(load_board(name), [HELLO], [], root / name, name="hello")
        return cache[name]

    return get


@contextlib.contextmanager
def qemu_serial(board: Board, elf: Path, timeout: float = 15.0):
    """Run ``elf`` under QEMU, held paused until the pty is open (so nothing printed at boot is lost);
    yields the pyserial port. The emulator is always killed."""
    proc = subprocess.Popen(board.qemu_command(elf, paused=True), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    port = None
    try:
        out, deadline = b"", time.monotonic() + timeout
        while not _PTY_RE.search(out):
            assert time.monotonic() < deadline and proc.poll() is None, f"QEMU gave no pty: {out!r}"
            if select.select([proc.stdout], [], [], 0.2)[0]:
                out += os.read(proc.stdout.fileno(), 4096)
        port = serial.Serial(_PTY_RE.search(out).group(1).decode(), board.uart.baud, timeout=timeout)
        proc.stdin.write(b'{"execute": "qmp_capabilities"}\n{"execute": "cont"}\n')
        proc.stdin.flush()
        yield port
    finally:
        if port is not None:
            port.close()
        proc.kill()
        proc.wait(timeout=10)


def read_banner(port, timeout: float = 30.0) -> re.Match:
    buf, deadline = b"", time.monotonic() + timeout
    while b"ready\r\n" not in buf:
        assert time.monotonic() < deadline, f"no banner, got {buf!r}"
        buf += port.read(port.in_waiting or 1)
    m = BANNER_RE.fullmatch(buf.decode("ascii"))
    assert m, buf
    return m


def loops(m: re.Match) -> dict[int, int]:
    return {int(n): int(c) for n, c in re.findall(r"loop (\d+) cycles (\d+)", m["loops"])}


# ------------------------------------------------------------------------------------------ build, all boards
@pytest.mark.parametrize("name", ALL)
def test_hello_builds_links_and_fits(hello_images, name):
    img = hello_images(name)
    b = img.board
    assert img.elf.exists() and img.hex.exists() and img.bin.exists()
    assert 0 < img.flash_bytes <= b.memory.flash.length and img.ram_bytes <= b.memory.ram.length
    assert img.flash_bytes == img.text + img.data and img.ram_bytes == img.data + img.bss + b.memory.stack_bytes
    assert img.flash_bytes < 2048  # the platform is small
    by_src = img.sizes_by_source()
    names = {Path(s).name for s in by_src}
    assert {"hello.c", "startup.c", b.platform_sources()[2].name, b.platform_sources()[3].name} <= names
    # the per-source breakdown accounts for the whole image (up to alignment padding)
    assert 0 <= img.flash_bytes - sum(s.flash for s in by_src.values()) < 16
    assert any(s.name == "vectors" for s in img.symbols())
    # the vector table is where the core boots: initial SP = top of RAM, reset vector is Thumb
    sp, reset = int.from_bytes(img.bin.read_bytes()[:4], "little"), int.from_bytes(img.bin.read_bytes()[4:8], "little")
    assert sp == b.memory.ram.end and reset & 1 and b.memory.flash.origin <= reset < b.memory.flash.end


def test_image_that_does_not_fit(tmp_path):
    text = (BOARDS_DIR / "mps2-an386.toml").read_text().replace('name = "mps2-an386"', 'name = "tiny"')
    text = text.replace("flash = { origin = 0x00000000, length = 0x00400000 }",
                        "flash = { origin = 0x00000000, length = 0x00000200 }")
    (tmp_path / "tiny.toml").write_text(text)
    with pytest.raises(EdgeqError) as ei:
        build_firmware(load_board(tmp_path / "tiny.toml"), [HELLO], [], tmp_path / "out")
    msg = ei.value.format()
    assert "'tiny'" in msg and "flash:" in msg and "512 available" in msg
    assert re.search(r"flash: \d+ bytes needed", msg)


def test_compile_error_is_reported(tmp_path):
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { int unused; return 0; }\n")  # -Werror: unused variable
    with pytest.raises(EdgeqError) as ei:
        build_firmware(load_board("mps2-an386"), [bad], [], tmp_path / "out")
    assert "failed to compile" in ei.value.what and any("unused" in d for d in ei.value.detail)


# ------------------------------------------------------------------------------------------ QEMU, emulated boards
@needs_qemu
@pytest.mark.parametrize("name", EMULATED)
def test_hello_boots_and_echoes(hello_images, name):
    img = hello_images(name)
    b = img.board
    with qemu_serial(b, img.elf) as port:
        m = read_banner(port)
        assert m["name"] == name and int(m["hz"]) == b.clock.hz and m["kind"] == "systick"
        assert 0 < int(m["used"]) < 1024 and int(m["size"]) == b.memory.stack_bytes
        payload = bytes(range(256)) * 2
        for i in range(0, len(payload), 64):  # chunks: the UART has a one-byte receive buffer
            port.write(payload[i:i + 64])
            assert port.read(64) == payload[i:i + 64]


@needs_qemu
@pytest.mark.parametrize("name", EMULATED)
def test_systick_is_deterministic_and_counts_instructions(hello_images, name):
    img = hello_images(name)
    b = img.board
    runs = []
    for _ in range(2):
        with qemu_serial(b, img.elf) as port:
            runs.append(read_banner(port).group(0))
    assert runs[0] == runs[1]  # same counts, same stack, byte for byte
    c = loops(BANNER_RE.fullmatch(runs[0]))
    step = b.counter_resolution
    # the 200000-iteration loop runs 2 * 100000 more instructions than the 100000 one
    assert abs(b.counter_to_unit(c[200000] - c[100000]) - 200_000) <= step
    # and the loop alone is 2n + 1 instructions, plus a few for reading the counter
    assert 200_001 - step <= b.counter_to_unit(c[100000]) <= 200_001 + 40 + 2 * step


@needs_qemu
@pytest.mark.parametrize("name, n", [("netduinoplus2", 150_000_000)])
def test_systick_counts_across_wraps(tmp_path, name, n):
    """A loop spanning several 2^24-tick SysTick wraps is still timed exactly (wrap counting in the ISR and the
    pending-wrap correction). netduinoplus2 wraps every 2^24 ticks = 100M instructions, so this is quick."""
    b = load_board(name)
    hdr = tmp_path / "long.h"
    hdr.write_text(f"#define HELLO_LONG_LOOP {n}u\n")
    img = build_firmware(b, [HELLO], [], tmp_path / "out", force_includes={HELLO: hdr}, name="hello")
    assert (2 * n + 1) / b.counter_to_unit(1 << 24) > 2  # crosses at least two wraps
    with qemu_serial(b, img.elf, timeout=60) as port:
        c = loops(read_banner(port, timeout=120))
    assert abs(b.counter_to_unit(c[n]) - (2 * n + 1)) <= 40 + 2 * b.counter_resolution
