"""The translation task: trains a translator (or fills its dictionary) and scores its translations.

:class:`TranslationTask` is the LightningModule of the translation challenge. Trainable translators
(``loss(batch)``) are trained by gradient descent on the loss they define (teacher-forced
cross-entropy, detector cross-entropy, frame L1 + durations); example-based ones have no trainable
parameters and only ``fit(train_split)`` their dictionary when training starts (the training contract
of :mod:`mmml.tasks.contract`, run by :class:`~mmml.tasks.MMMLTask`; the template translator does both,
fitted first). A method's epoch budget and gradient clipping are trainer settings (``model.trainer`` in
its config). On the test
split every translation is kept and scored as a whole (:mod:`mmml.translation.evaluation`):

- text targets: ``bleu``, ``chrf``, ``wer``, ``cer``, ``exact``, ``cider``, ``truncated`` (share of outputs
  cut at the maximum length);
- speech targets: ``mel_dtw`` (frame distance along the DTW path), and the judge's transcripts
  (:mod:`mmml.translation.judge`) scored with the text metrics; ``judge_exact`` is the judge's exact match
  on the real test speech (the ceiling of recognition-based scores).

The validation split is scored the same way (``val/<metric>``); its ``wer`` selects the tested epoch.

Examples:
    >>> from mmml.data.digit_sequences import VOCAB_EN
    >>> from mmml.data.spec import ModalitySpec
    >>> from mmml.translation import UnimodalRetrieval
    >>> specs = {"image": ModalitySpec("image", "sequence", (12, 8)),
    ...          "text": ModalitySpec("text", "tokens", (8,), vocab=VOCAB_EN.tokens)}
    >>> TranslationTask(UnimodalRetrieval(specs, "captioning")).direction.target
    'text'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from mmml.translation.directions import mask_tokens, target_is_text
from mmml.translation.evaluation import decode, mel_dtw_distance, text_scores
from mmml.translation.judge import cached_judge
from torch import Tensor, nn

from mmml.data.sequences import lengths_of
from mmml.data.text import Vocab
from mmml.io import write_json
from mmml.tasks.base import MMMLTask

MASK_SEED = 20_170_705  # hidden source words are the same for every method, seed and run
N_EXAMPLES = 4  # translations of the first test examples written to <run dir>/translations.json


class TranslationTask(MMMLTask):
    """Train and evaluate a translator on its direction.

    Args:
        net: a translator (:mod:`mmml.translation.example_based`, :mod:`mmml.translation.model_based`,
            :mod:`mmml.translation.generation`) with ``direction``, ``translate(batch)`` and ``loss(batch)``,
            ``fit(train_split)`` or both.
        judge_epochs, judge_hidden: training of the recognition judge (speech targets only).
        val_interval: validation metrics every this many epochs and at the last; default 1 for text targets,
            5 for speech (synthesis/template: 29 s instead of 9 s with the judge transcribing every epoch).
        **kwargs: see :class:`~mmml.tasks.base.MMMLTask` (``lr``, ``weight_decay``, ``optimizer``).
    """

    method_needs = ("translate",)

    def __init__(self, net: nn.Module, judge_epochs: int = 60,
                 judge_hidden: int = 64, val_interval: int | None = None, **kwargs: Any) -> None:
        super().__init__(net, val_interval=val_interval or 1, **kwargs)
        self._auto_interval = val_interval is None
        if not hasattr(net, "direction"):
            raise TypeError(f"TranslationTask cannot use {type(net).__name__}: it has no .direction; a translator "
                            "needs .direction and .translate(batch) (see mmml.translation.directions)")
        self.direction = net.direction
        self.judge_epochs, self.judge_hidden = int(judge_epochs), int(judge_hidden)
        self._judge: list[nn.Module] = []  # a list, so the judge is neither a parameter nor in checkpoints
        self.examples: dict[str, list[dict[str, str]]] = {}
        self._mask_generator: torch.Generator | None = None

    # ---- inputs ------------------------------------------------------------------------------
    def prepare(self, batch: dict[str, Tensor], stage: str) -> dict[str, Tensor]:
        """Hide source words for directions that ask for it (random in training, fixed elsewhere)."""
        rate = self.direction.source_mask
        if rate <= 0:
            return batch
        generator = None
        if stage != "train":
            if self._mask_generator is None:
                self._mask_generator = torch.Generator().manual_seed(MASK_SEED)
            generator = self._mask_generator
        return mask_tokens(batch, self.direction.sources[0], rate, generator)

    def train_split(self) -> dict[str, Tensor]:
        """The train split a dictionary is filled from, its source words hidden as in evaluation."""
        self._mask_generator = None
        return self.prepare(super().train_split(), "fit")

    def on_fit_start(self) -> None:
        if self._auto_interval:  # the judge transcribing the validation speech each epoch tripled template's run
            self.val_interval = 1 if target_is_text(self.direction, self.trainer.datamodule.specs) else 5
        self._load_judge()

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._mask_generator = None

    # ---- training ------------------------------------------------------------------------------
    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor | None, Any]:
        batch = self.prepare(batch, stage)
        if stage == "test":
            return None, self.net.translate(batch)
        return (self.net.loss(batch) if self.training_mode.gradient else None), None

    def default_monitor(self) -> str:
        """The translation headline on validation: word error rate (of the judge's transcripts for speech)."""
        return "val/wer"

    # ---- test ----------------------------------------------------------------------------------
    def on_test_start(self) -> None:
        super().on_test_start()
        self._mask_generator = None
        with torch.inference_mode(False), torch.enable_grad():  # Lightning tests in inference mode
            self._load_judge()

    def _load_judge(self) -> None:
        """Train (or load from the cache) the recognition judge, for speech targets."""
        dm = self.trainer.datamodule
        if not self._judge and not target_is_text(self.direction, dm.specs):
            judge = cached_judge(dm, self.judge_epochs, self.judge_hidden, device=self.device)  # on the run's device
            self._judge.append(judge.to(self.device))

    def on_test_end(self) -> None:
        """Write a few translations beside the result record (``translations.json``), for reports."""
        if self.examples and self.trainer.is_global_zero:
            write_json(Path(self.trainer.default_root_dir) / "translations.json", self.examples)

    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        _, out = self.step(batch, "test")
        t = self.direction.target
        if "tokens" in out:
            width = batch[t].shape[1]
            hyp = torch.zeros(out["tokens"].shape[0], width, dtype=torch.long, device=out["tokens"].device)
            hyp[:, : min(width, out["tokens"].shape[1])] = out["tokens"][:, :width]
            self.collect(condition, hyp=hyp, hyp_lengths=out["lengths"], ref=batch[t],
                         ref_lengths=lengths_of(batch, t), truncated=out["truncated"])
            return
        ref = {"audio": batch["audio"], "audio_lengths": lengths_of(batch, "audio")}
        gen = {"audio": out["frames"], "audio_lengths": out["lengths"].clamp_min(1)}
        judge = self._judge[0]
        heard, real = judge.greedy(gen), judge.greedy(ref)
        self.collect(condition, mel_dtw=mel_dtw_distance(out["frames"], gen["audio_lengths"], ref["audio"],
                                                         ref["audio_lengths"]),
                     hyp=heard["tokens"], hyp_lengths=heard["lengths"], ref=batch["text"],
                     ref_lengths=lengths_of(batch, "text"), real=real["tokens"], real_lengths=real["lengths"])

    def evaluate(self, condition: str, collected: dict[str, Tensor]) -> dict[str, float]:
        vocab_key = self.direction.target if "truncated" in collected else "text"
        v = Vocab(self.trainer.datamodule.specs[vocab_key].vocab)
        hyps = decode(collected["hyp"], v, collected["hyp_lengths"])
        refs = decode(collected["ref"], v, collected["ref_lengths"])
        scores = text_scores(hyps, refs)
        if condition in self.condition_names:  # test conditions only, not "val"
            self.examples[condition] = [{"reference": " ".join(r), "translation": " ".join(h)}
                                        for r, h in zip(refs[:N_EXAMPLES], hyps[:N_EXAMPLES], strict=True)]
        if "truncated" in collected:
            scores["truncated"] = float(collected["truncated"].float().mean())
        else:
            scores["mel_dtw"] = float(collected["mel_dtw"].mean())
            real = decode(collected["real"], v, collected["real_lengths"])
            scores["judge_exact"] = text_scores(real, refs)["exact"]
        return scores
