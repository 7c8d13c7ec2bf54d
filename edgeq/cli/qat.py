"""`edgeq qat`: quantization-aware training of a float Keras model (see edgeq.flows.qat)."""

from __future__ import annotations

from pathlib import Path

from edgeq.errors import EdgeqError
from edgeq.files import write_atomic
from edgeq.flows.qat import Epoch, qat_model
from edgeq.frontend.calibrate import parse_method
from edgeq.report import terminal as report
from edgeq.report.format import pct
from edgeq.report.json import document, write_json


def cmd_qat(a) -> int:
    if Path(a.output).suffix != ".keras":
        raise EdgeqError(f"-o {a.output}: the QAT model is saved as a Keras 3 file and needs the .keras extension")
    if a.calibration is not None:
        parse_method(a.calibration)  # a misspelt method is refused before anything is loaded

    def epoch_line(e: Epoch) -> None:
        val = f"  val accuracy {pct(e.val_accuracy)}" if e.val_accuracy is not None else ""
        report.console.print(f"epoch {e.epoch}/{e.epochs}  loss {e.loss:.4f}  accuracy {pct(e.accuracy)}{val}  "
                             f"lr {e.lr:.2e}  {e.seconds:.1f} s  left {e.left:.0f} s")

    r = qat_model(a.model, a.data, val=a.val, epochs=a.epochs, lr=a.lr, scheme=a.scheme,
                  per_channel=a.granularity != "per-tensor", calibration=a.calibration, batch_size=a.batch_size,
                  clusters=a.clusters, clusters_per_channel=a.clusters_per_channel, progress=epoch_line)
    write_atomic(a.output, r.keras)
    report.console.print(f"accuracy on {r.evaluated_on}:")
    report.console.print(f"  float                          {pct(r.float_accuracy)}")
    for method, acc in r.calibrations.items():
        start = "  <- start" if method == r.calibration else ""
        report.console.print(f"  fake-quantized, {method:<15} {pct(acc)}{start}")
    what = (f"after QAT ({len(r.epochs)} epochs)" if not r.clusters
            else f"fine-tuned c{r.clusters} ({len(r.epochs)} ep.)")
    report.console.print(f"  {what:<30} {pct(r.qat_accuracy)}")
    for note in r.notes:
        report.console.print(f"note: {note}")
    flag = (" --granularity per-tensor" if not r.per_channel else "") + \
        (f" --scheme {r.scheme}" if r.scheme != "int8" else "") + \
        (f" --clusters {r.clusters}" if r.clusters else "") + \
        (" --clusters-per-channel" if r.clusters_per_channel else "")
    report.console.print(f"wrote {a.output} ({r.points} fake-quant points); "
                         f"{r.scheme} model: edgeq quantize {a.output}{flag} -o MODEL.tflite")
    if a.json:
        write_json(a.json, document("qat", r.to_json()))
    return 0
