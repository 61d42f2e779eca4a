"""Losses and metrics per target type (:mod:`mmml.data.targets`): what a task trains and reports.

Model outputs are ``(B, num_classes)``: logits of the classes, values of the regression outputs, or
one logit per label.

- ``classification``: cross-entropy; ``acc`` (micro accuracy) and ``f1`` (macro F1).
- ``regression``: L1 loss (MAE, as MultiBench and MulT train affect regression); ``mae``, ``corr``
  (Pearson r, averaged over outputs), and the affect benchmarks' ``acc2`` and ``acc7``
  (:mod:`mmml.tasks.affect`).
- ``multilabel``: binary cross-entropy of each label's logit; ``f1_micro`` and ``f1_macro`` with a
  0.5 threshold on the sigmoid (as MM-IMDb reports them, Arevalo et al. 2017).

Examples:
    >>> import torch
    >>> scores = target_scores("regression", torch.tensor([1.0, -2.0, 0.4]), torch.tensor([2.0, -1.0, 0.0]))
    >>> round(scores["mae"], 4)  # (1 + 1 + 0.4) / 3
    0.8
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MetricCollection, PearsonCorrCoef
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MultilabelF1Score

from mmml.data.targets import check_target
from mmml.tasks.affect import AffectAccuracy


class MeanPearson(PearsonCorrCoef):
    """Pearson r of each output (``torchmetrics.PearsonCorrCoef``), averaged over the outputs."""

    def compute(self) -> Tensor:
        return super().compute().mean()


def predictions(target: str, outputs: Tensor, labels: Tensor) -> Tensor:
    """Model outputs in the labels' layout: ``(B, 1)`` -> ``(B,)`` for a single regression target."""
    if target == "regression" and outputs.shape != labels.shape and outputs.numel() == labels.numel():
        return outputs.reshape(labels.shape)
    return outputs


def target_loss(target: str, outputs: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """The training loss of ``outputs`` (logits or values) against ``labels`` for ``target``."""
    if check_target(target) == "classification":
        return F.cross_entropy(outputs, labels, label_smoothing=label_smoothing)
    if target == "regression":
        return F.l1_loss(predictions(target, outputs, labels), labels)
    return F.binary_cross_entropy_with_logits(outputs, labels.float())


def target_metrics(target: str, num_outputs: int) -> MetricCollection:
    """The metric collection of ``target`` for a model with ``num_outputs`` outputs (classes or labels)."""
    if check_target(target) == "classification":
        return MetricCollection({
            "acc": MulticlassAccuracy(num_outputs, average="micro"),
            "f1": MulticlassF1Score(num_outputs, average="macro"),
        })
    if target == "regression":
        return MetricCollection({"mae": MeanAbsoluteError(), "corr": MeanPearson(num_outputs=num_outputs),
                                 "acc2": AffectAccuracy(2), "acc7": AffectAccuracy(7)})
    return MetricCollection({"f1_micro": MultilabelF1Score(num_outputs, average="micro"),
                             "f1_macro": MultilabelF1Score(num_outputs, average="macro")})


def update_metrics(target: str, metrics: MetricCollection, outputs: Tensor, labels: Tensor) -> None:
    """Update ``metrics`` (from :func:`target_metrics`) with one batch's outputs."""
    outputs = predictions(target, outputs.detach(), labels)
    if target == "multilabel":
        labels = labels.long()
        if outputs.is_floating_point():
            outputs = outputs.sigmoid()
    metrics.update(outputs, labels)


def target_scores(target: str, outputs: Tensor, labels: Tensor) -> dict[str, float]:
    """The metrics of ``target`` over a whole split at once, e.g. of a probe's predictions.

    ``outputs``: class ids or logits (classification), values (regression), 0/1 or logits (multilabel).
    """
    num = labels.shape[1] if labels.dim() == 2 else 1
    if target == "classification":
        num = int(max(outputs.max(), labels.max())) + 1 if outputs.dim() == 1 else outputs.shape[1]
    metrics = target_metrics(target, num)
    if target == "regression":
        outputs, labels = outputs.double(), labels.double()
    update_metrics(target, metrics, outputs, labels)
    return {k: float(v) for k, v in metrics.compute().items()}
