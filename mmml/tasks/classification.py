"""Classification under test-time corruptions: the task of fusion (and of probes elsewhere)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from mmml.tasks.base import MMMLTask


class ClassificationTask(MMMLTask):
    """Train any model that maps a batch dict to logits ``(B, num_classes)`` with cross-entropy.

    The model may instead return a dict with ``"logits"`` and an optional ``"aux_loss"`` (added to the
    loss during training, e.g. unimodal heads of hybrid fusion). Metrics: accuracy (``acc``) and
    macro-F1 (``f1``), per stage and per test condition.

    Args:
        net: the model. num_classes: number of classes (the runner passes the data set's).
        label_smoothing: for the cross-entropy. **kwargs: see :class:`~mmml.tasks.base.MMMLTask`.

    Examples:
        >>> from torch import nn
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__(); self.lin = nn.Linear(4, 3)
        ...     def forward(self, batch): return self.lin(batch["x"])
        >>> task = ClassificationTask(Net(), num_classes=3)
        >>> loss, _ = task.step({"x": torch.zeros(2, 4), "label": torch.tensor([0, 1])}, "train")
        >>> loss.shape
        torch.Size([])
    """

    def __init__(self, net: nn.Module, num_classes: int, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        self.num_classes = int(num_classes)
        super().__init__(net, **kwargs)
        self.label_smoothing = label_smoothing

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({
            "acc": MulticlassAccuracy(self.num_classes, average="micro"),
            "f1": MulticlassF1Score(self.num_classes, average="macro"),
        })

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor]:
        out = self.net(batch)
        logits = out["logits"] if isinstance(out, dict) else out
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.label_smoothing)
        if stage == "train" and isinstance(out, dict) and "aux_loss" in out:
            loss = loss + out["aux_loss"]
        return loss, logits

    def update_metrics(self, metrics: MetricCollection, batch: dict[str, Tensor], outputs: Tensor) -> None:
        metrics.update(outputs.detach(), batch["label"])

    def predict_proba(self, batch: dict[str, Tensor]) -> Tensor:
        """Class probabilities of a batch (eval mode, no gradient)."""
        was = self.training
        self.eval()
        with torch.no_grad():
            _, logits = self.step(batch, "test")
        self.train(was)
        return logits.softmax(-1)
