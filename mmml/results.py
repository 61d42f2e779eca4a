"""Result records: one ``result.json`` per run, written atomically, read back tolerantly."""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import warnings
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from mmml.io import write_json

log = logging.getLogger(__name__)

RECORD = "result.json"
PACKAGES = ("mmml", "torch", "torchaudio", "pytorch-lightning", "torchmetrics", "hydra-core", "scikit-learn",
            "hmmlearn", "numpy", "scipy")
# overrides that do not define a table row (everything else that varies does)
NOT_A_SETTING = ("seed", "model", "data", "experiment", "trainer", "resume", "hydra", "run_dir", "quick",
                 "catch_errors", "threads", "skip_missing_data")
# keys of how a run is watched and kept (loggers, callbacks, trainer plumbing), with their sub-keys: never a setting
PLUMBING = ("logger", "callbacks", "trainer.logger", "trainer.callbacks", "trainer.enable_progress_bar",
            "trainer.enable_model_summary", "trainer.log_every_n_steps", "trainer.enable_checkpointing",
            "trainer.default_root_dir")


@functools.cache
def _installed_versions() -> tuple[tuple[str, str | None], ...]:
    out = []
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (read once per process: its jobs run the code
    it imported)."""
    return dict(_installed_versions())


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def git_revision() -> str | None:
    """The git commit of the source tree mmml runs from, if it is a checkout (asked once per process: its jobs
    run the code it imported, and two ``git`` processes cost every job of a sweep 10 ms)."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def setting_of(overrides: Iterable[str], exclude: Iterable[str] = ()) -> str:
    """The overrides that make a table row differ from another of the same method and data set.

    ``exclude``: keys that already tell rows apart elsewhere (those the method's name reads, e.g.
    ``model.net.combine`` in ``late_${model.net.combine}``, and those a sweep grid names rows by).
    """
    exclude = set(exclude)
    keep = []
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key in NOT_A_SETTING or key in exclude or key.startswith(("hydra.", "hydra/")) or \
                any(key == p or key.startswith(p + ".") for p in PLUMBING) or \
                key in ("data.root", "data.cache_dir", "data.device"):
            continue
        keep.append(o.lstrip("+"))
    return ",".join(sorted(keep))


def write_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``run_dir/result.json`` atomically."""
    return write_json(Path(run_dir) / RECORD, record)


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """Read one record; a truncated or malformed file gives a warning and ``None``."""
    try:
        with open(path) as f:
            rec = json.load(f)
        if not isinstance(rec, dict) or "status" not in rec:
            raise ValueError("not a result record (no 'status')")
        return rec
    except (OSError, ValueError) as err:
        warnings.warn(f"skipping unreadable result record {path}: {err}", stacklevel=2)
        return None


def find_records(folders: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Every readable ``result.json`` under the folders, each with its ``path``."""
    out = []
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            raise FileNotFoundError(f"results folder {folder} does not exist; pass the sweep folder printed by "
                                    "mmml-run -m (e.g. multirun/<date>/<time>)")
        paths = [folder] if folder.is_file() else sorted(folder.rglob(RECORD))
        for p in paths:
            rec = read_record(p)
            if rec is not None:
                rec["path"] = str(p)
                out.append(rec)
    return out
