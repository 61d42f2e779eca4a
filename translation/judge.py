"""Recognition-based evaluation of generated speech: a recogniser trained separately is the judge.

The judge is a :class:`mmml.translation.model_based.AttentionTranslator` in the ``recognition`` direction
(encoder-decoder with attention over log-mel frames, greedy decoding), trained on the *real* training and
validation
audio (the same examples for every seed) with a fixed
seed, independent of the method being judged; its transcripts of generated speech are scored like
any translation (WER, exact match, ...). One judge serves every method and seed of a data set: its
weights are cached on disk, keyed by the data set's parameters and the judge's own.

Examples:
    >>> judge = train_judge(dm.split("train"), dm.specs, epochs=2)  # doctest: +SKIP
    >>> judge.translate({"audio": frames, "audio_lengths": lengths})["tokens"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from mmml.translation.model_based import AttentionTranslator
from torch import Tensor

from mmml.data.cache import FeatureCache
from mmml.data.spec import ModalitySpec

log = logging.getLogger(__name__)


def train_judge(train: dict[str, Tensor], specs: dict[str, ModalitySpec], epochs: int = 60, hidden: int = 64,
                batch_size: int = 16, lr: float = 3e-3, seed: int = 0) -> AttentionTranslator:
    """Train the recogniser (speech -> digit words) on ``train`` with its own seeded generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AttentionTranslator({k: specs[k] for k in ("audio", "text")}, "recognition", hidden=hidden)
        opt = torch.optim.AdamW(net.parameters(), lr=lr)
        n = len(train["text"])
        data = {k: train[k].cpu() for k in ("audio", "audio_lengths", "text", "text_lengths")}
        net.train()
        for _ in range(epochs):
            order = torch.randperm(n)
            for s in range(0, n, batch_size):
                idx = order[s:s + batch_size]
                loss = net.loss({k: v[idx] for k, v in data.items()})
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
    return net.eval()


def cached_judge(datamodule: Any, epochs: int = 60, hidden: int = 64, seed: int = 0) -> AttentionTranslator:
    """The judge of ``datamodule``'s speech, trained once and cached beside its features."""
    specs = datamodule.specs
    params = {"data": datamodule.params(), "standardize": str(datamodule.standardize), "epochs": epochs,
              "hidden": hidden, "seed": seed, "judge": "attention", "v": 3}  # v3: per-source attention
    # train + validation: the same examples whatever the seed (the test split is fixed by data_seed)
    train = {k: torch.cat([datamodule.split(s)[k] for s in ("train", "val")]) for k in datamodule.split("train")}
    cache: FeatureCache = datamodule.cache

    def build() -> dict[str, Tensor]:
        log.info("training the recognition judge (%d epochs) for %s", epochs, datamodule.name)
        return train_judge(train, specs, epochs, hidden, seed=seed).state_dict()

    state = cache.get_or_build(f"{datamodule.name}-judge", params, build)
    net = AttentionTranslator({k: specs[k] for k in ("audio", "text")}, "recognition", hidden=hidden)
    net.load_state_dict(state)
    return net.eval()
