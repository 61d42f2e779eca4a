"""Where real data sets live: ``data.root``, else ``$MMML_DATA``, else ``~/.cache/mmml``."""

from __future__ import annotations

import os
from pathlib import Path


class MissingDataError(FileNotFoundError):
    """A real data set's files are not where ``data.root`` points."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root folder (not checked for existence)."""
    if root is None or str(root) == "":
        root = os.environ.get("MMML_DATA") or Path.home() / ".cache" / "mmml"
    return Path(root).expanduser()


def require_dir(path: Path, what: str, download_hint: bool = True) -> Path:
    """Return ``path`` if it is a folder, else raise naming it and the fix."""
    if not path.is_dir():
        hint = " or pass data.download=true to fetch it" if download_hint else ""
        raise MissingDataError(f"{what} folder {path} does not exist; set data.root (or MMML_DATA) to the folder "
                                f"that holds it{hint}")
    return path
