"""Models nobody tuned for: the zoo of tests/models/zoo.py on the host and the emulated boards.

    .venv/bin/python tools/generality.py [--samples 10] [--boards mps2-an386,mps2-an385] [--seed 0]
                                         [--json F] [MODEL ...]

For each model: generated C on the host vs LiteRT and TFLM (``validate(c_host=True)``), then
convert-and-flash on each board (QEMU; byte equality with LiteRT on ``--samples`` inputs, instructions
per inference under -icount, arena and code bytes). Prints the docs/benchmarks.md table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--host-samples", type=int, default=20)
    ap.add_argument("--boards", default="mps2-an386,mps2-an385")
    ap.add_argument("--json")
    ap.add_argument("--seed", type=int, default=0, help="weights seed (0: the models of the docs table)")
    a = ap.parse_args(argv)

    from zoo import ZOO, zoo_path, zoo_tflite

    from edgeq.api import lower_tflite
    from edgeq.flows.convert_and_flash import convert_and_flash
    from edgeq.passes.analysis import macs
    from edgeq.quality.validate import validate

    rows = []
    for name in a.models or list(ZOO):
        tfl = zoo_tflite(name, a.seed)
        rep = validate(tfl, name=name, c_host=True, samples=a.host_samples)
        host_ok = all(c.bit_exact for c in rep.c_host.values())
        g = lower_tflite(tfl, "litert", name, cpu="dsp")
        row = {"model": name, "macs": macs(g), "host_bit_exact": host_ok,
               "host_first_bad_op": next((c.first_bad_op for c in rep.c_host.values() if not c.bit_exact), None),
               "tflm_arena": rep.arena["tflm"]["total"], "dsp_arena": g.plan.size,
               "dsp_lower_bound": g.plan.lower_bound, "boards": {}}
        for board in [b for b in a.boards.split(",") if b]:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    r = convert_and_flash(zoo_path(name, a.seed), board_name=board, runs=1, samples=a.samples,
                                          out_dir=tmp).report
                    row["boards"][board] = {
                        "bit_exact": r["validation"]["bit_exact"], "samples": r["validation"]["samples"],
                        "first_bad_op": r["validation"]["first_bad_op"],
                        "instructions": r["latency"]["median"], "arena": r["memory"]["arena_bytes"],
                        "code_bytes": r["memory"]["code_bytes"], "stack": r["memory"]["stack_bytes"]}
                except Exception as e:  # noqa: BLE001 - a survey: report the failure and go on
                    row["boards"][board] = {"error": f"{type(e).__name__}: {e}"}
        rows.append(row)
        print(json.dumps(row), flush=True)

    print()
    print("| model | MACs | M4 instructions | MACs/instr | M4 arena (lower bound) | TFLM arena | M4 code bytes "
          "| bit-exact host / M4 / M3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        m4, m3 = r["boards"].get("mps2-an386", {}), r["boards"].get("mps2-an385", {})
        ins = m4.get("instructions")

        def ok(d):
            return "-" if not d else ("error" if "error" in d else ("yes" if d["bit_exact"] else "NO"))

        arena = m4.get("arena", r["dsp_arena"])
        print(f"| {r['model']} | {r['macs']:,} | {f'{ins:,}' if ins else '-'} | "
              f"{(r['macs'] / ins) if ins else 0:.2f} | {arena:,} ({r['dsp_lower_bound']:,}) | "
              f"{r['tflm_arena']:,} | {m4.get('code_bytes', 0):,} | "
              f"{'yes' if r['host_bit_exact'] else 'NO'} / {ok(m4)} / {ok(m3)} |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(r["host_bit_exact"] and all(b.get("bit_exact") for b in r["boards"].values())
                    for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
