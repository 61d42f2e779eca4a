"""UCI Multiple Features: six views of 2,000 handwritten digits (van Breukelen et al., Kybernetika 1998).

Views: ``fou`` (76 Fourier coefficients), ``fac`` (216 profile correlations), ``kar`` (64
Karhunen-Loeve coefficients), ``pix`` (240 pixel averages), ``zer`` (47 Zernike moments), ``mor`` (6
morphological features). Files ``<root>/mfeat/mfeat-<view>.csv``: a header row, then one row per
sample, the label last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mmml.data.datamodule import MultimodalDataModule
from mmml.data.roots import MissingDataError, data_root, require_dir
from mmml.data.spec import ModalitySpec
from mmml.data.text import DIGIT_WORDS_EN

VIEWS = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}


def read_mfeat(folder, views: Sequence[str] = tuple(VIEWS)) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Read the views' CSVs; returns ``({view: (2000, d) float32}, labels (2000,) int64)``."""
    out, labels = {}, None
    for v in views:
        if v not in VIEWS:
            raise ValueError(f"mfeat view {v!r} does not exist; choose from {list(VIEWS)}")
        path = folder / f"mfeat-{v}.csv"
        if not path.is_file():
            raise MissingDataError(f"mfeat view file {path} is missing; point data.root at the folder holding "
                                    "mfeat/mfeat-<view>.csv")
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != VIEWS[v] + 1:
            raise ValueError(f"{path} has shape {table.shape}; expected (n, {VIEWS[v] + 1}) with the label last")
        out[v] = table[:, :-1].astype(np.float32)
        y = table[:, -1].astype(np.int64)
        if labels is not None and not np.array_equal(labels, y):
            raise ValueError(f"{path}: labels differ from the other views'; the files must list the same samples")
        labels = y
    return out, labels


class MFeat(MultimodalDataModule):
    """The six mfeat views as ``vector`` modalities (standardised with train statistics by default).

    Args:
        root: data root (``$MMML_DATA`` by default); files under ``root/mfeat``.
        modalities: which views (default all six).
    """

    name = "mfeat"

    def __init__(self, root: str | None = None, download: bool = False, modalities: Sequence[str] | None = None,
                 standardize: bool | Sequence[str] = True, **kwargs: Any) -> None:
        super().__init__(modalities=modalities, standardize=standardize, **kwargs)
        self.root, self.download = root, download

    def params(self) -> dict[str, Any]:
        return {"root": str(data_root(self.root))}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        return {v: ModalitySpec(v, "vector", (d,)) for v, d in VIEWS.items()}, DIGIT_WORDS_EN

    def build(self) -> dict[str, Any]:
        folder = data_root(self.root) / "mfeat"
        if not folder.is_dir() and self.download:
            from mmml.data.download import fetch_mfeat

            fetch_mfeat(folder)
        folder = require_dir(folder, "mfeat")
        views, labels = read_mfeat(folder)
        return {**{v: torch.from_numpy(x) for v, x in views.items()}, "label": torch.from_numpy(labels)}
