"""Classification under test-time corruptions: the task of fusion (and of probes elsewhere)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from mmml.data.targets import check_target
from mmml.tasks.base import MMMLTask
from mmml.tasks.targets import target_loss, target_metrics, update_metrics


class ClassificationTask(MMMLTask):
    """Train any model that maps a batch dict to logits ``(B, num_classes)`` with cross-entropy.

    The model may instead return a dict with ``"logits"`` and an optional ``"aux_loss"`` (added to the
    loss during training, e.g. unimodal heads of hybrid fusion). Metrics: accuracy (``acc``) and
    macro-F1 (``f1``), per stage and per test condition. A regression or multi-label data set
    (``target_type``, injected from the data set) trains and reports that target's loss and metrics
    instead (:mod:`mmml.tasks.targets`), the model's ``num_classes`` outputs being its values or labels.
    The metrics are computed on each split's outputs as a whole (``val/acc``, ``test/<condition>/acc``), so
    that they do not count DDP padding twice; the tested weights are the best epoch's by ``val/acc``.

    Args:
        net: the model. num_classes: number of classes (the runner passes the data set's).
        label_smoothing: for the cross-entropy. target_type: ``"classification"``, ``"regression"`` or
            ``"multilabel"`` (the runner passes the data set's).
        **kwargs: see :class:`~mmml.tasks.base.MMMLTask`.

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

    task_loss = True  # the loss is the task's: any module with trainable parameters trains by gradient

    def __init__(self, net: nn.Module, num_classes: int, label_smoothing: float = 0.0,
                 target_type: str = "classification", **kwargs: Any) -> None:
        self.num_classes = int(num_classes)
        self.target_type = check_target(target_type)
        super().__init__(net, **kwargs)
        self.label_smoothing = label_smoothing

    def setup(self, stage: str) -> None:
        super().setup(stage)
        data_target = getattr(getattr(self._trainer, "datamodule", None), "target_type", self.target_type)
        if data_target != self.target_type:
            raise ValueError(f"the data set has a {data_target} target but {type(self).__name__} was built for "
                             f"{self.target_type}; pass target_type={data_target!r} (mmml-run injects it into "
                             "tasks that accept target_type) or choose a method that supports it")

    def build_metrics(self) -> MetricCollection:
        return target_metrics(self.target_type, self.num_classes)

    def default_monitor(self) -> str:
        """Fusion's headline, accuracy (``val/acc``); ``val/mae`` for regression, ``val/f1_macro`` for multilabel."""
        return {"classification": "val/acc", "regression": "val/mae", "multilabel": "val/f1_macro"}[self.target_type]

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor]:
        out = self.net(batch)
        logits = out["logits"] if isinstance(out, dict) else out
        loss = target_loss(self.target_type, logits, batch["label"], self.label_smoothing)
        if stage == "train" and isinstance(out, dict) and "aux_loss" in out:
            loss = loss + out["aux_loss"]
        return loss, logits

    def update_metrics(self, metrics: MetricCollection, batch: dict[str, Tensor], outputs: Tensor) -> None:
        update_metrics(self.target_type, metrics, outputs, batch["label"])

    def predict_proba(self, batch: dict[str, Tensor]) -> Tensor:
        """Class probabilities of a batch (eval mode, no gradient)."""
        was = self.training
        self.eval()
        with torch.no_grad():
            _, logits = self.step(batch, "test")
        self.train(was)
        return logits.softmax(-1)
