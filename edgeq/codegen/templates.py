"""The one Jinja environment for every template (generated libraries, firmware configuration, linker
scripts): ``StrictUndefined``, so a missing name is an error. Templates hold names and loops only."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@functools.lru_cache(maxsize=1)
def template_env() -> jinja2.Environment:
    """The one Jinja environment for every template (StrictUndefined: a missing name is an error)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
