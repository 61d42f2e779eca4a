"""Figures for papers: PNG at 300 dpi, and the same figure as PDF and SVG beside it.

:func:`save_figure` writes one figure in the three formats; :func:`paper_figures` is a context in which every
PNG that code saves with ``Figure.savefig`` (the challenges' report plots, which save PNGs of their own) is
written at :data:`DPI` and also as PDF and SVG, to the same path with the other suffix.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmml.io import atomic_write

#: formats every figure is saved in (PNG at :data:`DPI`)
FIGURE_FORMATS = ("png", "pdf", "svg")
DPI = 300


def save_figure(fig: Any, path: str | Path) -> list[Path]:
    """Save ``fig`` as ``path`` (PNG, :data:`DPI` dpi) and beside it as PDF and SVG, atomically."""
    path = Path(path)
    out = []
    for ext in FIGURE_FORMATS:
        target = path.with_suffix(f".{ext}")
        out.append(atomic_write(target, lambda f, ext=ext: _savefig(fig, f, format=ext, dpi=DPI), mode="wb"))
    return out


_ORIGINAL_SAVEFIG: list = []


def _savefig(fig: Any, *args: Any, **kwargs: Any) -> Any:
    from matplotlib.figure import Figure

    original = _ORIGINAL_SAVEFIG[0] if _ORIGINAL_SAVEFIG else Figure.savefig
    return original(fig, *args, **kwargs)


def _file_path(fileobj: Any) -> str | None:
    """The path of an open file (its ``name``, or on Linux the target of ``/proc/self/fd/<fd>``), if known."""
    name = getattr(fileobj, "name", None)
    if isinstance(name, str):
        return name
    try:
        return os.readlink(f"/proc/self/fd/{fileobj.fileno()}")
    except (OSError, AttributeError, ValueError):
        return None


@contextmanager
def paper_figures():
    """While active, every PNG a report saves with ``Figure.savefig`` is written at :data:`DPI` dpi and also as
    PDF and SVG beside it (the challenges' ``plots`` save PNGs of their own)."""
    from matplotlib.figure import Figure

    original = Figure.savefig

    def savefig(fig, fname, *args, **kwargs):
        fmt_ = kwargs.get("format") or (Path(str(fname)).suffix.lstrip(".") if isinstance(fname, (str, Path))
                                         else "png")
        if fmt_ != "png":
            return original(fig, fname, *args, **kwargs)
        kwargs["dpi"] = DPI
        result = original(fig, fname, *args, **kwargs)
        name = fname if isinstance(fname, (str, Path)) else _file_path(fname)
        if isinstance(name, (str, Path)):
            target = Path(name)
            m = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", target.name)  # mmml.io.atomic_write's temporary file
            target = target.with_name(m[1]) if m else target
            for ext in FIGURE_FORMATS[1:]:
                kw = {k: v for k, v in kwargs.items() if k != "format"}
                atomic_write(target.with_suffix(f".{ext}"),
                             lambda f, ext=ext, kw=kw: original(fig, f, *args, format=ext, **kw), mode="wb")
        return result

    _ORIGINAL_SAVEFIG.insert(0, original)
    Figure.savefig = savefig
    try:
        yield
    finally:
        Figure.savefig = original
        _ORIGINAL_SAVEFIG.pop(0)
