"""What the isolation worker (edgeq.isolation) costs: start-up, one round trip, and a LiteRT / generated-C run
of an MLPerf model in the worker against the same run in this process.

    python -m tests.tools.isolation_cost            # prints the table in docs/reliability.md
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # paths

from paths import MLPERF  # noqa: E402


def _per_call_ms(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def measure(model: Path = MLPERF / "kws_dscnn_int8.tflite", runs: int = 200) -> list[tuple[str, float, float]]:
    """(what, ms in the worker, ms in-process) rows."""
    from edgeq import isolation
    from edgeq.flows.generate import generate_c
    from edgeq.quality.references import LiteRT
    from edgeq.targets.host import HostModel

    data = model.read_bytes()
    rows = []
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lib = generate_c(data, Path(tmp) / "lib")
        for mode in ("process", "inprocess"):
            os.environ["EDGEQ_ISOLATION"] = mode
            isolation.shutdown()
            r: dict[str, float] = {}
            start = time.perf_counter()
            isolation.call("operator:add", 1, 2, stage="measuring", tool="python")
            r["start"] = (time.perf_counter() - start) * 1e3
            r["round trip"] = _per_call_ms(lambda: isolation.call("operator:add", 1, 2, stage="m", tool="t"), 2000)
            start = time.perf_counter()
            ref = LiteRT(data)
            r["LiteRT open"] = (time.perf_counter() - start) * 1e3
            x = np.random.default_rng(0).integers(-128, 128, ref.inputs[0]["shape"]).astype(np.int8)
            r["LiteRT run"] = _per_call_ms(lambda: ref.run(x), runs)
            host = HostModel(lib)
            r["host C run"] = _per_call_ms(lambda: host.run(x), runs)
            results[mode] = r
            isolation.shutdown()
    for what in results["process"]:
        rows.append((what, results["process"][what], results["inprocess"][what]))
    return rows


def main() -> int:
    rows = measure()
    print(f"{'':<14} {'worker ms':>10} {'in-process ms':>14}")
    for what, worker, local in rows:
        print(f"{what:<14} {worker:>10.3f} {local:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
