"""The issue-14 zoo (tests/models/zoo_layers.py) on the host and the emulated boards: the whole of it.

    .venv/bin/python tools/zoo_layers.py [--samples 5] [--host-samples 10] [--boards mps2-an386]
                                         [--seed 0] [--json F] [MODEL ...]

For each model: quantized by edgeq's frontend (cached), its op kinds and MACs, the ops the C backend does
not support yet (by Keras layer), generated C on the host vs LiteRT (and vs TFLM where TFLM registers
every op), then convert-and-flash on each board (QEMU: byte equality with LiteRT on ``--samples`` inputs,
instructions per inference under -icount, arena, the model's flash: weights + code + kernel tables, and the
bytes of those weights the build placed in the board's external memory (PSRAM) because the image did not fit
its flash, e.g. EfficientNetB0 on mps2-an386: ``tools/zoo_layers.py efficientnet_b0 --samples 3``).
Prints one markdown table. Exit status 0 when every model is bit-exact everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))


def _survey(name: str, a) -> dict:
    from zoo_layers import host_compare, zoo_layers_path

    from edgeq.api import lower_tflite
    from edgeq.errors import EdgeqError
    from edgeq.flows.convert_and_flash import convert_and_flash
    from edgeq.flows.quantize import summarize

    row = {"model": name, "boards": {}}
    try:
        path = zoo_layers_path(name, a.seed)
    except EdgeqError as e:  # the converter or the quantize flow refused it
        row["error"] = e.format()
        row["short"] = f"{e.what.split(' /')[0]}: {e.detail[0]}" if e.detail else e.what
        return row
    tfl = path.read_bytes()
    ops, row["macs"], bad = summarize(tfl, name)
    row["ops"] = ops
    row["unsupported"] = [u.describe() for u in bad]
    if bad:
        return row
    host = host_compare(name, n=a.host_samples, seed=a.seed)
    row["host"] = {ref: {"bit_exact": c.bit_exact, "samples": c.samples, "first_bad_op": c.first_bad_op}
                   for ref, c in host.items() if ref in ("litert", "tflm")}
    row["tflm_missing"] = host.get("tflm_missing", [])
    row["tflm_arena"] = host.get("tflm_arena")
    plan = lower_tflite(tfl, "litert", name, cpu="dsp").plan
    row["dsp_arena"], row["dsp_lower_bound"] = plan.size, plan.lower_bound
    for board in [b for b in a.boards.split(",") if b]:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                r = convert_and_flash(path, board_name=board, runs=1, samples=a.samples, out_dir=tmp).report
                m = r["memory"]
                row["boards"][board] = {
                    "bit_exact": r["validation"]["bit_exact"], "samples": r["validation"]["samples"],
                    "first_bad_op": r["validation"]["first_bad_op"], "instructions": r["latency"]["median"],
                    "arena": m["arena_bytes"], "stack": m["stack_bytes"], "weights": m["weights_bytes"],
                    "code_bytes": m["code_bytes"],
                    "model_flash": m["weights_bytes"] + m["code_bytes"] + m["library_const_bytes"],
                    "image_flash": m["flash_bytes"], "external": m["external_bytes"],
                    "external_kind": m["external_kind"]}
            except EdgeqError as e:  # e.g. does not fit the board: the first detail line says by how much
                row["boards"][board] = {"error": e.format(), "short": e.detail[0] if e.detail else e.what}
            except Exception as e:  # noqa: BLE001 - a survey: report the failure and go on
                row["boards"][board] = {"error": f"{type(e).__name__}: {e}", "short": f"{type(e).__name__}: {e}"}
    return row


def _ok(row: dict) -> bool:
    return ("host" in row and all(h["bit_exact"] for h in row["host"].values())
            and all(b.get("bit_exact") for b in row["boards"].values()))


def main(argv=None) -> int:
    from zoo_layers import ZOO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help=f"default: all of {', '.join(ZOO)}")
    ap.add_argument("--samples", type=int, default=5, help="inputs checked on each board")
    ap.add_argument("--host-samples", type=int, default=10, help="inputs checked on the host")
    ap.add_argument("--boards", default="mps2-an386", help="comma-separated; '' for the host only")
    ap.add_argument("--json", help="also write the rows as JSON")
    ap.add_argument("--seed", type=int, default=0, help="weights and data seed (0: the models of the tests)")
    a = ap.parse_args(argv)
    unknown = [m for m in a.models if m not in ZOO]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; the zoo has {', '.join(ZOO)}")

    rows = []
    for name in a.models or list(ZOO):
        row = _survey(name, a)
        rows.append(row)
        print(json.dumps(row), flush=True)

    boards = [b for b in a.boards.split(",") if b]
    print()
    print("| model | MACs | op kinds | host vs LiteRT / TFLM | M4 arena (lower bound) / TFLM arena | " + " | ".join(
        f"{b}: bit-exact, instructions, arena, flash (of it in external memory)" for b in boards) + " |")
    print("|---|---:|---|---|---|" + "---|" * len(boards))
    for r in rows:
        if "error" in r or r.get("unsupported"):
            if "error" in r:
                why = r["short"]
            else:
                why = f"{len(r['unsupported'])} op(s) unsupported: " + "; ".join(r["unsupported"][:3])
            print(f"| {r['model']} | {r.get('macs', 0):,} | {', '.join(r.get('ops', {}))} | {why} | - |"
                  + " - |" * len(boards))
            continue
        h = r["host"]
        tflm = (("yes" if h["tflm"]["bit_exact"] else "NO") if "tflm" in h
                else f"no {', '.join(r['tflm_missing'])} in TFLM")
        host = ("yes" if h["litert"]["bit_exact"] else "NO") + " / " + tflm
        cells = []
        for b in boards:
            d = r["boards"].get(b, {})
            if "error" in d:
                cells.append(f"error: {d['short'][:160]}")
            else:
                ext = f" ({d['external']:,} B in {d['external_kind']})" if d["external"] else ""
                cells.append(f"{'yes' if d['bit_exact'] else 'NO'}, {d['instructions']:,.0f}, {d['arena']:,} B, "
                             f"{d['model_flash']:,} B{ext}")
        tflm_arena = f"{r['tflm_arena']:,}" if r["tflm_arena"] else "-"
        arena = f"{r['dsp_arena']:,} ({r['dsp_lower_bound']:,}) / {tflm_arena}"
        print(f"| {r['model']} | {r['macs']:,} | {', '.join(r['ops'])} | {host} | {arena} | "
              + " | ".join(cells) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(_ok(r) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
