"""Does a model fit a board? Flash and RAM needs estimated BEFORE compiling firmware.

The link step (:func:`edgeq.targets.toolchain.build_firmware`) measures the real image and is the final word;
this module answers earlier, from the lowered graph (:func:`estimate_graph`) or from a generated library
folder (:func:`estimate_library`), so a model that cannot fit is refused before anything is compiled or
written, with the biggest tensors and layers named.

The estimate is a lower bound made of parts that are exact or measured:

* flash: constant data (weights, biases, requantization tables: exactly what ``model_data.c`` holds), the
  code of the kernel functions the model calls (each function's size in an object compiled for the board's
  CPU, cached; static helpers and libgcc are not counted), and a minimum for the bench harness;
* RAM: the planned arena (exact), the state kept across invokes (exact, ``MemoryPlan.state_size``), the
  board's reserved stack (``memory.stack_bytes``), and the bench harness's buffers (the protocol frame
  buffer, the input copy, the per-op profile, the copy of a frame's start state).

Placement: the constant data stays in flash when the whole image fits there; otherwise, on a board with a
``memory.external`` region (PSRAM, XIP flash), it goes there (:attr:`FitEstimate.weights_external`, which the
bench build passes to the linker script). A model that fits neither is refused naming both limits.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.files import cache_dir, write_atomic
from edgeq.ir.graph import ArrayRef
from edgeq.targets.boards import Board, BoardLimits, list_boards
from edgeq.errors import EdgeqError

KERNELS_DIR = Path(__file__).resolve().parents[2] / "firmware" / "kernels"
PROTOCOL_H = Path(__file__).resolve().parents[2] / "firmware" / "bench" / "protocol.h"
HARNESS_FLASH_MIN = 2048  # startup + vectors + UART + protocol + bench loop: measured 3.6 KiB on an386
CALL_BYTES = 16  # one kernel call in model_invoke (argument setup + bl), Thumb-2
_CSIZE = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4,
          "int64_t": 8, "uint64_t": 8, "double": 8}


@dataclass(frozen=True)
class Item:
    """One named contributor: a constant array, an activation tensor or a layer."""

    name: str
    bytes: int
    where: str = ""  # the op (index, kind, output tensor) it belongs to

    def describe(self) -> str:
        where = self.where if len(self.where) <= 90 else self.where[:87] + "..."
        return f"{self.name}: {self.bytes:,} B" + (f" ({where})" if where else "")


@dataclass(frozen=True)
class FitEstimate(BoardLimits):
    board: Board
    weights_bytes: int
    code_bytes: int
    harness_flash_bytes: int
    arena_bytes: int
    stack_bytes: int
    harness_ram_bytes: int
    largest_constants: tuple[Item, ...] = ()
    largest_activations: tuple[Item, ...] = ()
    heaviest_layers: tuple[Item, ...] = ()
    kernels: dict[str, int] = field(default_factory=dict)  # kernel function -> estimated code bytes
    state_bytes: int = 0  # the model's state kept across invokes (static, outside the arena)

    @property
    def flash_bytes(self) -> int:
        """Everything that would be in flash with the constant data there too."""
        return self.weights_bytes + self.code_bytes + self.harness_flash_bytes

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.state_bytes + self.stack_bytes + self.harness_ram_bytes

    @property
    def weights_external(self) -> bool:
        """The constant data goes to the board's ``memory.external``: the image does not fit flash with it."""
        return self.board.memory.external is not None and self.flash_bytes > self.flash_limit

    @property
    def external_bytes(self) -> int:
        """Bytes placed in ``memory.external`` (the constant data, or 0)."""
        return self.weights_bytes if self.weights_external else 0

    @property
    def onchip_flash_bytes(self) -> int:
        """Bytes placed in flash: :attr:`flash_bytes` less what goes to the external region."""
        return self.flash_bytes - self.external_bytes

    @property
    def flash_fits(self) -> bool:
        return self.onchip_flash_bytes <= self.flash_limit and self.external_bytes <= self.external_limit

    @property
    def fits(self) -> bool:
        return self.flash_fits and self.ram_bytes <= self.ram_limit

    def placement(self) -> str:
        """Where the constant data goes, for reports: ``"flash"`` or e.g. ``"external psram"``."""
        ext = self.board.memory.external
        return f"external {ext.kind}" if self.weights_external and ext is not None else "flash"

    def to_json(self) -> dict:
        return {"board": self.board.name, "flash_bytes": self.flash_bytes, "flash_limit": self.flash_limit,
                "ram_bytes": self.ram_bytes, "ram_limit": self.ram_limit, "weights_bytes": self.weights_bytes,
                "weights_in": self.placement(), "external_bytes": self.external_bytes,
                "external_limit": self.external_limit,
                "code_bytes": self.code_bytes, "harness_flash_bytes": self.harness_flash_bytes,
                "arena_bytes": self.arena_bytes, "state_bytes": self.state_bytes, "stack_bytes": self.stack_bytes,
                "harness_ram_bytes": self.harness_ram_bytes,
                "largest_constants": [i.describe() for i in self.largest_constants],
                "largest_activations": [i.describe() for i in self.largest_activations],
                "heaviest_layers": [i.describe() for i in self.heaviest_layers]}


# ------------------------------------------------------------------------------------------ estimates
def estimate_graph(g, board: Board, *, harness: bool = True, top: int = 3) -> FitEstimate:
    """Estimate from a lowered, memory-planned graph (``edgeq.api.lower_tflite``)."""
    if g.plan is None:
        raise ValueError("estimate_graph needs a memory-planned graph (edgeq.passes.pipeline.compile_graph)")
    arrays: dict[str, tuple[int, int]] = {}  # name -> (bytes, op id)
    per_op: dict[int, int] = {}
    kernels: list[str] = []
    sources: list[str] = []
    for op in g.ops:
        low = op.lowered
        if low is None:
            continue
        kernels.append(low.kernel)
        sources.append(low.source)
        found = [(v.name, int(np.asarray(v.values).nbytes)) for _, v in low.fields if isinstance(v, ArrayRef)]
        for a in low.args[:-1]:
            for tid in a if isinstance(a, tuple) else (a,):
                t = g.tensor(tid)
                if t.is_const:
                    found.append((f"t{tid}_data", t.nbytes))
        for name, n in found:
            if name not in arrays:
                arrays[name] = (n, op.id)
                per_op[op.id] = per_op.get(op.id, 0) + n
    ops = {op.id: op for op in g.ops}

    def where(op_id: int) -> str:
        op = ops[op_id]
        return f"op #{op.id} {op.kind}" + (f" -> '{op.location}'" if op.location else "")

    consts = sorted(((n, name, oid) for name, (n, oid) in arrays.items()), reverse=True)[:top]
    const_items = []
    for n, name, oid in consts:
        m = re.fullmatch(r"t(\d+)_data", name)
        label = name
        if m:
            t = g.tensor(int(m.group(1)))
            label = f"tensor '{t.name}'" + (" (int4, packed)" if t.dtype == "int4" else "")
        elif name == f"op{oid}_wq_s4":  # an int4 filter in the DSP layout, as packed as the tensor
            label = f"tensor '{g.tensor(ops[oid].inputs[1]).name}' (4-bit, packed for the DSP kernel)"
        elif name == f"op{oid}_idx":  # a clustered filter's codebook indices (2, 3 or 4 bits: cb_bits)
            bits = dict(ops[oid].lowered.fields).get("cb_bits", 4) if ops[oid].lowered is not None else 4
            label = f"tensor '{g.tensor(ops[oid].inputs[1]).name}' ({bits or 4}-bit codebook indices)"
        const_items.append(Item(label, n, where(oid)))
    producers = {tid: op for op in g.ops for tid in op.outputs}
    acts = [t for t in g.tensors if not t.is_const and t.alias_of is None and t.id in g.plan.offsets]
    acts.sort(key=lambda t: -t.nbytes)
    act_items = tuple(Item(f"tensor '{t.name}' {list(t.shape)} {t.dtype}", t.nbytes,
                           where(producers[t.id].id) if t.id in producers else "model input")
                      for t in acts[:top])
    layers = sorted(per_op.items(), key=lambda kv: -kv[1])[:top]
    layer_items = tuple(Item(f"op #{oid} {ops[oid].kind}", n, f"output '{ops[oid].location}'" if ops[oid].location
                             else "") for oid, n in layers)
    in_bytes = sum(g.tensor(t).nbytes for t in g.inputs)
    n_ops = sum(op.lowered is not None for op in g.ops)
    return _estimate(board, sum(n for n, _ in arrays.values()), kernels, g.plan.size, in_bytes, len(g.inputs),
                     n_ops, harness, tuple(const_items), act_items, layer_items, sources, g.plan.state_size)


def estimate_library(lib_dir: str | Path, board: Board, manifest: dict, *, harness: bool = True,
                     top: int = 3) -> FitEstimate:
    """Estimate from a folder written by ``edgeq generate`` (its ``edgeq.json``, model.c and model_data.c)."""
    lib_dir = Path(lib_dir)
    prefix = manifest.get("prefix", "model")
    data = (lib_dir / f"{prefix}_data.c").read_text(errors="replace")
    code = (lib_dir / f"{prefix}.c").read_text(errors="replace")
    ops = {int(m.group(1)): f"op #{m.group(1)} {m.group(2)}" + (f" -> '{m.group(3).strip()}'" if m.group(3).strip()
                                                                else "")
           for m in re.finditer(r"/\* op (\d+): (\w+) -> (.*?)\*/", data)}
    arrays: list[tuple[int, str, int | None]] = []
    pending: list[tuple[int, str]] = []
    per_op: dict[int, int] = {}
    for m in re.finditer(r"^const (\w+) " + re.escape(prefix) + r"_(\w+)\[(\d+)\]", data, re.M):
        n = _CSIZE.get(m.group(1), 4) * int(m.group(3))
        name = m.group(2)
        om = re.match(r"op(\d+)_", name)
        if om:  # a tensor's data precedes the arrays of the op that first uses it
            oid = int(om.group(1))
            for pn, pname in pending + [(n, name)]:
                arrays.append((pn, pname, oid))
                per_op[oid] = per_op.get(oid, 0) + pn
            pending = []
        else:
            pending.append((n, name))
    arrays += [(n, name, None) for n, name in pending]
    consts = tuple(Item(name, n, ops.get(oid, "") if oid is not None else "")
                   for n, name, oid in sorted(arrays, key=lambda a: -a[0])[:top])
    layers = tuple(Item(ops.get(oid, f"op #{oid}").split(" -> ")[0], n, ops.get(oid, "").partition(" -> ")[2])
                   for oid, n in sorted(per_op.items(), key=lambda kv: -kv[1])[:top])
    outs = sorted(((int(m.group(2)), int(m.group(1))) for m in
                   re.finditer(re.escape(prefix) + r"_op_end\((\d+), [^;]*?, (\d+)\);", code)), reverse=True)[:top]
    acts = tuple(Item(f"output of {ops.get(oid, f'op #{oid}').split(' -> ')[0]}", n,
                      ops.get(oid, "").partition(" -> ")[2]) for n, oid in outs)
    kernels = re.findall(r"^\s*(edgeq_\w+)\(&" + re.escape(prefix) + r"_op\d+", code, re.M)
    header = lib_dir / f"{prefix}.h"
    header_text = header.read_text(errors="replace") if header.is_file() else ""
    in_bytes = sum(int(v) for v in re.findall(r"#define\s+\w+_INPUT\d+_BYTES\s+(\d+)", header_text))
    sources = [Path(f).stem for f in manifest.get("sources", []) if (KERNELS_DIR / f).is_file()]
    return _estimate(board, sum(n for n, _, _ in arrays), kernels, int(manifest.get("arena_bytes", 0)), in_bytes,
                     1, int(manifest.get("num_ops", len(kernels))), harness, consts, acts, layers, sources,
                     int(manifest.get("state_bytes", 0)))


def _estimate(board: Board, weights: int, kernels: list[str], arena: int, in_bytes: int, n_inputs: int, n_ops: int,
              harness: bool, consts, acts, layers, sources: list[str], state: int = 0) -> FitEstimate:
    sizes = kernel_code_sizes(board, sorted(set(kernels)), sources)
    code = sum(sizes.values()) + CALL_BYTES * len(kernels)
    h_flash = HARNESS_FLASH_MIN if harness else 0
    h_ram = (_proto_frame_bytes() + in_bytes + 4 * (n_inputs + 1) + 4 * (n_ops + 1) + state) if harness else 0
    return FitEstimate(board, weights, code, h_flash, arena, board.memory.stack_bytes, h_ram, consts, acts, layers,
                       sizes, state)


def _proto_frame_bytes() -> int:
    try:
        m = re.search(r"#define\s+EDGEQ_PROTO_MAX_PAYLOAD\s+(\d+)", PROTOCOL_H.read_text())
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def kernel_code_sizes(board: Board, functions: list[str], sources: list[str] | None = None) -> dict[str, int]:
    """Code bytes of each kernel function for the board's CPU (0 when the Arm toolchain is missing).

    ``sources``: the kernel source stems (``conv``, ``pooling``, ...) to look in (default: all); each is
    compiled once per board CPU and kernel-source content, and its function sizes cached.
    """
    cc, nm = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-nm")
    if not (cc and nm and functions):
        return {f: 0 for f in functions}
    flags = ["-std=c11", "-O2", "-ffunction-sections", "-fdata-sections", *board.cflags(), f"-I{KERNELS_DIR}"]
    headers = hashlib.sha256(" ".join(flags).encode())
    for h in sorted(KERNELS_DIR.glob("*.h")):
        headers.update(h.name.encode() + h.read_bytes())
    stems = sorted(set(sources)) if sources is not None else sorted(p.stem for p in KERNELS_DIR.glob("*.c"))
    known: dict[str, int] = {}
    for stem in stems:
        src = KERNELS_DIR / f"{stem}.c"
        if not src.is_file():
            continue
        key = hashlib.sha256(headers.digest() + src.read_bytes()).hexdigest()[:24]
        table = cache_dir() / "fit" / f"{stem}-{key}.txt"
        if not table.is_file():
            table.parent.mkdir(parents=True, exist_ok=True)
            obj = table.with_suffix(f".{os.getpid()}.o")
            lines = []
            if subprocess.run([cc, *flags, "-c", str(src), "-o", str(obj)], capture_output=True).returncode == 0:
                r = subprocess.run([nm, "-S", "--defined-only", str(obj)], capture_output=True, text=True)
                for ln in r.stdout.splitlines():
                    parts = ln.split()
                    if len(parts) == 4 and parts[2] in "Tt":
                        lines.append(f"{parts[3]} {int(parts[1], 16)}")
            obj.unlink(missing_ok=True)
            write_atomic(table, ("\n".join(lines) + "\n").encode())
        known.update(ln.split() for ln in table.read_text().splitlines() if ln.strip())
    return {f: int(known.get(f, 0)) for f in functions}


# ------------------------------------------------------------------------------------------ the check
def check_fit(est: FitEstimate, *, what: str = "the model") -> FitEstimate:
    """Raise an EdgeqError naming bytes needed and available, the biggest tensors and layers, and a way out."""
    if est.fits:
        return est
    b = est.board
    ext = b.memory.external
    detail = []
    if not est.flash_fits:
        detail.append(f"flash: needs at least {est.flash_bytes:,} bytes, {b.name} has {est.flash_limit:,} "
                      f"({est.flash_bytes - est.flash_limit:,} over): constant data {est.weights_bytes:,}, "
                      f"kernel code ~{est.code_bytes:,}, bench harness ~{est.harness_flash_bytes:,}")
        if ext is not None:
            code = est.flash_bytes - est.weights_bytes
            over = est.weights_bytes - est.external_limit
            detail.append(f"external {ext.kind} (memory.external): the constant data, {est.weights_bytes:,} bytes, "
                          + (f"does not fit its {est.external_limit:,} ({over:,} over)" if over > 0 else
                             f"would fit its {est.external_limit:,}, but the rest, {code:,} bytes, does not fit flash"))
    if est.ram_bytes > est.ram_limit:
        detail.append(f"RAM: needs at least {est.ram_bytes:,} bytes, {b.name} has {est.ram_limit:,} "
                      f"({est.ram_bytes - est.ram_limit:,} over): arena {est.arena_bytes:,}, "
                      + (f"state {est.state_bytes:,}, " if est.state_bytes else "")
                      + f"stack {est.stack_bytes:,}, bench harness buffers {est.harness_ram_bytes:,}")
    if not est.flash_fits:
        if est.largest_constants:
            detail.append("largest constant arrays (flash): " + "; ".join(i.describe() for i in est.largest_constants))
        if est.heaviest_layers:
            detail.append("layers with the most constant data: " + "; ".join(i.describe() for i in est.heaviest_layers))
    if est.ram_bytes > est.ram_limit and est.largest_activations:
        detail.append("largest activation tensors (RAM arena): "
                      + "; ".join(i.describe() for i in est.largest_activations))
    bigger = [o.name for o in _boards() if o.name != b.name and o.memory.ram.length >= est.ram_bytes
              and FitEstimate(o, est.weights_bytes, est.code_bytes, est.harness_flash_bytes, 0, 0, 0).flash_fits]
    hint = "use a smaller model (fewer filters or units, smaller input), quantize to int8 if it is float"
    hint += f", or a board with more memory: {', '.join(bigger[:4])} (see `edgeq boards`)" if bigger else \
        "; no known board is big enough (see `edgeq boards`)"
    if est.ram_bytes > est.ram_limit and est.stack_bytes > 4096:
        hint += f"; a smaller memory.stack_bytes in the board file frees up to {est.stack_bytes - 4096:,} bytes of RAM"
    raise EdgeqError(f"{what} does not fit board {b.name!r} (estimated before building)", detail=detail, hint=hint)


def _boards() -> list[Board]:
    try:
        return sorted(list_boards(), key=lambda o: (o.memory.ram.length, o.memory.flash.length))
    except EdgeqError:
        return []
