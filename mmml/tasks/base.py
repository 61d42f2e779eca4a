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
plus :meth:`update_metrics` (torchmetrics, computed on the whole split's collected outputs) or
:meth:`test_condition_step` plus :meth:`evaluate` (whole-split metrics from what :meth:`collect`
gathered); it declares what else its method needs in :attr:`MMMLTask.method_needs`.

Validation is evaluated through the same path as test, as condition ``"val"`` (logged ``val/<metric>``),
every ``val_interval`` epochs and at the last one; a method trained without gradient epochs is validated
once, after fitting. The weights tested are those of the best validation epoch by ``monitor`` (the
challenge's headline metric by default, :meth:`MMMLTask.default_monitor`): a CPU copy of the state dict is
kept whenever the monitored value improves and loaded when testing starts; :attr:`MMMLTask.best_val` holds
``{"name", "value", "epoch"}`` (``epoch`` ``None`` for a method fitted once); the selection itself is
:mod:`mmml.tasks.selection` (Hastie, Tibshirani & Friedman 2009, Sec. 7.2; Prechelt 1998).

Under DDP each rank sees a padded shard of every split (:class:`mmml.data.loader.TensorBatches`); every
batch carries its examples' ``index`` in the split, and :meth:`MMMLTask._gathered` all-gathers what was
collected, drops the padding duplicates and restores split order (:mod:`mmml.tasks.gather`), so validation
and test metrics (all computed from gathered outputs, the torchmetrics collections included) equal those of
one process. The ``train/`` metrics are per-batch torchmetrics, synced across ranks by torchmetrics, and count
the training shards' few padding duplicates: they describe training, they select and report nothing. Rank 0's
buffers (BatchNorm statistics) are given to every rank before evaluating, as DDP does before each training step.
"""

from __future__ import annotations

import copy
import logging
import random
from functools import partial
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from mmml.data.contract import batch_size
from mmml.optim import adamw
from mmml.tasks.contract import check_method
from mmml.tasks.gather import SplitOutputs, without_index
from mmml.tasks.selection import LOWER_IS_BETTER, VAL, BestEpoch, check_selection, metric_mode, monitored

log = logging.getLogger(__name__)

__all__ = ["LOWER_IS_BETTER", "VAL", "MMMLTask", "NonFiniteLossError", "metric_mode", "rng_state", "set_rng_state"]


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
        optimizer: a partial optimiser (Hydra ``_partial_: true``) taking ``params``; default AdamW
            (:func:`mmml.optim.adamw`, fused where torch has the kernel).
        monitor: the validation metric that selects the tested weights (``"val/acc"``...); ``None``: the
            task's :meth:`default_monitor`, the challenge's headline. mode: ``"min"`` or ``"max"``
            (``None``: :func:`metric_mode`). select_best: test the best validation epoch's weights
            (``False``: the last epoch's). val_interval: whole-split validation metrics every this many
            epochs (and at the last); the validation loss is logged every epoch.
    """

    #: what the task's method must have besides the training contract (``("align",)``...)
    method_needs: tuple[str, ...] = ()
    #: the method must learn (``loss`` or ``fit``); ``False`` also accepts methods that are only evaluated
    method_learns: bool = False
    #: the task makes the loss from the method's outputs, so any trainable module trains by gradient
    task_loss: bool = False

    def __init__(self, net: nn.Module, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: partial | None = None, monitor: str | None = None, mode: str | None = None,
                 select_best: bool = True, val_interval: int = 1) -> None:
        super().__init__()
        check_selection(monitor, mode)
        if int(val_interval) <= 0:
            raise ValueError(f"model.task.val_interval={val_interval}; use a positive number of epochs")
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
        self._split_metrics: list[MetricCollection] = []  # see _results
        self.test_metrics = nn.ModuleDict()
        self.test_results: dict[str, float] = {}
        self._train_loss_sum: Tensor | float = 0.0  # this epoch's training loss x examples, and the examples
        self._train_examples = 0
        self._split_outputs = SplitOutputs()  # what collect() keeps, per condition
        self._index: Tensor | None = None  # the current batch's positions in its split
        self._monitor, self._mode = monitor, mode
        self.select_best, self.val_interval = bool(select_best), int(val_interval)
        self._best_epoch = BestEpoch()
        #: the whole-split validation metrics of the last validation (``val/<metric>``)
        self.val_results: dict[str, float] = {}
        self._validate_split = False
        self._trained_net: list[nn.Module] = []  # the trained method while a finalized copy is validated

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
        """Whole-split metrics of one condition (a test condition or ``"val"``) from what :meth:`collect` gathered.

        Default: the :meth:`build_metrics` collection updated once with the whole split's outputs and
        labels (what the default :meth:`test_condition_step` collects).
        """
        if self._template is None or "outputs" not in collected:
            return {}
        if not self._split_metrics:  # one CPU collection, reset for each split: a clone each time cost 17 ms
            metrics = self._template.clone().to("cpu")
            for m in metrics.values():
                m.sync_on_compute = False  # the outputs are already gathered from every rank
            self._split_metrics.append(metrics)  # in a list: not a submodule, so it stays on the CPU
        metrics = self._split_metrics[0]
        metrics.reset()
        batch = {k: v for k, v in collected.items() if k != "outputs"}
        self.update_metrics(metrics, batch, collected["outputs"])
        return {k: float(v) for k, v in metrics.compute().items()}

    def default_monitor(self) -> str:
        """The validation metric that selects the tested weights when ``monitor`` is not given (the headline)."""
        return f"{VAL}/loss"

    @property
    def monitor(self) -> str:
        """The monitored validation metric (``val/...``)."""
        return self._monitor or self.default_monitor()

    @property
    def mode(self) -> str:
        """``"min"`` or ``"max"``: the direction in which :attr:`monitor` improves."""
        return self._mode or metric_mode(self.monitor)

    @property
    def best_val(self) -> dict[str, Any] | None:
        """``{"name", "value", "epoch"}`` of the best validation epoch (``None`` before validation)."""
        return self._best_epoch.best

    @property
    def best_val_metrics(self) -> dict[str, float] | None:
        """Every ``val/`` metric of the best validation epoch (the record's ``val_metrics``), ``None`` before."""
        return self._best_epoch.metrics

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
        """Run the method's ``finalize(train_split)`` after training, in eval mode; validate a method fitted once."""
        self._sync_buffers()
        if self.training_mode.finalize:
            self._finalize()
        if not self.training_mode.gradient:
            self._validate_once()

    def _finalize(self) -> None:
        was = self.net.training
        self.net.eval()
        with torch.inference_mode(False):  # buffers written here are used in later training steps
            self.net.finalize(self.train_split())
        self.net.train(was)

    # ---- shared plumbing -----------------------------------------------------------------------
    def forward(self, batch: dict[str, Tensor]) -> Any:
        return self.net(batch)

    def collect(self, condition: str, **tensors: Tensor) -> None:
        """Keep tensors of a test or validation batch (detached, on CPU) for :meth:`evaluate`.

        A tensor with one row per example of the batch is put back in split order (and freed of DDP
        padding) by :meth:`_gathered`; any other (a per-batch timing, say) is concatenated as it comes.
        """
        self._split_outputs.add(condition, self._index, **tensors)

    def _gathered(self, condition: str) -> dict[str, Tensor]:
        """What :meth:`collect` kept for ``condition``, from every rank, padding dropped, in split order."""
        distributed = self._trainer is not None and self.trainer.world_size > 1
        return self._split_outputs.gathered(
            condition, self.all_gather if distributed else None,
            self.trainer.strategy.root_device if distributed else None, owner=type(self).__name__)

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's buffers (BatchNorm running statistics...) before evaluating.

        Under DDP each rank updates its buffers with its own last training batch; DDP broadcasts rank 0's at the
        start of each training forward (``broadcast_buffers``), but evaluation does not go through that forward,
        so without this each rank would evaluate its shard with other statistics than the saved (rank 0) model.
        """
        if self._trainer is None or self.trainer.world_size <= 1 or not torch.distributed.is_initialized():
            return
        for buf in self.buffers():
            x = buf.data.to(torch.uint8) if buf.dtype == torch.bool else buf.data
            torch.distributed.broadcast(x, src=0)
            if x is not buf.data:
                buf.data.copy_(x.bool())

    def _batch_without_index(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Keep the batch's ``index`` for :meth:`collect` and hand the method a batch without it."""
        batch, self._index = without_index(batch)
        return batch

    @property
    def condition_names(self) -> list[str]:
        dm = getattr(self.trainer, "datamodule", None)
        return [c.name for c in getattr(dm, "conditions", [])] or ["clean"]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        batch = self._batch_without_index(batch)
        loss, outputs = self.step(batch, "train")
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, batch {batch_idx}; "
                "lower model.task.lr, check the inputs for extreme values, or add gradient clipping "
                "(trainer.gradient_clip_val)")
        n = batch_size(batch)
        # summed here and logged once per epoch (on_train_epoch_end): the batch-size-weighted mean Lightning's
        # on_epoch logging computes, without its ~1 ms per self.log call and step (a fifth of a small model's step)
        self._train_loss_sum = self._train_loss_sum + loss.detach() * n
        self._train_examples += n
        if self.train_metrics is not None:
            self.update_metrics(self.train_metrics, batch, outputs)
        return loss

    def on_train_epoch_end(self) -> None:
        if self._train_examples:
            self.log("train/loss", self._train_loss_sum / self._train_examples, prog_bar=True)
        self._train_loss_sum, self._train_examples = 0.0, 0
        if self.train_metrics is not None:
            self.log_dict(self.train_metrics)  # computed over the epoch, then reset by Lightning

    def _custom_test_step(self) -> bool:
        return type(self).test_condition_step is not MMMLTask.test_condition_step

    def on_validation_epoch_start(self) -> None:
        """Decide whether this epoch computes whole-split metrics (every ``val_interval`` epochs and the last)."""
        self._reset(VAL)
        self._sync_buffers()
        last = self.trainer.max_epochs is not None and self.current_epoch + 1 >= self.trainer.max_epochs
        self._validate_split = not self.trainer.sanity_checking and (
            (self.current_epoch + 1) % self.val_interval == 0 or last)
        if self._validate_split and self.training_mode.finalize and self.training_mode.gradient:
            # validated as it will be tested: a copy finalized on this epoch's weights, the trained one untouched
            self._trained_net = [self.net]
            self.net = copy.deepcopy(self.net)
            self._finalize()

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        batch = self._batch_without_index(batch)
        loss, outputs = self.step(batch, "val")
        n = batch_size(batch)
        if loss is not None:
            self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        if not self._validate_split:
            return
        if self._custom_test_step():
            self.test_condition_step(batch, VAL)
        else:
            self._collect_outputs(VAL, batch, outputs)

    def on_validation_epoch_end(self) -> None:
        if not self._validate_split:
            return
        self.val_results = self._results(VAL)
        if self._trained_net:
            self.net = self._trained_net.pop()
        self._log_gathered(self.val_results)

    def on_validation_end(self) -> None:
        if self._validate_split:
            self._select(self.current_epoch)

    def _validate_once(self) -> None:
        """Validate a method that trains without gradient epochs, once, after fitting (and finalize)."""
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None or not hasattr(dm, "val_dataloader"):
            return
        was = self.training
        self.eval()
        self.on_validation_epoch_start()  # a subclass's per-validation set-up runs here too
        with torch.no_grad():
            for batch in dm.val_dataloader():
                batch = self._batch_without_index(batch)
                if self._custom_test_step():
                    self.test_condition_step(batch, VAL)
                else:
                    _, outputs = self.step(batch, "val")
                    self._collect_outputs(VAL, batch, outputs)
        self.train(was)
        self.val_results = self._results(VAL)
        self._select(None)

    def _select(self, epoch: int | None) -> None:
        """Keep the weights if the monitored validation value improved (or is the first)."""
        values = {**{k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith(f"{VAL}/")},
                  **self.val_results}
        name = monitored(values, self.monitor, self._monitor is not None, owner=type(self).__name__)
        if name is None:
            return
        keep = self.select_best and epoch is not None
        self._best_epoch.update(name, values[name], epoch, self._mode or metric_mode(name),
                                self.state_dict if keep else None, metrics=values)

    def _reset(self, condition: str) -> None:
        self._split_outputs.reset(condition)

    def _results(self, condition: str) -> dict[str, float]:
        """``<stage>/<metric>`` of one condition, from the outputs gathered from every rank."""
        gathered = self._gathered(condition)
        prefix = VAL if condition == VAL else f"test/{condition}"
        results = {f"{prefix}/{k}": float(v) for k, v in self.evaluate(condition, gathered).items()} \
            if gathered else {}
        self._reset(condition)
        return results

    def _collect_outputs(self, condition: str, batch: dict[str, Tensor], outputs: Any) -> None:
        """What the default :meth:`evaluate` scores: the outputs and the labels (and their mask)."""
        if self._template is None or not isinstance(outputs, Tensor):
            return
        extra = {k: batch[k] for k in ("label_present",) if k in batch}
        self.collect(condition, outputs=outputs, label=batch["label"], **extra)

    def on_test_start(self) -> None:
        """Load the best validation epoch's weights (see ``monitor``), then clear what test collects."""
        if self.select_best and self._best_epoch.restore(self):
            self._sync_buffers()
            if self.training_mode.finalize:
                self._finalize()  # on the best epoch's weights
            log.info("%s: testing the weights of epoch %s (%s=%.4g)", type(self).__name__, self.best_val["epoch"],
                     self.best_val["name"], self.best_val["value"])
        self._sync_buffers()
        self.test_results = {}
        for name in self.condition_names:
            self._reset(name)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        name = self.condition_names[dataloader_idx]
        self.test_condition_step(self._batch_without_index(batch), name)

    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        """Evaluate one batch under ``condition`` (a test condition, or ``"val"``); default: collect the outputs
        and labels that the default :meth:`evaluate` scores with :meth:`build_metrics`."""
        _, outputs = self.step(batch, "test")
        self._collect_outputs(condition, batch, outputs)

    def on_test_epoch_end(self) -> None:
        results: dict[str, float] = {}
        for name in self.condition_names:
            results.update(self._results(name))
        self.test_results.update(results)
        self._log_gathered(results, add_dataloader_idx=False)

    def _log_gathered(self, results: dict[str, float], **kwargs: Any) -> None:
        """Log metrics computed from outputs gathered from every rank (equal on all: their mean across ranks, which
        Lightning asks for under DDP, is the same value)."""
        distributed = self.trainer.world_size > 1
        for k, v in results.items():
            self.log(k, v, sync_dist=distributed, **kwargs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the random state and the best validation epoch (its weights too), so a run resumed from this
        checkpoint continues as if never stopped."""
        checkpoint["mmml_rng"] = rng_state()
        best = self._best_epoch.checkpoint()
        if best is not None:
            checkpoint["mmml_best"] = best

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "mmml_rng" in checkpoint:
            set_rng_state(checkpoint["mmml_rng"])
        if "mmml_best" in checkpoint:
            self._best_epoch.load(checkpoint["mmml_best"])

    def configure_optimizers(self):
        if not self.training_mode.gradient:
            return None
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_factory is not None:
            return self.optimizer_factory(params)
        return adamw(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
