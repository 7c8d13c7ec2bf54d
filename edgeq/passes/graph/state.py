"""Feed state back across invokes (the pairs ``frontend.state`` put in ``Graph.state``).

Runs after scheduling, before memory planning. For each pair (IN, OUT):

- IN stops being a user input: its storage is a static state buffer outside the arena (the liveness
  model leaves it out; the planner gives it an offset in the state block), which ``model_reset_state()``
  sets to IN's zero point, the real value 0;
- OUT stops being a user output (unless it is also listed at another position);
- one op is appended at the end of the schedule: QUANTIZE OUT -> IN, lowered by the int8 QUANTIZE
  lowering (``reference_ops::Requantize`` as a 256-byte table; the identity when OUT and IN share scale
  and zero point, as the converter usually gives them). It runs after every read of IN in this invoke, so
  the next invoke reads the new state. The reference (``quality.validate.run_reference_sequence``) feeds
  LiteRT the same requantized bytes, which is what LiteRT's own QUANTIZE op computes.

Why a copy at the end rather than OUT planned on IN's buffer: OUT is usually written while IN is still
read (a ring buffer's shift reads IN after writing the first bytes of OUT; an RNN's new state is computed
from the old one), so sharing would need a proof per op; the copy costs OUT's bytes once per invoke.
"""

from __future__ import annotations

import dataclasses

from edgeq.ir import Graph, Op
from edgeq.passes.lower.registry import LowerCtx, Unsupported, lowering_for

FEEDBACK_KIND = "QUANTIZE"


def feed_back_state(g: Graph, ctx: LowerCtx = LowerCtx()) -> Graph:
    if not g.state:
        return g
    ops = list(g.ops)
    inputs = [t for t in g.inputs if t not in {p.input for p in g.state}]
    outputs = list(g.outputs)
    for p in g.state:
        outputs.remove(p.output)  # one position of it: a tensor also output elsewhere stays there
        op = Op(len(ops), FEEDBACK_KIND, (p.output,), (p.input,), {}, location=f"state {p.name}")
        fn = lowering_for(g, op)
        if fn is None:
            raise Unsupported(f"no kernel feeds back state '{p.name}' ({g.tensor(p.input).dtype})")
        ops.append(dataclasses.replace(op, lowered=fn(g, op, ctx)))
    return dataclasses.replace(g, ops=tuple(ops), inputs=tuple(inputs), outputs=tuple(outputs))
