"""The real Cortex-M55 / M85 board files (Alif Ensemble E7 DevKit HP core, STM32N6570-DK, EK-RA8D1) and their UART
drivers: the register offsets and bits each driver uses match the documented layout (a table per driver), the
divisors computed in Python, the cortex-m85 compiler spelling, the manual flash method, and the validation of the
new drivers' keys. The builds themselves: tests/cli/test_m55_m85_builds.py."""

import re
import shutil
import subprocess

import pytest

from edgeq.errors import EdgeqError
from edgeq.targets.boards import (BOARDS_DIR, PLATFORM_DIR, dw_divisor, flash_command, load_board,
                                  render_board_config, sci_b_divisors)
from edgeq.targets.serial import flash_real

NEW_BOARDS = {"alif-e7-devkit-hp": ("cortex-m55", "uart_dw16550.c"), "stm32n6570-dk": ("cortex-m55", "uart_stm32.c"),
              "ek-ra8d1": ("cortex-m85", "uart_sci.c")}


def _defines(text: str) -> dict[str, int]:
    """``#define NAME <value>`` lines of a C source whose value is a plain or wrapped integer: REG(0x1Cu),
    (1u << 5), 0x03u."""
    out = {}
    for name, value in re.findall(r"^#define (\w+) (.+?)\s*(?:/\*.*)?$", text, re.M):
        m = re.fullmatch(r"(?:REG(?:32|16|8)?|SCI)\((0x[0-9A-Fa-f]+)u\)|\((\d+)u << (\d+)\)|(0x[0-9A-Fa-f]+|\d+)u?",
                         value.strip())
        if m:
            off, one, shift, plain = m.groups()
            out[name] = int(off, 16) if off else (int(one) << int(shift)) if one else int(plain, 0)
    return out


# Synopsys DW_apb_uart databook, register memory map (16550 registers at 4-byte strides) and bit fields.
DW_APB_UART = {
    "UART_RBR": 0x00, "UART_THR": 0x00, "UART_DLL": 0x00, "UART_IER": 0x04, "UART_DLH": 0x04, "UART_FCR": 0x08,
    "UART_LCR": 0x0C, "UART_MCR": 0x10, "UART_LSR": 0x14, "UART_USR": 0x7C,
    "LCR_8N1": 0x03, "LCR_DLAB": 0x80, "FCR_FIFOE": 0x01, "FCR_RFIFOR": 0x02, "FCR_XFIFOR": 0x04,
    "LSR_DR": 0x01, "LSR_THRE": 0x20, "USR_BUSY": 0x01,
}
# Renesas RA8 SCI_B (RA8 hardware manuals; the same layout as NuttX arch/arm/src/ra8/hardware/ra_sci.h) and the
# system registers uart_sci.c writes (FSP R7FA8D1BH.h, from memory: see the driver's header).
RA8_SCI_B = {
    "SCI_RDR": 0x00, "SCI_TDR": 0x04, "SCI_CCR0": 0x08, "SCI_CCR1": 0x0C, "SCI_CCR2": 0x10, "SCI_CCR3": 0x14,
    "SCI_CCR4": 0x18, "SCI_CESR": 0x1C, "SCI_CSR": 0x48, "SCI_CFCLR": 0x68,
    "CCR0_RE": 1 << 0, "CCR0_TE": 1 << 4, "CCR1_SPB2DT": 1 << 4, "CCR2_BGDM": 1 << 4, "CCR2_ABCS": 1 << 5,
    "CCR3_CHR_8BIT": 2 << 8, "CCR3_LSBF": 1 << 12, "CESR_RIST": 1 << 0, "CESR_TIST": 1 << 4,
    "CSR_ORER": 1 << 24, "CSR_PER": 1 << 27, "CSR_FER": 1 << 28, "CSR_TDRE": 1 << 29, "CSR_RDRF": 1 << 31,
    "PRCR": 0x4001E3FE, "PRCR_KEY": 0xA500, "PRCR_PRC0": 1, "PRCR_PRC1": 2,
    "SCICKDIVCR": 0x4001E054, "SCICKCR": 0x4001E055, "SCICKCR_CKSEL_MOCO": 1, "SCICKCR_CKSREQ": 1 << 6,
    "SCICKCR_CKSRDY": 1 << 7, "PFS_BASE": 0x40400800, "PWPR": 0x40400D03, "PWPRS": 0x40400D05,
    "PWPR_PFSWE": 1 << 6, "PWPR_B0WI": 1 << 7, "PFS_PMR": 1 << 16, "PFS_PSEL_SHIFT": 24,
}
# STM32 USART "v2" layout (RM0433 H7, RM0486 N6): what the STM32N6570-DK uses through uart_stm32.c.
STM32_V2 = {"UART_CR1": 0x00, "UART_BRR": 0x0C, "UART_STATUS": 0x1C, "UART_RX": 0x24, "UART_TX": 0x28,
            "CR1_UE": 1 << 0, "CR1_RE": 1 << 2, "CR1_TE": 1 << 3, "STATUS_RXNE": 1 << 5, "STATUS_TXE": 1 << 7}


@pytest.mark.parametrize("source, table", [("uart_dw16550.c", DW_APB_UART), ("uart_sci.c", RA8_SCI_B)])
def test_driver_registers_match_the_documented_layout(source, table):
    got = _defines((PLATFORM_DIR / source).read_text())
    assert {k: got.get(k) for k in table} == table


def test_stm32_v2_layout_used_by_the_n6():
    text = (PLATFORM_DIR / "uart_stm32.c").read_text()
    v2 = _defines(text.split("#if BOARD_UART_STM32_LAYOUT_V2")[1].split("#else")[0] + text.split("#endif")[1])
    assert {k: v2.get(k) for k in STM32_V2} == STM32_V2
    assert load_board("stm32n6570-dk").uart.layout == "v2"


@pytest.mark.parametrize("name", sorted(NEW_BOARDS))
def test_board_is_a_real_helium_part(name):
    b = load_board(name)
    core, driver_source = NEW_BOARDS[name]
    assert not b.emulated and b.cpu.core == core and b.cpu.arch == "armv8.1-m.main"
    assert b.cpu.mve and b.cpu.dsp and b.cpu.fpu == "fpv5-d16" and b.cycle_counter.kind == "dwt"
    assert PLATFORM_DIR / driver_source in b.platform_sources()
    # GCC 12 has no -mcpu=cortex-m85: the M85 is built as cortex-m55 (the same Armv8.1-M ISA with MVE)
    assert b.cflags()[0] == "-mcpu=cortex-m55"
    assert not (b.memory.flash.origin < b.memory.ram.end and b.memory.ram.origin < b.memory.flash.end)
    assert b.memory.external is None


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("name", sorted(NEW_BOARDS))
def test_compiler_flags_enable_helium(name):
    """The board's flags give the C code Helium with floating point (what edgeq_mve.h tests) and the DSP extension."""
    r = subprocess.run(["arm-none-eabi-gcc", *load_board(name).cflags(), "-dM", "-E", "-x", "c", "-"], input="",
                       capture_output=True, text=True, check=True)
    macros = dict(re.findall(r"#define (\w+) (.*)", r.stdout))
    assert macros["__ARM_FEATURE_MVE"] == "3" and macros["__ARM_FEATURE_DSP"] == "1"
    assert macros["__ARM_ARCH_8M_MAIN__"] == "1"  # (GCC 12's name for v8.1-M too): startup.c then sets MSPLIM


def test_uart_constants():
    """Divisors from the board files' clocks: DW 100 MHz / (16 x 115200); SCI_B at 8 MHz: 8 MHz / (8 x 8) =
    125000 baud slowed by 236/256 = 115234; the N6's USART1 at 32 MHz: BRR 278."""
    assert dw_divisor(100_000_000, 115_200) == 54
    assert sci_b_divisors(8_000_000, 115_200) == (0, 7, 236)
    assert sci_b_divisors(8_000_000, 9_600) == (0, 103, 256)  # 8 MHz / (8 * 104) = 9615 baud: no modulation
    assert sci_b_divisors(100_000_000, 9_600) == (2, 80, 255)  # CKS = 2 for BRR to fit 8 bits: 9607 baud
    assert sci_b_divisors(100_000_000, 300) is None  # BRR > 255 even at CKS = 3
    assert sci_b_divisors(8_000_000, 2_000_000) is None
    d = dict(re.findall(r"^#define (\w+) (\S+)", render_board_config(load_board("ek-ra8d1")), re.M))
    assert (d["BOARD_UART_SCI_BRR"], d["BOARD_UART_SCI_MDDR"], d["BOARD_UART_SCI_BRME"]) == ("7u", "236u", "1")
    assert d["BOARD_UART_SCI_MSTP_MASK"] == "0x00400000u" and d["BOARD_NUM_UART_SCI_PINS"] == "2u"
    assert re.search(r"\{ 10u, 14u, 5u \}, \\\n  \{ 10u, 15u, 5u \}", render_board_config(load_board("ek-ra8d1")))
    d = dict(re.findall(r"^#define (\w+) (\S+)", render_board_config(load_board("alif-e7-devkit-hp")), re.M))
    assert d["BOARD_UART_DW_DIVISOR"] == "54u" and d["BOARD_NUM_ENABLE_BITS"] == "26u"
    d = dict(re.findall(r"^#define (\w+) (\S+)", render_board_config(load_board("stm32n6570-dk")), re.M))
    assert d["BOARD_UART_STM32_BRR"] == "278u" and d["BOARD_UART_STM32_LAYOUT_V2"] == "1"


@pytest.mark.parametrize("name", ["alif-e7-devkit-hp", "stm32n6570-dk"])
def test_manual_flash_method_names_the_steps(name, tmp_path):
    """No edgeq tool loads these parts: flashing stops with the board file's steps, the image paths filled in."""
    b = load_board(name)
    assert b.flash.method == "manual" and len(b.flash.steps) >= 3
    with pytest.raises(EdgeqError) as e:
        flash_command(b, "/x/build/bench.elf")
    text = e.value.format()
    assert "loaded by hand" in text and "/x/build/bench.bin" in text and "{bin}" not in text
    assert f"edgeq bench --board {name} --port" in text
    with pytest.raises(EdgeqError, match="loaded by hand"):
        flash_real(b, tmp_path / "bench.elf")


def test_ra8d1_flashes_with_pyocd():
    assert flash_command(load_board("ek-ra8d1"), "b/bench.elf") == ["pyocd", "flash", "-t", "r7fa8d1bh", "b/bench.elf"]


RA8 = (BOARDS_DIR / "ek-ra8d1.toml").read_text()
ALIF = (BOARDS_DIR / "alif-e7-devkit-hp.toml").read_text()
N6 = (BOARDS_DIR / "stm32n6570-dk.toml").read_text()


@pytest.mark.parametrize("name, text, key, words", [
    ("ek-ra8d1", RA8.replace("module_stop = { reg = 0x40203004, bit = 22 }", ""), "uart.module_stop", "is missing"),
    ("ek-ra8d1", RA8.replace("bit = 22 }", "bit = 32 }"), "uart.module_stop.bit", "outside"),
    ("ek-ra8d1", RA8.replace("{ port = 10, pin = 14, psel = 5 }", "{ port = 10, pin = 14, psel = 40 }"),
     "uart.pins[0].psel", "outside"),
    ("ek-ra8d1", RA8.replace("baud = 115200", "baud = 2000000"), "uart.baud", "cannot be reached"),
    ("alif-e7-devkit-hp", ALIF.replace("baud = 115200", "baud = 10000000"), "uart.baud", "divisor"),
    ("alif-e7-devkit-hp", ALIF.replace('driver = "dw_apb_uart"', 'driver = "dw_apb_uart"\nlayout = "v2"'),
     "uart.layout", "not a known key"),
    ("stm32n6570-dk", N6.split("steps = [")[0], "flash.steps", "is missing"),
    ("stm32n6570-dk", N6.split("steps = [")[0] + "steps = []\n", "flash.steps", "non-empty list"),
])
def test_new_keys_are_validated(name, text, key, words, tmp_path):
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    with pytest.raises(EdgeqError) as e:
        load_board(p)
    assert f"key '{key}'" in e.value.what and words in e.value.what
