"""The one error type users see.

Every failure a user can cause (a missing file, a wrong shape, an unsupported op, a model that does not
fit) is raised as :class:`EdgeqError` with three parts: *what* went wrong, naming the thing; the *limit*
or expectation it broke (inside ``what`` or ``detail``); and *hint*, the way out. The CLI prints it as
one short block and exits non-zero, never with a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class EdgeqError(Exception):
    """A user-facing error: ``what`` (one line), optional ``detail`` lines, optional ``hint``."""

    exit_code = 2

    def __init__(self, what: str, *, hint: str | None = None, detail: list[str] | tuple[str, ...] = ()):
        super().__init__(what)
        self.what = what
        self.hint = hint
        self.detail = tuple(detail)

    def format(self) -> str:
        lines = [f"error: {self.what}"]
        lines += [f"  {d}" for d in self.detail]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.format()


class UnsupportedOp(NamedTuple):
    """One op the C backend cannot lower: its index, kind, the reason (ending with its output tensor), the
    Keras layer it came from (None when its tensor name does not say) and that output tensor's name."""

    op: int
    kind: str
    why: str
    layer: str | None = None
    location: str = ""

    def describe(self) -> str:
        """One line: ``layer 'maximum': op #7 MAXIMUM: no C kernel for this op (output '...')``."""
        return f"{f'layer {self.layer!r}: ' if self.layer else ''}op #{self.op} {self.kind}: {self.why}"


class UnsupportedOpsError(EdgeqError):
    """Raised with *all* unsupported ops of a model at once, each with its Keras layer."""

    def __init__(self, ops: Sequence[UnsupportedOp], model: str = "model"):
        layers = list(dict.fromkeys(o.layer for o in ops if o.layer))
        in_layers = f" in {len(layers)} Keras layer(s): {', '.join(layers)}" if layers else ""
        super().__init__(
            f"{model} uses {len(ops)} op(s) the C backend does not support{in_layers}",
            detail=[o.describe() for o in ops],
            hint="replace these layers in the Keras model, or open an issue naming the op; "
            "`edgeq ops` lists what is supported",
        )
        self.ops = list(ops)


class ToolMissingError(EdgeqError):
    pass
