"""The package's structure, enforced (docs/architecture.md says why).

* no import cycles among edgeq modules, counting the imports made inside functions;
* no edgeq module imports the ``edgeq.api`` facade;
* at most 5 edgeq imports inside functions in the whole package, each with a comment saying why;
* at most 5 modules at the ``edgeq/`` root;
* heavy third-party packages (TensorFlow, Keras, LiteRT, TFLM, matplotlib) are not imported by
  ``edgeq --help`` or ``edgeq boards``, which start in well under a second;
* a (kind, dtype signature) pair has one lowering (tests/unit/test_lowering_layout.py checks that each
  lowering module emits only its own kernel source).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from paths import REPO

PKG = REPO / "edgeq"
MAX_FUNCTION_IMPORTS = 5
MAX_ROOT_MODULES = 5
HEAVY = ("tensorflow", "keras", "tf_keras", "ai_edge_litert", "tflite_micro", "matplotlib")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, mods: dict[str, Path]):
    """(target module, line, inside a function?) for every edgeq import of a module; imports under
    ``if TYPE_CHECKING:`` are for type checkers only and never run."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for n in ast.walk(node))

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and id(child) not in skip:
                for target in _targets(name, path, child, mods):
                    yield target, child.lineno, in_function
            yield from visit(child, inner)

    yield from visit(tree, False)


def _targets(name: str, path: Path, node, mods: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "edgeq"]
    base = node.module or ""
    if node.level:
        pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    if base.split(".")[0] != "edgeq":
        return []
    # `from pkg import submodule` depends on the submodule; `from module import name` on the module
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]


def _graph():
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    inside: list[tuple[str, int, str]] = []
    for name, path in mods.items():
        for target, line, in_function in _imports(name, path, mods):
            if target in mods and target != name:
                edges[name].add(target)
            if in_function:
                inside.append((name, line, target))
    return mods, edges, inside


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in edges:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    _, edges, _ = _graph()
    assert _cycles(edges) == []


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_nothing_inside_edgeq_imports_the_api_facade():
    _, edges, _ = _graph()
    assert sorted(m for m, ts in edges.items() if "edgeq.api" in ts) == []


def test_few_function_level_imports_each_with_a_reason():
    mods, _, inside = _graph()
    assert len(inside) <= MAX_FUNCTION_IMPORTS, "\n".join(f"{m}:{line} imports {t}" for m, line, t in inside)
    for m, line, target in inside:
        text = mods[m].read_text().splitlines()
        why = text[line - 1].partition("#")[2].strip() or (text[line - 2].strip().lstrip("#").strip()
                                                          if text[line - 2].strip().startswith("#") else "")
        assert why, f"{m}:{line} imports {target} inside a function without a comment saying why"


def test_few_modules_at_the_package_root():
    root = sorted(p.name for p in PKG.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def _startup(args: list[str]) -> tuple[float, set[str]]:
    code = ("import sys, time; t = time.perf_counter(); from edgeq.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(time.perf_counter() - t); print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = r.stdout.strip().splitlines()
    return float(lines[-2]), set(lines[-1].split())


def test_help_and_boards_start_fast_without_heavy_packages():
    best = {}
    for args in (["--help"], ["boards"]):
        times, loaded = [], set()
        for _ in range(3):  # the best of three: the machine is shared
            t, mods = _startup(args)
            times.append(t)
            loaded |= mods
        assert not loaded & set(HEAVY), (args, sorted(loaded & set(HEAVY)))
        best[args[0]] = min(times)
    assert max(best.values()) < 1.0, best


def test_duplicate_lowering_registration_is_refused():
    import pytest

    from edgeq.passes.lower.registry import DuplicateLowering, lowering

    def twin(g, op, ctx):  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(DuplicateLowering, match="CONV_2D"):
        lowering("CONV_2D")(twin)


def test_cli_scheme_choices_are_the_flows_schemes():
    """The CLI lists the schemes without importing the quantize flow (whose imports are heavy)."""
    from edgeq.cli.main import SCHEME_CHOICES
    from edgeq.flows.quantize import SCHEMES

    assert SCHEME_CHOICES == SCHEMES
