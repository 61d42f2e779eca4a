"""The alignment task: trains or fits an aligner, then aligns every test utterance to its transcript and scores it.

:class:`AlignmentTask` is the LightningModule of the alignment challenge. An aligner (``net``) has

- ``align(batch) -> (B, D, 2)``: each word's ``[start, end)`` frame of ``batch[modality]``, -1 padded (the
  data contract's ``<modality>_boundaries``), given the transcript in the batch;
- and, by the training contract of :mod:`mmml.tasks.contract` (run by :class:`~mmml.tasks.MMMLTask`), either
  ``loss(batch)`` (trained by gradient descent: :class:`~mmml.alignment.supervised.CTCAligner`,
  :class:`~mmml.alignment.implicit.AttentionAligner`) or ``fit(train_split)`` (fitted once on the whole training
  split: :class:`~mmml.alignment.supervised.HMMAligner`, :class:`~mmml.alignment.unsupervised.TemplateAligner`,
  :class:`~mmml.alignment.unsupervised.CTWAligner`), or neither (:class:`~mmml.alignment.unsupervised.UniformAligner`).
  A method's epoch budget and gradient clipping are trainer settings (``model.trainer`` in its config).

At test, per condition, whole-split measures (:func:`mmml.alignment.metrics.alignment_scores`):
``boundary_mae_ms``, ``within_20ms``, ``within_50ms``, ``frame_accuracy`` (silence frames count), and
``ms_per_pair``, the wall time of ``align`` per utterance (and, for attention aligners, ``attention_entropy``,
``diagonality`` and ``monotonic_share``); the same on the validation split (``val/...``),
whose ``boundary_mae_ms`` selects the tested epoch of a trained aligner. The first test utterance, its true and
predicted spans (and the attention, for attention aligners) are written to ``<run dir>/alignment_example.pt`` for
:mod:`mmml.alignment.report`.

Examples:
    >>> from mmml.alignment.unsupervised import UniformAligner
    >>> task = AlignmentTask(UniformAligner())
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mmml.data.sequences import lengths_of
from mmml.io import save_tensors
from mmml.tasks.base import MMMLTask

from .attention_diagnostics import DIAGNOSTICS, attention_diagnostics
from .metrics import alignment_scores
from .segments import transcripts

__all__ = ["EXAMPLE_FILE", "AlignmentTask"]
EXAMPLE_FILE = "alignment_example.pt"


class AlignmentTask(MMMLTask):
    """Train or fit an aligner on the training split; align the test split and score the word boundaries.

    Args:
        net: an aligner (see the module). modality: the aligned sequence (its spec gives the frame rate;
            the truth is ``<modality>_boundaries``). transcript: the token modality holding the words.
        val_interval: validation metrics every this many epochs and at the last (5: aligning the validation
            split each epoch made CTC's 20-epoch run 1.75x as long).
        **kwargs: see :class:`~mmml.tasks.base.MMMLTask` (``lr``, ``weight_decay``, ``optimizer``).
    """

    method_needs = ("align",)

    def __init__(self, net: nn.Module, modality: str = "audio", transcript: str = "text", val_interval: int = 5,
                 **kwargs: Any) -> None:
        super().__init__(net, val_interval=val_interval, **kwargs)
        self.modality, self.transcript = modality, transcript
        self.example: dict[str, Any] = {}

    # ---- training ------------------------------------------------------------------------------
    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor | None, Any]:
        if stage == "test":
            return None, self.net.align(batch)
        return (self.net.loss(batch) if self.training_mode.gradient else None), None

    def default_monitor(self) -> str:
        """The alignment headline on validation: the mean boundary error in milliseconds (lower is better)."""
        return "val/boundary_mae_ms"

    # ---- test ----------------------------------------------------------------------------------
    def frame_rate(self) -> float:
        spec = self.trainer.datamodule.specs[self.modality]
        if not spec.frame_rate:
            raise ValueError(f"modality {self.modality!r} has no frame_rate, so boundary errors cannot be given in "
                             "milliseconds; align a modality whose ModalitySpec sets frame_rate")
        return float(spec.frame_rate)

    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        start = time.perf_counter()
        pred = self.net.align(batch)
        seconds = time.perf_counter() - start
        true, n = batch[f"{self.modality}_boundaries"], lengths_of(batch, self.modality)
        self.collect(condition, pred=pred, true=true, lengths=n, seconds=torch.tensor([seconds]),
                     pairs=torch.tensor([pred.shape[0]]))
        self._collect_diagnostics(batch, condition)
        if not self.example and condition == self.condition_names[0]:
            self.example = self._example(batch, pred)

    def _collect_diagnostics(self, batch: dict[str, Tensor], condition: str) -> None:
        """Attention aligners: each utterance's diagnostics (:mod:`mmml.alignment.attention_diagnostics`)."""
        if not callable(getattr(self.net, "attention", None)):
            return
        mats = self.net.attention(batch)
        diag = [attention_diagnostics(m) for m in mats]
        self.collect(condition, diag=torch.tensor([[d[k] for k in DIAGNOSTICS] for d in diag], dtype=torch.float64),
                     rows=torch.tensor([m.shape[0] for m in mats], dtype=torch.float64))

    def _example(self, batch: dict[str, Tensor], pred: Tensor) -> dict[str, Any]:
        """The first utterance of the first condition: frames, words, true and predicted spans (and attention)."""
        one = {k: v[:1] for k, v in batch.items()}
        n = int(lengths_of(one, self.modality)[0])
        out = {"frames": one[self.modality][0, :n].float().cpu(),
               "words": torch.tensor(transcripts(one, self.transcript)[0]),
               "true": one[f"{self.modality}_boundaries"][0].cpu(), "pred": pred[0].cpu(),
               "frame_rate": self.frame_rate()}
        vocab = self.trainer.datamodule.specs[self.transcript].vocab
        out["vocab"] = list(vocab) if vocab else []
        if callable(getattr(self.net, "attention", None)):
            out["attention"] = self.net.attention(one)[0]
            out["stride"] = int(self.net.encoder.stride)
        return out

    def evaluate(self, condition: str, collected: dict[str, Tensor]) -> dict[str, float]:
        scores = alignment_scores(collected["pred"], collected["true"], self.frame_rate(),
                                  n_frames=collected["lengths"].tolist())
        scores["ms_per_pair"] = 1000.0 * float(collected["seconds"].sum()) / max(int(collected["pairs"].sum()), 1)
        if "diag" in collected:
            scores.update(_pooled_diagnostics(collected["diag"], collected["rows"]))
        return scores

    def on_test_end(self) -> None:
        if self.example and self.trainer.is_global_zero:
            save_tensors(Path(self.trainer.default_root_dir) / EXAMPLE_FILE, self.example)


def _pooled_diagnostics(diag: Tensor, rows: Tensor) -> dict[str, float]:
    """Per-utterance diagnostics (N, 3) pooled as :func:`~mmml.alignment.attention_diagnostics.pool_diagnostics`."""
    pairs = (rows - 1).clamp_min(0)
    out = {k: float((diag[:, i] * rows).sum() / rows.sum()) for i, k in enumerate(DIAGNOSTICS[:2])}
    out[DIAGNOSTICS[2]] = float((diag[:, 2] * pairs).sum() / pairs.sum()) if pairs.sum() > 0 else 1.0
    return out
