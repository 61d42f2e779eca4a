"""Safe file writing and loading: atomic writes (temporary file, then rename) and pickle-free loads."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write ``path`` through ``write(fileobj)`` into a temporary file beside it, then rename.

    A crash mid-write leaves the old file (or none), never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=str))


def save_tensors(path: str | os.PathLike, tensors: dict[str, Any]) -> Path:
    """Save a dict of tensors (and plain values) atomically with ``torch.save``."""
    return atomic_write(path, lambda f: torch.save(tensors, f), mode="wb")


def load_tensors(path: str | os.PathLike) -> dict[str, Any]:
    """Load what :func:`save_tensors` wrote, with ``weights_only=True`` (never unpickles objects)."""
    return torch.load(path, map_location="cpu", weights_only=True)
