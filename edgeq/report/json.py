"""JSON documents: every ``--json`` / ``--report`` file is versioned, and its keys say what they mean for
every scheme (no ``int8_...`` keys on an int16x8 or float32 model).

``schema_version`` 2 (edgeq 0.2): convert-and-flash's ``model.int8_tflite`` became ``model.tflite``,
``accuracy.{float,int8_host,int8_device}`` became ``accuracy.{float_model,host,device}``, profile rows
carry ``count`` (in ``latency.unit``) instead of a key named after the unit; quantize's ``int8_bytes``
is ``tflite_bytes``; validate's ``accuracy.int8`` is ``accuracy.quantized``. Version 1 files had no
``schema_version``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeq.files import write_atomic

if TYPE_CHECKING:  # types only: report renders results, it never runs a flow
    from edgeq.flows.convert_and_flash import FlowResult

SCHEMA_VERSION = 2


def document(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as a versioned document of ``kind`` (quantize, validate, analyze, convert-and-flash, ...)."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **body}


def write_json(path: str | Path, doc: dict[str, Any]) -> Path:
    """Write a document atomically (2-space indent, trailing newline; non-JSON values as strings)."""
    return write_atomic(path, (json.dumps(doc, indent=2, default=str) + "\n").encode())


def flow_document(r: FlowResult) -> dict[str, Any]:
    """The convert-and-flash report."""
    b = r.board
    body = {
        "model": dataclasses.asdict(r.model),
        "board": {"name": b.name, "cpu": b.cpu.core, "clock_hz": b.clock.hz, "emulated": b.emulated},
        "memory": dataclasses.asdict(r.memory),
        "latency": dataclasses.asdict(r.latency),
        "profile": [dataclasses.asdict(p) for p in r.profile],
        "validation": dataclasses.asdict(r.validation),
    }
    if r.accuracy is not None:
        body["accuracy"] = dataclasses.asdict(r.accuracy)
    return document("convert-and-flash", body)
