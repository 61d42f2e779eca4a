"""A disk cache for extracted features, keyed by the preprocessing parameters.

A sweep of hundreds of runs builds each data set's features once. Entries are written atomically
and loaded with ``torch.load(weights_only=True)``; a corrupt entry is rebuilt with a warning, never
trusted. Processes that miss the same entry at once (the survey's parallel sweeps) build it once: the
first holds an exclusive lock on ``<key>.pt.lock`` (``fcntl.flock``, POSIX) while it builds, the others
wait and then load what it wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmml.io import load_tensors, save_tensors

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$MMML_CACHE``, else ``~/.cache/mmml/features``."""
    return Path(os.environ.get("MMML_CACHE", Path.home() / ".cache" / "mmml" / "features")).expanduser()


def cache_key(name: str, params: dict[str, Any]) -> str:
    """Stable key from a data set name and its preprocessing parameters."""
    blob = json.dumps({"name": name, **params}, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def source_fingerprint(*modules: str) -> str:
    """Hash of the source files of ``modules``: a key part that changes when the code that makes the data does."""
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        h.update(Path(importlib.util.find_spec(name).origin).read_bytes())
    return h.hexdigest()[:12]


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` + ``.lock`` (blocking); a no-op where ``fcntl`` or the folder is missing."""
    try:
        import fcntl
    except ImportError:  # not POSIX: entries may be built twice, still atomically
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 (closed below)
    except OSError:  # read-only cache folder: nothing to coordinate
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        # removed before it is released: a process waiting on it then finds the entry written (or builds it), and
        # no lock file is left beside the entries
        Path(handle.name).unlink(missing_ok=True)
        handle.close()  # releases the lock


def _stamp(path: Path) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of a cache entry, ``None`` when it does not exist: whether another process wrote it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class FeatureCache:
    """Build-or-load of a dict of tensors under ``root/<key>.pt``.

    Examples:
        >>> import tempfile, torch
        >>> cache = FeatureCache(tempfile.mkdtemp())
        >>> cache.get_or_build("toy", {"n": 3}, lambda: {"x": torch.arange(3)})["x"].tolist()
        [0, 1, 2]
    """

    def __init__(self, root: str | os.PathLike | None = None, enabled: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.enabled = enabled

    def path(self, name: str, params: dict[str, Any]) -> Path:
        return self.root / f"{cache_key(name, params)}.pt"

    def get_or_build(self, name: str, params: dict[str, Any], build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Return the cached tensors for ``(name, params)``, building and storing them if needed."""
        if not self.enabled:
            return build()
        path = self.path(name, params)
        before = _stamp(path)
        found = self._load(path)
        if found is not None:
            return found
        with build_lock(path):  # another process may be building it: wait, then look again if it wrote one
            found = self._load(path) if _stamp(path) not in (None, before) else None
            if found is not None:
                return found
            data = build()
            try:
                save_tensors(path, data)
            except OSError as err:  # read-only or full disk: still usable, just not cached
                log.warning("could not write feature cache %s: %s", path, err)
        return data

    @staticmethod
    def _load(path: Path) -> dict[str, Any] | None:
        """The entry at ``path``, or ``None`` when it is missing or unreadable (then it is rebuilt)."""
        if not path.exists():
            return None
        try:
            return load_tensors(path)
        except Exception as err:  # corrupt or truncated entry: rebuild, never trust it
            reason = (str(err).splitlines() or [""])[0][:200]
            warnings.warn(f"feature cache entry {path} is unreadable ({type(err).__name__}: {reason}); "
                          "rebuilding it", stacklevel=3)
            return None
