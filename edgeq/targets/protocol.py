"""Host side of the bench protocol (version 3): frames, a retrying request/reply link, and the device API.

Frame (little-endian)::

    0xED 0x9E | type:u8 | seq:u8 | len:u16 | payload[len] | crc32:u32

``crc32`` is CRC-32/ISO-HDLC (``zlib.crc32``) over type, seq, len and payload; ``len <= 4096``. A reply
carries its request's seq and type ``| 0x80``, or 0x7F ERROR (code:u8 + ASCII message). The firmware side
is ``firmware/bench/protocol.c``; both parsers behave alike: only complete, CRC-valid frames come out,
and after a rejected candidate the search for the next sync restarts inside the rejected bytes.

:class:`Link` works over any pyserial-like object (``read(n)``, ``write(b)``, ``timeout``,
``reset_input_buffer()``; ``in_waiting`` is used when present). All requests are idempotent (the
firmware keeps its own copy of the inputs and restores them before every inference), so a request whose
reply is lost or garbled is simply sent again, with the same seq.

End to end (v2): the INVOKE reply carries the device's run counter since boot and the CRC-32 of the
inputs it ran on and of the outputs it produced. :meth:`Device.infer` checks both CRCs against what it
sent and read back, and the run counter against the last one seen, so a board that was reset mid-run
(inputs lost) or a transfer the frame CRC let through cannot produce a wrong result: it is refused with
an :class:`EdgeqError` naming the port.

Sequences (v3), for a model with state kept across invokes (HELLO's ``state_bytes`` > 0): RESET_STATE
starts a sequence at frame 0; INVOKE with a frame number runs that frame, moving on from the current one
when it is the next (a retried INVOKE of the current frame runs it again from the same state; any other
number is refused with BAD_FRAME), so requests stay idempotent and a lost reply cannot make the device
skip or repeat a frame. :meth:`Device.run_sequence` runs N frames that way.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from enum import IntEnum
from edgeq.errors import EdgeqError

PROTO_VERSION = 3
SYNC = b"\xed\x9e"
MAX_PAYLOAD = 4096
HEADER_BYTES = 6
OVERHEAD = 10
MAX_FRAME = MAX_PAYLOAD + OVERHEAD
REPLY = 0x80


class Type(IntEnum):
    HELLO = 0x01
    SET_INPUT = 0x02
    INVOKE = 0x03
    GET_OUTPUT = 0x04
    PROFILE = 0x05
    DUMP = 0x06
    STACK = 0x07
    RESET_STATE = 0x08
    ERROR = 0x7F


class ErrorCode(IntEnum):
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_INDEX = 3
    BAD_RANGE = 4
    NO_KERNEL = 5
    TOO_BIG = 6
    BAD_FRAME = 7


COUNTER_KINDS = {0: "dwt", 1: "systick"}


def type_name(t: int) -> str:
    base = t & ~REPLY if t != Type.ERROR else t
    try:
        name = Type(base).name
    except ValueError:
        name = f"0x{base:02x}"
    return name + (" reply" if t & REPLY else "")


# --- CRC-32 ------------------------------------------------------------------------------------------

def _make_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _make_table()


def crc32(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32/ISO-HDLC, equal to ``zlib.crc32(data, crc)`` (the same CRC as the firmware's)."""
    c = crc ^ 0xFFFFFFFF
    t = _CRC_TABLE
    for b in bytes(data):
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# --- frames ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    def encode(self) -> bytes:
        return encode_frame(self.type, self.seq, self.payload)

    def __repr__(self) -> str:
        return f"Frame({type_name(self.type)}, seq={self.seq}, {len(self.payload)} bytes)"


def encode_frame(type: int, seq: int, payload: bytes = b"") -> bytes:
    payload = bytes(payload)
    if not 0 <= type <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError(f"type {type} / seq {seq} must be 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the protocol's {MAX_PAYLOAD}")
    body = struct.pack("<BBH", type, seq, len(payload)) + payload
    return SYNC + body + struct.pack("<I", crc32(body))


class FrameParser:
    """Byte stream in, valid frames out (same rules as the firmware's ``proto_feed``)."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self.buf = bytearray()
        self.dropped = 0  # bytes discarded while hunting for a sync
        self.bad_frames = 0  # candidates rejected for an impossible length or a bad CRC

    def reset(self) -> None:
        self.buf.clear()

    def feed(self, data: bytes | bytearray = b"") -> list[Frame]:
        self.buf += data
        return self._scan()

    def resync(self) -> list[Frame]:
        """Give up on the candidate frame waiting for more bytes (when the line has gone quiet, it was
        a false sync or a truncated frame) and look for frames inside its bytes."""
        if len(self.buf) >= 2 and self.buf[:2] == SYNC:
            self.bad_frames += 1
            del self.buf[:1]
            self.dropped += 1
        return self._scan()

    def _scan(self) -> list[Frame]:
        buf, out, pos = self.buf, [], 0
        while True:
            j = buf.find(SYNC[:1], pos)
            if j < 0:
                self.dropped += len(buf) - pos
                pos = len(buf)
                break
            self.dropped += j - pos
            pos = j
            if len(buf) - pos < 2:
                break
            if buf[pos + 1] != SYNC[1]:
                pos += 1
                self.dropped += 1
                continue
            if len(buf) - pos < HEADER_BYTES:
                break
            (n,) = struct.unpack_from("<H", buf, pos + 4)
            if n > self.max_payload:
                self.bad_frames += 1
                self.dropped += 1
                pos += 1
                continue
            total = n + OVERHEAD
            if len(buf) - pos < total:
                break
            (crc,) = struct.unpack_from("<I", buf, pos + HEADER_BYTES + n)
            if crc32(memoryview(buf)[pos + 2 : pos + HEADER_BYTES + n]) != crc:
                self.bad_frames += 1
                self.dropped += 1
                pos += 1
                continue
            out.append(Frame(buf[pos + 2], buf[pos + 3], bytes(buf[pos + HEADER_BYTES : pos + HEADER_BYTES + n])))
            pos += total
        del buf[:pos]
        return out


# --- link ---------------------------------------------------------------------------------------------

class NoReply(EdgeqError):
    """No valid reply after every retry (``heard``: the raw bytes received meanwhile)."""

    def __init__(self, what: str, heard: bytes = b"", **kw):
        super().__init__(what, **kw)
        self.heard = heard


class DeviceError(EdgeqError):
    """The firmware answered with an ERROR frame (a definite refusal: not retried)."""

    def __init__(self, what: str, code: int, message: str, **kw):
        super().__init__(what, **kw)
        self.code = code
        self.message = message


def port_name(port) -> str:
    for attr in ("port", "name"):
        v = getattr(port, attr, None)
        if isinstance(v, str) and v:
            return v
    return repr(port)


def _describe_bytes(data: bytes) -> str:
    if not data:
        return "nothing at all"
    text = data.decode("ascii", errors="replace")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if printable >= 0.9 * len(text):
        return f"{len(data)} bytes of text: {text.strip()[-80:]!r}"
    return f"{len(data)} bytes: {data[-32:].hex(' ')}" + (" (last 32)" if len(data) > 32 else "")


class Link:
    """Request/reply over a serial port: seq numbers, stale and garbled frames dropped, bounded retries."""

    READ_SLICE = 0.05  # port.timeout while waiting: how often the deadline is checked
    QUIET = 0.15  # a garbled or cut-off reply followed by this much silence: re-send without waiting longer

    def __init__(self, port, *, timeout: float = 2.0, retries: int = 3, resync_pad: bool = True,
                 name: str | None = None):
        self.port = port
        self.name = name or port_name(port)
        self.timeout = timeout
        self.retries = retries
        self.resync_pad = resync_pad
        # filler written before a re-sent request: enough to complete the longest candidate frame the
        # device may be stuck in (its HELLO announces its longest request: Device shortens this)
        self.pad_bytes = MAX_FRAME
        self.parser = FrameParser()
        self._seq = 0
        self.heard = bytearray()  # raw bytes received during the current request (last 4 KiB)
        self.stats = {"sent": 0, "retries": 0, "stale": 0, "unexpected": 0, "early": 0}

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _io(self, what: str, fn, *args):
        try:
            return fn(*args)
        except (OSError, ValueError) as e:  # serial.SerialException is an OSError
            text = str(e)
            if "write timeout" in text.lower() or type(e).__name__ == "SerialTimeoutException":
                raise EdgeqError(f"serial port {self.name}: {what} timed out: nothing drains the port",
                                 detail=[f"last heard: {_describe_bytes(bytes(self.heard))}"],
                                 hint="is the board (or emulator) still running? is its UART stuck?") from None
            if "disconnected" in text or "returned no data" in text or getattr(e, "errno", None) in (5, 6, 19):
                raise EdgeqError(f"serial port {self.name} hung up during {what}: the board (or emulator) "
                                 "went away", detail=[text, f"last heard: {_describe_bytes(bytes(self.heard))}"],
                                 hint="was it unplugged, reset into a bootloader, or did the emulator exit?") from None
            raise EdgeqError(f"serial port {self.name}: {what} failed: {e}",
                             hint="is the board (or emulator) still connected?") from None

    def _read_some(self) -> bytes:
        if getattr(self.port, "timeout", None) != self.READ_SLICE:
            self.port.timeout = self.READ_SLICE
        data = self._io("read", self.port.read, 1)
        if data:
            waiting = getattr(self.port, "in_waiting", 0) or 0
            if waiting:
                data += self._io("read", self.port.read, waiting)
            self.heard += data
            del self.heard[:-4096]
        return bytes(data)

    def request(self, type: int, payload: bytes = b"", timeout: float | None = None, *,
                stream: bool = False, retries: int | None = None) -> list[Frame]:
        """Send one request and return its reply frames.

        ``stream``: the reply is a sequence of frames each starting with offset:u32, ending with one
        carrying no data (DUMP); otherwise the reply is one frame. ``timeout`` is how long to wait
        without progress before re-sending (at most ``retries`` times, default the link's). An ERROR reply
        raises :class:`DeviceError`; no valid reply after every retry raises :class:`NoReply`.
        """
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        seq = self._next_seq()
        frame = encode_frame(type, seq, payload)
        self._io("reset_input_buffer", self.port.reset_input_buffer)
        self.parser.reset()
        self.heard.clear()
        bad0, stale0, unexpected0 = self.parser.bad_frames, self.stats["stale"], self.stats["unexpected"]
        for attempt in range(retries + 1):
            if attempt:
                self.stats["retries"] += 1
                if self.resync_pad:
                    # The device may sit in a false or truncated candidate frame that swallowed the
                    # request: enough filler completes (and fails) any candidate, then it hunts again.
                    # Until HELLO told the device's limit, it grows per retry (266, 1064, then the protocol's
                    # maximum): a short pad usually suffices and costs a slow device less time.
                    self._io("write", self.port.write, bytes(min(self.pad_bytes, 266 << (2 * attempt - 2))))
            self._io("write", self.port.write, frame)
            self.stats["sent"] += 1
            got = self._collect(type, seq, timeout, stream)
            if got is not None:
                return got
        heard = _describe_bytes(bytes(self.heard))
        raise NoReply(
            f"no valid reply from {self.name} to {type_name(type)} (seq {seq}) after {retries + 1} "
            f"attempts of {timeout:g} s",
            detail=[f"last heard: {heard}",
                    f"frames dropped: {self.parser.bad_frames - bad0} bad CRC/length, "
                    f"{self.stats['stale'] - stale0} stale, {self.stats['unexpected'] - unexpected0} unexpected"],
            hint=f"check that {self.name} is the board running the edgeq bench firmware (edgeq flash), "
                 "that nothing else has the port open, and the baud rate",
            heard=bytes(self.heard),
        )

    def _collect(self, type: int, seq: int, timeout: float, stream: bool) -> list[Frame] | None:
        want = type | REPLY
        chunks: list[Frame] = []
        expected, broken = 0, True
        deadline = time.monotonic() + timeout
        resynced = False
        bad0, last_rx = self.parser.bad_frames, None
        while True:
            data = self._read_some()
            now = time.monotonic()
            if data:
                frames = self.parser.feed(data)
                resynced = False
                last_rx = now
            elif (not resynced and last_rx is not None and now - last_rx >= self.QUIET
                  and (self.parser.bad_frames > bad0 or self.parser.buf)):
                # A garbled reply (bad CRC), or one cut short (a candidate waits for bytes that do not
                # come), then silence: the answer is lost, re-send now rather than at the deadline.
                frames = self.parser.resync()
                resynced = True
                if not frames:
                    self.stats["early"] += 1
                    return None
            elif now >= deadline:
                if resynced:
                    return None
                frames = self.parser.resync()  # the line is quiet: a pending candidate is false
                resynced = True
                if not frames:
                    return None
            else:
                continue
            for f in frames:
                if f.seq != seq:
                    self.stats["stale"] += 1
                    continue
                if f.type == Type.ERROR:
                    code = f.payload[0] if f.payload else 0
                    msg = f.payload[1:].decode("ascii", errors="replace")
                    try:
                        cname = ErrorCode(code).name
                    except ValueError:
                        cname = f"code {code}"
                    raise DeviceError(f"{self.name} refused {type_name(type)}: {msg} ({cname})", code, msg)
                if f.type != want:
                    self.stats["unexpected"] += 1
                    continue
                if not stream:
                    return [f]
                if len(f.payload) < 4:
                    self.stats["unexpected"] += 1
                    continue
                off = struct.unpack_from("<I", f.payload)[0]
                data_len = len(f.payload) - 4
                if off == 0:  # (re)start of the stream, e.g. the answer to a re-sent request
                    chunks, expected, broken = [], 0, False
                if broken or off != expected:
                    broken = True  # a frame went missing: wait for a restart (after a re-send)
                    continue
                chunks.append(f)
                deadline = time.monotonic() + timeout
                if data_len == 0:
                    return chunks
                expected += data_len


# --- device -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceInfo:
    proto_version: int
    board: str
    model_sha256: bytes
    arena_bytes: int
    stack_size: int
    clock_hz: int
    counter_kind: int  # 0 = DWT cycles, 1 = SysTick cycles
    n_ops: int
    input_bytes: tuple[int, ...]
    output_bytes: tuple[int, ...]
    max_payload: int
    state_bytes: int = 0  # state the model keeps across invokes (static memory outside the arena)

    @property
    def counter(self) -> str:
        return COUNTER_KINDS.get(self.counter_kind, f"kind {self.counter_kind}")

    @property
    def model_hash8(self) -> str:
        return self.model_sha256.hex()[:8]


def parse_hello(payload: bytes, where: str = "device") -> DeviceInfo:
    """Decode a HELLO reply; any inconsistency is an EdgeqError (never an IndexError)."""
    p = bytes(payload)
    pos = 0

    def take(fmt: str):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(p):
            raise EdgeqError(f"{where} sent a malformed HELLO reply ({len(p)} bytes, cut short)",
                             hint="the firmware and this edgeq speak different protocols: reflash the board")
        v = struct.unpack_from(fmt, p, pos)
        pos += size
        return v if len(v) > 1 else v[0]

    version = take("<H")
    if version != PROTO_VERSION:
        raise EdgeqError(f"firmware on {where} speaks bench protocol v{version}; this edgeq speaks v{PROTO_VERSION}",
                         hint="rebuild and flash the firmware with this edgeq (edgeq flash)")
    name_len = take("<B")
    name = take(f"<{name_len}s").decode("ascii", errors="replace")
    sha = take("<32s")
    arena, stack_size, clock_hz, kind, n_ops = take("<IIIBH")
    n_in = take("<B")
    ins = tuple(take("<I") for _ in range(n_in))
    n_out = take("<B")
    outs = tuple(take("<I") for _ in range(n_out))
    max_payload = take("<H")
    state_bytes = take("<I")
    if pos != len(p):
        raise EdgeqError(f"{where} sent a malformed HELLO reply ({len(p) - pos} bytes too many)")
    if not 16 <= max_payload:
        raise EdgeqError(f"{where} announces a max payload of {max_payload} bytes, too small to use")
    return DeviceInfo(version, name, sha, arena, stack_size, clock_hz, kind, n_ops, ins, outs, max_payload,
                      state_bytes)


@dataclass(frozen=True)
class InvokeReply:
    cycles: int
    runs: int  # model runs since the device booted (INVOKE, PROFILE and DUMP each count one)
    input_crc: int  # CRC-32 of all inputs concatenated, as the device ran them
    output_crc: int  # CRC-32 of all outputs concatenated, as the device produced them


class Device:
    """The bench firmware's commands. ``port`` is a pyserial-like object or a :class:`Link`.

    Transfers of inputs and outputs are cut into chunks of at most the device's max payload; when a
    chunk gets no valid reply even after the link's retries on a line known to be noisy (an earlier
    request needed a retry and then got through, or garbled bytes came back), the chunk size is
    quartered, down to ``MIN_CHUNK`` (a noisy link garbles long frames more often than short ones), and
    grows back after a run of clean transfers. A line that simply went quiet fails after the link's
    retries, without shrinking.
    """

    MIN_CHUNK = 16

    def __init__(self, port, *, timeout: float = 2.0, invoke_timeout: float = 60.0, retries: int = 3):
        self.link = port if isinstance(port, Link) else Link(port, timeout=timeout, retries=retries)
        self.invoke_timeout = invoke_timeout
        self.info: DeviceInfo | None = None
        self.last_invoke: InvokeReply | None = None
        self._runs_seen = 0  # highest run counter seen since HELLO: a lower one means a reset
        self._step: int | None = None  # current chunk size (bytes of data per request)
        self._clean = 0  # chunk requests in a row that needed no retry
        self._noisy = False  # a chunk request got through only after a retry: the line loses bytes
        self.stats = {"chunk_shrinks": 0}

    @property
    def name(self) -> str:
        return self.link.name

    def close(self) -> None:
        close = getattr(self.link.port, "close", None)
        if close:
            close()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _one(self, type: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        retries0 = self.link.stats["retries"]
        reply = self.link.request(type, payload, timeout)[0].payload
        if self.link.stats["retries"] != retries0:
            self._noisy = True  # got through, but only after a retry
        return reply

    def _info(self) -> DeviceInfo:
        return self.info if self.info is not None else self.hello()

    def _chunk(self) -> int:
        return min(self._info().max_payload, MAX_PAYLOAD)

    def _chunked(self, type: int, make, total: int, check) -> None:
        """Send chunk requests ``make(offset, n)`` covering ``total`` bytes; ``check(offset, n, reply)``."""
        top = self._chunk() - 5
        if self._step is None:
            self._step = top
        off = 0
        while off < total or (total == 0 and off == 0):
            n = min(self._step, total - off)
            retries0 = self.link.stats["retries"]
            try:
                reply = self._one(type, make(off, n))
            except NoReply as e:
                if self._step <= self.MIN_CHUNK or not (e.heard or self._noisy or self._alive()):
                    raise  # a line that went quiet: shorter chunks will not help
                self._step = max(self.MIN_CHUNK, self._step // 4)
                self.stats["chunk_shrinks"] += 1
                self._clean = 0
                continue
            check(off, n, reply)
            if self.link.stats["retries"] == retries0:
                self._clean += 1
                if self._clean >= 8 and self._step < top:
                    self._step, self._clean = min(top, self._step * 2), 0
            else:
                self._clean = 0
            if total == 0:
                break
            off += n

    def _bad_reply(self, what: str, payload: bytes) -> EdgeqError:
        return EdgeqError(f"{self.name} sent a malformed {what} reply ({len(payload)} bytes)",
                          hint="the firmware and this edgeq may differ: reflash the board")

    # requests -------------------------------------------------------------------------------------------
    def hello(self) -> DeviceInfo:
        self.info = parse_hello(self._one(Type.HELLO), self.name)
        self._runs_seen = 0
        # the device rejects longer candidates at once: a retry's filler need not be longer
        self.link.pad_bytes = min(MAX_FRAME, self.info.max_payload + OVERHEAD)
        return self.info

    def check_model(self, sha256: bytes | str, flash_hint: str | None = None) -> DeviceInfo:
        """Refuse to go on when the firmware holds another model than ``sha256`` (bytes or hex)."""
        want = bytes.fromhex(sha256) if isinstance(sha256, str) else bytes(sha256)
        info = self._info()
        if info.model_sha256 != want:
            raise EdgeqError(
                f"firmware on {self.name} was built from model {info.model_hash8}, expected {want.hex()[:8]}",
                detail=[f"board {info.board!r}, firmware model sha256 {info.model_sha256.hex()}"],
                hint=flash_hint or f"run `edgeq flash <model> --board {info.board}` to put this model on the board",
            )
        return info

    def set_input(self, index: int, data: bytes) -> None:
        info = self._info()
        data = bytes(data)
        if not 0 <= index < len(info.input_bytes):
            raise EdgeqError(f"input {index} does not exist: the model on {self.name} has "
                             f"{len(info.input_bytes)} input(s)")
        if len(data) != info.input_bytes[index]:
            raise EdgeqError(f"input {index} must be {info.input_bytes[index]} bytes, got {len(data)}")

        def check(off, n, reply):
            if reply:
                raise self._bad_reply("SET_INPUT", reply)

        self._chunked(Type.SET_INPUT, lambda off, n: struct.pack("<BI", index, off) + data[off : off + n],
                      len(data), check)

    def _alive(self) -> bool:
        """Does the device still answer a short request (STACK, one retry)?"""
        try:
            self.link.request(Type.STACK, retries=1)
        except NoReply:
            return False
        return True

    def _restarted(self, runs: int) -> EdgeqError:
        return EdgeqError(
            f"the board on {self.name} restarted during the benchmark: its run counter went back from "
            f"{self._runs_seen} to {runs}",
            detail=["the inputs it held were lost, so this run's result is refused"],
            hint="a reset mid-run: a crash (HardFault, watchdog), a brown-out, the reset button, or the "
                 "emulator restarted; run the benchmark again")

    def reset_state(self) -> None:
        """Start a sequence: ``model_reset_state()`` on the device; the next frame is frame 0."""
        reply = self._one(Type.RESET_STATE)
        if reply:
            raise self._bad_reply("RESET_STATE", reply)

    def invoke(self, frame: int | None = None) -> int:
        """Run one inference; the cycles of the ``model_invoke()`` call (the full reply: ``last_invoke``).
        ``frame``: the frame of the sequence to run (the current one again, or the next); None runs the
        current frame again.

        A run counter lower than one seen before means the board restarted: refused (EdgeqError)."""
        payload = b"" if frame is None else struct.pack("<I", frame)
        reply = self._one(Type.INVOKE, payload, timeout=self.invoke_timeout)
        if len(reply) != 16:
            raise self._bad_reply("INVOKE", reply)
        r = InvokeReply(*struct.unpack("<IIII", reply))
        if r.runs <= self._runs_seen:
            raise self._restarted(r.runs)
        self._runs_seen = r.runs
        self.last_invoke = r
        return r.cycles

    def get_output(self, index: int) -> bytes:
        info = self._info()
        if not 0 <= index < len(info.output_bytes):
            raise EdgeqError(f"output {index} does not exist: the model on {self.name} has "
                             f"{len(info.output_bytes)} output(s)")
        size, out = info.output_bytes[index], bytearray()

        def check(off, n, reply):
            if len(reply) != n:
                raise self._bad_reply("GET_OUTPUT", reply)
            out[off : off + n] = reply

        if size:
            self._chunked(Type.GET_OUTPUT, lambda off, n: struct.pack("<BIH", index, off, n), size, check)
        return bytes(out)

    def infer(self, inputs, frame: int | None = None) -> tuple[list[bytes], int]:
        """Set every input, run once (``frame``: see :meth:`invoke`), read every output: (outputs, cycles)."""
        info = self._info()
        single = isinstance(inputs, (bytes, bytearray, memoryview)) or hasattr(inputs, "tobytes")
        inputs = [inputs] if single else list(inputs)
        if len(inputs) != len(info.input_bytes):
            raise EdgeqError(f"the model on {self.name} takes {len(info.input_bytes)} input(s), got {len(inputs)}")
        data = [x.tobytes() if hasattr(x, "tobytes") else bytes(x) for x in inputs]
        for i, x in enumerate(data):
            self.set_input(i, x)
        cycles = self.invoke(frame)
        r = self.last_invoke
        sent_crc = 0
        for x in data:
            sent_crc = crc32(x, sent_crc)
        if r.input_crc != sent_crc:
            raise EdgeqError(f"the board on {self.name} ran on other inputs than were sent (input CRC "
                             f"{r.input_crc:08x}, expected {sent_crc:08x}): result refused",
                             hint="the board was probably reset while the inputs were being sent; run again")
        outs = [self.get_output(i) for i in range(len(info.output_bytes))]
        got_crc = 0
        for o in outs:
            got_crc = crc32(o, got_crc)
        if got_crc != r.output_crc:
            raise EdgeqError(f"the outputs read from {self.name} are not the ones its last run produced "
                             f"(CRC {got_crc:08x}, device said {r.output_crc:08x}): result refused",
                             hint="the board was probably reset or ran again while the outputs were being read; "
                                  "run again")
        return outs, cycles

    def run_sequence(self, frames, step=None) -> list[tuple[list[bytes], int]]:
        """Run ``frames`` (each a list of inputs, as :meth:`infer` takes them) as one sequence from the reset
        state: RESET_STATE, then frame after frame. (outputs, cycles) per frame; ``step()`` after each."""
        self.reset_state()
        res = []
        for k, x in enumerate(frames):
            res.append(self.infer(x, frame=k))
            if step is not None:
                step()
        return res

    def profile(self) -> list[int]:
        """Run once timing every op: cycles per op index (0 for ops that run no kernel)."""
        reply = self._one(Type.PROFILE, timeout=self.invoke_timeout)
        if len(reply) < 2:
            raise self._bad_reply("PROFILE", reply)
        (n,) = struct.unpack_from("<H", reply)
        if len(reply) != 2 + 4 * n:
            raise self._bad_reply("PROFILE", reply)
        return list(struct.unpack_from(f"<{n}I", reply, 2))

    def dump(self, op: int) -> bytes:
        """Run once and return the output tensor of op ``op`` (raw bytes, as the kernel wrote them)."""
        if not 0 <= op <= 0xFFFF:
            raise EdgeqError(f"op index {op} out of range")
        frames = self.link.request(Type.DUMP, struct.pack("<H", op), self.invoke_timeout, stream=True)
        data = b"".join(f.payload[4:] for f in frames)
        total = struct.unpack_from("<I", frames[-1].payload)[0]
        if total != len(data):
            raise self._bad_reply("DUMP", frames[-1].payload)
        return data

    def stack(self) -> tuple[int, int]:
        """(bytes of stack ever used, stack size)."""
        reply = self._one(Type.STACK)
        if len(reply) != 8:
            raise self._bad_reply("STACK", reply)
        used, size = struct.unpack("<II", reply)
        return used, size


def open_serial(path: str, baud: int = 115200, write_timeout: float = 5.0, **kw):
    """Open a serial port (a real one or a QEMU/host pty) the way the bench expects it.

    ``write_timeout``: a port nobody drains (a hung board, a stopped emulator) must not block a write
    forever; the timeout surfaces as an EdgeqError naming the port.
    """
    try:
        import serial
    except ImportError:  # pragma: no cover - pyserial is a dependency
        raise EdgeqError("pyserial is not installed", hint="pip install pyserial") from None
    import os

    if not os.path.exists(path) and not path.startswith(("socket://", "rfc2217://", "loop://")):
        raise EdgeqError(f"cannot open serial port {path}: it does not exist",
                         hint="check the port name (ls /dev/ttyACM* /dev/ttyUSB*); is the board plugged in, "
                              "is the emulator running (edgeq flash)?")
    kw.setdefault("exclusive", True)  # flock: a second edgeq (or a locking terminal) on the port is refused
    try:
        return serial.Serial(path, baudrate=baud, timeout=Link.READ_SLICE, write_timeout=write_timeout, **kw)
    except (OSError, ValueError) as e:
        if "exclusively lock" in str(e):
            raise EdgeqError(f"serial port {path} is busy: another program has it open exclusively",
                             detail=[str(e)],
                             hint=f"close the other program (another edgeq bench, a serial terminal); "
                                  f"`fuser {path}` shows who holds it") from None
        raise EdgeqError(f"cannot open serial port {path}: {e}",
                         hint="check the port name (ls /dev/ttyACM* /dev/ttyUSB*) and permissions "
                              "(the dialout group)") from None


def open_device(path: str, baud: int = 115200, **kw) -> Device:
    """A :class:`Device` on the serial port at ``path`` (close it, or use it as a context manager).

    A write that cannot go out within twice the request timeout (at least 2 s) fails naming the port."""
    write_timeout = max(2.0, 2 * float(kw.get("timeout", 2.0)))
    return Device(open_serial(path, baud, write_timeout=write_timeout), **kw)


__all__ = ["PROTO_VERSION", "MAX_PAYLOAD", "Type", "ErrorCode", "Frame", "FrameParser", "encode_frame",
           "crc32", "Link", "Device", "DeviceInfo", "DeviceError", "InvokeReply", "NoReply", "parse_hello",
           "open_serial", "open_device"]
