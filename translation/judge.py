"""Recognition-based evaluation of generated speech: a recogniser trained separately is the judge.

The judge is a :class:`mmml.translation.model_based.AttentionTranslator` in the ``recognition`` direction
(encoder-decoder with attention over log-mel frames, greedy decoding), trained on the *real* training and
validation audio (the same examples for every seed) with a fixed seed, independent of the method being
judged; its transcripts of generated speech are scored like any translation (WER, exact match, ...). It is
trained by a Lightning ``Trainer`` on the run's accelerator (deterministic, no logger, no checkpoint), one
AdamW step per shuffled batch with the gradient norm clipped to 1. One judge serves every method and seed
of a data set: its weights are cached on disk, keyed by a hash of the exact (standardised) tensors it
trains on, the judge's own settings and the accelerator it was trained on
(:func:`judge_cache_params`).

Examples:
    >>> from mmml.data.digit_sequences import VOCAB_EN
    >>> specs = {"audio": ModalitySpec("audio", "sequence", (12, 4)),
    ...          "text": ModalitySpec("text", "tokens", (3,), vocab=VOCAB_EN.tokens)}
    >>> g = torch.Generator().manual_seed(0)
    >>> train = {"audio": torch.randn(8, 12, 4, generator=g), "audio_lengths": torch.full((8,), 12),
    ...          "text": torch.randint(4, 14, (8, 3), generator=g), "text_lengths": torch.full((8,), 3)}
    >>> judge = train_judge(train, specs, epochs=1, hidden=8)
    >>> judge.greedy({"audio": train["audio"][:2], "audio_lengths": train["audio_lengths"][:2]})["tokens"].shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from mmml.translation.model_based import AttentionTranslator
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from mmml.data.cache import FeatureCache, source_fingerprint
from mmml.data.spec import ModalitySpec
from mmml.optim import adamw

log = logging.getLogger(__name__)
KEYS = ("audio", "audio_lengths", "text", "text_lengths")


class _Rows(Dataset):
    """The rows ``idx`` (a tensor of indices) of a dict of tensors: one whole batch per item."""

    def __init__(self, data: dict[str, Tensor]) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data["text"])

    def __getitem__(self, idx: Tensor) -> dict[str, Tensor]:
        return {k: v[idx] for k, v in self.data.items()}


class _ShuffledBatches(Sampler):
    """Each epoch, ``torch.randperm(n)`` from the (seeded, forked) global generator, cut into batches."""

    def __init__(self, n: int, batch_size: int) -> None:
        self.n, self.batch_size = int(n), int(batch_size)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[Tensor]:
        order = torch.randperm(self.n)
        for s in range(0, self.n, self.batch_size):
            yield order[s:s + self.batch_size]


class JudgeTraining(pl.LightningModule):
    """The judge's training system: teacher-forced cross-entropy of :meth:`AttentionTranslator.loss`, AdamW.

    Examples:
        >>> from mmml.data.digit_sequences import VOCAB_EN
        >>> specs = {"audio": ModalitySpec("audio", "sequence", (6, 2)),
        ...          "text": ModalitySpec("text", "tokens", (2,), vocab=VOCAB_EN.tokens)}
        >>> system = JudgeTraining(AttentionTranslator(specs, "recognition", hidden=4), lr=1e-3)
        >>> type(system.configure_optimizers()).__name__
        'AdamW'
    """

    def __init__(self, net: AttentionTranslator, lr: float) -> None:
        super().__init__()
        self.net, self.lr = net, float(lr)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self.net.loss(batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adamw(self.net.parameters(), lr=self.lr)


@contextmanager
def _global_flags_kept() -> Iterator[None]:
    """Restore what ``Trainer(deterministic=...)`` sets process-wide, and quieten its start-up messages."""
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark, cublas = torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    quiet = logging.getLogger("pytorch_lightning")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas
        quiet.setLevel(level)


def accelerator_of(device: torch.device | str | None) -> tuple[str, Any]:
    """Lightning's ``(accelerator, devices)`` for training on ``device`` (``None``: the CPU).

    Examples:
        >>> accelerator_of("cuda:1"), accelerator_of(None)
        (('gpu', [1]), ('cpu', 1))
    """
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda":
        return "gpu", [device.index if device.index is not None else torch.cuda.current_device()]
    if device.type == "cpu":
        return "cpu", 1
    return device.type, 1


def train_judge(train: dict[str, Tensor], specs: dict[str, ModalitySpec], epochs: int = 60, hidden: int = 64,
                batch_size: int = 16, lr: float = 3e-3, seed: int = 0,
                device: torch.device | str | None = None) -> AttentionTranslator:
    """Train the recogniser (speech -> digit words) on ``train`` with its own seed, on ``device``.

    A Lightning ``Trainer`` (deterministic on CPU, deterministic where the kernels allow on an accelerator;
    no logger, checkpoint or file left behind) runs ``epochs`` epochs of AdamW steps over batches of a fresh
    permutation of ``train`` per epoch, clipping the gradient norm to 1. The global random state is
    forked: training consumes none of the caller's random numbers. Returns the judge on the CPU, in eval mode.
    """
    accelerator, devices = accelerator_of(device)
    fork = [devices[0]] if accelerator == "gpu" else []
    with torch.random.fork_rng(devices=fork), _global_flags_kept(), tempfile.TemporaryDirectory() as root:
        torch.manual_seed(seed)
        net = AttentionTranslator({k: specs[k] for k in ("audio", "text")}, "recognition", hidden=hidden)
        data = {k: train[k].cpu() for k in KEYS}
        # the loader's own generator: its per-epoch base seed must not draw from the seeded global one
        loader = DataLoader(_Rows(data), sampler=_ShuffledBatches(len(data["text"]), batch_size), batch_size=None,
                            generator=torch.Generator().manual_seed(seed))
        trainer = pl.Trainer(accelerator=accelerator, devices=devices, max_epochs=epochs, gradient_clip_val=1.0,
                             deterministic=True if accelerator == "cpu" else "warn", logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False,
                             default_root_dir=root)
        trainer.fit(JudgeTraining(net, lr), train_dataloaders=loader)
    return net.cpu().eval()


def judge_training_data(datamodule: Any) -> dict[str, Tensor]:
    """What the judge trains on: the train and validation splits (as served: standardised as configured)."""
    return {k: torch.cat([datamodule.split(s)[k] for s in ("train", "val")]).cpu() for k in KEYS}


def judge_cache_params(datamodule: Any, train: dict[str, Tensor], epochs: int, hidden: int, seed: int,
                       accelerator: str) -> dict[str, Any]:
    """The judge's cache key: its own settings, the accelerator, and a hash of the exact tensors it trains on.

    The tensors depend on the data set's parameters, its split (which examples are train/val) and the
    standardisation statistics (of the train split); hashing them keys every one of these, so a judge is
    reused only for the very data it was trained on, whichever job built it first.
    """
    h = hashlib.sha256()
    for k in KEYS:
        t = train[k].contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    # v5: keyed by the training tensors (v4 omitted the split and standardisation they depend on); v8: trained
    # on batches cut past their longest utterance, its GRU unpacked (mmml.recurrent; the same to float rounding)
    # and the source of the code that trains it, so that a changed model never reuses an older judge
    code = source_fingerprint("mmml.translation.judge", "mmml.translation.model_based", "mmml.recurrent",
                              "mmml.optim", "mmml.data.sequences")  # sequences: trim_to_longest cuts its batches
    return {"data": datamodule.params(), "standardize": str(datamodule.standardize), "epochs": epochs, "code": code,
            "hidden": hidden, "seed": seed, "judge": "attention", "v": 8, "accelerator": accelerator,
            "train_data": h.hexdigest()}


def cached_judge(datamodule: Any, epochs: int = 60, hidden: int = 64, seed: int = 0,
                 device: torch.device | str | None = None) -> AttentionTranslator:
    """The judge of ``datamodule``'s speech, trained once (on ``device``) and cached beside its features."""
    specs = datamodule.specs
    accelerator, _ = accelerator_of(device)
    # train + validation: the same examples for every seed (digit_sequences fixes its splits by data_seed)
    train = judge_training_data(datamodule)
    params = judge_cache_params(datamodule, train, epochs, hidden, seed, accelerator)
    cache: FeatureCache = datamodule.cache

    def build() -> dict[str, Tensor]:
        log.info("training the recognition judge (%d epochs) for %s", epochs, datamodule.name)
        return train_judge(train, specs, epochs, hidden, seed=seed, device=device).state_dict()

    state = cache.get_or_build(f"{datamodule.name}-judge", params, build)
    net = AttentionTranslator({k: specs[k] for k in ("audio", "text")}, "recognition", hidden=hidden)
    net.load_state_dict(state)
    return net.eval()
