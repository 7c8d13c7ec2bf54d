"""Boards as data: ``boards/<name>.toml`` -> a validated, frozen :class:`Board`.

A board file is the single source of truth for a target: CPU and FPU (compiler flags), memory map (linker
script), clock, UART (driver + registers + pins), cycle counter, how to flash it, and for emulated boards how to
start QEMU. Everything derived from it -- ``cflags()``, ``ldflags()``, ``qemu_args()``, the generated
``board_config.h`` and linker script, the flash command -- is computed here in Python; the templates in
``templates/firmware/`` only print values. ``boards/README.md`` documents every key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.codegen.emit import WEIGHTS_SECTION
from edgeq.codegen.templates import template_env
from edgeq.errors import EdgeqError

ROOT = Path(__file__).resolve().parents[2]
BOARDS_DIR = ROOT / "boards"
PLATFORM_DIR = ROOT / "firmware" / "platform"
DEFAULT_BOARD = "mps2-an386"
QEMU_BINARY = "qemu-system-arm"

# Driver name in the TOML -> C source in firmware/platform/.
UART_SOURCES = {"cmsdk": "uart_cmsdk.c", "stm32_usart": "uart_stm32.c", "nrf_uarte": "uart_nrf.c",
                "dw_apb_uart": "uart_dw16550.c", "renesas_sci_b": "uart_sci.c"}
COUNTER_SOURCES = {"systick": "cycles_systick.c", "dwt": "cycles_dwt.c"}
COUNTER_KIND_CODE = {"dwt": 0, "systick": 1}  # protocol HELLO counter_kind
FLASH_METHODS = ("qemu", "pyocd", "openocd", "st-flash", "manual")
FPUS = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")
FLOAT_ABIS = ("soft", "softfp", "hard")
STM32_LAYOUTS = ("f4", "v2")
# memory.external kinds: memory-mapped external memory that can hold the model's constant arrays.
EXTERNAL_KINDS = ("psram", "sdram", "qspi-flash", "ospi-flash")
#: The output section the linker script gives the model's constant arrays (input section WEIGHTS_SECTION,
#: EDGEQ_WEIGHTS in the generated model_data.c) when they go to memory.external.
WEIGHTS_OUTPUT_SECTION = ".edgeq_weights"
# Architecture of each Cortex-M core gcc knows; used to check `arch` and whether `dsp` may be chosen.
CORE_ARCH = {
    "cortex-m0": "armv6-m", "cortex-m0plus": "armv6-m", "cortex-m1": "armv6-m",
    "cortex-m3": "armv7-m", "cortex-m4": "armv7e-m", "cortex-m7": "armv7e-m",
    "cortex-m23": "armv8-m.base", "cortex-m33": "armv8-m.main", "cortex-m35p": "armv8-m.main",
    "cortex-m55": "armv8.1-m.main", "cortex-m85": "armv8.1-m.main",
}
# nRF52 UARTE BAUDRATE register values (nRF52840 Product Specification, UARTE.BAUDRATE).
NRF_UARTE_BAUDRATE = {
    1200: 0x0004F000, 2400: 0x0009D000, 4800: 0x0013B000, 9600: 0x00275000, 14400: 0x003AF000,
    19200: 0x004EA000, 28800: 0x0075C000, 31250: 0x00800000, 38400: 0x009D0000, 56000: 0x00E50000,
    57600: 0x00EB0000, 76800: 0x013A9000, 115200: 0x01D60000, 230400: 0x03B00000, 250000: 0x04000000,
    460800: 0x07400000, 921600: 0x0F000000, 1000000: 0x10000000,
}
# gcc -mcpu spelling of a core the toolchain predates: arm-none-eabi-gcc 12.2 (Debian's) does not know
# cortex-m85 (added in GCC 13); cortex-m55 selects the same Armv8.1-M Mainline ISA with MVE (integer and
# float), the FPv5 double-precision FPU and the DSP extension, all of which the M85 implements; only the
# scheduling model differs (and PACBTI, which edgeq does not use).
GCC_MCPU = {"cortex-m85": "cortex-m55"}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


# --------------------------------------------------------------------------------------------- data model
@dataclass(frozen=True)
class Region:
    origin: int
    length: int

    @property
    def end(self) -> int:
        return self.origin + self.length


@dataclass(frozen=True)
class Cpu:
    core: str
    arch: str
    dsp: bool
    fpu: str
    float_abi: str
    mve: bool = False  # Helium (M-profile Vector Extension, integer lanes at least): Armv8.1-M cores

    @property
    def has_fpu(self) -> bool:
        return self.fpu != "none"


@dataclass(frozen=True)
class External(Region):
    """Memory-mapped external memory (QSPI/OSPI flash in XIP mode, PSRAM, SDRAM) readable at reset without
    set-up by the firmware; the model's constant arrays go there when the image does not fit ``flash``."""

    kind: str = "psram"


@dataclass(frozen=True)
class Memory:
    flash: Region
    ram: Region
    stack_bytes: int
    external: External | None = None


@dataclass(frozen=True)
class Clock:
    hz: int


@dataclass(frozen=True)
class RegBit:
    reg: int
    bit: int


@dataclass(frozen=True)
class Pin:
    gpio: int
    pin: int
    af: int


@dataclass(frozen=True)
class SciPin:
    """A Renesas RA pin (``P<port>_<pin>``) switched to peripheral function ``psel`` (its PmnPFS.PSEL)."""

    port: int
    pin: int
    psel: int


@dataclass(frozen=True)
class Uart:
    driver: str
    base: int
    baud: int
    clock_hz: int
    enable_bits: tuple[RegBit, ...] = ()
    # stm32_usart
    layout: str | None = None
    brr_scale: int = 1
    pins: tuple[Pin, ...] = ()
    # nrf_uarte
    txd_pin: int | None = None
    rxd_pin: int | None = None
    gpio_ports: tuple[int, ...] = ()
    # renesas_sci_b
    module_stop: RegBit | None = None  # the MSTP bit cleared to start the SCI channel
    sci_pins: tuple[SciPin, ...] = ()


@dataclass(frozen=True)
class CycleCounter:
    kind: str


@dataclass(frozen=True)
class Flash:
    method: str
    target: str | None = None
    config: tuple[str, ...] = ()
    address: int | None = None
    steps: tuple[str, ...] = ()  # manual: what the user runs, "{elf}" / "{bin}" stand for the image


@dataclass(frozen=True)
class Qemu:
    machine: str
    icount_shift: int
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Power:
    """Run-mode supply of the board's MCU from its datasheet (``[power]``): what an inference costs in
    energy. ``part`` names the MCU the figures are for (on an emulated board, the real part whose figures
    it borrows); ``run_current_ma`` is the typical run-mode current at the board's ``clock.hz``;
    ``source`` cites the document and table."""

    part: str
    run_current_ma: float
    supply_v: float
    source: str


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    emulated: bool
    path: Path
    cpu: Cpu
    memory: Memory
    clock: Clock
    uart: Uart
    cycle_counter: CycleCounter
    flash: Flash
    qemu: Qemu | None
    power: Power | None = None

    # ---- compiler / linker
    def cpu_flags(self) -> list[str]:
        """Code-generation flags, shared by compiling and linking (they select the libgcc multilib)."""
        mcpu = GCC_MCPU.get(self.cpu.core, self.cpu.core)
        if not self.cpu.dsp and self.cpu.arch.startswith(("armv8-m.main", "armv8.1-m")):
            mcpu += "+nodsp"
        if not self.cpu.mve and self.cpu.arch == "armv8.1-m.main":
            mcpu += "+nomve"
        flags = [f"-mcpu={mcpu}", "-mthumb", f"-mfloat-abi={self.cpu.float_abi}"]
        if self.cpu.has_fpu:
            flags.append(f"-mfpu={self.cpu.fpu}")
        return flags

    def cflags(self) -> list[str]:
        return self.cpu_flags() + [
            f"-DEDGEQ_HAS_DSP={int(self.cpu.dsp)}",
            f"-DEDGEQ_HAS_FPU={int(self.cpu.has_fpu)}",
        ]

    def ldflags(self, linker_script: Path | str | None = None, map_file: Path | str | None = None) -> list[str]:
        """Link flags (libraries such as ``-lgcc`` go after the objects and are not included)."""
        flags = self.cpu_flags() + ["-nostdlib", "-nostartfiles", "-Wl,--gc-sections"]
        if linker_script is not None:
            flags.append(f"-T{linker_script}")
        if map_file is not None:
            flags.append(f"-Wl,-Map={map_file}")
        return flags

    def platform_sources(self) -> list[Path]:
        """The firmware/platform C files this board links: startup, its UART driver, its cycle counter."""
        names = ["startup.c", "libc_min.c", UART_SOURCES[self.uart.driver],
                 COUNTER_SOURCES[self.cycle_counter.kind]]
        return [PLATFORM_DIR / n for n in names]

    # ---- QEMU
    def qemu_args(self, elf_path: Path | str, paused: bool = False) -> list[str]:
        """Arguments for ``qemu-system-arm`` (without the program name). serial0 -- the UART the firmware
        uses -- becomes a pty, announced on stderr as ``char device redirected to /dev/pts/N (label serial0)``.

        A pty drops what the guest writes while no one has it open, so a banner printed at boot is lost unless
        the guest is held: with ``paused=True`` QEMU starts stopped (``-S``) with QMP on stdin/stdout; open the
        pty, then send ``{"execute": "qmp_capabilities"}`` and ``{"execute": "cont"}``.
        """
        if self.qemu is None:
            raise EdgeqError(f"board {self.name!r} is not emulated: it has no [qemu] table",
                             hint=f"flash it with `{' '.join(flash_command(self, 'firmware.elf'))}`")
        args = ["-machine", self.qemu.machine, "-nographic", "-monitor", "none", "-serial", "pty",
                "-icount", f"shift={self.qemu.icount_shift}"]
        if paused:
            args += ["-S", "-qmp", "stdio"]
        return args + list(self.qemu.extra_args) + ["-kernel", str(elf_path)]

    def qemu_command(self, elf_path: Path | str, paused: bool = False) -> list[str]:
        return [QEMU_BINARY, *self.qemu_args(elf_path, paused=paused)]

    # ---- cycle counter
    @property
    def counter_kind_code(self) -> int:
        """The HELLO ``counter_kind`` byte: 0 = DWT cycles, 1 = SysTick cycles."""
        return COUNTER_KIND_CODE[self.cycle_counter.kind]

    @property
    def counter_unit(self) -> str:
        return "instructions (QEMU)" if self.emulated else "cycles"

    @property
    def counter_resolution(self) -> float:
        """Size of one raw counter step in :attr:`counter_unit` (QEMU: instructions per SysTick tick)."""
        return self.counter_to_unit(1)

    def counter_to_unit(self, raw: int | float) -> float:
        """Raw ``platform_cycles()`` difference -> :attr:`counter_unit`.

        Real boards count CPU cycles: returned unchanged. Under QEMU with ``-icount shift=S`` every instruction
        advances virtual time by 2**S ns and SysTick counts ticks of the emulated CPU clock in that virtual
        time, so instructions = ticks * 1e9 / clock_hz / 2**S (e.g. 40 instructions per tick at 25 MHz, S=0).
        """
        if not self.emulated:
            return float(raw)
        assert self.qemu is not None
        return raw * 1e9 / self.clock.hz / (1 << self.qemu.icount_shift)

    # ---- energy
    def energy_uj(self, cycles: float) -> float | None:
        """Energy of ``cycles`` CPU cycles in microjoules: cycles / clock x run current x supply voltage
        (``[power]``; None when the board file has none). On an emulated board the caller passes
        instructions (:attr:`counter_unit`): an estimate for the real part ``power.part``, one instruction
        per cycle."""
        if self.power is None:
            return None
        return cycles / self.clock.hz * self.power.run_current_ma * self.power.supply_v * 1e3

    @property
    def energy_note(self) -> str | None:
        """What an energy figure of this board is (None without ``[power]``)."""
        p = self.power
        if p is None:
            return None
        basis = (f"estimate: QEMU instructions as cycles x the {p.part} datasheet current" if self.emulated
                 else f"cycles x the {p.part} datasheet current")
        return (f"{basis} ({p.run_current_ma:g} mA at {self.clock.hz / 1e6:g} MHz, {p.supply_v:g} V; "
                f"{p.source})")


# --------------------------------------------------------------------------------------------- loading
class BoardLimits:
    """Mixin for a result tied to a board (``self.board``): the board's flash and RAM sizes."""

    board: Board

    @property
    def flash_limit(self) -> int:
        return self.board.memory.flash.length

    @property
    def ram_limit(self) -> int:
        return self.board.memory.ram.length

    @property
    def external_limit(self) -> int:
        """Bytes of the board's external memory region (0 when it has none)."""
        ext = self.board.memory.external
        return ext.length if ext is not None else 0


class _Table:
    """One TOML table being read: typed key access with errors that name the file, the key and the fix;
    :meth:`done` rejects keys nobody asked for."""

    def __init__(self, path: Path, where: str, data: dict[str, Any]):
        self.path, self.where, self.data = path, where, data
        self.known: list[str] = []

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, what: str, hint: str) -> EdgeqError:
        return EdgeqError(f"{self.path}: key '{self._key(key)}' {what}",
                          hint=hint + " (every key is described in boards/README.md)")

    def get(self, key: str, kind: type | tuple[type, ...], hint: str, default: Any = ..., check=None) -> Any:
        self.known.append(key)
        if key not in self.data:
            if default is ...:
                raise self.error(key, "is missing", f"add {self._key(key).split('.')[-1]} = ... ({hint})")
            return default
        v = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int subclass: never accept one for the other
        if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(key, f"must be {names}, not {type(v).__name__} {v!r}", hint)
        if check is not None:
            problem = check(v)
            if problem:
                raise self.error(key, f"= {_show(v)} {problem}", hint)
        return v

    def choice(self, key: str, choices, hint: str = "", default: Any = ...) -> str:
        h = hint or "use one of: " + ", ".join(choices)
        return self.get(key, str, h, default,
                        check=lambda v: None if v in choices else "is not one of: " + ", ".join(choices))

    def uint(self, key: str, hint: str, default: Any = ..., lo: int = 0, hi: int = 0xFFFFFFFF) -> int:
        return self.get(key, int, hint, default,
                        check=lambda v: None if lo <= v <= hi else f"is outside {_show(lo)}..{_show(hi)}")

    def table(self, key: str, hint: str, default: Any = ...) -> _Table | None:
        d = self.get(key, dict, hint, default)
        return None if d is None else _Table(self.path, self._key(key), d)

    def tables(self, key: str, hint: str) -> list[_Table]:
        items = self.get(key, list, hint, [])
        out = []
        for i, d in enumerate(items):
            if not isinstance(d, dict):
                raise self.error(f"{key}[{i}]", f"must be an inline table, not {d!r}", hint)
            out.append(_Table(self.path, f"{self._key(key)}[{i}]", d))
        return out

    def done(self) -> None:
        extra = [k for k in self.data if k not in self.known]
        if extra:
            raise self.error(extra[0], "is not a known key here",
                             f"remove it or fix its spelling; allowed keys: {', '.join(self.known)}")


def _show(v: Any) -> str:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) and v > 4096 else repr(v)


def _parse_region(t: _Table, key: str, default: Any = ...) -> Region | External | None:
    """``key = { origin, length }``; ``memory.external`` (optional, ``default=None``) also has ``kind``."""
    extra = ", kind = \"psram\"" if default is None else ""
    r = t.table(key, f"write {key} = {{ origin = 0x..., length = 0x...{extra} }}", default)
    if r is None:
        return None
    origin = r.uint("origin", "the start address of the region")
    length = r.uint("length", "the size of the region in bytes", lo=1)
    kind = r.choice("kind", EXTERNAL_KINDS) if default is None else None
    r.done()
    if origin % 4 or length % 4:
        raise t.error(key, "must be 4-byte aligned (origin and length)", "use the addresses from the datasheet")
    if origin + length > 1 << 32:
        raise t.error(key, "ends past the 4 GiB address space", "check origin and length")
    return External(origin, length, kind) if kind is not None else Region(origin, length)


def _overlap(a: Region, b: Region) -> bool:
    return a.origin < b.end and b.origin < a.end


def _parse_cpu(t: _Table) -> Cpu:
    core = t.get("core", str, "the gcc -mcpu value, e.g. \"cortex-m4\"",
                 check=lambda v: None if re.fullmatch(r"cortex-m\d+(plus|p)?", v) else "is not a Cortex-M core")
    arch = t.get("arch", str, "the architecture, e.g. \"armv7e-m\"")
    expected = CORE_ARCH.get(core)
    if expected and arch != expected:
        raise t.error("arch", f"= {arch!r} does not match core {core!r}", f"set arch = \"{expected}\"")
    dsp = t.get("dsp", bool, "true when the core has the DSP extension (SMLAD etc.)")
    if expected in ("armv7e-m",) and not dsp:
        raise t.error("dsp", f"= false, but {core} always has the DSP extension", "set dsp = true")
    if expected in ("armv6-m", "armv7-m", "armv8-m.base") and dsp:
        raise t.error("dsp", f"= true, but {core} has no DSP extension", "set dsp = false")
    mve = t.get("mve", bool, "true when the core has Helium (the M-profile Vector Extension)", default=False)
    if mve and arch != "armv8.1-m.main":
        raise t.error("mve", f"= true, but {core} ({arch}) has no Helium (MVE): only Armv8.1-M cores do",
                      "set mve = false")
    if mve and not dsp:
        raise t.error("mve", "= true needs the DSP extension (Armv8.1-M implies it with MVE)", "set dsp = true")
    fpu = t.choice("fpu", FPUS)
    abi = t.choice("float_abi", FLOAT_ABIS)
    if fpu == "none" and abi != "soft":
        raise t.error("float_abi", f"= {abi!r} needs an FPU, but fpu = \"none\"", "set float_abi = \"soft\"")
    if fpu != "none" and abi == "soft":
        raise t.error("float_abi", f"= \"soft\" leaves the {fpu} FPU unused", "set float_abi = \"hard\"")
    if fpu != "none" and expected in ("armv6-m", "armv7-m", "armv8-m.base"):
        raise t.error("fpu", f"= {fpu!r}, but {core} has no FPU", "set fpu = \"none\"")
    t.done()
    return Cpu(core, arch, dsp, fpu, abi, mve)


def _parse_uart(t: _Table, clock_hz: int) -> Uart:
    driver = t.choice("driver", tuple(UART_SOURCES))
    base = t.uint("base", "the UART's base address")
    baud = t.uint("baud", "the baud rate, e.g. 115200", lo=300, hi=20_000_000)
    uclk = t.uint("clock_hz", "the clock feeding the UART in Hz (defaults to clock.hz)", default=clock_hz, lo=1)
    bits = []
    for e in t.tables("enable_bits", "write enable_bits = [{ reg = 0x..., bit = N }, ...]"):
        bits.append(RegBit(e.uint("reg", "the register address"), e.uint("bit", "the bit number 0..31", hi=31)))
        e.done()
    kw: dict[str, Any] = {}
    if driver == "cmsdk":
        div = uclk // baud
        if not 16 <= div <= 0xFFFFF:
            raise t.error("baud", f"= {baud} gives BAUDDIV {div} at {uclk} Hz; the CMSDK UART needs 16..0xFFFFF",
                          "choose a baud rate at most clock_hz / 16")
    elif driver == "stm32_usart":
        kw["layout"] = t.choice("layout", STM32_LAYOUTS,
                                "\"f4\" (SR/DR registers: F1/F2/F4) or \"v2\" (ISR/RDR/TDR: F0/F7/L4/H7/G4...)")
        kw["brr_scale"] = scale = t.get("brr_scale", int, "1 for a USART, 256 for an LPUART", default=1,
                                        check=lambda v: None if v in (1, 256) else "must be 1 or 256")
        brr = round(uclk * scale / baud)
        lo, hi = (0x300, 0xFFFFF) if scale == 256 else (16, 0xFFFF)
        if not lo <= brr <= hi:
            raise t.error("baud", f"= {baud} gives BRR {brr:#x} at {uclk} Hz; the valid range is {lo:#x}..{hi:#x}",
                          "pick another baud rate or set uart.clock_hz to the UART's real clock")
        pins = []
        for p in t.tables("pins", "write pins = [{ gpio = 0x..., pin = N, af = N }, ...]"):
            pins.append(Pin(p.uint("gpio", "the GPIO port base address"),
                            p.uint("pin", "the pin number 0..15 in that port", hi=15),
                            p.uint("af", "the alternate-function number 0..15", hi=15)))
            p.done()
        kw["pins"] = tuple(pins)
    elif driver == "nrf_uarte":
        if baud not in NRF_UARTE_BAUDRATE:
            raise t.error("baud", f"= {baud} is not a UARTE baud rate",
                          "use one of: " + ", ".join(map(str, NRF_UARTE_BAUDRATE)))
        ports = t.get("gpio_ports", list, "the GPIO port base addresses, e.g. [0x50000000, 0x50000300]",
                      check=lambda v: None if v and all(isinstance(x, int) for x in v) else "must list addresses")
        kw["gpio_ports"] = tuple(ports)
        for key in ("txd_pin", "rxd_pin"):
            kw[key] = t.uint(key, "the pin as port * 32 + pin, e.g. 6 for P0.06", hi=32 * len(ports) - 1)
    elif driver == "dw_apb_uart":
        div = dw_divisor(uclk, baud)
        if not 1 <= div <= 0xFFFF or abs(uclk / (16 * div) / baud - 1) > 0.02:
            raise t.error("baud", f"= {baud} gives divisor {div} at {uclk} Hz (16x oversampling); it needs "
                          "1..0xFFFF within 2% of the rate", "pick another baud rate or set uart.clock_hz")
    elif driver == "renesas_sci_b":
        if sci_b_divisors(uclk, baud) is None:
            raise t.error("baud", f"= {baud} cannot be reached within 1% from a {uclk} Hz SCI clock",
                          "pick another baud rate or set uart.clock_hz")
        m = t.table("module_stop", "the module-stop bit of the SCI channel, e.g. { reg = 0x40203004, bit = 22 }")
        assert m is not None
        kw["module_stop"] = RegBit(m.uint("reg", "the MSTPCRx register address"),
                                   m.uint("bit", "the bit number 0..31", hi=31))
        m.done()
        pins = []
        for p in t.tables("pins", "write pins = [{ port = N, pin = N, psel = N }, ...]"):
            pins.append(SciPin(p.uint("port", "the port number 0..14", hi=14),
                               p.uint("pin", "the pin number 0..15 in that port", hi=15),
                               p.uint("psel", "the peripheral function (PmnPFS.PSEL) 0..31", hi=31)))
            p.done()
        kw["sci_pins"] = tuple(pins)
    t.done()
    return Uart(driver, base, baud, uclk, tuple(bits), **kw)


def dw_divisor(clock_hz: int, baud: int) -> int:
    """DesignWare APB UART (16550) divisor latch DLH:DLL: clock / (16 x baud), rounded."""
    return round(clock_hz / (16 * baud))


def sci_b_divisors(clock_hz: int, baud: int) -> tuple[int, int, int] | None:
    """Renesas SCI_B asynchronous mode with CCR2.BGDM = CCR2.ABCS = 1 (8 clocks per bit): (CKS, BRR, MDDR),
    with bit rate = clock / (8 x 4^CKS x (BRR + 1)) x MDDR / 256 (RA8 hardware manual, SCI_B bit rate
    setting; MDDR = 256 means no modulation, CCR2.BRME = 0). The smallest CKS whose BRR fits 0..255; None
    when no setting is within 1% of ``baud``."""
    for cks in range(4):
        unit = 8 * 4 ** cks
        brr = clock_hz // (unit * baud) - 1  # the rate without modulation is >= baud ...
        if not 0 <= brr <= 255:
            continue
        mddr = min(256, round(256 * baud * unit * (brr + 1) / clock_hz))  # ... and MDDR / 256 slows it down
        if mddr < 128:
            continue
        if abs(clock_hz / (unit * (brr + 1)) * mddr / 256 / baud - 1) <= 0.01:
            return cks, brr, mddr
    return None


def _parse_flash(t: _Table, emulated: bool) -> Flash:
    method = t.choice("method", FLASH_METHODS)
    if emulated != (method == "qemu"):
        raise t.error("method", f"= {method!r} does not fit emulated = {str(emulated).lower()}",
                      "emulated boards use method = \"qemu\"; real boards pyocd, openocd, st-flash or manual")
    kw: dict[str, Any] = {}
    if method == "pyocd":
        kw["target"] = t.get("target", str, "the pyOCD target name, e.g. \"nrf52840\" (`pyocd list --targets`)")
    elif method == "openocd":
        cfg = t.get("config", (str, list), "the OpenOCD config file(s), e.g. \"board/st_nucleo_f4.cfg\"",
                    check=lambda v: None if v and all(isinstance(x, str) for x in ([v] if isinstance(v, str) else v))
                    else "must be a file name or a list of them")
        kw["config"] = (cfg,) if isinstance(cfg, str) else tuple(cfg)
    elif method == "st-flash":
        kw["address"] = t.uint("address", "the flash address to write the .bin at, e.g. 0x08000000")
    elif method == "manual":
        kw["steps"] = tuple(t.get(
            "steps", list, "the commands the user runs to load the image, in order ({elf} / {bin}: the image)",
            check=lambda v: None if v and all(isinstance(x, str) and x.strip() for x in v)
            else "must be a non-empty list of commands"))
    t.done()
    return Flash(method, **kw)


def _positive_number(hi: float):
    def check(v) -> str | None:
        return None if 0 < v <= hi else f"is not in (0, {hi:g}]"

    return check


def _parse_power(t: _Table) -> Power:
    part = t.get("part", str, "the MCU the figures are for, e.g. \"STM32F446RE\" (on an emulated board: the real "
                 "part whose figures it borrows)", check=lambda v: None if v.strip() else "is empty")
    current = t.get("run_current_ma", (int, float), "the datasheet's typical run-mode current in mA at clock.hz",
                    check=_positive_number(1000.0))
    volts = t.get("supply_v", (int, float), "the supply voltage in V the current is given for, e.g. 3.3",
                  check=_positive_number(5.5))
    source = t.get("source", str, "the datasheet title, document number and table the figures come from",
                   check=lambda v: None if len(v.strip()) >= 10 else "does not cite a document")
    t.done()
    return Power(part.strip(), float(current), float(volts), source.strip())


def _parse(path: Path, data: dict[str, Any]) -> Board:
    top = _Table(path, "", data)
    name = top.get("name", str, f"add name = \"{path.stem}\"",
                   check=lambda v: None if _NAME_RE.match(v) else "must be lowercase letters, digits, - . _")
    if name != path.stem:
        raise top.error("name", f"= {name!r} differs from the file name {path.name!r}",
                        f"rename the file to {name}.toml or set name = \"{path.stem}\"")
    description = top.get("description", str, "add a one-line description")
    emulated = top.get("emulated", bool, "true for a QEMU machine, false for a real board")

    cpu_t = top.table("cpu", "add a [cpu] table")
    assert cpu_t is not None
    cpu = _parse_cpu(cpu_t)

    mem_t = top.table("memory", "add a [memory] table")
    assert mem_t is not None
    flash_r, ram_r = _parse_region(mem_t, "flash"), _parse_region(mem_t, "ram")
    assert isinstance(flash_r, Region) and isinstance(ram_r, Region)
    stack = mem_t.uint("stack_bytes", "the stack size in bytes, e.g. 16384", lo=256)
    if stack % 8:
        raise mem_t.error("stack_bytes", f"= {stack} is not a multiple of 8", "the AAPCS needs an 8-byte aligned stack")
    if stack >= ram_r.length:
        raise mem_t.error("stack_bytes", f"= {stack} leaves no RAM ({ram_r.length} bytes)", "use a smaller stack")
    if _overlap(flash_r, ram_r):
        raise mem_t.error("ram", "overlaps memory.flash", "check both origins and lengths")
    ext = _parse_region(mem_t, "external", default=None)
    assert ext is None or isinstance(ext, External)
    for other, r in (("flash", flash_r), ("ram", ram_r)):
        if ext is not None and _overlap(ext, r):
            raise mem_t.error("external", f"overlaps memory.{other}", "check both origins and lengths")
    mem_t.done()

    clk_t = top.table("clock", "add [clock] hz = ...")
    assert clk_t is not None
    clock = Clock(clk_t.uint("hz", "the CPU clock in Hz the firmware runs at", lo=1))
    clk_t.done()

    uart_t = top.table("uart", "add a [uart] table")
    assert uart_t is not None
    uart = _parse_uart(uart_t, clock.hz)

    cc_t = top.table("cycle_counter", "add [cycle_counter] kind = \"dwt\" or \"systick\"")
    assert cc_t is not None
    kind = cc_t.choice("kind", tuple(COUNTER_SOURCES))
    if emulated and kind == "dwt":
        raise cc_t.error("kind", "= \"dwt\", but QEMU does not emulate the DWT cycle counter",
                         "set kind = \"systick\" for emulated boards")
    cc_t.done()

    fl_t = top.table("flash", "add [flash] method = ...")
    assert fl_t is not None
    flash = _parse_flash(fl_t, emulated)
    if ext is not None and flash.method == "st-flash":
        raise mem_t.error("external", "cannot be programmed by flash.method = \"st-flash\" (it writes one raw "
                          "binary to the internal flash)",
                          "use openocd or pyocd with the board's external-memory loader, or remove memory.external")

    qemu = None
    q_t = top.table("qemu", "add [qemu] machine = ... and icount_shift = 0", default=None if not emulated else ...)
    if q_t is not None:
        if not emulated:
            raise top.error("qemu", "is only for emulated boards", "remove the [qemu] table or set emulated = true")
        machine = q_t.get("machine", str, "the `qemu-system-arm -machine` name")
        shift = q_t.uint("icount_shift", "0 (1 instruction = 1 ns of virtual time)", hi=10)
        extra = q_t.get("extra_args", list, "a list of extra qemu-system-arm arguments", default=[],
                        check=lambda v: None if all(isinstance(x, str) for x in v) else "must be strings")
        q_t.done()
        qemu = Qemu(machine, shift, tuple(extra))
    pw_t = top.table("power", "add [power] part, run_current_ma, supply_v and source", default=None)
    power = _parse_power(pw_t) if pw_t is not None else None
    top.done()
    return Board(name, description, emulated, path, cpu, Memory(flash_r, ram_r, stack, ext), clock, uart,
                 CycleCounter(kind), flash, qemu, power)


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def load_board(name_or_path: str | Path | None = None) -> Board:
    """Load ``boards/<name>.toml`` (or a .toml path) and validate it. ``None`` loads :data:`DEFAULT_BOARD`."""
    if name_or_path is None:
        name_or_path = DEFAULT_BOARD
    s = str(name_or_path)
    path = Path(s) if (s.endswith(".toml") or "/" in s or isinstance(name_or_path, Path)) else BOARDS_DIR / f"{s}.toml"
    if not path.is_file():
        raise EdgeqError(f"unknown board {s!r}" if path.parent == BOARDS_DIR else f"board file {path} not found",
                         detail=["known boards: " + ", ".join(board_names())],
                         hint="pass one of the known boards, or the path of a board .toml (see boards/README.md)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise EdgeqError(f"{path}: not valid TOML: {e}", hint="fix the syntax (see boards/README.md)") from None
    return _parse(path.resolve(), data)


def list_boards() -> list[Board]:
    return [load_board(n) for n in board_names()]


# --------------------------------------------------------------------------------------------- rendering
def board_config_context(board: Board) -> dict[str, Any]:
    """Everything ``board_config.h.j2`` prints: sections of (macro, value, comment), computed here."""
    u = board.uart

    def hx(v: int) -> str:
        return f"0x{v:08X}u"

    general = [
        ("BOARD_NAME", f'"{board.name}"', board.description),
        ("BOARD_CLOCK_HZ", f"{board.clock.hz}u", "CPU clock: what platform_cycles() counts"),
        ("BOARD_HAS_FPU", str(int(board.cpu.has_fpu)), board.cpu.fpu),
        ("BOARD_HAS_DSP", str(int(board.cpu.dsp)), ""),
        ("BOARD_STACK_BYTES", f"{board.memory.stack_bytes}u", "reserved at the top of RAM, painted at boot"),
        ("BOARD_COUNTER_KIND", str(board.counter_kind_code), f"{board.cycle_counter.kind}: 0 = DWT, 1 = SysTick"),
        ("BOARD_EMULATED", str(int(board.emulated)), ""),
    ]
    uart = [
        ("BOARD_UART_BASE", hx(u.base), u.driver),
        ("BOARD_UART_BAUD", f"{u.baud}u", f"UART clock {u.clock_hz} Hz"),
    ]
    tables: list[dict[str, Any]] = [{
        "type": "board_enable_bit", "name": "BOARD_ENABLE_BITS", "count": "BOARD_NUM_ENABLE_BITS",
        "comment": "bits set (read-modify-write) before the UART is touched: clocks, power domains",
        "rows": [[hx(b.reg), hx(1 << b.bit)] for b in u.enable_bits],
    }]
    if u.driver == "cmsdk":
        uart.append(("BOARD_UART_CMSDK_BAUDDIV", f"{u.clock_hz // u.baud}u", "clock / baud"))
    elif u.driver == "stm32_usart":
        uart += [
            ("BOARD_UART_STM32_LAYOUT_V2", str(int(u.layout == "v2")), f"layout \"{u.layout}\""),
            ("BOARD_UART_STM32_BRR", f"{round(u.clock_hz * u.brr_scale / u.baud)}u",
             f"round({u.brr_scale} * {u.clock_hz} / {u.baud})"),
        ]
        tables.append({
            "type": "board_af_pin", "name": "BOARD_UART_PINS", "count": "BOARD_NUM_UART_PINS",
            "comment": "{GPIO port base, pin, alternate function}",
            "rows": [[hx(p.gpio), f"{p.pin}u", f"{p.af}u"] for p in u.pins],
        })
    elif u.driver == "nrf_uarte":
        assert u.txd_pin is not None and u.rxd_pin is not None
        uart += [
            ("BOARD_UART_NRF_BAUDRATE", hx(NRF_UARTE_BAUDRATE[u.baud]), f"{u.baud} baud"),
            ("BOARD_UART_NRF_TXD_PSEL", f"{u.txd_pin}u", f"P{u.txd_pin >> 5}.{u.txd_pin & 31:02d}"),
            ("BOARD_UART_NRF_RXD_PSEL", f"{u.rxd_pin}u", f"P{u.rxd_pin >> 5}.{u.rxd_pin & 31:02d}"),
            ("BOARD_UART_NRF_TXD_GPIO", hx(u.gpio_ports[u.txd_pin >> 5]), "GPIO port of TXD"),
            ("BOARD_UART_NRF_TXD_PIN", f"{u.txd_pin & 31}u", "pin within that port"),
            ("BOARD_UART_NRF_RXD_GPIO", hx(u.gpio_ports[u.rxd_pin >> 5]), "GPIO port of RXD"),
            ("BOARD_UART_NRF_RXD_PIN", f"{u.rxd_pin & 31}u", "pin within that port"),
        ]
    elif u.driver == "dw_apb_uart":
        div = dw_divisor(u.clock_hz, u.baud)
        uart.append(("BOARD_UART_DW_DIVISOR", f"{div}u", f"round({u.clock_hz} / (16 * {u.baud})): DLH:DLL"))
    elif u.driver == "renesas_sci_b":
        sci = sci_b_divisors(u.clock_hz, u.baud)
        assert sci is not None and u.module_stop is not None
        cks, brr, mddr = sci
        uart += [
            ("BOARD_UART_SCI_CKS", f"{cks}u", "CCR2.CKS: the clock / 4^CKS"),
            ("BOARD_UART_SCI_BRR", f"{brr}u", f"CCR2.BRR: {u.clock_hz} / (8 * 4^{cks} * (BRR + 1)) >= {u.baud}"),
            ("BOARD_UART_SCI_MDDR", f"{mddr % 256}u", f"CCR2.MDDR: rate x {mddr}/256"
             + (" (256: no modulation)" if mddr == 256 else "")),
            ("BOARD_UART_SCI_BRME", str(int(mddr < 256)), "CCR2.BRME: bit-rate modulation on"),
            ("BOARD_UART_SCI_MSTP_REG", hx(u.module_stop.reg), "module-stop register"),
            ("BOARD_UART_SCI_MSTP_MASK", hx(1 << u.module_stop.bit), "cleared: the SCI channel runs"),
        ]
        tables.append({
            "type": "board_sci_pin", "name": "BOARD_UART_SCI_PINS", "count": "BOARD_NUM_UART_SCI_PINS",
            "comment": "{port, pin, PmnPFS.PSEL}",
            "rows": [[f"{p.port}u", f"{p.pin}u", f"{p.psel}u"] for p in u.sci_pins],
        })
    sections = [
        {"title": "board", "defines": general},
        {"title": f"uart ({u.driver})", "defines": uart},
    ]
    for t in tables:
        t["size"] = len(t["rows"])
    return {"board": board.name, "source": board.path.name, "sections": sections, "tables": tables}


def linker_context(board: Board, weights_external: bool = False) -> dict[str, Any]:
    """``weights_external``: the model's constant arrays (section ``WEIGHTS_SECTION``) go to the
    board's ``memory.external`` region instead of FLASH (decided by :mod:`edgeq.targets.fit`)."""
    m = board.memory
    stack_bottom = m.ram.end - m.stack_bytes
    if weights_external and m.external is None:
        raise EdgeqError(f"board {board.name!r} has no memory.external region for the weights",
                         hint="add memory.external to the board file (see boards/README.md) "
                              "or keep the weights in flash")

    def hx(v: int) -> str:
        return f"0x{v:08X}"

    ctx = {
        "board": board.name, "source": board.path.name,
        "flash_origin": hx(m.flash.origin), "flash_length": hx(m.flash.length),
        "ram_origin": hx(m.ram.origin), "ram_length": hx(m.ram.length - m.stack_bytes),
        "stack_origin": hx(stack_bottom), "stack_length": hx(m.stack_bytes),
        "weights_input": WEIGHTS_SECTION, "weights_output": WEIGHTS_OUTPUT_SECTION,
        "weights_external": weights_external, "external": None,
    }
    if m.external is not None:
        ctx["external"] = {"kind": m.external.kind, "origin": hx(m.external.origin), "length": hx(m.external.length)}
    return ctx


def _render(template: str, ctx: dict[str, Any]) -> str:
    return template_env().get_template(template).render(**ctx)


def render_board_config(board: Board) -> str:
    return _render("firmware/board_config.h.j2", board_config_context(board))


def render_linker_script(board: Board, weights_external: bool = False) -> str:
    return _render("firmware/linker.ld.j2", linker_context(board, weights_external))


# --------------------------------------------------------------------------------------------- flashing
def _ocd_path(p: str) -> str:
    return "{" + p + "}" if any(c in p for c in " \t;$[]") else p


def flash_command(board: Board, elf_or_hex: Path | str) -> list[str]:
    """The command that writes an image to a real board. st-flash writes raw binaries, so for it the
    ``.bin`` next to the given file is used (:func:`edgeq.targets.toolchain.build_firmware` writes one)."""
    image = str(elf_or_hex)
    f = board.flash
    if f.method == "pyocd":
        assert f.target is not None
        return ["pyocd", "flash", "-t", f.target, image]
    if f.method == "openocd":
        cmd = ["openocd"]
        for cfg in f.config:
            cmd += ["-f", cfg]
        return cmd + ["-c", f"program {_ocd_path(image)} verify reset exit"]
    if f.method == "st-flash":
        assert f.address is not None
        return ["st-flash", "--reset", "write", str(Path(image).with_suffix(".bin")), f"0x{f.address:08x}"]
    if f.method == "manual":
        steps = [s.replace("{elf}", image).replace("{bin}", str(Path(image).with_suffix(".bin"))) for s in f.steps]
        raise EdgeqError(f"board {board.name!r} is loaded by hand: edgeq has no flash tool for it",
                         detail=[f"{k}. {s}" for k, s in enumerate(steps, 1)],
                         hint="run these steps, then `edgeq bench --board " + board.name + " --port PORT`"
                              " (boards/" + board.path.name + " explains them)")
    raise EdgeqError(f"board {board.name!r} is emulated: there is nothing to flash",
                     hint=f"run it in QEMU: {' '.join(board.qemu_command(image))}")
