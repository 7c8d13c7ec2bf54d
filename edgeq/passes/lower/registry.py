"""The lowering registry: which function lowers an op kind for a data-type signature.

Per-op lowerings live in ``edgeq.passes.lower.{int8,int16,float32}.<stem>`` (one module per C kernel
source ``firmware/kernels/<prefix><stem>.c``: no prefix for int8, ``int16_`` and ``float32_``) and
register themselves with :func:`lowering`. Registering the same (kind, signature) twice is an error:
one implementation per concern. This module imports no lowering; the package ``edgeq.passes.lower``
imports them all and runs the pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgeq.ir import Graph, Lowered, Op

ROUNDINGS = ("litert", "tflm")
CPU_TARGETS = ("any", "dsp", "mve", "portable")


class Unsupported(Exception):
    """A lowering cannot handle this op configuration; the message says why."""


@dataclass(frozen=True)
class LowerCtx:
    """Options that change generated code. ``rounding``: which reference to match. ``cpu``: which kernel
    variants' constants to emit: "any" (portable and DSP-extension variants, runs on every core),
    "dsp" (only what cores with the DSP extension use), "mve" (only what Helium cores use: the MVE kernels
    read plain int8 weights; a kernel with no MVE path yet takes its DSP path, as on any Armv8.1-M core
    with the DSP extension) or "portable" (only the portable C variants)."""

    rounding: str = "litert"
    cpu: str = "any"


LowerFn = Callable[[Graph, Op, LowerCtx], Lowered]
# kind -> [(signatures, fn)], see :func:`lowering` and :func:`signature`.
_REGISTRY: dict[str, list[tuple[frozenset[str], LowerFn]]] = {}


class DuplicateLowering(Exception):
    """Two lowerings registered for the same op kind and signature (a programming error)."""


def signature(g: Graph, op: Op) -> str:
    """The op's data-type signature: its activation dtype ("int8", "int16", "float32") when its first
    non-constant input and its first output agree, else "in->out" (QUANTIZE float32->int8, DEQUANTIZE
    int8->float32, ...). Lowerings register per signature, so int8, int16x8 and float32 kernels of one
    op kind live in separate modules."""
    ins = [t for t in op.inputs if t >= 0]
    var = [t for t in ins if not g.tensor(t).is_const] or ins
    out = g.tensor(op.outputs[0]).dtype if op.outputs else "none"
    inp = g.tensor(var[0]).dtype if var else out
    return out if inp == out else f"{inp}->{out}"


def lowering(*kinds: str, dtypes: tuple[str, ...] = ("int8",)):
    """Register a lowering for op ``kinds`` with the given :func:`signature` values.

    A (kind, signature) pair that already has a lowering from another function raises
    :class:`DuplicateLowering` at import time (re-importing the same module re-registers the same
    function, which is allowed)."""
    def deco(fn: LowerFn) -> LowerFn:
        for k in kinds:
            entries = _REGISTRY.setdefault(k, [])
            for sigs, other in entries:
                same = (other.__module__, other.__qualname__) == (fn.__module__, fn.__qualname__)
                clash = sigs & frozenset(dtypes)
                if clash and not same:
                    raise DuplicateLowering(f"{k} {sorted(clash)} is lowered by both {other.__module__}."
                                            f"{other.__qualname__} and {fn.__module__}.{fn.__qualname__}")
            entries[:] = [(s, f) for s, f in entries
                          if (f.__module__, f.__qualname__) != (fn.__module__, fn.__qualname__)]
            entries.append((frozenset(dtypes), fn))
        return fn

    return deco


def lowering_for(g: Graph, op: Op) -> LowerFn | None:
    """The lowering registered for this op's kind and :func:`signature`, or None."""
    sig = signature(g, op)
    for sigs, fn in _REGISTRY.get(op.kind, ()):
        if sig in sigs:
            return fn
    return None


def no_kernel(g: Graph, op: Op) -> str:
    """Why ``op`` has no lowering: no kernel for the kind at all, or none for its signature."""
    sig = signature(g, op)
    have = sorted({s for sigs, _ in _REGISTRY.get(op.kind, ()) for s in sigs})
    if not have:
        return "no C kernel for this op"
    return f"no C kernel for {sig} (this op has kernels for {', '.join(have)})"


def registered() -> dict[str, list[tuple[frozenset[str], LowerFn]]]:
    """kind -> [(signatures, lowering)] as registered so far (a copy)."""
    return {k: list(v) for k, v in _REGISTRY.items()}
