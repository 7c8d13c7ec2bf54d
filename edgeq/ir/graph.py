"""The intermediate representation: plain, frozen data.

A :class:`Graph` is what the TFLite reader produces and what every pass consumes and returns. Nothing
here has behaviour beyond small derived properties; passes (``edgeq.passes``) build new graphs with
:func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

# Ops that produce no kernel call: their output aliases their input's bytes (passes.graph.alias).
ALIAS_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")

DTYPE_SIZE = {"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "int32": 4, "float32": 4, "int64": 8}
C_TYPE = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "bool": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "float32": "float",
    "int64": "int64_t",
}


@dataclass(frozen=True)
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-channel along ``axis`` when len > 1."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass(frozen=True)
class Tensor:
    id: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = field(default=None, compare=False, repr=False)
    # Set by the alias pass: this tensor shares the storage of another (RESHAPE and friends).
    alias_of: int | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        if self.dtype == "int4":  # constant weights, two values a byte (TFLite's INT4 packing)
            return (self.numel + 1) // 2
        return self.numel * DTYPE_SIZE[self.dtype]

    @property
    def ctype(self) -> str:
        return C_TYPE[self.dtype]


@dataclass(frozen=True)
class ArrayRef:
    """A reference, inside lowered params, to a constant array emitted into model_data.c."""

    name: str
    ctype: str
    values: np.ndarray = field(compare=False, repr=False)


@dataclass(frozen=True)
class Lowered:
    """What an op becomes after lowering: one kernel call with a constant params struct.

    ``fields`` are (name, value) pairs in the order of the C struct; a value is an int, a float, a
    string holding a C expression (rare), or an :class:`ArrayRef`. ``args`` names the data tensors
    passed after the params pointer (inputs first, output last), as tensor ids; an input entry may be
    a tuple of tensor ids, passed as one ``const T *const[]`` array of pointers (variable arity ops),
    and so may the output entry of an op with several outputs (SPLIT, UNPACK: ``T *const[]``).
    """

    kernel: str
    struct: str
    source: str  # firmware/kernels/<source>.c and .h hold the kernel
    fields: tuple[tuple[str, Any], ...]
    args: tuple[int | tuple[int, ...], ...]
    # Extra kernel scratch memory (bytes) needed during this op, placed in the arena.
    scratch_bytes: int = 0
    # The kernel is correct when its output buffer is the buffer of an input of the same size and
    # element type: elementwise, output element i depends only on element i of that input, and it is
    # read before output element i is written (a broadcast operand is never such an input: it has
    # fewer bytes). The memory planner may then place the output on that input when this op is its
    # last reader.
    inplace: bool = False
    # Overlapping in-place (conv, depthwise conv, pooling: kernels that write output pixels in raster
    # order after reading their windows). When not None, the kernel is correct with its output buffer
    # starting ``overlap_margin`` or more bytes BELOW the buffer of its first input (``op.inputs[0]``,
    # args[0]) and overlapping it: with out_base <= in_base - overlap_margin, no output byte is written
    # before the kernel's last read of the input byte at that address. The memory planner may then place
    # the output there when this op is that input's last reader. The margin is >= 0 and holds for every
    # code path of the kernel (portable and DSP builds). None: output and input must not overlap.
    overlap_margin: int | None = None
    # Row-band execution (passes.memory.bands): this op is a member of the banded group, whose members are
    # consecutive in the schedule and run together, band by band, as the group's steps say (emitted at the
    # first member). None: the op runs alone, as ``fields`` / ``args`` say.
    band: "BandGroup | None" = None
    # Alternatives for the kernel's scratch, smallest first: (scratch bytes, (name, value) fields that
    # differ) each; the first is what ``scratch_bytes`` and ``fields`` hold. A change ("kernel", name) names
    # another kernel for that option (int8 ADD/SUB: edgeq_add_s8_table_rt, the tables built at run time in
    # the scratch, where the first option has none). After memory planning, passes.memory.scratch takes the
    # largest that fits in the arena bytes free during this op (never growing the arena); for a member of a
    # row-band group, passes.memory.bands takes a residual ADD's tables into the group's scratch instead,
    # where the planned arena is no larger with them.
    scratch_options: tuple[tuple[int, tuple[tuple[str, Any], ...]], ...] = ()


@dataclass(frozen=True)
class BandPtr:
    """A pointer inside a banded group's code: ``offset`` bytes into the arena storage of tensor ``tensor``
    (the group's input or output), or into the group's scratch when ``tensor`` is None, plus ``step`` bytes
    per iteration of the segment's loop."""

    tensor: int | None
    offset: int
    step: int = 0


@dataclass(frozen=True)
class BandCall:
    """One kernel call: the params struct ``params`` (an index into ``BandGroup.params``) on ``args`` (data
    pointers, inputs first, output last, then the kernel scratch if the variant has scratch)."""

    params: int
    args: tuple[BandPtr, ...]


@dataclass(frozen=True)
class BandMove:
    """``memmove(dst, src, bytes)`` inside the group's scratch: rows the next calls still need, slid down."""

    dst: BandPtr
    src: BandPtr
    bytes: int


@dataclass(frozen=True)
class BandSegment:
    """``steps`` run ``count`` times (count > 1: a loop whose pointers advance by their ``step``)."""

    count: int
    steps: tuple["BandCall | BandMove", ...]


@dataclass(frozen=True)
class BandGroup:
    """A chain of window ops (and an optional residual ADD) run in bands of ``rows`` output rows: each band
    computes the rows of the intermediate tensors it needs into small buffers in the group's scratch, so
    those tensors never exist whole. ``ops``: the member op ids (consecutive in the schedule); ``input`` /
    ``output``: the tensors the group reads and writes in the arena (``output`` may be placed on ``input``
    when ``inplace``: the residual ADD writes a row only after the last band that reads it);
    ``scratch_bytes``: the group's scratch (the largest kernel scratch, the band buffers, and the residual
    ADD's run-time tables where it takes them); ``params``: (member op id, its Lowered with this variant's
    fields) per params struct."""

    ops: tuple[int, ...]
    input: int
    output: int
    rows: int
    scratch_bytes: int
    params: tuple[tuple[int, "Lowered"], ...]
    segments: tuple[BandSegment, ...]
    inplace: bool = False
    calls: int = 0  # kernel calls per invoke
    moved_bytes: int = 0  # bytes memmoved per invoke (rows slid down rather than recomputed: none are)


@dataclass(frozen=True)
class Op:
    id: int
    kind: str  # TFLite builtin name, e.g. "CONV_2D"
    inputs: tuple[int, ...]  # tensor ids, -1 for an absent optional input
    outputs: tuple[int, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict, compare=False)
    lowered: Lowered | None = None
    # Human-readable location: the output tensor name, which carries the Keras layer path.
    location: str = ""


@dataclass(frozen=True)
class StatePair:
    """A state carried from one ``model_invoke()`` to the next: after each invoke the bytes of tensor
    ``output`` (requantized to ``input``'s scale and zero point) become those of tensor ``input``, which
    the next invoke reads. ``input`` is then not a user input: it lives in a static state buffer outside
    the arena, set to its zero point (the real value 0) by ``model_reset_state()``. ``name`` is what the
    user calls the pair (the input's signature name)."""

    input: int
    output: int
    name: str


BUFFER_KINDS = ("tensor", "scratch")


@dataclass(frozen=True)
class Buffer:
    """One storage request for the memory planner: a live range over the schedule.

    ``kind`` says what the bytes hold: ``"tensor"``, the storage of tensor ``id`` (a non-constant tensor
    that aliases none: aliases share their storage tensor's buffer), or ``"scratch"``, the kernel scratch
    of the op whose id is ``id`` (live at that op only). Steps are schedule positions (indices into
    ``Graph.ops``, which the scheduler makes the op ids).
    """

    kind: str  # "tensor" | "scratch"
    id: int  # kind "tensor": the tensor id; kind "scratch": the id of the op it belongs to
    size: int  # bytes (unaligned)
    first: int  # step of the op that writes it; -1 = model input
    last: int  # step of the last op that reads it; len(ops) = model output

    def __post_init__(self) -> None:
        if self.kind not in BUFFER_KINDS:
            raise ValueError(f"buffer kind {self.kind!r} is not one of {BUFFER_KINDS}")


@dataclass(frozen=True)
class MemoryPlan:
    """Where every buffer lives in the one arena.

    ``offsets`` is keyed by tensor id (each tensor with a buffer, and each alias of one at its storage's
    offset), ``scratch`` by op id (the ops with kernel scratch); :meth:`offset` looks up a
    :class:`Buffer` of either kind; nothing is encoded (a tensor and an op may have the same id).
    ``live`` is the liveness model's bytes live at each step -1 .. len(ops) (aligned; bytes an op's
    output shares with a dying input counted once): what any plan of this schedule holds at that step,
    so its maximum is the lower bound.
    """

    offsets: Mapping[int, int]  # tensor id -> byte offset in the arena
    scratch: Mapping[int, int]  # op id -> byte offset of that op's kernel scratch
    size: int  # arena bytes
    live: tuple[int, ...]  # bytes live at steps -1, 0, ..., len(ops)
    buffers: tuple[Buffer, ...] = ()
    alignment: int = 16
    # state buffers (see StatePair), outside the arena: storage tensor id -> byte offset in the state block
    state: Mapping[int, int] = field(default_factory=dict)
    state_size: int = 0  # bytes of the state block (aligned)

    @property
    def lower_bound(self) -> int:
        """Most bytes live at any one step: no plan of this schedule can be smaller."""
        return max(self.live, default=0)

    def offset(self, b: Buffer) -> int:
        return (self.offsets if b.kind == "tensor" else self.scratch)[b.id]


@dataclass(frozen=True)
class Graph:
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "model"
    plan: MemoryPlan | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # state carried across invokes (frontend.state pairs them; passes.graph.state feeds them back)
    state: tuple[StatePair, ...] = ()

    def state_inputs(self) -> frozenset[int]:
        """Storages of the paired state inputs: static memory, not arena."""
        return frozenset(self.storage(p.input) for p in self.state)

    def tensor(self, tid: int) -> Tensor:
        return self.tensors[tid]

    def producers(self) -> dict[int, int]:
        """tensor id -> id of the op that writes it."""
        return {t: op.id for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for op in self.ops:
            for t in op.inputs:
                if t >= 0:
                    out.setdefault(t, []).append(op.id)
        return out

    def storage(self, tid: int) -> int:
        """The tensor whose bytes ``tid`` lives in (follows alias chains)."""
        t = self.tensors[tid]
        while t.alias_of is not None:
            t = self.tensors[t.alias_of]
        return t.id
