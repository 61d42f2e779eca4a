"""Checkpoints written atomically: a run killed mid-save keeps its previous ``last.ckpt`` intact."""

from __future__ import annotations

import os
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class AtomicLastCheckpoint(ModelCheckpoint):
    """Keeps one checkpoint, ``<dirpath>/last.ckpt``, rewritten at the end of every training epoch.

    Each save goes to a temporary file that is renamed over ``last.ckpt`` once complete, so a SIGKILL
    at any moment leaves a readable checkpoint of the last finished epoch (or none).
    """

    def __init__(self, dirpath: str | os.PathLike) -> None:
        super().__init__(dirpath=dirpath, filename="last", save_top_k=1, save_last=False, every_n_epochs=1,
                         save_on_train_epoch_end=True, enable_version_counter=False)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        tmp = f"{filepath}.tmp"
        trainer.save_checkpoint(tmp, self.save_weights_only)
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath


def monitored(task: Any = None) -> tuple[str, str]:
    """``(monitor, mode)`` for a callback left with ``monitor: null``: the task's own validation metric and its
    direction (``MMMLTask.monitor``, ``MMMLTask.mode``), else ``("val/loss", "min")``."""
    monitor = getattr(task, "monitor", None) or "val/loss"
    mode = getattr(task, "mode", None) or ("min" if monitor == "val/loss" else None)
    if mode not in ("min", "max"):
        raise ValueError(f"{type(task).__name__}.monitor={monitor!r} comes with mode={mode!r}; the task must say "
                         "whether its monitored metric is better low ('min') or high ('max')")
    return monitor, mode
