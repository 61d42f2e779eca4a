"""Best-epoch selection on validation: the monitored value's direction, the best value and epoch, and that
epoch's weights, restored before testing.

Selecting on a validation split, never on test, is the protocol of e.g. Hastie, Tibshirani & Friedman,
*Elements of Statistical Learning* (2009), Sec. 7.2; keeping the best epoch is early stopping's model
selection (Prechelt 1998). :class:`~mmml.tasks.base.MMMLTask` selects through :class:`BestEpoch`.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

log = logging.getLogger(__name__)

#: the last part of a metric name (after ``/`` and ``_``) that makes it an error: lower is better
LOWER_IS_BETTER = ("loss", "wer", "cer", "mae", "mae_ms", "medr", "mel_dtw", "ms_per_pair", "truncated", "rmse",
                   "mse")
#: the condition name under which the validation split is evaluated
VAL = "val"


def metric_mode(name: str) -> str:
    """``"min"`` for an error (``loss``, ``wer``, ``boundary_mae_ms``, ``..._medr``...), ``"max"`` otherwise.

    Examples:
        >>> metric_mode("val/boundary_mae_ms"), metric_mode("val/image2audio_R@1"), metric_mode("val/wer")
        ('min', 'max', 'min')
    """
    last = name.rsplit("/", 1)[-1]
    return "min" if any(last == k or last.endswith("_" + k) for k in LOWER_IS_BETTER) else "max"


def check_selection(monitor: str | None, mode: str | None) -> None:
    """Raise ``ValueError`` naming the setting unless ``monitor`` is ``None`` or a ``val/`` metric and ``mode`` is
    ``None``, ``"min"`` or ``"max"``.

    Examples:
        >>> check_selection("val/acc", "max")
        >>> check_selection("test/clean/acc", None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model.task.monitor='test/clean/acc'; name a validation metric, e.g. 'val/acc' (tested weights ...
    """
    if mode not in (None, "min", "max"):
        raise ValueError(f"model.task.mode={mode!r}; use 'min' (errors) or 'max' (scores), or null to infer it")
    if monitor is not None and not str(monitor).startswith(f"{VAL}/"):
        raise ValueError(f"model.task.monitor={monitor!r}; name a validation metric, e.g. 'val/acc' "
                         "(tested weights are chosen on validation, never on test)")


def monitored(values: dict[str, float], monitor: str, explicit: bool, owner: str = "task") -> str | None:
    """The name of ``values`` that selects: ``monitor``; if validation did not compute it, ``val/loss`` for a default
    monitor (``explicit`` false) or ``None`` (with a warning) without one; an explicit monitor that is missing raises
    ``ValueError`` naming the choices. ``owner`` names the task in the messages.

    Examples:
        >>> monitored({"val/acc": 0.5, "val/loss": 1.0}, "val/acc", explicit=True)
        'val/acc'
        >>> monitored({"val/loss": 1.0}, "val/acc", explicit=False)
        'val/loss'
    """
    if monitor in values:
        return monitor
    if explicit:
        raise ValueError(f"{owner} monitors {monitor!r}, which validation did not compute; "
                         f"choose one of {sorted(values)} (model.task.monitor=...)")
    fallback = f"{VAL}/loss"
    if fallback not in values:
        log.warning("%s: validation computed no %s (its default monitor) and no %s; the last weights are "
                    "tested (set model.task.monitor to one of %s)", owner, monitor, fallback, sorted(values))
        return None
    return fallback


def improves(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` beats ``best`` (``None``: no value yet) in ``mode``; a NaN is beaten by any number and beats
    only nothing.

    Examples:
        >>> improves(0.3, 0.5, "min"), improves(0.3, 0.5, "max"), improves(0.5, 0.5, "max")
        (True, False, False)
        >>> improves(float("nan"), None, "max"), improves(float("nan"), 0.1, "max"), improves(0.1, float("nan"), "min")
        (True, False, True)
    """
    if math.isnan(value):
        return best is None
    if best is None or math.isnan(best):
        return True
    return value < best if mode == "min" else value > best


class BestEpoch:
    """The best validation value so far (:attr:`best`: ``{"name", "value", "epoch"}``), whether the latest
    validation was it (:attr:`is_latest`), and a CPU copy of its weights (:attr:`state`).

    Examples:
        >>> sel, net = BestEpoch(), nn.Linear(1, 1)
        >>> sel.update("val/acc", 0.6, 0, "max", net.state_dict), sel.update("val/acc", 0.4, 1, "max", net.state_dict)
        (True, False)
        >>> sel.best
        {'name': 'val/acc', 'value': 0.6, 'epoch': 0}
    """

    def __init__(self) -> None:
        self.best: dict[str, Any] | None = None
        self.metrics: dict[str, float] | None = None  # every validation metric of the best epoch
        self.state: dict[str, Tensor] | None = None
        self.is_latest = False  # the last validation was the best: the current weights are the best

    def update(self, name: str, value: float, epoch: int | None, mode: str,
               weights: Callable[[], dict[str, Tensor]] | None = None,
               metrics: dict[str, float] | None = None) -> bool:
        """Record ``name = value`` at ``epoch`` (``None``: a method fitted once) if it improves on the best, and
        then a copy of ``weights()`` (``None``: keep no weights) and of that validation's ``metrics`` (every
        ``val/`` figure, so that other choices can be made on validation too); return whether it improved."""
        better = improves(value, None if self.best is None else self.best["value"], mode)
        self.is_latest = better
        if better:
            self.best = {"name": name, "value": float(value), "epoch": epoch}
            self.metrics = {k: float(v) for k, v in (metrics or {name: value}).items()}
            if weights is not None:
                self.state = {k: v.detach().to("cpu", copy=True) for k, v in weights().items()}
        return better

    def restore(self, module: nn.Module) -> bool:
        """Load the kept weights into ``module`` unless there are none or the current ones are them; return
        whether they were loaded."""
        if self.state is None or self.is_latest:
            return False
        module.load_state_dict(self.state)
        return True

    def checkpoint(self) -> dict[str, Any] | None:
        """What a checkpoint keeps (``{"val", "state"}``), ``None`` before the first validation."""
        return None if self.best is None else {"val": copy.deepcopy(self.best), "state": self.state,
                                               "metrics": copy.deepcopy(self.metrics)}

    def load(self, saved: dict[str, Any]) -> None:
        """Restore what :meth:`checkpoint` saved."""
        self.best, self.state, self.metrics = saved["val"], saved["state"], saved.get("metrics")
