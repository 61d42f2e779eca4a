"""What every representation method shares: unimodal encoders, the ``embed``/``fuse`` API, dropping.

A representation method is a plain ``nn.Module`` with

- ``family``: ``"joint"`` (one space for all modalities) or ``"coordinated"`` (a space per modality,
  tied by a constraint), Baltrusaitis et al. 2017, Sec. 3;
- ``modalities``: the modality names it represents;
- ``embed(batch) -> {modality: (B, d)}``: the representation of each modality present in the batch,
  from that modality alone (for a joint model, the joint representation inferred from it);
- ``fuse(batch) -> (B, d')``: one representation from every modality present (missing ones inferred);
- and either ``loss(batch) -> scalar`` (trained by gradient descent) or ``fit(train_split) -> self``
  (trained in one call on the whole train split: closed-form CCA, contrastive divergence), the
  training contract of :mod:`mmml.tasks.contract`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mmml.data.contract import SUFFIXES, batch_size, is_present, require
from mmml.data.spec import ModalitySpec
from mmml.encoders import EncoderBank

FAMILIES = ("joint", "coordinated")


def choose_modalities(specs: Mapping[str, ModalitySpec], modalities: list[str] | None,
                      least: int = 2) -> list[str]:
    """The modalities a method represents (default: all served), checked against the data set."""
    chosen = list(modalities) if modalities is not None else list(specs)
    unknown = [m for m in chosen if m not in specs]
    if unknown:
        raise ValueError(f"model.net.modalities names {unknown}, which the data set does not serve "
                         f"({list(specs)}); fix model.net.modalities or data.modalities")
    if len(chosen) < least:
        raise ValueError(f"a multimodal representation needs at least {least} modalities, got {chosen}; "
                         "add modalities to data.modalities (e.g. [image, audio])")
    return chosen


def choose_pair(specs: Mapping[str, ModalitySpec], modalities: list[str] | None, method: str) -> list[str]:
    """Exactly two modalities for a pairwise method (default: the first two served)."""
    chosen = choose_modalities(specs, modalities)
    if modalities is None:
        chosen = chosen[:2]
    if len(chosen) != 2:
        raise ValueError(f"{method} relates exactly two modalities, got {chosen}; set model.net.modalities")
    return chosen


def drop_modality(batch: Mapping[str, Tensor], modality: str) -> dict[str, Tensor]:
    """The batch with ``modality`` (and its companions) removed and marked ``<m>_present = False``."""
    n = batch_size(batch)
    out = {k: v for k, v in batch.items() if k != modality and k not in {modality + s for s in SUFFIXES}}
    device = batch["label"].device if "label" in batch else next(iter(batch.values())).device
    out[f"{modality}_present"] = torch.zeros(n, dtype=torch.bool, device=device)
    return out


def present(batch: Mapping[str, Tensor], modalities: list[str]) -> list[str]:
    """Which of ``modalities`` the batch carries (raises for one never provided)."""
    require(batch, modalities)
    return [m for m in modalities if is_present(batch, m)]


class ModalityEncoders(nn.Module):
    """One encoder per modality (a :class:`mmml.encoders.EncoderBank`), each to ``dim`` features.

    Args:
        specs: modality specs. dim: output size. modalities: which (default all).
        encoder: optional encoder options keyed by modality name or by kind (the name wins), e.g.
            ``{"audio": {"kind": "gru"}}`` or ``{"sequence": {"channels": 16}}`` (keyword arguments
            of :func:`mmml.encoders.build_encoder`); a kind key applies to every modality of that kind.
        hidden: if given, each encoder outputs ``hidden`` (ReLU) features followed by a linear
            projection to ``dim`` (an unconstrained embedding, as CLIP's and deep CCA's last layer).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], dim: int, modalities: list[str],
                 encoder: Mapping[str, Mapping] | None = None, hidden: int | None = None) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.encoders = EncoderBank(specs, hidden or dim, self.modalities, encoder)
        self.projections = (nn.ModuleDict({m: nn.Linear(hidden, dim) for m in self.modalities})
                            if hidden else None)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{modality: (B, dim)}`` for every modality present in the batch."""
        out = {m: self.encoders.encode(batch, m) for m in present(batch, self.modalities)}
        if self.projections is not None:
            out = {m: self.projections[m](h) for m, h in out.items()}
        return out


class CoordinatedModel(nn.Module):
    """Base of coordinated representations: ``fuse`` concatenates the per-modality embeddings.

    A missing modality's embedding is replaced by the mean of the present ones' (a coordinated space
    makes them stand-ins for each other), so ``fuse`` also works with a modality missing.
    """

    family = "coordinated"
    modalities: list[str]

    def embed(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.embed(batch)

    def fuse(self, batch: Mapping[str, Tensor]) -> Tensor:
        emb = self.embed(batch)
        if not emb:
            raise ValueError(f"every modality of {self.modalities} is missing from the batch; "
                             "nothing to represent")
        stand_in = torch.stack(list(emb.values())).mean(0)
        return torch.cat([emb.get(m, stand_in) for m in self.modalities], dim=1)


class JointModel(nn.Module):
    """Base of joint representations: ``embed`` gives the joint representation inferred from each modality."""

    family = "joint"
    modalities: list[str]

    def fuse(self, batch: Mapping[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.fuse(batch)

    def embed(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        here = present(batch, self.modalities)
        out = {}
        for m in here:
            alone = dict(batch)
            for other in here:
                if other != m:
                    alone = drop_modality(alone, other)
            out[m] = self.fuse(alone)
        return out
