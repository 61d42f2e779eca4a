"""Hybrid fusion (Baltrusaitis et al. 2017, Sec. 6.1): fused heads at one or more depths plus unimodal heads.

Hybrid fusion combines the outputs of early fusion and of unimodal predictors, as in "double fusion"
(Lan et al. 2014, "Double fusion for multimedia event detection"): here every modality's encoder feeds
a small tower; a fused head reads the concatenated towers at each depth in ``fuse_at`` (early fusion
at several depths), a unimodal head reads the top of each tower (late fusion), and the final decision
averages the probabilities of all heads whose inputs are present (or weighs them with learned weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmml.fusion.model_agnostic import UnimodalEncoders
from torch import Tensor, nn

from mmml.data.spec import ModalitySpec


class HybridFusion(nn.Module):
    """Unimodal heads and fused heads at several depths, their decisions combined.

    Args:
        specs: modality specs. num_classes: classes. modalities: which to fuse (default all).
        hidden: encoder output and tower width. fuse_at: tower depths (1 = encoder output) read by a
            fused head each. combine: ``"mean"`` of the heads' probabilities or ``"learned"`` softmax
            weights over heads. encoder: per-kind encoder arguments (see ``UnimodalEncoders``).

    Shapes: batch dict -> ``{"logits": (B, C) combined log-probabilities, "aux_loss": scalar (training),
    "heads": {name: (B, C) log-probabilities}}``; heads are named ``fused@<depth>`` and the modalities.

    Examples:
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> net = HybridFusion(specs, num_classes=4, hidden=8, fuse_at=(1, 2))
        >>> sorted(net({"a": torch.zeros(5, 3), "b": torch.zeros(5, 2)})["heads"])
        ['a', 'b', 'fused@1', 'fused@2']
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modalities: list[str] | None = None,
                 hidden: int = 64, fuse_at: tuple[int, ...] | list[int] = (1, 2), combine: str = "mean",
                 dropout: float = 0.1, encoder: dict[str, dict] | None = None) -> None:
        super().__init__()
        fuse_at = sorted({int(d) for d in fuse_at})
        if not fuse_at or fuse_at[0] < 1:
            raise ValueError(f"model.net.fuse_at={list(fuse_at)}; give one or more depths >= 1 (1 = encoder output)")
        if combine not in ("mean", "learned"):
            raise ValueError(f"model.net.combine={combine!r}; choose 'mean' or 'learned'")
        self.front = UnimodalEncoders(specs, hidden, modalities, encoder)
        self.fuse_at, self.combine = fuse_at, combine
        depth = fuse_at[-1]
        self.towers = nn.ModuleDict({
            m: nn.ModuleList([nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU())
                              for _ in range(depth - 1)]) for m in self.front.modalities})
        n_mod = len(self.front.modalities)
        self.fused_heads = nn.ModuleDict({str(d): nn.Linear(n_mod * hidden, num_classes) for d in fuse_at})
        self.unimodal_heads = nn.ModuleDict({m: nn.Linear(hidden, num_classes) for m in self.front.modalities})
        self.weights = nn.Parameter(torch.zeros(len(fuse_at) + n_mod))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h, mask = self.front.stacked(batch)  # (B, M, H), (B, M)
        mods = self.front.modalities
        levels = {1: h}
        for d in range(2, self.fuse_at[-1] + 1):
            h = torch.stack([self.towers[m][d - 2](h[:, i]) for i, m in enumerate(mods)], 1) * mask[..., None]
            levels[d] = h
        heads, present = {}, []
        for d in self.fuse_at:
            heads[f"fused@{d}"] = F.log_softmax(self.fused_heads[str(d)](levels[d].flatten(1)), -1)
            present.append(torch.ones_like(mask[:, 0]))
        for i, m in enumerate(mods):
            heads[m] = F.log_softmax(self.unimodal_heads[m](h[:, i]), -1)
            present.append(mask[:, i])
        logp = torch.stack(list(heads.values()), 1)  # (B, K, C)
        w = torch.stack(present, 1)
        if self.combine == "learned":
            w = w * torch.softmax(self.weights, 0)[None]
        w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
        fused = torch.logsumexp(logp + w[..., None].clamp_min(1e-12).log(), dim=1)
        out = {"logits": F.log_softmax(fused, -1), "heads": heads}
        if self.training and "label" in batch:
            losses = [F.nll_loss(lp, batch["label"]) for lp in heads.values()]
            out["aux_loss"] = torch.stack(losses).mean()
        return out
