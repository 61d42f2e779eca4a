"""Hybrid co-learning (Baltrusaitis et al. 2017, Sec. 7.3): two modalities bridged through a pivot.

No example pairs the source with the target (say image and text); a pivot modality (speech) is
paired with each of them on disjoint examples. :class:`PivotBridge` learns one coordinated space
from the source–pivot pairs and the pivot–target pairs (a symmetric InfoNCE loss per kind of pair),
in the spirit of bridge correlational networks (Rajendran et al., NAACL 2016), and then retrieves
targets from sources directly. ``pivot=None`` trains on source–target pairs instead: the directly
paired upper bound.

Which modalities an example pairs is read from the data contract's per-example ``<m>_present``
masks (set for the train split by :func:`mmml.colearning.supervision.disjoint_pairs`).
"""

from __future__ import annotations

import torch  # noqa: F401 - the docstring examples use it
from torch import Tensor, nn

from mmml.coordinated import info_nce
from mmml.data.contract import present_mask, require
from mmml.data.spec import ModalitySpec
from mmml.encoders import EncoderBank


class PivotBridge(nn.Module):
    """A coordinated space for ``source`` and ``target`` learnt only through ``pivot`` pairs.

    Args:
        specs: modality specs. source, target: the modalities to bridge. pivot: the bridging modality
            (``None``: learn from direct source–target pairs).
        dim: size of the shared space. temperature: of the InfoNCE losses.
        encoder: encoder options keyed by modality name or kind (:class:`mmml.encoders.EncoderBank`).

    Shapes: batch dict -> ``{modality: (B, dim) embedding}`` for ``source`` and ``target``;
    :meth:`loss` (batch) -> scalar.

    Examples:
        >>> specs = {m: ModalitySpec(m, "vector", (4,)) for m in ("image", "audio", "text")}
        >>> net = PivotBridge(specs)
        >>> batch = {m: torch.randn(6, 4) for m in specs}
        >>> net(batch)["text"].shape, net.loss(batch).shape
        (torch.Size([6, 32]), torch.Size([]))
    """

    def __init__(self, specs: dict[str, ModalitySpec], source: str = "image", target: str = "text",
                 pivot: str | None = "audio", dim: int = 32, temperature: float = 0.1,
                 encoder: dict[str, dict] | None = None) -> None:
        super().__init__()
        names = [m for m in (source, target, pivot) if m is not None]
        if len(set(names)) != len(names):
            raise ValueError(f"model.net source/target/pivot are {names}; they must be different modalities")
        missing = [m for m in names if m not in specs]
        if missing:
            raise ValueError(f"model.net names {missing}, which the data set does not serve ({list(specs)}); "
                             "add them to data.modalities")
        self.source, self.target, self.pivot = source, target, pivot
        self.temperature = float(temperature)
        self.pairs = [(source, pivot), (pivot, target)] if pivot is not None else [(source, target)]
        self.encoders = EncoderBank(specs, dim, names, encoder)
        self.projections = nn.ModuleDict({m: nn.Linear(dim, dim) for m in names})

    def embed(self, batch: dict[str, Tensor], modality: str) -> Tensor:
        """``(B, dim)`` embedding of one modality of the batch."""
        return self.projections[modality](self.encoders.encode(batch, modality))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        require(batch, [self.source, self.target], allow_dropped=False)
        return {m: self.embed(batch, m) for m in (self.source, self.target)}

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Sum over the kinds of pairs of InfoNCE on the examples observing both modalities of the pair."""
        names = sorted({m for pair in self.pairs for m in pair})
        require(batch, names, allow_dropped=False)
        emb = {m: self.embed(batch, m) for m in names}
        total = sum(e.sum() for e in emb.values()) * 0.0  # zero, but differentiable, when no pair is observed
        for a, b in self.pairs:
            both = present_mask(batch, a) & present_mask(batch, b)
            if int(both.sum()) >= 2:  # InfoNCE needs a negative
                total = total + info_nce(emb[a][both], emb[b][both], self.temperature)
        return total

    def pair_counts(self, batch: dict[str, Tensor]) -> dict[str, int]:
        """How many examples of the batch pair each kind of modalities (for checks and logs)."""
        out = {}
        for a, b in [(self.source, self.target), *self.pairs]:
            out[f"{a}-{b}"] = int((present_mask(batch, a) & present_mask(batch, b)).sum())
        return out
