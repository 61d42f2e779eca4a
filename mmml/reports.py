"""The registry of each challenge's table extras for ``mmml-table`` and ``mmml-survey``.

A challenge's report module may define ``plots(records, out_dir) -> list[Path]``, ``notes(records) -> str``
and ``HEADLINE`` (one metric name, or a dict family -> metric name). The core never imports a challenge
package by a name built from a record: it looks the challenge up here, and an import error inside a
registered report surfaces instead of being taken for "no report". A new challenge adds itself with
:func:`register`.

Example:
    >>> report_module("fusion").__name__
    'mmml.fusion.report'
    >>> report_module("no_such_challenge") is None
    True
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: challenge (the ``challenge`` of a model config and of its records) -> module path of its report
REPORTS: dict[str, str] = {
    "representation": "mmml.representation.report",
    "translation": "mmml.translation.report",
    "alignment": "mmml.alignment.report",
    "fusion": "mmml.fusion.report",
    "colearning": "mmml.colearning.report",
    "clip": "mmml.representation.clip_report",  # the survey's state of the art (docs/clip.md)
}


def register(challenge: str, module: str) -> None:
    """Register ``module`` (a dotted path) as ``challenge``'s report."""
    REPORTS[challenge] = module


def report_module(challenge: str) -> ModuleType | None:
    """The report module of ``challenge``; ``None`` for a challenge without one. Import errors propagate."""
    path = REPORTS.get(challenge)
    return importlib.import_module(path) if path else None
