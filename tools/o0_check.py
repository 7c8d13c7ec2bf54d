"""The kernels' C bodies for unoptimized builds, on the device: the bench firmware built at -O0 (where the DSP
assembly gives way to C: r7 holds the frame pointer) and checked byte for byte against LiteRT.

    .venv/bin/python tools/o0_check.py [--board mps2-an386] [--samples 2] [MODEL ...]

MODEL: names under ../shared/models/mlperf-tiny (default kws_dscnn_int8 resnet8_int8 ad01_int8).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["kws_dscnn_int8", "resnet8_int8", "ad01_int8"])
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--samples", type=int, default=2)
    a = ap.parse_args(argv)

    import edgeq.targets.toolchain as toolchain
    from edgeq.flows.convert_and_flash import convert_and_flash

    toolchain.CFLAGS[:] = ["-O0" if f == "-O2" else f for f in toolchain.CFLAGS]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for m in a.models:
            r = convert_and_flash(ROOT.parent / "shared" / "models" / "mlperf-tiny" / f"{m}.tflite", board_name=a.board,
                                  runs=1, samples=a.samples, out_dir=Path(tmp) / m).report
            exact = r["validation"]["bit_exact"]
            ok &= bool(exact)
            print(f"{m} on {a.board} at -O0: bit-exact {exact}, {r['latency']['median']:,.0f} instructions, "
                  f"code {r['memory']['code_bytes']:,} B")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
