"""Target types of a data set: what ``"label"`` holds, checked once when a datamodule is set up.

- ``"classification"`` (default): ``label`` is ``(N,)`` int64 in ``[0, num_classes)``; ``class_names``
  names the classes.
- ``"regression"``: ``label`` is ``(N,)`` (or ``(N, k)``) float32; ``class_names`` names the ``k`` outputs,
  so a model with ``num_classes`` outputs predicts every target (e.g. CMU-MOSI sentiment in [-3, 3]).
- ``"multilabel"``: ``label`` is ``(N, K)`` float32 of 0/1; ``class_names`` names the ``K`` labels
  (e.g. MM-IMDb's 23 genres, Arevalo et al. 2017).

A datamodule says which by its ``target_type`` attribute; the runner passes it to every method and
task whose constructor takes ``target_type`` (:mod:`mmml.tasks.targets` holds the losses and metrics).

Examples:
    >>> import torch
    >>> check_labels(torch.tensor([[0.0, 1.0], [1.0, 1.0]]), "multilabel", ("a", "b"), "toy")
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

TARGETS = ("classification", "regression", "multilabel")


def check_target(target: str) -> str:
    """Return ``target`` if it is a known target type, else raise naming the choices."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not a target type; use one of {list(TARGETS)}")
    return target


def check_labels(labels: Tensor, target: str, class_names: Sequence[str], where: str) -> None:
    """Raise, naming ``where`` and the fix, when ``labels`` do not fit ``target`` and ``class_names``."""
    k = len(class_names)
    if check_target(target) == "classification":
        if labels.is_floating_point() or labels.dim() != 1:
            raise ValueError(f"{where}: classification labels must be a 1-D integer tensor, got {labels.dtype} of "
                             f"shape {tuple(labels.shape)}; use target: regression or multilabel for other labels")
        bad = (labels < 0) | (labels >= k)
        if bad.any():
            raise ValueError(f"{where}: {int(bad.sum())} labels lie outside the {k} declared "
                             f"classes {list(class_names)}; fix the labels or the class list")
        return
    if not labels.is_floating_point():
        raise ValueError(f"{where}: {target} labels must be floats, got {labels.dtype}; convert them "
                         "(e.g. labels.float())")
    width = 1 if labels.dim() == 1 else labels.shape[1] if labels.dim() == 2 else -1
    if width != k or (target == "multilabel" and labels.dim() != 2):
        raise ValueError(f"{where}: {target} labels have shape {tuple(labels.shape)} but {k} outputs are named "
                         f"({list(class_names)}); give one label column per name")
    if target == "multilabel":
        bad = (labels != 0) & (labels != 1)
        if bad.any():
            raise ValueError(f"{where}: {int(bad.sum())} multi-label entries are neither 0 nor 1; each column says "
                             "whether the example has that label")


def stratify_key(labels: Tensor, target: str) -> np.ndarray:
    """What splits are stratified on: the class for classification, one stratum otherwise."""
    if target == "classification":
        return labels.cpu().numpy()
    return np.zeros(len(labels), dtype=np.int64)


def as_label_tensor(values: np.ndarray, target: str) -> Tensor:
    """Labels as the tensor type ``target`` expects (int64 classes, float32 otherwise)."""
    if target == "classification":
        return torch.as_tensor(np.asarray(values), dtype=torch.long)
    return torch.as_tensor(np.asarray(values, dtype=np.float32))


def check_supported(targets: Sequence[str] | None, target_type: str, what: str) -> None:
    """Raise unless ``targets`` (a model config's ``requires.targets``, default classification only) has it.

    Examples:
        >>> check_supported(None, "regression", "model=fusion/late")
        Traceback (most recent call last):
        ...
        ValueError: model=fusion/late supports targets ['classification'] but the data set has a regression target; ...
    """
    supported = [check_target(str(t)) for t in (targets or ["classification"])]
    if target_type not in supported:
        raise ValueError(f"{what} supports targets {supported} but the data set has a {target_type} target; choose a "
                         f"model whose requires.targets lists {target_type} (e.g. model=fusion/early or "
                         "model=representation/concat)")
