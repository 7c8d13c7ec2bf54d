"""Lowered IR -> template contexts (plain dicts of names, sizes, offsets) -> C library folder.

Everything numeric is decided before this point; here values are only formatted as C text. The
templates in ``templates/`` loop over these dicts and never compute.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq.codegen.templates import template_env
from edgeq.files import atomic_dir
from edgeq.ir import ArrayRef, Graph, Lowered
from edgeq.ir.graph import BandGroup, BandMove, BandPtr
from edgeq.passes.memory.bands import ROW_FIELDS, BandTable, band_table

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "firmware" / "kernels"
COMMON_HEADERS = ("edgeq_common.h",)
#: The section of the model's constant arrays (EDGEQ_WEIGHTS in model_data.c) on Arm ELF targets: the board's
#: linker script places it in flash or in the board's external memory (edgeq.targets.boards).
WEIGHTS_SECTION = ".rodata.edgeq_weights"
_LOCAL_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.MULTILINE)
_SCRATCH_MACRO = re.compile(r'^[ \t]*#[ \t]*define[ \t]+(\w+)_scratch_bytes\(([^)]*)\)', re.MULTILINE)


def kernel_files(sources: list[str]) -> list[str]:
    """The files of ``firmware/kernels`` a library with these kernel sources needs: the common headers,
    each source's ``.h`` and ``.c``, and every local header they ``#include`` (transitively, e.g. a
    kernel body shared by several element types)."""
    files = list(COMMON_HEADERS)
    todo = [f"{s}{ext}" for s in sources for ext in (".h", ".c")]
    while todo:
        f = todo.pop(0)
        if f in files:
            continue
        files.append(f)
        todo += _LOCAL_INCLUDE.findall((KERNELS / f).read_text())
    return files


def scratch_needed(low: Lowered) -> str:
    """The scratch bytes the kernel itself states for this call, as a C expression: the macro
    ``<kernel>_scratch_bytes(...)`` of ``firmware/kernels/<source>.h`` applied to the call's values of the
    params fields its parameters are named after (the generated model.c checks the planned bytes against it
    at compile time, see EDGEQ_SCRATCH_CHECK)."""
    header = f"firmware/kernels/{low.source}.h"
    macros = dict(_SCRATCH_MACRO.findall((KERNELS / f"{low.source}.h").read_text()))
    if low.kernel not in macros:
        raise ValueError(f"{low.kernel} takes {low.scratch_bytes} bytes of scratch but {header} defines no "
                         f"{low.kernel}_scratch_bytes(...)")
    fields = dict(low.fields)
    values = []
    for name in (a.strip() for a in macros[low.kernel].split(",")):
        v = fields.get(name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{low.kernel}_scratch_bytes in {header} takes '{name}', which is not an integer "
                             f"field of {low.struct}")
        values.append(str(int(v)))
    return f"{low.kernel}_scratch_bytes({', '.join(values)})"


def c_identifier(name: str) -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", name)
    if not s or s[0].isdigit():
        s = "m_" + s
    return s


def _c_int(v: int, ctype: str) -> str:
    if ctype in ("int32_t",) and v == -(1 << 31):
        return "(-2147483647 - 1)"
    if ctype == "int64_t":
        return "(-9223372036854775807LL - 1)" if v == -(1 << 63) else f"{v}LL"
    return str(v)


def _c_float(v: float) -> str:
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = format(float(v), ".9g")
    if "e" not in s and "." not in s:
        s += ".0"
    return s + "f"


def format_values(values: np.ndarray, ctype: str, per_line: int = 16) -> list[str]:
    flat = np.asarray(values).reshape(-1)
    if ctype == "float":
        items = [_c_float(v) for v in flat.tolist()]
    else:
        items = [_c_int(int(v), ctype) for v in flat.tolist()]
    return [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]


def _value(v, prefix: str) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, ArrayRef):
        return f"{prefix}_{v.name}"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return _c_int(int(v), "int32_t")
    if isinstance(v, (float, np.floating)):
        return _c_float(float(v))
    if isinstance(v, str):
        return v
    raise TypeError(f"cannot format {v!r} as a C value")


def render_context(g: Graph, prefix: str = "model") -> dict:
    """The plain-dict context the templates render.

    Constant arrays whose C text is identical (same element type, same values: the weights of the steps of
    an unrolled recurrent layer, each lowered op's copy of a shared tensor) are emitted once; every use
    names the first of them.
    """
    if g.plan is None:
        raise ValueError("graph has no memory plan: run edgeq.passes.pipeline.compile_graph first")
    prefix = c_identifier(prefix)
    plan = g.plan
    arrays: dict[str, ArrayRef] = {}

    def collect(v) -> None:
        if isinstance(v, ArrayRef):
            old = arrays.get(v.name)
            if old is not None and not np.array_equal(old.values, v.values):
                raise ValueError(f"two different constant arrays are both named {v.name}")
            arrays[v.name] = v

    def const_ref(tid: int) -> ArrayRef:
        t = g.tensor(tid)
        return ArrayRef(f"t{tid}_data", t.ctype, np.ascontiguousarray(t.data))

    def arg_tids(low: Lowered):
        for a in low.args:
            yield from a if isinstance(a, tuple) else (a,)

    lowered = [op for op in g.ops if op.lowered is not None]

    def calls(op) -> list[Lowered]:
        """The params structs an op's code uses: its own, or, for the first member of a banded group, the
        group's variants (the other members emit nothing of their own)."""
        grp = op.lowered.band
        if grp is None:
            return [op.lowered]
        return [low for _, low in grp.params] if op.id == grp.ops[0] else []

    for op in lowered:
        for low in calls(op):
            for _, v in low.fields:
                collect(v)
            for tid in arg_tids(low):
                if g.tensor(tid).is_const:
                    collect(const_ref(tid))
    # one definition per distinct (C type, values): the first array of each keeps its name
    canonical: dict[str, str] = {}
    arr_ctx = []
    first: dict[tuple, str] = {}
    for a in arrays.values():
        lines = format_values(a.values, a.ctype)
        key = (a.ctype, tuple(lines))
        if key in first:
            canonical[a.name] = first[key]
            continue
        first[key] = canonical[a.name] = a.name
        arr_ctx.append({"name": f"{prefix}_{a.name}", "ctype": a.ctype, "count": int(np.asarray(a.values).size),
                        "lines": lines, "bytes": int(np.asarray(a.values).nbytes)})

    def value(v) -> str:
        return f"{prefix}_{canonical[v.name]}" if isinstance(v, ArrayRef) else _value(v, prefix)

    def ptr(tid: int, const: bool) -> str:
        t = g.tensor(tid)
        q = "const " if const else ""
        if t.is_const:
            return value(const_ref(tid))
        if tid in plan.state:
            return f"({q}{t.ctype} *)({prefix}_state_block + {plan.state[tid]})"
        return f"({q}{t.ctype} *)({prefix}_arena + {plan.offsets[tid]})"

    def ptr_array(tids: tuple[int, ...], const: bool) -> str:
        # An argument that is a tuple of tensor ids (CONCATENATION's inputs, SPLIT's outputs) becomes a
        # C99 compound literal: an array of pointers living for the duration of the call.
        ctypes = {g.tensor(t).ctype for t in tids}
        if len(ctypes) != 1 or not tids:
            raise ValueError(f"pointer-array argument mixes element types {sorted(ctypes)}")
        q = "const " if const else ""
        return f"({q}{ctypes.pop()} *const[]){{{', '.join(ptr(t, const) for t in tids)}}}"

    ops = []
    params = []  # every params struct: (struct, name, fields)
    headers = []
    by_id = {op.id: op for op in g.ops}
    for op in lowered:
        low = op.lowered
        if low.band is not None:
            if op.id == low.band.ops[0]:
                ops.append(_band_context(g, low.band, by_id, prefix, value, ptr))
                params += ops[-1]["params"]
                headers += [h for _, v in low.band.params for h in (v.source,) if h not in headers]
            continue
        if low.source not in headers:
            headers.append(low.source)
        ins = [ptr_array(t, True) if isinstance(t, tuple) else ptr(t, True) for t in low.args[:-1]]
        out = low.args[-1]
        # a multi-output op (SPLIT, UNPACK) writes an array of output pointers; the op hooks see its first
        first_out = g.tensor(out[0] if isinstance(out, tuple) else out)
        args = ins + [ptr_array(out, False) if isinstance(out, tuple) else ptr(out, False)]
        if low.scratch_bytes:
            args.append(f"({prefix}_arena + {plan.scratch[op.id]})")
        ops.append({
            "index": op.id,
            "kind": op.kind,
            "location": op.location.replace("*/", "* /"),
            "name": f"{prefix}_op{op.id}",
            "kernel": low.kernel,
            "struct": low.struct,
            "fields": [(k, value(v)) for k, v in low.fields],
            "args": args,
            "out": ptr(first_out.id, False),
            "out_bytes": first_out.nbytes,
            "scratch_bytes": low.scratch_bytes,
            "scratch_needed": scratch_needed(low) if low.scratch_bytes else None,
            "band": None,
        })
        params.append({"struct": low.struct, "name": f"{prefix}_op{op.id}", "fields": ops[-1]["fields"],
                       "comment": f"op {op.id}: {op.kind} -> {ops[-1]['location']}"})

    def io(tids) -> list[dict]:
        res = []
        for i, tid in enumerate(tids):
            t = g.tensor(tid)
            q = t.quant
            res.append({
                "index": i, "name": t.name, "ctype": t.ctype, "dtype": t.dtype,
                "offset": plan.offsets[g.storage(tid)], "bytes": t.nbytes, "numel": t.numel,
                "shape": ", ".join(str(s) for s in t.shape),
                "scale": _c_float(q.scale[0]) if q else "1.0f",
                "zero_point": q.zero_point[0] if q else 0,
            })
        return res

    states = []
    for i, p in enumerate(g.state):
        t, out = g.tensor(p.input), g.tensor(p.output)
        states.append({
            "index": i, "name": p.name, "dtype": t.dtype, "shape": ", ".join(str(s) for s in t.shape),
            "offset": plan.state[g.storage(p.input)], "bytes": t.nbytes,
            # model_reset_state() fills the buffer with this byte: the zero point, the real value 0
            "reset_byte": int(t.quant.zero_point[0]) & 0xFF,
            "output": out.name,
        })

    return {
        "prefix": prefix,
        "states": states,
        "state_size": plan.state_size,
        "PREFIX": prefix.upper(),
        "model_name": g.name,
        "arena_size": plan.size,
        "arena_lower_bound": plan.lower_bound,
        "arrays": arr_ctx,
        "ops": ops,
        "params": params,
        # scratch checks: every call with kernel scratch (a banded group's per variant)
        "checks": [op for op in ops if op["scratch_needed"]] + [c for op in ops if op["band"]
                                                                 for c in op["band"]["checks"]],
        "band_tables": [op["band"]["table"] for op in ops if op["band"] and op["band"]["table"]],
        "num_ops": len(g.ops),  # schedule positions; aliased ops keep their index but run no kernel
        "headers": headers,
        "inputs": io(g.inputs),
        "outputs": io(g.outputs),
        "weights_bytes": sum(a["bytes"] for a in arr_ctx),
        "requires_dsp": g.meta.get("cpu") == "dsp",
        "requires_mve": g.meta.get("cpu") == "mve",
        "weights_section": WEIGHTS_SECTION,
    }


def _band_context(g: Graph, grp: BandGroup, by_id: dict, prefix: str, value, ptr) -> dict:
    """The template entry of a banded group (``passes.memory.bands``): its params structs and either its
    table (``bands.band_table``, where that form takes less flash: rows of call descriptors in
    ``model_data.c`` walked by one loop in ``model_invoke``) or its segments unrolled, each step a C
    statement (a segment of several bands is a loop over ``band`` whose pointers advance by the literal
    steps the pass computed)."""
    plan = g.plan
    members = [by_id[i] for i in grp.ops]
    first, last = members[0], members[-1]
    names = [f"{prefix}_op{oid}_band{j}" for j, (oid, _) in enumerate(grp.params)]
    table = band_table(g, grp)
    used = table.structs if table.smaller else range(len(grp.params))
    structs = [{"struct": low.struct, "name": names[j], "fields": [(k, value(v)) for k, v in low.fields],
                "comment": f"op {oid}: {by_id[oid].kind} -> {by_id[oid].location.replace('*/', '* /')}"}
               for j, (oid, low) in enumerate(grp.params) if j in used]

    def bptr(p: BandPtr, ctype: str | None) -> str:
        if p.tensor is None:
            base = f"{prefix}_arena + {plan.scratch[first.id]} + {p.offset}"
        else:
            base = f"{prefix}_arena + {plan.offsets[g.storage(p.tensor)]} + {p.offset}"
        if p.step:
            base += f" + {p.step} * band"
        return f"({ctype} *)({base})" if ctype else f"({base})"

    segments = []
    for seg in grp.segments if not table.smaller else ():
        steps = []
        for st in seg.steps:
            if isinstance(st, BandMove):
                steps.append(f"memmove({bptr(st.dst, None)}, {bptr(st.src, None)}, {st.bytes});")
                continue
            oid, low = grp.params[st.params]
            op = by_id[oid]
            n_data = len(low.args)
            args = []
            for j, (p, tid) in enumerate(zip(st.args[:n_data], low.args)):
                t = g.tensor(tid)
                args.append(bptr(p, ("" if j == n_data - 1 else "const ") + t.ctype))
            args += [bptr(p, None) for p in st.args[n_data:]]
            steps.append(f"{low.kernel}(&{names[st.params]}, {', '.join(args)}); /* {op.kind} */")
        segments.append({"count": seg.count, "loop": seg.count > 1, "steps": steps})
    out = g.tensor(grp.output)
    checks = [{"name": names[j], "scratch_bytes": low.scratch_bytes, "scratch_needed": scratch_needed(low)}
              for j, (_, low) in enumerate(grp.params) if low.scratch_bytes]
    return {
        "index": first.id,
        "last": last.id,
        "kind": "+".join(m.kind for m in members),
        "location": last.location.replace("*/", "* /"),
        "name": f"{prefix}_op{first.id}",
        "kernel": ", ".join(dict.fromkeys(low.kernel for _, low in grp.params)),
        "params": structs,
        "out": ptr(out.id, False),
        "out_bytes": out.nbytes,
        "scratch_bytes": 0,
        "scratch_needed": None,
        "band": {"rows": grp.rows, "calls": grp.calls, "moved_bytes": grp.moved_bytes, "segments": segments,
                 "table": _table_context(table, names, f"{prefix}_op{first.id}", prefix) if table.smaller else None,
                 "checks": checks, "ops": ", ".join(str(i) for i in grp.ops)},
    }


def _table_context(t: BandTable, names: list[str], name: str, prefix: str) -> dict:
    """The C text of a group's table (``model_data.c``: its row type, rows and segments) and of the cases of
    its walker (``model_invoke``)."""
    ct = t.ctypes
    slots = len(t.rows[0].at)

    def braces(values) -> str:
        return "{" + ", ".join(str(v) for v in values) + "}"

    rows = [f"{{{'&' + names[r.params] if r.case >= 0 else 'NULL'}, {braces(r.move)}, {braces(r.at)}, "
            f"{braces(r.step)}, {braces(r.rows)}, {r.case}}}" for r in t.rows]
    cases = []
    for i, c in enumerate(t.cases):
        n = len(c.ctypes)
        args = [f"({'' if j == n - 1 else 'const '}{ctype} *)({prefix}_arena + r->at[{j}] + r->step[{j}] * band)"
                for j, ctype in enumerate(c.ctypes)]
        if c.scratch is not None:
            args.append(f"{prefix}_arena + {t.scratch + c.scratch}")
        if c.rows:
            body = [f"{c.struct} p = *(const {c.struct} *)r->params;"]
            body += [f"p.{k} = r->rows[{j}];" for j, k in enumerate(ROW_FIELDS)]
            body.append(f"{c.kernel}(&p, {', '.join(args)});")
        else:
            body = [f"{c.kernel}((const {c.struct} *)r->params, {', '.join(args)});"]
        cases.append({"index": i, "body": body})
    return {
        "type": f"{name}_row_t", "rows_name": f"{name}_rows", "segments_name": f"{name}_segments",
        "fields": ["const void *params;", f"{ct['move']} move[3];", f"{ct['at']} at[{slots}];",
                   f"{ct['step']} step[{slots}];", f"{ct['rows']} rows[{len(ROW_FIELDS)}];", f"{ct['case']} call;"],
        "segment_type": ct["segment"],
        "copy_fn": t.copy,
        "rows": rows,
        "segments": [braces(s) for s in t.segments],
        "cases": cases,
        "comment": f"{len(t.rows)} rows in {len(t.segments)} segments: {t.table_bytes} B of flash with the "
                   f"walker, unrolled about {t.unrolled_bytes} B",
    }


@dataclass(frozen=True)
class GeneratedLibrary:
    dir: Path
    prefix: str
    sources: tuple[str, ...]
    context: dict

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for s in sorted(self.sources):
            h.update(s.encode())
            h.update((self.dir / s).read_bytes())
        return h.hexdigest()


MANIFEST = "edgeq.json"


def generate(g: Graph, out_dir: str | Path, prefix: str = "model", manifest: dict | None = None) -> GeneratedLibrary:
    """Write a self-contained C library for ``g`` into ``out_dir`` (atomically: all or nothing).

    ``manifest`` (model hash, name, options) is written as ``edgeq.json`` beside the sources, so later
    steps (firmware build, flash, bench) know which model the folder holds.
    """
    ctx = render_context(g, prefix)
    env = template_env()
    out = Path(out_dir)
    p = ctx["prefix"]
    files = {
        f"{p}.h": "model.h.j2",
        f"{p}.c": "model.c.j2",
        f"{p}_data.c": "model_data.c.j2",
        f"{p}_data.h": "model_data.h.j2",
        "Makefile": "Makefile.j2",
        "CMakeLists.txt": "CMakeLists.txt.j2",
    }
    kfiles = kernel_files(ctx["headers"])
    sources = [f"{p}.c", f"{p}_data.c"] + [k for k in kfiles if k.endswith(".c")]
    ctx = dict(ctx, sources=sources)
    with atomic_dir(out) as tmp:
        for name, tpl in files.items():
            (tmp / name).write_text(env.get_template(tpl).render(**ctx))
        for k in kfiles:
            shutil.copyfile(KERNELS / k, tmp / k)
        if manifest is not None:
            (tmp / MANIFEST).write_text(json.dumps(dict(manifest, prefix=p, sources=sources,
                                                        arena_bytes=ctx["arena_size"],
                                                        state_bytes=ctx["state_size"],
                                                        states=[st["name"] for st in ctx["states"]]),
                                                   indent=2) + "\n")
    return GeneratedLibrary(out, p, tuple(sorted(set(files) | set(kfiles))), ctx)
