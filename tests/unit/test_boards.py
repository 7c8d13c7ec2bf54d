"""Board files: every one loads and validates, derived data (flags, QEMU args, counter units, generated
header and linker script, flash commands) is exact, and bad files fail with errors naming file, key and fix."""

import re
from pathlib import Path

import pytest

from edgeq.targets.boards import (BOARDS_DIR, DEFAULT_BOARD, flash_command, list_boards, load_board,
                          render_board_config, render_linker_script)
from edgeq.errors import EdgeqError, ToolMissingError

SPEC_BOARDS = {
    "mps2-an386": True, "mps2-an385": True, "mps2-an500": True, "mps2-an505": True, "netduinoplus2": True,
    "nucleo-f446re": False, "nucleo-l4r5zi": False, "nucleo-h743zi": False, "nrf52840dk": False,
}
ALL = sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def test_all_spec_boards_present_and_load():
    loaded = {b.name: b for b in list_boards()}
    assert set(SPEC_BOARDS) <= set(loaded)
    for name, emulated in SPEC_BOARDS.items():
        assert loaded[name].emulated is emulated
    assert load_board(None).name == DEFAULT_BOARD == "mps2-an386"


@pytest.mark.parametrize("name", ALL)
def test_board_file_is_consistent(name):
    b = load_board(name)
    assert b.name == name and b.path == BOARDS_DIR / f"{name}.toml"
    assert b.memory.stack_bytes < b.memory.ram.length
    assert (b.qemu is not None) == b.emulated == (b.flash.method == "qemu")
    assert all(p.exists() for p in b.platform_sources())
    # the loader accepts a path as well as a name
    assert load_board(BOARDS_DIR / f"{name}.toml") == b
    # every derived artefact renders
    assert f'#define BOARD_NAME "{name}"' in render_board_config(b)
    assert "ENTRY(Reset_Handler)" in render_linker_script(b)
    if b.emulated:
        assert b.cycle_counter.kind == "systick" and b.counter_unit == "instructions (QEMU)"
    else:
        assert b.counter_unit == "cycles" and b.counter_to_unit(1234) == 1234


@pytest.mark.parametrize("name, flags", [
    ("mps2-an386", "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -DEDGEQ_HAS_DSP=1 -DEDGEQ_HAS_FPU=1"),
    ("mps2-an385", "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft -DEDGEQ_HAS_DSP=0 -DEDGEQ_HAS_FPU=0"),
    ("mps2-an500", "-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16 -DEDGEQ_HAS_DSP=1 -DEDGEQ_HAS_FPU=1"),
    ("mps2-an505", "-mcpu=cortex-m33 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16 -DEDGEQ_HAS_DSP=1 -DEDGEQ_HAS_FPU=1"),
    ("nucleo-h743zi", "-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16 -DEDGEQ_HAS_DSP=1 -DEDGEQ_HAS_FPU=1"),
    ("nrf52840dk", "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -DEDGEQ_HAS_DSP=1 -DEDGEQ_HAS_FPU=1"),
])
def test_cflags(name, flags):
    assert " ".join(load_board(name).cflags()) == flags


def test_ldflags():
    b = load_board("mps2-an386")
    assert b.ldflags("x/linker.ld", "x/fw.map") == [
        "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
        "-nostdlib", "-nostartfiles", "-Wl,--gc-sections", "-Tx/linker.ld", "-Wl,-Map=x/fw.map"]


def test_m33_without_dsp_gets_nodsp(tmp_path):
    text = (BOARDS_DIR / "mps2-an505.toml").read_text().replace("dsp = true", "dsp = false")
    p = tmp_path / "mps2-an505.toml"
    p.write_text(text)
    assert load_board(p).cflags()[0] == "-mcpu=cortex-m33+nodsp"


def test_mve_key(tmp_path):
    """`[cpu] mve`: the M55 board has Helium; false on an M55 adds +nomve; only Armv8.1-M cores may set it."""
    assert load_board("mps3-an547").cpu.mve and not load_board("mps2-an505").cpu.mve
    p = tmp_path / "mps3-an547.toml"
    p.write_text((BOARDS_DIR / "mps3-an547.toml").read_text().replace("mve = true", "mve = false"))
    assert load_board(p).cflags()[0] == "-mcpu=cortex-m55+nomve"
    p = tmp_path / "mps2-an505.toml"
    p.write_text((BOARDS_DIR / "mps2-an505.toml").read_text().replace("dsp = true", "dsp = true\nmve = true"))
    with pytest.raises(EdgeqError, match="mve"):
        load_board(p)


def test_qemu_args():
    b = load_board("mps2-an386")
    assert b.qemu_args("/x/fw.elf") == [
        "-machine", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "pty", "-icount", "shift=0",
        "-kernel", "/x/fw.elf"]
    paused = b.qemu_command(Path("/x/fw.elf"), paused=True)
    assert paused[0] == "qemu-system-arm" and paused[-2:] == ["-kernel", "/x/fw.elf"]
    assert paused[paused.index("-qmp") + 1] == "stdio" and "-S" in paused
    with pytest.raises(EdgeqError, match="not emulated"):
        load_board("nucleo-f446re").qemu_args("fw.elf")


@pytest.mark.parametrize("name, per_tick", [("mps2-an386", 40.0), ("mps2-an385", 40.0), ("mps2-an500", 40.0),
                                            ("mps2-an505", 50.0), ("netduinoplus2", 1e9 / 168e6)])
def test_counter_conversion(name, per_tick):
    b = load_board(name)
    assert b.counter_resolution == pytest.approx(per_tick)
    assert b.counter_to_unit(5000) == pytest.approx(5000 * per_tick)
    assert b.counter_kind_code == 1


def test_counter_kind_codes():
    assert load_board("nucleo-h743zi").counter_kind_code == 0
    assert load_board("mps2-an386").counter_kind_code == 1


# ------------------------------------------------------------------------------------------ generated files
def _defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) (.+?)(?: /\*.*)?$", text, re.M))


def test_board_config_cmsdk():
    d = _defines(render_board_config(load_board("mps2-an386")))
    assert d["BOARD_UART_BASE"] == "0x40004000u"
    assert d["BOARD_UART_CMSDK_BAUDDIV"] == "217u"  # 25 MHz / 115200
    assert d["BOARD_CLOCK_HZ"] == "25000000u"
    assert d["BOARD_HAS_FPU"] == "1" and d["BOARD_COUNTER_KIND"] == "1"
    assert d["BOARD_NUM_ENABLE_BITS"] == "0u"


def test_board_config_stm32():
    text = render_board_config(load_board("nucleo-l4r5zi"))
    d = _defines(text)
    assert d["BOARD_UART_STM32_LAYOUT_V2"] == "1"
    assert d["BOARD_UART_STM32_BRR"] == "8889u"  # LPUART: 256 * 4 MHz / 115200
    assert d["BOARD_NUM_ENABLE_BITS"] == "4u" and d["BOARD_NUM_UART_PINS"] == "2u"
    assert "{ 0x40007004u, 0x00000200u }" in text  # PWR_CR2.IOSV
    assert "{ 0x48001800u, 7u, 8u }" in text  # PG7 AF8
    f4 = _defines(render_board_config(load_board("nucleo-f446re")))
    assert f4["BOARD_UART_STM32_LAYOUT_V2"] == "0" and f4["BOARD_UART_STM32_BRR"] == "139u"
    assert _defines(render_board_config(load_board("nucleo-h743zi")))["BOARD_UART_STM32_BRR"] == "556u"


def test_board_config_nrf():
    d = _defines(render_board_config(load_board("nrf52840dk")))
    assert d["BOARD_UART_NRF_BAUDRATE"] == "0x01D60000u"
    assert d["BOARD_UART_NRF_TXD_PSEL"] == "6u" and d["BOARD_UART_NRF_RXD_PSEL"] == "8u"
    assert d["BOARD_UART_NRF_TXD_GPIO"] == "0x50000000u" and d["BOARD_COUNTER_KIND"] == "0"


def test_linker_script_regions():
    text = render_linker_script(load_board("mps2-an505"))
    assert "FLASH (rx)  : ORIGIN = 0x10000000, LENGTH = 0x00400000" in text
    assert "RAM   (rwx) : ORIGIN = 0x38000000, LENGTH = 0x003FC000" in text  # 4 MiB - 16 KiB stack
    assert "STACK (rw)  : ORIGIN = 0x383FC000, LENGTH = 0x00004000" in text


# QEMU 7.2 `info mtree` (qemu-system-arm -M <machine> -S -monitor stdio): 16 MiB "mps.ram" RAM; on AN500 it is
# at 0x60000000 and 0x21000000 is an unimplemented "PSRAM" stub that reads as zero; on AN505 (mps2-tz.c) at
# 0x80000000, where the Secure firmware reads it (tests/models/test_external_memory.py runs KWS from there).
EXTERNAL = {"mps2-an385": (0x21000000, 0x01000000, "psram"), "mps2-an386": (0x21000000, 0x01000000, "psram"),
            "mps2-an500": (0x60000000, 0x01000000, "psram"), "mps2-an505": (0x80000000, 0x01000000, "psram"),
            "mps3-an547": (0x11000000, 0x00200000, "psram")}


@pytest.mark.parametrize("name", ALL)
def test_external_memory_regions(name):
    """memory.external: the MPS2 boards whose QEMU machine maps PSRAM have it (the MPS3 AN547 its FPGA SRAM); no real board here maps
    external memory at reset, so none has it."""
    ext = load_board(name).memory.external
    assert (None if ext is None else (ext.origin, ext.length, ext.kind)) == EXTERNAL.get(name)


def test_linker_script_weights_placement():
    """The constant arrays' section goes to EXTMEM only when asked, and first in the script (so .text's
    .rodata.* does not take it); boards without memory.external refuse it."""
    b = load_board("mps2-an386")
    inside = render_linker_script(b)
    assert "EXTMEM (r)  : ORIGIN = 0x21000000, LENGTH = 0x01000000" in inside
    assert "> EXTMEM" not in inside
    outside = render_linker_script(b, weights_external=True)
    sec = outside.index(".edgeq_weights : ALIGN(16)")
    assert outside.index("*(.rodata.edgeq_weights)", sec) < outside.index("} > EXTMEM", sec) < outside.index(".text :")
    assert "EXTMEM" not in render_linker_script(load_board("nucleo-h743zi"))
    with pytest.raises(EdgeqError, match="no memory.external"):
        render_linker_script(load_board("nucleo-h743zi"), weights_external=True)


# ------------------------------------------------------------------------------------------ flash commands
def test_flash_command_st_flash():
    b = load_board("nucleo-f446re")
    assert flash_command(b, "build/fw.elf") == ["st-flash", "--reset", "write", "build/fw.bin", "0x08000000"]
    assert flash_command(b, Path("build/fw.bin")) == ["st-flash", "--reset", "write", "build/fw.bin", "0x08000000"]


def test_flash_command_openocd():
    assert flash_command(load_board("nucleo-h743zi"), "build/fw.elf") == [
        "openocd", "-f", "board/st_nucleo_h743zi.cfg", "-c", "program build/fw.elf verify reset exit"]
    assert flash_command(load_board("nucleo-l4r5zi"), "/tmp/my dir/fw.elf") == [
        "openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32l4x.cfg",
        "-c", "program {/tmp/my dir/fw.elf} verify reset exit"]


def test_flash_command_pyocd():
    assert flash_command(load_board("nrf52840dk"), "build/fw.hex") == [
        "pyocd", "flash", "-t", "nrf52840", "build/fw.hex"]


def test_flash_command_emulated():
    with pytest.raises(EdgeqError, match="emulated"):
        flash_command(load_board("mps2-an386"), "fw.elf")


# ------------------------------------------------------------------------------------------ validation
def _write(tmp_path, text: str, name: str = "nucleo-l4r5zi") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


BASE = (BOARDS_DIR / "nucleo-l4r5zi.toml").read_text()
EMU = (BOARDS_DIR / "mps2-an386.toml").read_text()


@pytest.mark.parametrize("text, key, words", [
    (BASE.replace("baud = 115200\n", ""), "uart.baud", "is missing"),
    (BASE.replace("[clock]\n", "[clock]\nmhz = 4\n"), "clock.mhz", "not a known key"),
    (BASE.replace("[flash]\n", "[flash]\ncolour = \"red\"\n"), "flash.colour", "not a known key"),
    (BASE.replace("[flash]", "colour = \"red\"\n[flash]"), "cycle_counter.colour", "not a known key"),
    (BASE.replace("dsp = true", "dsp = \"yes\""), "cpu.dsp", "must be bool"),
    (BASE.replace("hz = 4000000", "hz = true"), "clock.hz", "must be int"),
    (BASE.replace('layout = "v2"', 'layout = "f7"'), "uart.layout", "not one of: f4, v2"),
    (BASE.replace('driver = "stm32_usart"', 'driver = "pl011"'), "uart.driver", "not one of"),
    (BASE.replace('arch = "armv7e-m"', 'arch = "armv7-m"'), "cpu.arch", "does not match"),
    (BASE.replace('float_abi = "hard"', 'float_abi = "soft"'), "cpu.float_abi", "unused"),
    (BASE.replace('pin = 8, af = 8', 'pin = 18, af = 8'), "uart.pins[1].pin", "outside"),
    (BASE.replace("stack_bytes = 16384", "stack_bytes = 1001"), "memory.stack_bytes", "multiple of 8"),
    (BASE.replace("ram = { origin = 0x20000000", "ram = { origin = 0x08000000"), "memory.ram", "overlaps"),
    (BASE.replace("baud = 115200", "baud = 2000000"), "uart.baud", "BRR"),  # LPUART BRR < 0x300
    (BASE.replace('method = "openocd"', 'method = "qemu"'), "flash.method", "emulated"),
    (BASE.replace('config = ["interface/stlink.cfg", "target/stm32l4x.cfg"]', ""), "flash.config", "missing"),
    (BASE + '\n[qemu]\nmachine = "x"\nicount_shift = 0\n', "qemu", "only for emulated"),
    (BASE.replace('name = "nucleo-l4r5zi"', 'name = "other"'), "name", "differs from the file name"),
    (BASE.replace("stack_bytes", 'external = { origin = 0x90000000, length = 0x00800000, kind = "nor" }\nstack_bytes'),
     "memory.external.kind", "not one of: psram, sdram, qspi-flash, ospi-flash"),
    (BASE.replace("stack_bytes", "external = { origin = 0x90000000, length = 0x00800000 }\nstack_bytes"),
     "memory.external.kind", "is missing"),
    (BASE.replace("stack_bytes", 'external = { origin = 0x20010000, length = 0x100, kind = "psram" }\nstack_bytes'),
     "memory.external", "overlaps memory.ram"),
    (BASE.replace("stack_bytes", 'external = { origin = 0x90000002, length = 0x100, kind = "psram" }\nstack_bytes'),
     "memory.external", "4-byte aligned"),
    (BASE.replace("run_current_ma = 0.44", "run_current_ma = 0"), "power.run_current_ma", "is not in (0, 1000]"),
    (BASE.replace("run_current_ma = 0.44", 'run_current_ma = "0.44"'), "power.run_current_ma", "must be int or float"),
    (BASE.replace("supply_v = 3.3", "supply_v = 33"), "power.supply_v", "is not in (0, 5.5]"),
    (BASE.replace("supply_v = 3.3\n", ""), "power.supply_v", "is missing"),
    (BASE.replace('source = "STM32L4R5', 'source = "ds"\nsourc = "STM32L4R5'), "power.source", "does not cite"),
    (BASE.replace("[power]\n", "[power]\nidle_current_ma = 1\n"), "power.idle_current_ma", "not a known key"),
])
def test_invalid_board_files(tmp_path, text, key, words):
    p = _write(tmp_path, text)
    with pytest.raises(EdgeqError) as ei:
        load_board(p)
    msg = ei.value.format()
    assert str(p) in msg and f"key '{key}'" in msg and words in msg
    assert ei.value.hint  # always says how to fix it


@pytest.mark.parametrize("text, key, words", [
    (EMU.replace('kind = "systick"', 'kind = "dwt"'), "cycle_counter.kind", "does not emulate"),
    (EMU.replace("[qemu]\nmachine = \"mps2-an386\"\nicount_shift = 0\n", ""), "qemu", "missing"),
    (EMU.replace("icount_shift = 0", "icount_shift = 99"), "qemu.icount_shift", "outside"),
])
def test_invalid_emulated_board_files(tmp_path, text, key, words):
    p = _write(tmp_path, text, "mps2-an386")
    with pytest.raises(EdgeqError) as ei:
        load_board(p)
    assert f"key '{key}'" in ei.value.what and words in ei.value.format()


def test_external_memory_key(tmp_path):
    """An optional memory.external loads (here a nucleo with an imaginary 8 MiB XIP flash at 0x90000000); a
    board flashed with st-flash, which writes one raw binary to the internal flash, cannot have one."""
    text = BASE.replace("stack_bytes", 'external = { origin = 0x90000000, length = 0x00800000, kind = "ospi-flash" }'
                        "\nstack_bytes")
    ext = load_board(_write(tmp_path, text)).memory.external
    assert ext is not None and (ext.origin, ext.end, ext.kind) == (0x90000000, 0x90800000, "ospi-flash")
    f446 = (BOARDS_DIR / "nucleo-f446re.toml").read_text().replace(
        "stack_bytes", 'external = { origin = 0x90000000, length = 0x00800000, kind = "qspi-flash" }\nstack_bytes')
    with pytest.raises(EdgeqError) as ei:
        load_board(_write(tmp_path, f446, "nucleo-f446re"))
    assert "key 'memory.external'" in ei.value.what and "st-flash" in ei.value.what and "openocd" in ei.value.hint


@pytest.mark.parametrize("name", sorted(SPEC_BOARDS))
def test_every_board_cites_its_power_figures(name):
    """Every board of the spec names the part its run-mode current is for and the datasheet it comes from;
    an emulated board borrows a real part's figures and says which (its energy is an estimate). A board
    file without [power] loads; its energy is unknown (test_energy_arithmetic)."""
    b = load_board(name)
    p = b.power
    assert p is not None and p.part and ("datasheet" in p.source.lower() or "specification" in p.source.lower())
    assert 0 < p.run_current_ma < 100 and 1.7 <= p.supply_v <= 3.6
    note = b.energy_note
    assert p.part in note and p.source in note and ("estimate: QEMU instructions" in note) == b.emulated
    if b.emulated:
        assert "(Cortex-M" in p.part or b.name == "netduinoplus2"  # an FPGA image names the core it stands for


def test_energy_arithmetic(tmp_path):
    """energy = cycles / clock x current x voltage, from the board file's own numbers; a board file without
    [power] still loads and has no energy."""
    b = load_board("nucleo-l4r5zi")  # 4 MHz, 0.44 mA, 3.3 V: 1 M cycles = 0.25 s x 1.452 mW = 363 uJ
    assert b.energy_uj(1_000_000) == pytest.approx(1e6 / 4e6 * 0.44e-3 * 3.3 * 1e6)
    assert b.energy_uj(1_000_000) == pytest.approx(363.0)
    an386 = load_board("mps2-an386")
    assert an386.energy_uj(25_000_000) == pytest.approx(an386.power.run_current_ma * an386.power.supply_v * 1e3)
    bare = load_board(_write(tmp_path, BASE.split("\n[power]")[0].rsplit("\n#", 1)[0] + "\n"))
    assert bare.power is None and bare.energy_uj(1000) is None and bare.energy_note is None


def test_bad_toml_and_unknown_board(tmp_path):
    with pytest.raises(EdgeqError, match="not valid TOML"):
        load_board(_write(tmp_path, BASE + "\n[[["))
    with pytest.raises(EdgeqError) as ei:
        load_board("no-such-board")
    assert "mps2-an386" in ei.value.format()  # lists the known boards


def test_new_board_needs_only_a_file(tmp_path):
    """A board nobody has seen before: its file alone yields flags, config and linker script."""
    text = BASE.replace('name = "nucleo-l4r5zi"', 'name = "my-l4"').replace("hz = 4000000", "hz = 80000000")
    b = load_board(_write(tmp_path, text, "my-l4"))
    assert b.name == "my-l4" and b.clock.hz == 80_000_000
    assert _defines(render_board_config(b))["BOARD_UART_STM32_BRR"] == str(round(256 * 80e6 / 115200)) + "u"


def test_missing_toolchain(monkeypatch, tmp_path):
    from edgeq.targets import toolchain as build

    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError) as ei:
        build.build_firmware(load_board("mps2-an386"), [], [], tmp_path)
    assert "arm-none-eabi-gcc" in ei.value.what and "apt-get install gcc-arm-none-eabi" in ei.value.hint


def test_map_parser():
    from edgeq.targets.toolchain import _parse_map

    text = """Discarded input sections
 .text.unused   0x00000000       0x10 /o/a.o
Linker script and memory map

.text           0x00000000      0x200
 *(.vectors)
 .vectors       0x00000000       0x40 /o/startup.o
 .text.startup.main
                0x00000040       0x24 /o/main.o
                0x00000040                main
 .rodata.model_weights
                0x00000064      0x100 /o/model_data.o
 .text          0x00000164       0x10 /usr/lib/gcc/libgcc.a(_udivsi3.o)
 *fill*         0x00000174        0x4
.bss            0x20000000       0x20
 .bss.arena     0x20000000       0x20 /o/model.o
"""
    syms = _parse_map(text, {"/o/main.o": "src/main.c"})
    assert [(s.name, s.kind, s.size, s.source) for s in syms] == [
        ("vectors", "text", 0x40, "startup.o"),
        ("main", "text", 0x24, "src/main.c"),
        ("model_weights", "rodata", 0x100, "model_data.o"),
        ("text", "text", 0x10, "libgcc.a(_udivsi3.o)"),
        ("arena", "bss", 0x20, "model.o"),
    ]
