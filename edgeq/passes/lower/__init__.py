"""Lowering: each op becomes one kernel call with constant params (``Lowered``).

The lowerings of every op and data type are imported here (the subpackages ``int8``, ``int16`` and
``float32`` import their modules) and registered in :mod:`edgeq.passes.lower.registry`. A lowering
reads the op's tensors and quantization, computes every multiplier, shift, offset and clamp in Python
and returns a :class:`~edgeq.ir.Lowered`; one that cannot handle a configuration raises
:class:`~edgeq.passes.lower.registry.Unsupported` with the reason, and :func:`unsupported_ops` collects
all of them at once.
"""

from __future__ import annotations

import dataclasses

from edgeq.errors import EdgeqError, UnsupportedOp, UnsupportedOpsError
from edgeq.frontend.tflite.names import keras_layer
from edgeq.ir import ALIAS_OPS, Graph, Lowered, Op
from edgeq.passes.lower import float32, int8, int16  # noqa: F401  (importing registers every lowering)
from edgeq.passes.lower.registry import (CPU_TARGETS, LowerCtx, LowerFn, Unsupported, lowering_for, no_kernel,
                                         registered)


def supported_signatures() -> dict[str, list[str]]:
    """kind -> sorted signatures the C backend lowers (alias ops: every dtype)."""
    out = {k: sorted({s for sigs, _ in v for s in sigs}) for k, v in registered().items()}
    out.update({k: ["any"] for k in ALIAS_OPS})
    return dict(sorted(out.items()))


def registry() -> dict[str, LowerFn]:
    """kind -> a lowering that dispatches on the op's dtype signature (for tests and tools that look a
    lowering up by kind)."""
    def dispatcher(kind: str) -> LowerFn:
        def fn(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
            f = lowering_for(g, op)
            if f is None:
                raise Unsupported(no_kernel(g, op))
            return f(g, op, ctx)
        return fn

    return {k: dispatcher(k) for k in registered()}


def unsupported_ops(g: Graph, ctx: LowerCtx = LowerCtx()) -> list[UnsupportedOp]:
    """Every op of ``g`` the C backend cannot lower, with the reason and its Keras layer: all of them at once."""
    bad = []
    for op in g.ops:
        if op.kind in ALIAS_OPS:
            continue
        fn = lowering_for(g, op)
        try:
            if fn is None:
                why = no_kernel(g, op)
            else:
                fn(g, op, ctx)
                continue
        except Unsupported as e:
            why = str(e)
        except (ArithmeticError, ValueError, IndexError) as e:  # a damaged file: scales, shapes out of range
            why = f"its quantization parameters or shapes are invalid ({type(e).__name__}: {e})"
        where = f" (output '{op.location}')" if op.location else ""
        bad.append(UnsupportedOp(op.id, op.kind, why + where, keras_layer(op.location), op.location))
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
