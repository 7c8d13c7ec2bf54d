"""Build, flash and benchmark: the board half of the pipeline, and `convert-and-flash` as a whole.

Every step is a function of plain inputs; the CLI only parses arguments and prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.targets.boards import Board, flash_command, load_board
from edgeq.codegen.emit import MANIFEST
from edgeq.errors import EdgeqError, ToolMissingError

BUILD_INFO = "build.json"


# --- build ----------------------------------------------------------------------------------------

def read_manifest(lib_dir: str | Path) -> dict:
    p = Path(lib_dir) / MANIFEST
    if not p.is_file():
        raise EdgeqError(f"{lib_dir} is not a library made by `edgeq generate` (no {MANIFEST})",
                         hint="generate it first: edgeq generate MODEL.tflite -o DIR")
    try:
        return json.loads(p.read_text())
    except ValueError:
        raise EdgeqError(f"{p} is not valid JSON", hint="re-run edgeq generate") from None


@dataclass
class BenchBuild:
    board: Board
    lib_dir: Path
    out_dir: Path
    elf: Path
    manifest: dict
    memory: dict

    @property
    def model_sha256(self) -> bytes:
        return bytes.fromhex(self.manifest["model_sha256"])


def memory_breakdown(image, lib_dir: Path, arena_bytes: int) -> dict:
    """Flash and RAM of a bench image, split into weights, inference code and the bench harness."""
    lib = str(Path(lib_dir).resolve())

    def classify(src: str) -> str:
        if src.startswith(lib):
            return "weights" if src.endswith("_data.c") else "library"
        return "harness"

    g = image.group_sizes(classify)
    lib_sz, w_sz, h_sz = (g.get(k) for k in ("library", "weights", "harness"))
    return {
        "flash_bytes": image.flash_bytes,
        "weights_bytes": w_sz.flash if w_sz else 0,  # weights, biases, multipliers, per-op params
        "code_bytes": lib_sz.text if lib_sz else 0,  # kernels + generated model function, machine code only
        "library_const_bytes": (lib_sz.rodata + lib_sz.data) if lib_sz else 0,
        "harness_bytes": h_sz.flash if h_sz else 0,  # bench app, protocol, startup, UART, libc, libgcc
        "ram_bytes": image.ram_bytes,
        "arena_bytes": arena_bytes,
        "stack_bytes": image.stack,  # reserved; the measured high-water mark replaces it after a run
        "flash_limit": image.flash_limit,
        "ram_limit": image.ram_limit,
    }


def build_bench(lib_dir: str | Path, board: Board, out_dir: str | Path | None = None) -> BenchBuild:
    """Compile the bench firmware around a generated library for ``board``."""
    from edgeq.targets.firmware import BENCH_DIR, BENCH_HOOKS_HEADER, BENCH_SOURCES, write_bench_config
    from edgeq.targets.toolchain import build_firmware

    lib_dir = Path(lib_dir).resolve()
    man = read_manifest(lib_dir)
    if man.get("cpu") == "dsp" and not board.cpu.dsp:
        raise EdgeqError(f"{lib_dir} was generated for cores with the DSP extension (--cpu dsp); "
                         f"{board.name} ({board.cpu.core}) has none",
                         hint=f"regenerate it for this board: edgeq generate MODEL.tflite -o {lib_dir} --cpu portable")
    if man.get("prefix") != "model":
        raise EdgeqError(f"{lib_dir} was generated with --prefix {man.get('prefix')}; the bench firmware needs 'model'",
                         hint=f"regenerate: edgeq generate MODEL.tflite -o {lib_dir}")
    from edgeq.targets.fit import check_fit, estimate_library

    check_fit(estimate_library(lib_dir, board, man), what=f"the library {lib_dir}")  # before compiling anything
    out = Path(out_dir) if out_dir else lib_dir.parent / f"{lib_dir.name}-{board.name}"
    from edgeq.targets.toolchain import atomic_dir

    with atomic_dir(out) as tmp:  # a failed or interrupted build leaves a previous `out` untouched
        cfg = tmp / "cfg"
        cfg.mkdir(parents=True, exist_ok=True)
        write_bench_config(cfg, board.name, bytes.fromhex(man["model_sha256"]), board.clock.hz,
                           board.counter_kind_code)
        sources = [BENCH_DIR / s for s in BENCH_SOURCES] + [lib_dir / s for s in man["sources"]]
        img = build_firmware(board, sources, [BENCH_DIR, lib_dir, cfg], tmp,
                             force_includes={lib_dir / "model.c": BENCH_HOOKS_HEADER}, name="bench")
        mem = memory_breakdown(img, lib_dir, man["arena_bytes"])
        elf = out / img.elf.name
        (tmp / BUILD_INFO).write_text(json.dumps({"board": board.name, "elf": str(elf), "lib_dir": str(lib_dir),
                                                  "model_sha256": man["model_sha256"], "memory": mem}, indent=2))
    return BenchBuild(board, lib_dir, out, elf, man, mem)


# --- flash ----------------------------------------------------------------------------------------

def flash_real(board: Board, elf: Path) -> None:
    cmd = flash_command(board, elf)
    if not shutil.which(cmd[0]):
        others = [t for t in ("pyocd", "openocd", "st-flash") if t != cmd[0] and shutil.which(t)]
        raise ToolMissingError(
            f"flashing {board.name} uses `{cmd[0]}` (flash.method in its board file), which is not installed",
            detail=[f"installed flash tools: {', '.join(others) or 'none'}"],
            hint={"pyocd": "pip install pyocd", "openocd": "apt-get install openocd",
                  "st-flash": "apt-get install stlink-tools"}.get(cmd[0], "install it")
            + "; or change [flash] method in the board file to a tool you have")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise EdgeqError(f"`{' '.join(cmd)}` failed (exit {r.returncode})",
                         detail=(r.stdout + r.stderr).strip().splitlines()[-10:],
                         hint="is the board connected and powered? is another program using the probe?")


@contextlib.contextmanager
def flashed(board: Board, elf: Path, port: str | None = None):
    """Run ``elf`` on ``board`` for the duration of the block; yields the serial port to talk to.

    Emulated boards: an owned QEMU process whose UART is a pty (always ended on exit). Real boards:
    the flash tool, then the given port.
    """
    if board.emulated:
        from edgeq.targets.qemu import QemuSession

        with QemuSession(board.qemu_args(elf), board=board.name) as s:
            try:
                yield s.port
            except EdgeqError as e:
                raise s.explain(e) from None  # "the port hung up" -> "QEMU was killed by signal 9"
    else:
        if not port:
            raise EdgeqError(f"{board.name} is a real board: which serial port is it on?",
                             hint="pass --port, e.g. --port /dev/ttyACM0")
        flash_real(board, elf)
        yield port


# --- bench ----------------------------------------------------------------------------------------

@dataclass
class DeviceRun:
    info: object
    outputs: list[list[bytes]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # raw counter values of the latency runs
    profile: list[int] = field(default_factory=list)
    stack_used: int | None = None
    first_bad_op: dict | None = None


def run_device(dev, *, sha256: bytes | None, inputs: list[list[np.ndarray]], runs: int, progress=None,
               profile: bool = True, flash_hint: str | None = None) -> DeviceRun:
    info = dev.check_model(sha256, flash_hint=flash_hint) if sha256 is not None else dev.hello()
    run = DeviceRun(info)
    step = progress("inference on the device", len(inputs)) if progress else (lambda: None)
    for x in inputs:
        outs, _ = dev.infer([np.ascontiguousarray(a).tobytes() for a in x])
        run.outputs.append(outs)
        step()
    bench_in = [np.ascontiguousarray(a).tobytes() for a in inputs[0]] if inputs else None
    if bench_in is None:
        rng = np.random.default_rng(0)
        bench_in = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in info.input_bytes]
    step = progress("latency runs", runs) if progress else (lambda: None)
    for _ in range(runs):
        _, c = dev.infer(bench_in)
        run.counts.append(c)
        step()
    if profile:
        run.profile = dev.profile()
    run.stack_used, _ = dev.stack()
    return run


def latency(board: Board, counts: list[int], macs: int | None) -> dict:
    vals = [board.counter_to_unit(c) for c in counts]
    med = statistics.median(vals)
    return {
        "unit": board.counter_unit,
        "median": med, "min": min(vals), "max": max(vals), "runs": len(vals),
        "resolution": board.counter_resolution,
        "macs_per_unit": (macs / med) if macs and med else None,
        # at one instruction per cycle for emulated boards (QEMU counts instructions, not cycles)
        "ms_at_clock": med / board.clock.hz * 1000.0,
    }


def device_first_mismatch(dev, g, model: bytes, sample: list[np.ndarray]) -> dict | None:
    """Dump every op's output on the device and name the first that differs from LiteRT's tensor
    (float32 tensors: beyond the float tolerance of edgeq.quality.compare)."""
    from edgeq.quality.compare import tensors_match
    from edgeq.quality.references import LiteRT

    ref = LiteRT(model, preserve_all=True)
    ref.run(sample)
    for k, x in enumerate(sample):
        dev.set_input(k, np.ascontiguousarray(x).tobytes())
    for op in g.ops:
        if op.lowered is None:
            continue
        tid = op.lowered.args[-1]
        want = np.ascontiguousarray(ref.tensor(tid)).tobytes()
        got = dev.dump(op.id)
        if not tensors_match(got, want, g.tensor(tid).dtype):
            diff = sum(a != b for a, b in zip(got, want)) + abs(len(got) - len(want))
            return {"op": op.id, "kind": op.kind, "location": op.location, "tensor": g.tensor(tid).name,
                    "mismatched_bytes": diff, "bytes": len(want)}
    return None


# --- convert-and-flash ----------------------------------------------------------------------------

@dataclass
class FlowResult:
    report: dict
    ok: bool
    graph: object = None  # the lowered, planned IR graph that was generated (for the HTML report)


def convert_and_flash(model_path: str | Path, *, board_name: str | None = None, calib: str | None = None,
                      random_range=(-1.0, 1.0), data: str | None = None, port: str | None = None,
                      runs: int = 10, samples: int = 10, out_dir: str | Path | None = None,
                      progress=None, say=lambda msg: None, scheme: str = "int8",
                      calibration: str = "minmax") -> FlowResult:
    from edgeq.api import lower_tflite, model_manifest, quantize_model, write_atomic
    from edgeq.codegen import generate
    from edgeq.passes.analysis import op_macs
    from edgeq.targets.protocol import open_device
    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.quality.compare import ByteCompare
    from edgeq.frontend.data import load_dataset, tflite_inputs
    from edgeq.quality.validate import validate

    model_path = Path(model_path)
    board = load_board(board_name)
    name = model_path.stem.replace(".", "_")
    out = Path(out_dir) if out_dir else Path("build") / f"{name}-{board.name}"

    # 1. load and quantize (an int8 .tflite passes through)
    say(f"[1/6] loading and quantizing {model_path}")
    is_tflite = model_path.suffix == ".tflite"
    if calib is None and not is_tflite and scheme != "float32":
        raise EdgeqError(f"{model_path} needs quantizing: give calibration data",
                         hint="--calib DATA (.npy/.npz/.bin), or --calib random for a quick, unrepresentative try")
    q = quantize_model(model_path, calib or "random", random_range=random_range, progress=progress, scheme=scheme,
                       calibration=calibration)
    tflite = q.tflite
    cpu = "dsp" if board.cpu.dsp else "portable"  # emit only the kernel variants this core runs
    g = lower_tflite(tflite, "litert", name, cpu)  # unsupported ops: all named here, before anything is written
    from edgeq.targets.fit import check_fit, estimate_graph

    check_fit(estimate_graph(g, board), what=str(model_path))  # flash/RAM needs vs the board, before any build
    out.mkdir(parents=True, exist_ok=True)  # only once the model has loaded, quantized, lowered and fits
    scheme = q.scheme  # what the model is (a .tflite passed through keeps its own: int8, int8+float32, ...)
    model_file = out / f"{name}_{scheme.replace('+', '_')}.tflite"
    write_atomic(model_file, tflite)
    keras_model = None
    if not is_tflite and data:
        from edgeq.frontend.load import load_model

        keras_model = load_model(model_path).keras_model

    # 2. validate in LiteRT (accuracy when labelled data is given)
    say("[2/6] validating in LiteRT (reference kernels)")
    g0 = read_tflite(tflite, name=name)
    ds = load_dataset(data, tflite_inputs(tflite)) if data else None
    host_rep = validate(tflite, name=name, keras_model=keras_model, data=ds, samples=samples, progress=progress)
    inputs, expected = host_rep.inputs, host_rep.reference_outputs

    # 3. generate C, 4. build firmware
    say("[3/6] generating C")
    lib = generate(g, out / "model", prefix="model", manifest=model_manifest(tflite, g, "litert"))
    say(f"[4/6] building firmware for {board.name}")
    build = build_bench(lib.dir, board, out / "firmware")

    # 5. flash and 6. run on the device
    say(f"[5/6] flashing {board.name}" + (" (QEMU)" if board.emulated else ""))
    cmp = ByteCompare("litert-ref")
    with flashed(board, build.elf, port) as p:
        say(f"[6/6] validating and benchmarking on {board.name} via {p}")
        with open_device(p, timeout=5.0, invoke_timeout=300.0) as dev:
            run = run_device(dev, sha256=build.model_sha256, inputs=inputs, runs=runs, progress=progress,
                             flash_hint=f"edgeq flash {out / 'model'} --board {board.name}")
            for k, (got, want) in enumerate(zip(run.outputs, expected)):
                cmp.add(k, [np.frombuffer(b, w.dtype) for b, w in zip(got, want)], want)
            if not cmp.ok:  # integer outputs bit-exact, float32 outputs within tolerance
                run.first_bad_op = device_first_mismatch(dev, g, tflite, inputs[cmp.first_bad_sample])

    mem = dict(build.memory, stack_bytes=run.stack_used)
    report = {
        "model": {"path": str(model_path), "sha256": hashlib.sha256(tflite).hexdigest(), "ops": q.ops,
                  "macs": q.macs, "int8_tflite": str(model_file), "scheme": scheme,
                  "calibration": q.calibration, "calibration_warning": q.calibration_warning},
        "board": {"name": board.name, "cpu": board.cpu.core, "clock_hz": board.clock.hz,
                  "emulated": board.emulated},
        "memory": mem,
        "latency": latency(board, run.counts, q.macs),
        "profile": [{"op": op.id, "kind": op.kind, "location": op.location,
                     board.counter_unit: board.counter_to_unit(c), "macs": op_macs(g, op)}
                    for op, c in zip(g.ops, run.profile) if op.lowered is not None],
        "validation": {"reference": "litert-ref (BUILTIN_REF)", "samples": cmp.samples,
                       "mismatched_bytes": cmp.mismatched_bytes, "bit_exact": cmp.bit_exact,
                       "first_bad_op": run.first_bad_op, "ok": cmp.ok,
                       **({"float32": cmp.to_json()["float32"]} if cmp.float_outputs else {})},
    }
    if host_rep.accuracy and ds is not None and ds.labels is not None:
        from edgeq.quality.metrics import accuracy

        y = ds.labels[: len(inputs)]
        out_t = g0.tensor(g0.outputs[0])
        dev_out = np.stack([np.frombuffer(o[0], out_t.dtype) for o in run.outputs])
        report["accuracy"] = {"samples": len(y), "float": host_rep.accuracy.get("float"),
                              "int8_host": host_rep.accuracy.get("int8"),
                              "int8_device": accuracy(dev_out, y)}
    return FlowResult(report, cmp.ok, g)

