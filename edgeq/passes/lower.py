"""Lowering: each op becomes one kernel call with constant params (``Lowered``).

Per-op lowerings live in ``edgeq.passes.ops.*`` and register themselves with :func:`lowering`. They
read the op's tensors and quantization, compute every multiplier, shift, offset and clamp in Python,
and return a :class:`~edgeq.ir.Lowered`. A lowering that cannot handle a configuration raises
:class:`Unsupported` with the reason; :func:`unsupported_ops` collects all of them at once.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgeq.errors import EdgeqError, UnsupportedOpsError
from edgeq.ir import ArrayRef, Graph, Lowered, Op, Tensor

ROUNDINGS = ("litert", "tflm")
CPU_TARGETS = ("any", "dsp", "portable")


class Unsupported(Exception):
    """A lowering cannot handle this op configuration; the message says why."""


@dataclass(frozen=True)
class LowerCtx:
    """Options that change generated code. ``rounding``: which reference to match. ``cpu``: which kernel
    variants' constants to emit: "any" (portable and DSP-extension variants, runs on every core),
    "dsp" (only what cores with the DSP extension use) or "portable" (only the portable C variants)."""

    rounding: str = "litert"
    cpu: str = "any"


LowerFn = Callable[[Graph, Op, LowerCtx], Lowered]
# kind -> [(signatures, fn)], see :func:`lowering` and :func:`signature`.
_REGISTRY: dict[str, list[tuple[frozenset[str], LowerFn]]] = {}
_LOADED = False
# Ops that produce no kernel call: their output aliases their input (see passes.alias).
ALIAS_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")


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
    """Register a lowering for op ``kinds`` with the given :func:`signature` values."""
    def deco(fn: LowerFn) -> LowerFn:
        for k in kinds:
            _REGISTRY.setdefault(k, []).append((frozenset(dtypes), fn))
        return fn

    return deco


def _load_ops() -> None:
    import edgeq.passes.ops as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{m.name}")


def _ensure_loaded() -> None:
    # A flag, not "registry is empty": importing one ops module directly (tests do) registers that
    # module's ops and must not stop the others from being loaded.
    global _LOADED
    if not _LOADED:
        _load_ops()
        _LOADED = True


def lowering_for(g: Graph, op: Op) -> LowerFn | None:
    """The lowering registered for this op's kind and :func:`signature`, or None."""
    _ensure_loaded()
    sig = signature(g, op)
    for sigs, fn in _REGISTRY.get(op.kind, ()):
        if sig in sigs:
            return fn
    return None


def registry() -> dict[str, LowerFn]:
    """kind -> a lowering that dispatches on the op's dtype signature (for tests and tools that look a
    lowering up by kind)."""
    _ensure_loaded()

    def dispatcher(kind: str) -> LowerFn:
        def fn(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
            f = lowering_for(g, op)
            if f is None:
                raise Unsupported(_no_kernel(g, op))
            return f(g, op, ctx)
        return fn

    return {k: dispatcher(k) for k in _REGISTRY}


def supported_signatures() -> dict[str, list[str]]:
    """kind -> sorted signatures the C backend lowers (alias ops: every dtype)."""
    _ensure_loaded()
    out = {k: sorted({s for sigs, _ in v for s in sigs}) for k, v in _REGISTRY.items()}
    out.update({k: ["any"] for k in ALIAS_OPS})
    return dict(sorted(out.items()))


def supported_kinds() -> list[str]:
    return list(supported_signatures())


def _no_kernel(g: Graph, op: Op) -> str:
    sig = signature(g, op)
    have = sorted({s for sigs, _ in _REGISTRY.get(op.kind, ()) for s in sigs})
    if not have:
        return "no C kernel for this op"
    return f"no C kernel for {sig} (this op has kernels for {', '.join(have)})"


# --- helpers shared by the per-op lowerings -------------------------------------------------------

def arr(op: Op, field: str, values, ctype: str) -> ArrayRef:
    """A constant array named after the op and field (unique per model)."""
    return ArrayRef(f"op{op.id}_{field}", ctype, np.ascontiguousarray(values))


def tensor_array(g: Graph, tid: int) -> ArrayRef:
    """The constant data of tensor ``tid`` as a C array (weights, biases, constant operands)."""
    t = g.tensor(tid)
    assert t.data is not None
    return ArrayRef(f"t{tid}_data", t.ctype, np.ascontiguousarray(t.data))


def need(cond: bool, why: str) -> None:
    if not cond:
        raise Unsupported(why)


def expect_dtype(t: Tensor, *dtypes: str) -> None:
    need(t.dtype in dtypes, f"tensor '{t.name}' is {t.dtype}; this kernel takes {'/'.join(dtypes)}")


def scale(t: Tensor) -> float:
    need(t.quant is not None, f"tensor '{t.name}' has no quantization parameters")
    return t.quant.scale[0]


def zp(t: Tensor) -> int:
    need(t.quant is not None, f"tensor '{t.name}' has no quantization parameters")
    return t.quant.zero_point[0]


def rounding_flag(ctx: LowerCtx, litert_single: bool) -> int:
    """Kernel ``rounding`` field: 1 = single rounding, 0 = double rounding (gemmlowp, TFLM).

    LiteRT's reference kernels do not agree among themselves: the caller states whether *this* op's
    LiteRT reference kernel rounds once (measured per op in tests/kernels); TFLM always rounds twice.
    """
    if ctx.rounding not in ROUNDINGS:
        raise EdgeqError(f"unknown rounding '{ctx.rounding}'", hint=f"use one of {', '.join(ROUNDINGS)}")
    return 1 if (ctx.rounding == "litert" and litert_single) else 0


# --- the pass -------------------------------------------------------------------------------------

def unsupported_ops(g: Graph, ctx: LowerCtx = LowerCtx()) -> list[tuple[int, str, str]]:
    _ensure_loaded()
    bad = []
    for op in g.ops:
        where = f"(output '{op.location}')" if op.location else ""
        if op.kind in ALIAS_OPS:
            continue
        fn = lowering_for(g, op)
        if fn is None:
            bad.append((op.id, op.kind, f"{_no_kernel(g, op)} {where}".strip()))
            continue
        try:
            fn(g, op, ctx)
        except Unsupported as e:
            bad.append((op.id, op.kind, f"{e} {where}".strip()))
        except (ArithmeticError, ValueError, IndexError) as e:  # a damaged file: scales, shapes out of range
            bad.append((op.id, op.kind, f"its quantization parameters or shapes are invalid ({type(e).__name__}: "
                                        f"{e}) {where}".strip()))
    return bad


def lower(g: Graph, ctx: LowerCtx = LowerCtx()) -> Graph:
    """Attach a ``Lowered`` kernel call to every op; raise for all unsupported ops at once."""
    if ctx.cpu not in CPU_TARGETS:
        raise EdgeqError(f"unknown CPU target '{ctx.cpu}'", hint=f"use one of {', '.join(CPU_TARGETS)}")
    bad = unsupported_ops(g, ctx)
    if bad:
        raise UnsupportedOpsError(bad, model=g.name)
    ops = tuple(
        op if op.kind in ALIAS_OPS else dataclasses.replace(op, lowered=lowering_for(g, op)(g, op, ctx))
        for op in g.ops
    )
    return dataclasses.replace(g, ops=ops, meta={**g.meta, "cpu": ctx.cpu})


def channel_multipliers(x: Tensor, w: Tensor, y: Tensor, out_c: int,
                        broadcast: bool = False) -> tuple[list[int], list[int]]:
    """(multiplier, shift) of a weighted op: one pair per output channel for per-channel weights, one
    pair for per-tensor weights (``broadcast``: repeated for every channel, for kernels that always index
    by channel). PopulateConvolutionQuantizationParams and FullyConnected Prepare compute
    (double)input_scale * (double)filter_scale / (double)output_scale."""
    from edgeq.passes.quantmath import quantize_multiplier

    need(w.quant is not None and all(z == 0 for z in w.quant.zero_point), "weights are not symmetric int8")
    n = len(w.quant.scale)
    need(n in (1, out_c), f"weights have {n} scales for {out_c} output channels")
    in_s, out_s = float(scale(x)), float(scale(y))
    pairs = [quantize_multiplier(in_s * float(s) / out_s) for s in w.quant.scale]
    pairs = pairs * out_c if (n == 1 and broadcast) else pairs
    return [m for m, _ in pairs], [s for _, s in pairs]


def const_bias(g: Graph, op: Op, index: int, out_c: int) -> Tensor | None:
    """The op's optional int32 bias input (constant, one value per output channel), or None."""
    bias_id = op.inputs[index] if len(op.inputs) > index else -1
    if bias_id < 0:
        return None
    b = g.tensor(bias_id)
    expect_dtype(b, "int32")
    need(b.is_const, "bias is not constant")
    need(b.numel == out_c, f"bias has {b.numel} values for {out_c} output channels")
    return b


CLAMP_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def fused_clamp(op: Op, y: Tensor) -> tuple[int, int]:
    """(act_min, act_max) of the op's fused activation on its int8 output."""
    from edgeq.passes.quantmath import activation_range

    act = op.attrs.get("fused_activation_function", "NONE")
    need(act in CLAMP_ACTIVATIONS, f"fused activation {act}")
    return activation_range(act, scale(y), zp(y))
