"""Late fusion by stacking (Wolpert 1992, "Stacked generalization"; Baltrusaitis et al. 2017, Sec. 6.1).

One classifier per view; a meta-classifier learns to combine their class scores, trained on scores
the view classifiers gave to samples they were not fitted on (``cv``-fold out-of-fold predictions,
scikit-learn's ``cross_val_predict``). The view classifiers are then refitted on every training sample.
A view missing at prediction time contributes the uniform distribution (it carries no evidence).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mmml.fusion.views import check_views
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor

from mmml.data.sequences import pooled_views


class StackedLateFusion(ClassifierMixin, BaseEstimator):
    """Stacking: per-view classifiers, a meta-classifier on their held-out log-probabilities.

    Args:
        base: scikit-learn classifier with ``predict_proba`` used for every view (default: standardised
            logistic regression with ``C``). meta: the meta-classifier (default: logistic regression).
        cv: folds of the out-of-fold predictions. C: inverse regularisation of the default base model.
        random_state: seed of the folds.

    Fitted: ``base_`` (one fitted classifier per view), ``meta_``, ``classes_``.

    Examples:
        >>> rng = np.random.default_rng(0); y = rng.integers(0, 3, 60)
        >>> Xs = [rng.normal(size=(60, 4)) + y[:, None], rng.normal(size=(60, 2))]
        >>> StackedLateFusion().fit(Xs, y).predict_proba(Xs).shape
        (60, 3)
    """

    def __init__(self, base: Any = None, meta: Any = None, cv: int = 5, C: float = 1.0,
                 random_state: int = 0) -> None:
        self.base, self.meta, self.cv, self.C, self.random_state = base, meta, cv, C, random_state

    def views_from_batch(self, batch: dict[str, Tensor], modalities: list[str]) -> list[np.ndarray | None]:
        """Fixed-size views (images flattened, frame sequences pooled): :func:`mmml.data.sequences.pooled_views`."""
        return pooled_views(batch, modalities)

    def _base(self) -> Any:
        if self.base is not None:
            return clone(self.base)
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=300))

    def fit(self, Xs: list, y: Any) -> StackedLateFusion:
        Xs = check_views(Xs, type(self).__name__)
        y = np.asarray(y)
        if len(y) != Xs[0].shape[0]:
            raise ValueError(f"{len(y)} labels for {Xs[0].shape[0]} samples; give one label per sample")
        self.classes_ = np.unique(y)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        scores = [cross_val_predict(self._base(), X, y, cv=folds, method="predict_proba") for X in Xs]
        self.base_ = [self._base().fit(X, y) for X in Xs]
        meta = clone(self.meta) if self.meta is not None else LogisticRegression(max_iter=500)
        self.meta_ = meta.fit(self._features(scores), y)
        self.n_params_ = int(sum(_n_coef(b) for b in self.base_) + _n_coef(self.meta_))
        return self

    @staticmethod
    def _features(scores: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.log(np.clip(s, 1e-6, None)) for s in scores], 1)

    def predict_proba(self, Xs: list) -> np.ndarray:
        if not hasattr(self, "meta_"):
            raise RuntimeError("StackedLateFusion is not fitted; call fit(Xs, y) first")
        Xs = check_views(Xs, type(self).__name__, allow_missing=True)
        if len(Xs) != len(self.base_):
            raise ValueError(f"got {len(Xs)} views but the model was fitted on {len(self.base_)}")
        n = next(X.shape[0] for X in Xs if X is not None)
        uniform = np.full((n, len(self.classes_)), 1.0 / len(self.classes_))
        scores = [uniform if X is None else b.predict_proba(X) for b, X in zip(self.base_, Xs, strict=True)]
        return self.meta_.predict_proba(self._features(scores))

    def predict(self, Xs: list) -> np.ndarray:
        return self.classes_[self.predict_proba(Xs).argmax(1)]


def _n_coef(model: Any) -> int:
    last = model[-1] if hasattr(model, "steps") else model
    return int(np.size(getattr(last, "coef_", 0)) + np.size(getattr(last, "intercept_", 0)))
