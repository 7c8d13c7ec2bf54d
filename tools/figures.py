"""The deterministic figures of docs/benchmarks.md, measured in one run: for each shared MLPerf Tiny model
on each emulated core, QEMU instructions per inference (``-icount shift=0``), arena, inference code,
weights and constants, whole-image flash, and bit-exactness on the device.

    .venv/bin/python tools/figures.py --json figures.json
    .venv/bin/python tools/figures.py --compare before.json figures.json   # a refactor changed nothing?

Everything goes through the ``edgeq convert-and-flash`` command as a user types it (with
``--report``), so the same script measures any checkout: run it with another checkout's ``edgeq`` on
``PYTHONPATH`` to compare two trees. Byte sizes are deterministic; instruction counts are
too, up to one SysTick tick (the board's counter resolution), which ``--compare`` allows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MLPERF = REPO.parent / "shared" / "models" / "mlperf-tiny"
MODELS = ("resnet8_int8", "kws_dscnn_int8", "ad01_int8")
BOARDS = ("mps2-an386", "mps2-an385", "mps2-an500", "mps2-an505")
FIELDS = ("instructions", "arena_bytes", "code_bytes", "weights_bytes", "flash_bytes", "bit_exact")


def measure(model: str, board: str, tree: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        rep = Path(tmp) / "r.json"
        cmd = [sys.executable, "-c", "import sys; from edgeq.cli import main; sys.exit(main())",
               "convert-and-flash", str(MLPERF / f"{model}.tflite"), "--board", board, "--runs", "1",
               "--samples", "3", "--out", str(Path(tmp) / "out"), "--report", str(rep)]
        env = dict(os.environ, PYTHONPATH=str(tree))
        r = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
        if r.returncode != 0 or not rep.is_file():
            return {"model": model, "board": board, "error": (r.stderr or r.stdout).strip().splitlines()[-3:]}
        j = json.loads(rep.read_text())
    mem, val = j["memory"], j["validation"]
    return {"model": model, "board": board, "instructions": int(j["latency"]["median"]),
            "resolution": j["latency"]["resolution"],
            "arena_bytes": mem["arena_bytes"], "code_bytes": mem["code_bytes"],
            "weights_bytes": mem["weights_bytes"], "flash_bytes": mem["flash_bytes"],
            "bit_exact": bool(val["bit_exact"])}


def table(rows: list[dict]) -> str:
    head = ["model", "board", *FIELDS]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']} | {r['board']} | error: {' / '.join(r['error'])}")
            continue
        lines.append(" | ".join([r["model"], r["board"]] + [f"{r[f]:,}" if isinstance(r[f], int) and not
                                                             isinstance(r[f], bool) else str(r[f]) for f in FIELDS]))
    return "\n".join(lines)


def compare(before: list[dict], after: list[dict]) -> int:
    """Print every figure that changed; exit status 1 if any got worse (or bit-exactness was lost).

    Instruction counts are read through the board's SysTick, so two runs of the same firmware can differ
    by one tick (40 instructions at 25 MHz, 50 on AN505): a difference within one tick is no change."""
    old = {(r["model"], r["board"]): r for r in before}
    worse = 0
    for r in after:
        o = old.get((r["model"], r["board"]))
        if o is None or "error" in r or "error" in o:
            print(f"{r['model']} on {r['board']}: cannot compare ({'error' if 'error' in r else 'missing'})")
            worse += "error" in r
            continue
        for f in FIELDS:
            tick = max(r.get("resolution", 50), o.get("resolution", 50)) if f == "instructions" else 0
            if abs(r[f] - o[f]) <= tick and f != "bit_exact":
                continue
            if r[f] != o[f]:
                bad = (f == "bit_exact" and not r[f]) or (f != "bit_exact" and r[f] > o[f])
                worse += bad
                print(f"{r['model']} on {r['board']}: {f} {o[f]:,} -> {r[f]:,} {'WORSE' if bad else 'better'}")
    print("no figure got worse" if not worse else f"{worse} figure(s) got worse")
    return 1 if worse else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=REPO, help="checkout whose edgeq to measure (default: this one)")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--boards", nargs="+", default=list(BOARDS))
    ap.add_argument("--json", type=Path, help="write the rows as JSON")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                    help="compare two JSON files written by --json instead of measuring")
    a = ap.parse_args()
    if a.compare:
        return compare(json.loads(a.compare[0].read_text()), json.loads(a.compare[1].read_text()))
    jobs = [(m, b) for m in a.models for b in a.boards]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two QEMUs at a time: one per core
        rows = list(pool.map(lambda mb: measure(*mb, a.tree.resolve()), jobs))
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
