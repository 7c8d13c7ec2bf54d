"""`edgeq validate`, `edgeq generate` and `edgeq ops`: commands on a quantized model."""

from __future__ import annotations

from pathlib import Path

from edgeq.errors import EdgeqError
from edgeq.flows.generate import generate_c, lower_tflite, read_deployable
from edgeq.frontend.data import load_dataset, tflite_inputs
from edgeq.frontend.state import pair_state, parse_state_specs, user_inputs
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import ALIAS_OPS
from edgeq.passes.lower import supported_signatures
from edgeq.quality.op_coverage import op_coverage, tflm_builtins
from edgeq.quality.validate import validate
from edgeq.report import terminal as report
from edgeq.report.html import validate_report
from edgeq.report.json import document, write_json


def cmd_validate(a) -> int:
    model = read_deployable(a.model)
    if a.keras and Path(a.keras).suffix.lower() not in (".keras", ".h5"):
        raise EdgeqError(f"--keras {a.keras} is not a Keras model (.keras or .h5)")
    state = parse_state_specs(a.state)
    specs = tflite_inputs(model)
    data = load_dataset(a.data, [specs[k] for k in user_inputs(pair_state(read_tflite(model), state))]) if a.data \
        else None
    if not (a.c_host or data is not None):
        report.console.print("nothing to compare: pass --data (with --keras for accuracy) and/or --c-host")
    with report.progress_bars() as bars:
        rep = validate(model, name=Path(a.model).stem, keras_file=Path(a.keras) if a.keras else None, data=data, c_host=a.c_host,
                       samples=a.samples, progress=bars, state=state)
    report.validation_tables(rep)
    if a.json:
        write_json(a.json, document("validate", rep.to_json()))
    if a.html:
        graph = lower_tflite(model, "litert", rep.model, state=state)
        report.console.print(f"wrote {validate_report(rep, a.html, graph=graph)}")
    return 0 if rep.ok else 1


def cmd_generate(a) -> int:
    model = read_deployable(a.model)
    g = lower_tflite(model, a.rounding, name=Path(a.model).stem, cpu=a.cpu, state=parse_state_specs(a.state))
    lib = generate_c(model, a.output, a.rounding, prefix=a.prefix, graph=g)
    report.plan_table(g)
    ctx = lib.context
    report.console.print(f"wrote {lib.dir}/ ({len(lib.sources)} files): {ctx['prefix']}.h, {ctx['prefix']}.c, "
                         f"{ctx['prefix']}_data.c, kernels, Makefile, CMakeLists.txt; "
                         f"constant data {ctx['weights_bytes']:,} B")
    return 0


def cmd_ops(a) -> int:
    try:
        tflm, note = tflm_builtins(), None
    except EdgeqError as e:  # no tflite-micro: edgeq's own column still answers
        tflm, note = None, e.what
    cov = op_coverage(supported_signatures(), tflm)
    report.ops_table(cov, ALIAS_OPS, note)
    if a.json:
        write_json(a.json, document("ops", cov.to_json()))
    return 0
