"""Co-learning's Lightning tasks: semi-supervised (scarce labels), co-training, zero-shot and pivot bridging.

Which training labels a run observes is the datamodule's (``data.labelled_fraction``, or the top-level
``labelled_fraction=``: a seeded, class-stratified share, :mod:`mmml.data.labels`): the tasks read its
``label_present`` mask and never write it. For pivot bridging, the kept share is that of the training
examples used as pairs. Neural tasks draw each step a batch of ``labelled_batch_size`` labelled examples (with
replacement) beside the regular batch, as semi-supervised training does (labelled and unlabelled
batches), so that a model with 1% of the labels still takes as many supervised steps as with 100%.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mmml.colearning.supervision import (
    LABEL_PRESENT,
    disjoint_pairs,
    observed_labels,
    pooled_views,
)
from torch import Tensor, nn

from mmml.metrics.retrieval import retrieval_metrics
from mmml.tasks import ClassificationTask, EstimatorMethod, EstimatorTask, MMMLTask
from mmml.tasks.base import VAL


class _LabelledPool:
    """Mixin: at ``setup("fit")``, the train split's labelled examples (``label_present``); serves batches of them."""

    labelled_batch_size: int
    uses_label_mask = True  # reads the datamodule's label_present (mmml-run checks it for labelled_fraction < 1)

    def _labelled_pool(self) -> dict[str, Tensor] | None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None:
            raise RuntimeError("co-learning tasks read the labelled examples of the datamodule's train split; call "
                               "trainer.fit(task, datamodule=...)")
        split = dm.split("train")
        mask = observed_labels(split)
        self._pool = {k: v[mask] for k, v in split.items() if k != LABEL_PRESENT}
        self._generator = torch.Generator().manual_seed(int(dm.seed))
        return self._pool

    def labelled_batch(self, classes: Tensor | None = None) -> dict[str, Tensor]:
        """A batch of labelled training examples drawn with replacement (of ``classes`` only, if given)."""
        pool = self._pool
        allowed = torch.arange(len(pool["label"]))
        if classes is not None:
            allowed = allowed[classes.cpu()[pool["label"].cpu()]]
        if len(allowed) == 0:
            raise ValueError("no labelled training example of the trainable classes; raise "
                             "data.labelled_fraction (labelled_fraction=...) or change model.task.unseen")
        pick = allowed[torch.randint(len(allowed), (self.labelled_batch_size,), generator=self._generator)]
        pick = pick.to(pool["label"].device)
        return {k: v.index_select(0, pick) for k, v in pool.items()}


class SemiSupervisedTask(_LabelledPool, ClassificationTask):
    """Classification from a fraction of the labels; the model may learn from all examples via ``aux_loss``.

    Each training step: cross-entropy on a batch of labelled examples, plus the ``aux_loss`` the model
    returns on the regular batch (labelled and unlabelled, e.g. :class:`mmml.colearning.HelperTransfer`'s
    helper loss). Train metrics count observed labels only; validation and test use every example.

    Args:
        net: model returning logits or ``{"logits", "aux_loss"}``. num_classes: classes.
        labelled_batch_size: labelled examples per step (the labelled ones: ``data.labelled_fraction``).
    """

    def __init__(self, net: nn.Module, num_classes: int, labelled_batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(net, num_classes=num_classes, **kwargs)
        self.labelled_batch_size = int(labelled_batch_size)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self._labelled_pool()

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor]:
        if stage != "train":
            return super().step(batch, stage)
        out = self.net(batch)
        logits = out["logits"] if isinstance(out, dict) else out
        lab = self.labelled_batch()
        lab_out = self.net(lab)
        lab_logits = lab_out["logits"] if isinstance(lab_out, dict) else lab_out
        loss = F.cross_entropy(lab_logits, lab["label"], label_smoothing=self.label_smoothing)
        if isinstance(out, dict) and "aux_loss" in out:
            loss = loss + out["aux_loss"]
        return loss, logits

    def update_metrics(self, metrics, batch: dict[str, Tensor], outputs: Tensor) -> None:
        seen = observed_labels(batch)
        if seen.any():
            metrics.update(outputs.detach()[seen], batch["label"][seen])


class PartlyLabelledEstimator(EstimatorMethod):
    """A multi-view estimator fed partly labelled data: hidden labels as ``-1`` (scikit-learn's semi-supervised
    convention), sequences as the mean and std of their frames (:func:`mmml.colearning.supervision.pooled_views`).

    Examples:
        >>> class Recorder:  # keeps the labels it is fitted on
        ...     def fit(self, Xs, y): self.seen = y.tolist(); return self
        ...     def predict_proba(self, Xs): return None
        >>> split = {"x": torch.zeros(3, 1), "label": torch.tensor([0, 1, 1]),
        ...          "label_present": torch.tensor([True, False, True])}
        >>> PartlyLabelledEstimator(Recorder(), ["x"]).fit(split).estimator.seen
        [0, -1, 1]
    """

    def views(self, batch: dict[str, Tensor]) -> list:
        return pooled_views(batch, self.modalities)

    def targets(self, train_split: dict[str, Tensor]) -> np.ndarray:
        y = super().targets(train_split).copy()
        y[~observed_labels(train_split).cpu().numpy()] = -1
        return y


class CoTrainingTask(EstimatorTask):
    """Fit a multi-view estimator (:class:`mmml.colearning.CoTraining`) on partly labelled training data.

    Hidden labels are passed as ``-1``; sequences are summarised by the mean and std of their frames
    (:class:`PartlyLabelledEstimator`).

    Args:
        net: estimator with ``fit(Xs, y)`` / ``predict_proba(Xs)``. num_classes: classes.
        modalities: the views, in order (default: all served). The labels observed: ``data.labelled_fraction``.
    """

    def __init__(self, net: Any, num_classes: int, modalities: Sequence[str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(net, num_classes=num_classes, modalities=modalities, **kwargs)

    uses_label_mask = True  # hidden labels (label_present False) are passed as -1
    adapter = PartlyLabelledEstimator


class ZeroShotTask(_LabelledPool, MMMLTask):
    """Zero-shot classification: train on the seen classes, classify test examples of the unseen ones.

    Metrics (per test condition): ``zsl_acc`` (unseen-class examples among the unseen classes),
    ``chance`` (1 / number of unseen classes), ``seen_acc`` (seen-class examples among the seen
    classes) and ``gzsl_H`` (harmonic mean of seen and unseen accuracy when every class is a
    candidate, the generalised setting of Xian et al. 2017). ``upper_bound=True`` trains on every
    class (a supervised model of the same architecture, scored by its logits when it has them) and is
    evaluated identically.

    ``val_unseen`` is the validation-unseen protocol of Xian et al. 2017 (their proposed splits hold some
    *training* classes out as validation classes) for choosing settings that only act on unseen classes
    (ConSE's ``top``, DeViSE's margin): those seen classes are left out of training too, and validation
    scores zero-shot on them (``val/zsl_acc`` among them, ``val/seen_acc`` among the trained classes), its
    examples of the test's ``unseen`` classes left out, so no choice reads a test class's label. The tested
    epoch is then chosen by ``val/zsl_acc``. Such a run selects settings; its test figures come from a model
    trained on fewer classes and are not a table row.

    Args:
        net: :class:`mmml.colearning.DeViSE` or :class:`mmml.colearning.ConSE`. num_classes: classes.
        unseen: the classes held out of training. labelled_batch_size: as above.
        val_unseen: seen classes held out as validation-unseen (default none: every seen class is trained).
    """

    def __init__(self, net: nn.Module, num_classes: int, unseen: Sequence[int] = (2, 5, 8),
                 labelled_batch_size: int = 32, upper_bound: bool = False,
                 val_unseen: Sequence[int] | None = None, **kwargs: Any) -> None:
        super().__init__(net, **kwargs)
        unseen = sorted({int(c) for c in unseen})
        bad = [c for c in unseen if not 0 <= c < num_classes]
        if bad or not unseen or len(unseen) >= num_classes:
            raise ValueError(f"model.task.unseen={unseen}; give at least one and fewer than {num_classes} "
                             f"class indices in [0, {num_classes})")
        self.num_classes = int(num_classes)
        self.labelled_batch_size = int(labelled_batch_size)
        self.upper_bound = bool(upper_bound)
        seen = torch.ones(num_classes, dtype=torch.bool)
        seen[unseen] = False
        self.register_buffer("seen", seen, persistent=False)
        held = self._val_unseen_mask(val_unseen, seen)
        self.register_buffer("val_unseen", held, persistent=False)
        trainable = torch.ones_like(seen) if upper_bound else seen & ~held
        self.register_buffer("trainable", trainable, persistent=False)

    def _val_unseen_mask(self, val_unseen: Sequence[int] | None, seen: Tensor) -> Tensor:
        """``(C,)`` mask of the validation-unseen classes, checked: seen classes, at least two left to train."""
        held = sorted({int(c) for c in (val_unseen or ())})
        mask = torch.zeros_like(seen)
        if not held:
            return mask
        seen_ids = seen.nonzero().flatten().tolist()
        if self.upper_bound:
            raise ValueError(f"model.task.val_unseen={held} with upper_bound=true; the upper bound trains every "
                             "class, so it has no validation-unseen classes: drop model.task.val_unseen")
        if any(c not in seen_ids for c in held) or len(held) > len(seen_ids) - 2:
            raise ValueError(f"model.task.val_unseen={held}; give seen classes (of {seen_ids}, not the test's unseen "
                             f"ones) and leave at least two of them to train (at most {len(seen_ids) - 2})")
        mask[held] = True
        return mask

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self._labelled_pool()

    def default_monitor(self) -> str:
        """Seen-class validation accuracy (``val/seen_acc``), not the headline ``zsl_acc``: choosing the epoch on
        the unseen classes' labels would break zero-shot's class-disjoint protocol (Xian et al. 2017); set
        ``model.task.monitor=val/zsl_acc`` to select on them knowingly. With ``val_unseen``: ``val/zsl_acc``, the
        zero-shot accuracy on the validation-unseen (seen) classes."""
        return "val/zsl_acc" if bool(self.val_unseen.any()) else "val/seen_acc"

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor | None, dict[str, Tensor]]:
        if stage == "train":
            lab = self.labelled_batch(self.trainable)
            out = self.net(lab, seen=self.trainable)
            return self.net.loss(out, lab["label"], self.trainable), out
        return None, self.net(batch, seen=self.trainable)

    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        _, out = self.step(batch, "test")
        scores = out["logits"] if self.upper_bound and "logits" in out else out["scores"]
        self.collect(condition, scores=scores, label=batch["label"])

    def evaluate(self, condition: str, collected: dict[str, Tensor]) -> dict[str, float]:
        if condition == VAL and bool(self.val_unseen.any()):  # zero-shot on the validation-unseen classes
            return zero_shot_metrics(collected["scores"], collected["label"], self.trainable.cpu(),
                                     classes=self.seen.cpu())
        return zero_shot_metrics(collected["scores"], collected["label"], self.seen.cpu())


def zero_shot_metrics(scores: Tensor, labels: Tensor, seen: Tensor, classes: Tensor | None = None) -> dict[str, float]:
    """Zero-shot accuracies from scores ``(N, C)`` of all classes, labels ``(N,)`` and seen mask ``(C,)``.

    ``classes`` (``(C,)`` mask, default all) are the classes in play: examples of the others are left out and
    they are never candidates (the validation-unseen protocol leaves out the test's unseen classes). The
    unseen classes are those in play and not ``seen``.
    """
    scores = scores.float()
    classes = torch.ones_like(seen) if classes is None else classes.bool()
    keep = classes[labels]
    scores, labels = scores[keep], labels[keep]
    seen = seen & classes
    unseen = classes & ~seen
    unseen_ex, seen_ex = unseen[labels], seen[labels]

    def acc(rows: Tensor, candidates: Tensor) -> float:
        if not rows.any():
            return float("nan")
        s = scores[rows].masked_fill(~candidates[None, :], float("-inf"))
        return float((s.argmax(1) == labels[rows]).float().mean())

    u, s = acc(unseen_ex, classes), acc(seen_ex, classes)
    return {"zsl_acc": acc(unseen_ex, unseen), "chance": 1.0 / int(unseen.sum()),
            "seen_acc": acc(seen_ex, seen), "gzsl_H": 0.0 if u + s == 0 else 2 * u * s / (u + s)}


class BridgeTask(MMMLTask):
    """Cross-modal retrieval learnt without source–target pairs (:class:`mmml.colearning.PivotBridge`).

    The train split is dealt into disjoint groups (source+pivot, pivot+target; or source+target for the
    directly paired upper bound) with ``<m>_present`` masks. Test: retrieval of targets from sources and
    back, with a class-level relevance (``R@1``, ``R@5``, ``medr``; see
    :func:`mmml.metrics.retrieval.retrieval_metrics`).

    Args:
        net: a :class:`mmml.colearning.PivotBridge`. The examples used as pairs: the labelled ones
            (``data.labelled_fraction``).
    """

    uses_label_mask = True  # the pairs are dealt from the labelled examples

    def __init__(self, net: nn.Module, **kwargs: Any) -> None:
        super().__init__(net, **kwargs)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            dm = self.trainer.datamodule
            groups = [list(p) for p in self.net.pairs]
            disjoint_pairs(dm.split("train"), groups, dm.seed)

    def default_monitor(self) -> str:
        """Co-learning's hybrid headline: retrieval of targets from sources (``val/image2text_R@1``)."""
        return f"val/{self.net.source}2{self.net.target}_R@1"

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, None]:
        return self.net.loss(batch), None

    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        emb = self.net(batch)
        net = self.net
        self.collect(condition, source=emb[net.source], target=emb[net.target], label=batch["label"])

    def evaluate(self, condition: str, collected: dict[str, Tensor]) -> dict[str, float]:
        src, tgt, y = collected["source"], collected["target"], collected["label"]
        a, b = self.net.source, self.net.target
        out = {f"{a}2{b}_{k}": v for k, v in retrieval_metrics(src, tgt, y, y, ks=(1, 5)).items()}
        out.update({f"{b}2{a}_{k}": v for k, v in retrieval_metrics(tgt, src, y, y, ks=(1, 5)).items()})
        return out
