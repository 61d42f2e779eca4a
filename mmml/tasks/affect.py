"""The accuracies the affect benchmarks report for sentiment regression (CMU-MOSI, CMU-MOSEI).

Convention of MultiBench (Liang et al. 2021, ``eval_affect``) and of the CMU-MOSI/MOSEI papers that
it follows (Zadeh et al. 2018; Tsai et al. 2019, MulT):

- **binary accuracy** (``acc2``): over the examples whose true sentiment is non-zero, how often the
  sign of the prediction (``> 0``) matches the sign of the truth; neutral (0) examples are left out.
- **7-class accuracy** (``acc7``): predictions and labels clipped to ``[-3, 3]`` and rounded to the
  nearest integer (halves to even, as ``numpy.round``), then compared: seven classes -3..3.

Examples:
    >>> import torch
    >>> pred = torch.tensor([2.6, -0.4, 0.2, -3.7])
    >>> true = torch.tensor([3.0, 0.0, -1.0, -2.6])
    >>> affect_binary_accuracy(pred, true)  # the neutral 0 left out; signs agree on 2 of 3
    0.6666666666666666
    >>> affect_seven_class_accuracy(pred, true)  # 3==3, 0==0 (-0.4 -> -0), 0!=-1, -3==-3
    0.75
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

SENTIMENT_RANGE = 3.0


def _binary_counts(preds: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    keep = target != 0
    return ((preds[keep] > 0) == (target[keep] > 0)).sum(), keep.sum()


def _seven_class_counts(preds: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    p = preds.clamp(-SENTIMENT_RANGE, SENTIMENT_RANGE).round()
    t = target.clamp(-SENTIMENT_RANGE, SENTIMENT_RANGE).round()
    return (p == t).sum(), torch.tensor(t.numel(), device=t.device)


_COUNTS = {2: _binary_counts, 7: _seven_class_counts}


def affect_binary_accuracy(preds: Tensor, target: Tensor) -> float:
    """Accuracy of the sentiment sign over the non-neutral examples (``nan`` if all are neutral)."""
    correct, total = _binary_counts(preds.flatten().double(), target.flatten().double())
    return float(correct) / float(total) if total else float("nan")


def affect_seven_class_accuracy(preds: Tensor, target: Tensor) -> float:
    """Accuracy after clipping both to [-3, 3] and rounding to the seven integer classes."""
    correct, total = _seven_class_counts(preds.flatten().double(), target.flatten().double())
    return float(correct) / float(total) if total else float("nan")


class AffectAccuracy(Metric):
    """Stateful twin of :func:`affect_binary_accuracy` (``classes=2``) and
    :func:`affect_seven_class_accuracy` (``classes=7``), summed over batches (and ranks under DDP).

    Examples:
        >>> m = AffectAccuracy(7)
        >>> m.update(torch.tensor([2.6, -0.4]), torch.tensor([3.0, 0.0]))
        >>> m.update(torch.tensor([0.2, -3.7]), torch.tensor([-1.0, -2.6]))
        >>> float(m.compute())
        0.75
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, classes: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        if classes not in _COUNTS:
            raise ValueError(f"AffectAccuracy(classes={classes}); use 2 (sign) or 7 (rounded -3..3)")
        self.classes = classes
        self.add_state("correct", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        correct, total = _COUNTS[self.classes](preds.detach().flatten().double(), target.flatten().double())
        self.correct += correct
        self.total += total

    def compute(self) -> Tensor:
        return self.correct / self.total if self.total > 0 else torch.tensor(float("nan"), dtype=torch.float64)
