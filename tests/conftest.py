"""Shared test set-up: one thread per worker, a reusable feature cache, real data through MMML_DATA."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("MMML_CACHE", str(Path(tempfile.gettempdir()) / "mmml-test-cache"))
if "MMML_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["MMML_DATA"] = str(SHARED_DATA)
torch.set_num_threads(1)
HELPERS = Path(__file__).resolve().parent / "helpers"  # methods that fail on purpose, for Hydra _target_
sys.path.insert(0, str(HELPERS))


def _data_dir(name: str) -> Path:
    root = os.environ.get("MMML_DATA")
    path = Path(root) / name if root else None
    if path is None or not path.is_dir():
        pytest.skip(f"real data set {name!r} not found: set MMML_DATA to a folder holding {name}/ "
                    "(in this repository's CI: ../shared/data)")
    return path


@pytest.fixture
def fsdd_dir() -> Path:
    """``$MMML_DATA/fsdd``, or skip with the reason."""
    return _data_dir("fsdd")


@pytest.fixture
def mfeat_dir() -> Path:
    """``$MMML_DATA/mfeat``, or skip with the reason."""
    return _data_dir("mfeat")
