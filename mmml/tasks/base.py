"""The base LightningModule of every challenge's tasks.

It holds what they share: the optimiser set-up, torchmetrics collections cloned under ``train/``,
``val/`` and ``test/<condition>/`` (the torchgeo pattern), evaluation of the clean condition and of
every configured corruption (one test loader per condition), collected outputs for metrics that need
a whole split (retrieval, alignment), a guard that stops on a non-finite loss, and the flat
``test_results`` dict the runner writes into the result record.

It also owns the training contract (:mod:`mmml.tasks.contract`): a method with ``fit(train_split)``
is fitted once on the whole train split when training starts, one with ``loss(batch)`` is trained by
gradient for the trainer's epochs (both: fitted first), and ``finalize(train_split)`` runs after
training. The contract is checked when the task is built, naming the class and what it lacks.

A subclass implements :meth:`step` (loss and outputs of a batch), and either :meth:`build_metrics`
plus :meth:`update_metrics` (per-batch torchmetrics) or :meth:`evaluate` (whole-split metrics from
what :meth:`collect` gathered), or both; it declares what else its method needs in
:attr:`MMMLTask.method_needs`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from functools import partial
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from mmml.data.contract import batch_size
from mmml.tasks.contract import check_method


def rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and Python random states, as tensors and plain values (``weights_only``-safe)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                      gauss], "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _key(condition: str) -> str:
    """A condition name as a ModuleDict key (which may not contain dots)."""
    return condition.replace(".", "_")


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or Inf; the run is recorded as failed."""


class MMMLTask(pl.LightningModule):
    """Base task: an injected model (``net``) trained and evaluated for one challenge's objective.

    Args:
        net: the method, a plain ``nn.Module`` mapping a batch dict to outputs, following the training
            contract (:mod:`mmml.tasks.contract`); its mode is :attr:`training_mode`.
        lr: learning rate. weight_decay: decoupled weight decay (AdamW).
        optimizer: a partial optimiser (Hydra ``_partial_: true``) taking ``params``; default AdamW.
    """

    #: what the task's method must have besides the training contract (``("align",)``...)
    method_needs: tuple[str, ...] = ()
    #: the method must learn (``loss`` or ``fit``); ``False`` also accepts methods that are only evaluated
    method_learns: bool = False
    #: the task makes the loss from the method's outputs, so any trainable module trains by gradient
    task_loss: bool = False

    def __init__(self, net: nn.Module, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: partial | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer"])
        self.training_mode = check_method(net, type(self).__name__, self.method_needs, self.method_learns,
                                          self.task_loss)
        self.automatic_optimization = self.training_mode.gradient
        self.net = net
        self.optimizer_factory = optimizer
        template = self.build_metrics()
        self.train_metrics = template.clone(prefix="train/") if template is not None else None
        self.val_metrics = template.clone(prefix="val/") if template is not None else None
        self._template = template
        self.test_metrics = nn.ModuleDict()
        self.test_results: dict[str, float] = {}
        self._collected: dict[str, dict[str, list[Tensor]]] = {}

    # ---- hooks for subclasses ------------------------------------------------------------------
    def build_metrics(self) -> MetricCollection | None:
        """The metric collection cloned per stage and per test condition (``None``: none)."""
        return None

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor | None, Any]:
        """Return ``(loss, outputs)`` for a batch; ``loss`` may be ``None`` outside training."""
        raise NotImplementedError

    def update_metrics(self, metrics: MetricCollection, batch: dict[str, Tensor], outputs: Any) -> None:
        """Update a metric collection with a batch's outputs."""

    def evaluate(self, condition: str, collected: dict[str, Tensor]) -> dict[str, float]:
        """Whole-split metrics of one test condition from what :meth:`collect` gathered."""
        return {}

    def train_split(self) -> dict[str, Tensor]:
        """The whole train split, in split order on the task's device: what ``fit`` and ``finalize`` get."""
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None:
            raise RuntimeError(f"{type(self.net).__name__} is fitted (or finalized) on the whole train split, "
                               "which comes from the datamodule: call trainer.fit(task, datamodule=...)")
        return {k: v.to(self.device) for k, v in dm.split("train").items()}

    # ---- the training contract -----------------------------------------------------------------
    def on_train_start(self) -> None:
        """Fit a fitted method once on the whole train split; stop at once unless it trains by gradient."""
        if self.training_mode.fit:
            self.net.fit(self.train_split())
        if not self.training_mode.gradient:
            self.trainer.should_stop = True  # no training epoch: nothing learns by gradient

    def on_train_end(self) -> None:
        """Run the method's ``finalize(train_split)`` after training, in eval mode."""
        if self.training_mode.finalize:
            was = self.net.training
            self.net.eval()
            self.net.finalize(self.train_split())
            self.net.train(was)

    # ---- shared plumbing -----------------------------------------------------------------------
    def forward(self, batch: dict[str, Tensor]) -> Any:
        return self.net(batch)

    def collect(self, condition: str, **tensors: Tensor) -> None:
        """Keep tensors of a test batch (detached, on CPU) for :meth:`evaluate`."""
        store = self._collected.setdefault(condition, defaultdict(list))
        for k, v in tensors.items():
            store[k].append(v.detach().cpu())

    @property
    def condition_names(self) -> list[str]:
        dm = getattr(self.trainer, "datamodule", None)
        return [c.name for c in getattr(dm, "conditions", [])] or ["clean"]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, outputs = self.step(batch, "train")
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, batch {batch_idx}; "
                "lower model.task.lr, check the inputs for extreme values, or add gradient clipping "
                "(trainer.gradient_clip_val)")
        n = batch_size(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        if self.train_metrics is not None:
            self.update_metrics(self.train_metrics, batch, outputs)
            self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, outputs = self.step(batch, "val")
        n = batch_size(batch)
        if loss is not None:
            self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        if self.val_metrics is not None:
            self.update_metrics(self.val_metrics, batch, outputs)
            self.log_dict(self.val_metrics, on_step=False, on_epoch=True, batch_size=n)

    def on_test_start(self) -> None:
        self.test_results = {}
        self._collected = {}
        if self._template is not None:
            for name in self.condition_names:
                if _key(name) not in self.test_metrics:
                    self.test_metrics[_key(name)] = self._template.clone(prefix=f"test/{name}/").to(self.device)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        name = self.condition_names[dataloader_idx]
        self.test_condition_step(batch, name)

    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        """Evaluate one test batch under ``condition`` (default: update that condition's metrics)."""
        _, outputs = self.step(batch, "test")
        if _key(condition) in self.test_metrics:
            self.update_metrics(self.test_metrics[_key(condition)], batch, outputs)

    def on_test_epoch_end(self) -> None:
        results: dict[str, float] = {}
        for name in self.condition_names:
            if _key(name) in self.test_metrics:
                for k, v in self.test_metrics[_key(name)].compute().items():
                    results[k] = float(v)
                self.test_metrics[_key(name)].reset()
            if name in self._collected:
                gathered = {k: torch.cat(v) for k, v in self._collected[name].items()}
                for k, v in self.evaluate(name, gathered).items():
                    results[f"test/{name}/{k}"] = float(v)
        self.test_results.update(results)
        for k, v in results.items():
            self.log(k, v, add_dataloader_idx=False, sync_dist=False)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the random state, so a run resumed from this checkpoint continues as if never stopped."""
        checkpoint["mmml_rng"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "mmml_rng" in checkpoint:
            set_rng_state(checkpoint["mmml_rng"])

    def configure_optimizers(self):
        if not self.training_mode.gradient:
            return None
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_factory is not None:
            return self.optimizer_factory(params)
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
