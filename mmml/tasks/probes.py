"""Linear probes of frozen features for every target type (Alain & Bengio 2016, "linear classifier probes").

- classification: standardised logistic regression (scikit-learn);
- regression: standardised ridge regression, ``alpha = 1 / C``;
- multilabel: one standardised logistic regression per label (``OneVsRestClassifier``; a label
  constant in the train split is predicted as that constant).

Scored with :func:`mmml.tasks.targets.target_scores`, so a probe reports the same metrics as a
trained model of that target.

Examples:
    >>> import torch
    >>> x = torch.randn(40, 3); y = x[:, 0] * 2.0
    >>> probe = fit_probe("regression", x, y, C=1e6)
    >>> round(probe_scores("regression", probe, x, y)["corr"], 3)
    1.0
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor

from mmml.data.targets import check_target
from mmml.tasks.targets import target_scores


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy() if t.is_floating_point() else t.detach().cpu().numpy()


def fit_probe(target_type: str, x: Tensor, y: Tensor, C: float = 1.0, max_iter: int = 500) -> object:
    """Fit the linear probe of ``target_type`` on features ``x`` ``(N, d)`` and labels ``y``."""
    if check_target(target_type) == "classification":
        head = LogisticRegression(C=C, max_iter=max_iter)
    elif target_type == "regression":
        head = Ridge(alpha=1.0 / C)
    else:
        head = OneVsRestClassifier(LogisticRegression(C=C, max_iter=max_iter))
    labels = _np(y).astype(np.int64) if target_type == "multilabel" else _np(y)
    with warnings.catch_warnings():  # a label constant in the train split is predicted as that constant
        warnings.filterwarnings("ignore", message="Label .* is present in all training examples")
        return make_pipeline(StandardScaler(), head).fit(_np(x), labels)


def probe_scores(target_type: str, probe: object, x: Tensor, y: Tensor) -> dict[str, float]:
    """The metrics of ``target_type`` (:func:`~mmml.tasks.targets.target_scores`) of a fitted probe on ``x``."""
    pred = np.asarray(probe.predict(_np(x)))
    out = torch.from_numpy(pred.astype(np.float64) if target_type == "regression" else pred.astype(np.int64))
    if target_type == "regression":
        out = out.reshape(y.shape)
    return target_scores(target_type, out, y.cpu())
