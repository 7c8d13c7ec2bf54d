"""The compiler pipeline: pure Graph -> Graph passes, run in an explicit, named order (and the driver from
.tflite bytes to the planned graph)."""

from __future__ import annotations

from typing import Callable

from edgeq.frontend.islands import read_model
from edgeq.frontend.state import pair_state
from edgeq.ir import Graph
from edgeq.passes.graph.alias import alias_reshapes, fold_constant_aliases
from edgeq.passes.graph.fuse import fuse_activations
from edgeq.passes.graph.schedule import schedule, schedule_memory
from edgeq.passes.graph.state import feed_back_state
from edgeq.passes.graph.weights import fold_weight_dequantize
from edgeq.passes.lower import lower
from edgeq.passes.lower.registry import LowerCtx
from edgeq.passes.memory.bands import band_chains
from edgeq.passes.memory.planner import plan_memory
from edgeq.passes.memory.scratch import upgrade_scratch


def pipeline(ctx: LowerCtx) -> list[tuple[str, Callable[[Graph], Graph]]]:
    return [
        ("fold-weight-dequantize", fold_weight_dequantize),
        ("fold-constant-aliases", fold_constant_aliases),
        ("fuse-activations", fuse_activations),
        ("schedule", schedule),
        ("lower", lambda g: lower(g, ctx)),
        ("alias-reshapes", alias_reshapes),
        ("schedule-memory", schedule_memory),
        ("feed-back-state", lambda g: feed_back_state(g, ctx)),
        ("band-chains", band_chains),
        ("plan-memory", plan_memory),
        ("upgrade-scratch", upgrade_scratch),
    ]


def compile_graph(g: Graph, ctx: LowerCtx = LowerCtx()) -> Graph:
    for _name, fn in pipeline(ctx):
        g = fn(g)
    return g


def lower_tflite(model: bytes, rounding: str = "litert", name: str = "model", cpu: str = "any",
                 state: tuple[str, ...] | None = None) -> Graph:
    """Quantized .tflite bytes -> lowered, scheduled, memory-planned graph (``cpu``: see LowerCtx;
    ``state``: ``IN:OUT`` pairs fed back across invokes, None to pair by name, see frontend.state); float
    islands become tables (edgeq.frontend.islands)."""
    g = pair_state(read_model(model, name=name), state)
    return compile_graph(g, LowerCtx(rounding=rounding, cpu=cpu))
