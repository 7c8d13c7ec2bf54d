"""The real Cortex-M55 / M85 boards (issue 15 §4): `edgeq generate --cpu mve` and `edgeq build --board B` for the
three MLPerf Tiny models link for every one of them, with the Helium kernels, and fit its memories: the fit
estimate before building and the linked image after, every allocated section of the ELF inside the board file's
regions. No hardware here: nothing is flashed or run.

A build is cached under the edgeq cache folder by the hash of everything it is made from (the generated library,
the board file, the platform and bench sources, the firmware templates, the build code), so a warm run only
re-generates the libraries and re-reads the ELFs; ``EDGEQ_CACHE=$(mktemp -d)`` forces a cold one (about 35 s).
"""

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from paths import MLPERF, REPO
from edgeq.cli.main import main
from edgeq.files import cache_dir
from edgeq.targets.boards import load_board
from edgeq.targets.firmware import BUILD_INFO, read_manifest
from edgeq.targets.fit import estimate_library
from edgeq.targets.toolchain import OBJDUMP, _sections

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")

BOARDS = ("alif-e7-devkit-hp", "stm32n6570-dk", "ek-ra8d1")
MODELS = ("resnet8_int8", "kws_dscnn_int8", "ad01_int8")
# what a bench build is made from besides the generated library and the board file
BUILD_INPUTS = [REPO / "firmware" / "platform", REPO / "firmware" / "bench", REPO / "templates" / "firmware",
                *(REPO / "edgeq" / "targets" / f for f in ("boards.py", "toolchain.py", "firmware.py", "fit.py"))]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for root in paths:
        for f in sorted([root] if root.is_file() else root.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:24]


@pytest.fixture(scope="module")
def libraries(tmp_path_factory):
    """`edgeq generate MODEL -o DIR --cpu mve` for each model (well under a second each)."""
    root = tmp_path_factory.mktemp("m55-libs")
    libs = {}
    for m in MODELS:
        out = root / m
        assert main(["generate", str(MLPERF / f"{m}.tflite"), "-o", str(out), "--cpu", "mve"]) == 0
        libs[m] = out
    return libs


@pytest.fixture(scope="module")
def build(libraries):
    """`edgeq build LIB --board B --out DIR`, once per content hash: returns (firmware dir, build.json)."""
    inputs = _digest(BUILD_INPUTS)

    def get(model: str, board: str) -> tuple[Path, dict]:
        lib = libraries[model]
        key = _digest([lib, load_board(board).path]) + inputs
        out = cache_dir() / "m55-m85-builds" / f"{model}-{board}-{key}"
        if not (out / BUILD_INFO).is_file():
            assert main(["build", str(lib), "--board", board, "--out", str(out)]) == 0
        return out, json.loads((out / BUILD_INFO).read_text())

    return get


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("model", MODELS)
def test_links_with_helium_and_fits(model, board, libraries, build):
    b = load_board(board)
    assert b.cpu.mve and not b.emulated
    man = read_manifest(libraries[model])
    assert man["cpu"] == "mve"
    # the estimate edgeq makes before building: within the part's memories, and a lower bound of the image
    est = estimate_library(libraries[model], b, man)
    assert est.fits and not est.weights_external
    out, info = build(model, board)
    mem = info["memory"]
    assert info["board"] == board and info["model_sha256"] == man["model_sha256"]
    assert 0 < mem["flash_bytes"] <= b.memory.flash.length and 0 < mem["ram_bytes"] <= b.memory.ram.length
    assert mem["external_bytes"] == 0 and mem["arena_bytes"] == man["arena_bytes"]
    assert est.weights_bytes <= mem["weights_bytes"] and est.flash_bytes <= mem["flash_bytes"]
    # compiled for Helium: the ELF's build attributes say MVE, and its code has Q-register (MVE) instructions
    elf = out / "bench.elf"
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(elf)], capture_output=True, text=True, check=True)
    assert "Tag_MVE_arch: MVE Integer and FP" in attrs.stdout and "Tag_CPU_arch: v8.1-M.mainline" in attrs.stdout
    dis = subprocess.run([OBJDUMP, "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    assert len(re.findall(r"\tv\w+(?:\.\w+)*\s+q[0-7]\b", dis)) >= 10


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("model", MODELS)
def test_sections_land_in_the_board_regions(model, board, build):
    """Every allocated section of the ELF: code, read-only data and the initial values of .data inside
    memory.flash (load addresses too), .data/.bss inside memory.ram below the stack, the stack at its top;
    the vector table first, at flash.origin (where the boot code of the part starts it)."""
    b = load_board(board)
    fl, ram = b.memory.flash, b.memory.ram
    out, _ = build(model, board)
    secs = {s.name: s for s in _sections(out / "bench.elf") if "ALLOC" in s.flags and s.size}
    assert {".text", ".bss", ".stack"} <= set(secs)  # .data is empty in the bench image
    stack_bottom = ram.end - b.memory.stack_bytes
    for s in secs.values():
        if s.name == ".stack":
            assert (s.vma, s.vma + s.size) == (stack_bottom, ram.end)
        elif "READONLY" in s.flags or "CODE" in s.flags:
            assert fl.origin <= s.vma and s.vma + s.size <= fl.end, s
        else:  # .data (loaded from flash) and .bss
            assert ram.origin <= s.vma and s.vma + s.size <= stack_bottom, s
        if "LOAD" in s.flags:
            assert fl.origin <= s.lma and s.lma + s.size <= fl.end, s
    assert secs[".text"].vma == fl.origin
