"""Effective robustness (Taori et al., "Measuring Robustness to Natural Distribution Shifts in Image
Classification", NeurIPS 2020): accuracy under shift above what in-distribution accuracy predicts.

The baseline models' (supervised, linear and few-shot probes) shifted accuracy is fitted against their
in-distribution accuracy by a line in logit space, ``logit(shift) = a * logit(id) + b`` (least
squares); a model's effective robustness is ``shift - sigmoid(a * logit(id) + b)``: its distance above
that line, in accuracy (CLIP, Radford et al. 2021, Sec. 3.3 and Fig. 13). Accuracies are clipped to
``[eps, 1 - eps]`` before the logit.

Examples:
    >>> line = logit_fit([0.5, 0.880797], [0.5, 0.731059])
    >>> [round(v, 3) + 0.0 for v in line]  # + 0.0 turns a -0.0 into 0.0
    [0.5, 0.0]
    >>> round(effective_robustness(0.731059, 0.7, line), 4)
    0.0775
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit, logit

EPS = 1e-4


def _logit(p: Sequence[float] | float, eps: float = EPS) -> np.ndarray:
    return logit(np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps))


def logit_fit(id_acc: Sequence[float], shift_acc: Sequence[float]) -> tuple[float, float]:
    """``(slope, intercept)`` of the least-squares line of ``logit(shift_acc)`` on ``logit(id_acc)``."""
    x, y = _logit(id_acc), _logit(shift_acc)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"id_acc and shift_acc must be 1-D and of one length; got {x.shape} and {y.shape}")
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"the logit-linear fit needs at least two baseline models of different in-distribution "
                         f"accuracy; got {list(np.round(expit(x), 4))}")
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def predicted_shift(id_acc: float | Sequence[float], line: tuple[float, float]) -> np.ndarray | float:
    """The shifted accuracy the baseline line predicts for in-distribution accuracy ``id_acc``."""
    out = expit(line[0] * _logit(id_acc) + line[1])
    return float(out) if np.ndim(out) == 0 else out


def effective_robustness(id_acc: float, shift_acc: float, line: tuple[float, float]) -> float:
    """``shift_acc`` minus the line's prediction at ``id_acc`` (positive: above the baseline line)."""
    return float(shift_acc - predicted_shift(id_acc, line))
