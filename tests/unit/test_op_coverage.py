"""`edgeq ops`: edgeq's op kinds beside the builtins TFLite Micro registers (issue 14).

The TFLM column is asked of the installed tflite-micro package (edgeq.quality.op_coverage probes its
interpreter's op lookup). It is checked here against a second, independent reading of the same package:
the ``tflite::Register_<BUILTIN>()`` functions its shared library exports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgeq.passes.lower import supported_signatures
from edgeq.quality.op_coverage import op_coverage, tflm_builtins

pytest.importorskip("tflite_micro")


@pytest.fixture(scope="module")
def tflm():
    return tflm_builtins()


def _exported_registrations() -> set[str]:
    """``Register_<NAME>`` in the mangled names the tflite-micro runtime library exports (``...Register_ADDEv``)."""
    from tflite_micro.python.tflite_micro import runtime

    (so,) = Path(runtime.__file__).parent.glob("_runtime*.so")
    return {m.decode() for m in re.findall(rb"Register_([A-Z0-9_]+)Ev", so.read_bytes())}


def test_tflm_column_is_what_the_package_registers(tflm):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    builtins = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    assert set(tflm) <= builtins and len(tflm) >= 50
    assert set(tflm) == _exported_registrations() & builtins
    # ops edgeq's TFLM reference runs in the test suite, and builtins TFLM has no kernel for
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "UNIDIRECTIONAL_SEQUENCE_LSTM"} <= set(tflm)
    assert not {"LSH_PROJECTION", "SKIP_GRAM", "HASHTABLE_LOOKUP"} & set(tflm)


def test_totals_add_up(tflm):
    sigs = supported_signatures()
    cov = op_coverage(sigs, tflm)
    n = cov.totals
    assert n["edgeq"] == len(sigs) and n["tflm"] == len(tflm)
    assert n["both"] + n["only_edgeq"] == n["edgeq"] and n["both"] + n["only_tflm"] == n["tflm"]
    assert len(cov.rows) == n["both"] + n["only_edgeq"] + n["only_tflm"]
    row = {r.kind: r for r in cov.rows}
    assert "int8" in row["CONV_2D"].edgeq and row["CONV_2D"].tflm
    assert op_coverage(sigs, None).totals == {"edgeq": len(sigs)}


def test_ops_command_table_and_json(capsys, tmp_path, tflm):
    from edgeq.cli.main import main

    assert main(["ops", "--json", str(tmp_path / "ops.json")]) == 0
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "ops.json").read_text())
    assert doc["kind"] == "ops" and doc["tflm_known"] is True
    n = doc["totals"]
    assert (f"edgeq {n['edgeq']} op kinds, TFLM {n['tflm']} builtins: {n['both']} in both, {n['only_edgeq']} only "
            f"in edgeq, {n['only_tflm']} only in TFLM") in out
    rows = {r["kind"]: r for r in doc["ops"]}
    assert rows["RESHAPE"]["edgeq"] == ["any"] and rows["RESHAPE"]["tflm"] is True
    only_tflm = [k for k, r in rows.items() if r["tflm"] and not r["edgeq"]]
    assert len(only_tflm) == n["only_tflm"]
    for k in ("CONV_2D", "FULLY_CONNECTED", "RESHAPE", only_tflm[0]):
        assert k in out
