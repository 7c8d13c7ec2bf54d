"""State carried across invokes: which model input is fed from which model output.

A streaming model called frame by frame (a keyword spotter whose convolution reads a ring buffer of past
frames, an RNN converted from a Keras ``stateful=True`` layer) takes its state as an input and returns the
next state as an output. :func:`pair_state` pairs them, from the user's ``IN:OUT`` specs (``--state``) or
by name: an input named ``state`` or ``state_<suffix>`` (its signature name, else its tensor name) is fed
from the output named ``new_<that name>``, else from the only unpaired output of the same shape and element
type (Keras 3 exports name outputs ``output_<i>``, so output names are often lost). The pairs go into
``Graph.state``; ``passes.graph.state`` turns them into static memory and a feedback call.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.ir import Graph, StatePair

STATE_NAME = re.compile(r"^state(_\w*)?$")
STATE_DTYPES = ("int8", "uint8")
NO_STATE = "none"  # the --state value that turns pairing by name off


def io_names(g: Graph, role: str) -> list[tuple[int, list[str]]]:
    """(tensor id, names the user may call it) for each model input or output (``role``): its signature
    name, its tensor name, and that without the serving prefix and ``:0`` suffix."""
    sig = g.meta.get("signature", {}).get(role, {})
    out = []
    for tid in (g.inputs if role == "inputs" else g.outputs):
        t = g.tensor(tid).name
        bare = re.sub(r":\d+$", "", re.sub(r"^serving_default_", "", t))
        names = [n for n in (sig.get(tid), t, bare) if n]
        out.append((tid, list(dict.fromkeys(names))))
    return out


def _display(names: list[str]) -> str:
    return names[0] if names else "?"


def _find(g: Graph, role: str, key: str) -> int:
    items = io_names(g, role)
    hits = [tid for tid, names in items if key in names]
    if not hits and key.lstrip("-").isdigit() and 0 <= int(key) < len(items):
        hits = [items[int(key)][0]]
    if len(hits) != 1:
        known = ", ".join(_display(n) for _, n in items)
        raise EdgeqError(f"--state names model {role[:-1]} '{key}', which the model "
                         f"{'does not have' if not hits else 'has twice'}",
                         detail=[f"model {role}: {known}"],
                         hint="name inputs and outputs by signature name, tensor name or position (0, 1, ...)")
    return hits[0]


def parse_state_specs(specs: list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The CLI's ``--state`` values: None (pair by name), ``()`` for ``--state none``, or ``IN:OUT`` specs."""
    if not specs:
        return None
    if list(specs) == [NO_STATE]:
        return ()
    for s in specs:
        if s.count(":") != 1 or not all(s.split(":")):
            raise EdgeqError(f"--state '{s}' is not IN:OUT",
                             hint="e.g. --state state_0:output_1 (or --state none to pair nothing)")
    return tuple(specs)


def pair_state(g: Graph, specs: tuple[str, ...] | None = None) -> Graph:
    """``g`` with ``state`` set: the ``IN:OUT`` pairs of ``specs``, or those found by name when ``specs``
    is None (``()``: no state). Inputs and outputs stay listed; ``passes.graph.state`` removes them."""
    pairs: list[tuple[int, int]] = []
    if specs is not None:
        for s in specs:
            a, b = s.split(":")
            pairs.append((_find(g, "inputs", a), _find(g, "outputs", b)))
    else:
        outs = io_names(g, "outputs")
        for tid, names in io_names(g, "inputs"):
            stem = next((n for n in names if STATE_NAME.match(n)), None)
            if stem is None:
                continue
            taken = {o for _, o in pairs}
            named = [o for o, on in outs if f"new_{stem}" in on and o not in taken]
            t = g.tensor(tid)
            alike = [o for o, _ in outs if o not in taken and g.tensor(o).shape == t.shape
                     and g.tensor(o).dtype == t.dtype]
            found = named or alike
            if len(found) != 1:
                raise EdgeqError(f"model input '{stem}' is named as a state, but "
                                 f"{'no' if not found else len(found)} model outputs could feed it back",
                                 detail=[f"outputs of shape {list(t.shape)} {t.dtype}: "
                                         + (", ".join(_display(n) for o, n in outs if o in alike) or "none")],
                                 hint=f"name the output new_{stem}, or pass --state {stem}:OUTPUT "
                                      "(or --state none for no state)")
            pairs.append((tid, found[0]))
    names = dict(io_names(g, "inputs"))
    seen_in, seen_out = set(), set()
    res = []
    for i, o in pairs:
        ti, to = g.tensor(i), g.tensor(o)
        label = _display(names[i])
        if i in seen_in or o in seen_out:
            raise EdgeqError(f"state '{label}' pairs an input or output already paired",
                             hint="each state input is fed from its own output")
        seen_in.add(i)
        seen_out.add(o)
        if ti.dtype not in STATE_DTYPES or to.dtype != ti.dtype or ti.numel != to.numel:
            raise EdgeqError(f"state '{label}' cannot be fed back: input {ti.dtype}{list(ti.shape)}, "
                             f"output {to.dtype}{list(to.shape)}",
                             hint="a state pair has one element type (int8 or uint8) and one element count")
        if ti.quant is None or to.quant is None or ti.quant.per_channel or to.quant.per_channel:
            raise EdgeqError(f"state '{label}' is not quantized per tensor",
                             hint="quantize the model with int8 inputs and outputs (edgeq quantize)")
        res.append(StatePair(i, o, label))
    return dataclasses.replace(g, state=tuple(res))


def user_inputs(g: Graph) -> list[int]:
    """Positions in ``g.inputs`` of the inputs the user feeds (those that are not fed back state)."""
    fed = {p.input for p in g.state}
    return [k for k, tid in enumerate(g.inputs) if tid not in fed]


# --- the same pairing on an explicit-state Keras model, for calibration ------------------------------------

def keras_state_pairs(model, specs: tuple[str, ...] | None = None) -> list[tuple[int, object]]:
    """(state input position, output key) pairs of a Keras model in explicit-state form, by the rules of
    :func:`pair_state` on the Keras names: input names, and the keys of dict outputs (else the names of the
    layers giving the outputs). The output key indexes what calling the model returns (a dict key, or a
    position in its list of outputs)."""
    struct = model.output
    if isinstance(struct, dict):
        outs = [(k, [k], v) for k, v in struct.items()]
    else:
        flat = list(struct) if isinstance(struct, (list, tuple)) else [struct]
        outs = [(i, [t._keras_history[0].name, str(i)], t) for i, t in enumerate(flat)]
    ins = [(k, [x.name, str(k)], x) for k, x in enumerate(model.inputs)]

    def find(items, key: str, role: str):
        hits = [i for i, names, _ in items if key in names]
        if len(hits) != 1:
            raise EdgeqError(f"--state names Keras model {role} '{key}', which the model does not have",
                             detail=[f"model {role}s: " + ", ".join(n[0] for _, n, _ in items)])
        return hits[0]

    if specs is not None:
        pairs = [(find(ins, a, "input"), find(outs, b, "output")) for a, b in (sp.split(":") for sp in specs)]
        shape_of = {o: tuple(t.shape[1:]) for o, _, t in outs}
        for (k, o), sp in zip(pairs, specs):
            if int(np.prod(shape_of[o])) != int(np.prod(tuple(model.inputs[k].shape[1:]))):
                raise EdgeqError(f"state '{sp}' cannot be fed back: input shape {list(model.inputs[k].shape[1:])}, "
                                 f"output shape {list(shape_of[o])}",
                                 hint="a state input is fed from an output of as many elements")
        return pairs
    pairs: list[tuple[int, object]] = []
    for k, names, x in ins:
        if not STATE_NAME.match(names[0]):
            continue
        taken = {o for _, o in pairs}
        named = [o for o, on, _ in outs if f"new_{names[0]}" in on and o not in taken]
        alike = [o for o, _, t in outs if o not in taken and tuple(t.shape[1:]) == tuple(x.shape[1:])]
        found = named or alike
        if len(found) != 1:
            raise EdgeqError(f"Keras model input '{names[0]}' is named as a state, but "
                             f"{'no' if not found else len(found)} outputs could feed it back",
                             hint=f"name the output new_{names[0]} (dict outputs keep names), or pass "
                                  f"--state {names[0]}:OUTPUT (or --state none)")
        pairs.append((k, found[0]))
    return pairs


def sequence_state_samples(model, frames: list[np.ndarray], pairs: list[tuple[int, object]]) -> list[np.ndarray]:
    """The inputs of an explicit-state Keras model over ``frames`` (one ``(N, ...)`` array per input that is
    not state, in model order) run as one sequence from zero states, each new state fed back: one
    ``(N, ...)`` array per model input (the frames and the states each frame read), the calibration data
    that makes the state inputs' ranges those the stream reaches."""
    fed = dict(pairs)
    user = [k for k in range(len(model.inputs)) if k not in fed]
    states = {k: np.zeros((1, *model.inputs[k].shape[1:]), np.float32) for k in fed}
    seen: dict[int, list[np.ndarray]] = {k: [] for k in fed}
    for n in range(int(frames[0].shape[0])):
        xs: list = [None] * len(model.inputs)
        for k, f in zip(user, frames):
            xs[k] = np.asarray(f[n : n + 1], np.float32)
        for k, s in states.items():
            seen[k].append(s[0])
            xs[k] = s
        out = model(xs, training=False)
        states = {k: np.asarray(out[o], np.float32).reshape(states[k].shape) for k, o in fed.items()}
    it = iter(frames)
    return [np.stack(seen[k]) if k in fed else next(it) for k in range(len(model.inputs))]
