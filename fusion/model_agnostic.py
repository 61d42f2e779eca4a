"""Model-agnostic fusion (Baltrusaitis et al. 2017, Sec. 6.1): early, late and the unimodal baselines.

Early fusion concatenates unimodal features before one classifier; late fusion trains a classifier
per modality and combines their decisions (mean of probabilities, product of probabilities, or
learned modality weights). Both accept any number of modalities; a modality dropped at test time
(``<m>_present`` False) is zero-imputed at the feature level by early fusion and left out of the
combination by late fusion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmml.data.contract import is_present, present_mask, require
from mmml.data.spec import ModalitySpec
from mmml.encoders import EncoderBank, mlp


class UnimodalEncoders(nn.Module):
    """One encoder per modality, all with output size ``dim``; the shared front of fusion methods.

    Args:
        specs: modality specs. dim: output size of every encoder. modalities: which (default all).
        encoder: encoder options keyed by modality name or kind (see :class:`mmml.encoders.EncoderBank`), e.g.
            ``{"sequence": {"channels": 16}, "image": {"channels": 8}}`` (small encoders for cheap sweeps).
        modality_dropout: in training, :meth:`stacked` marks each modality of each example missing with
            this probability, exactly as a modality absent from the batch (ModDrop, Neverova et al. 2016),
            so that a fusion learns to do without it.
    """

    def __init__(self, specs: dict[str, ModalitySpec], dim: int, modalities: list[str] | None = None,
                 encoder: dict[str, dict] | None = None, modality_dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= float(modality_dropout) < 1.0:
            raise ValueError(f"model.net.modality_dropout={modality_dropout}; use a probability in [0, 1)")
        self.modality_dropout = float(modality_dropout)
        self.modalities = list(modalities) if modalities is not None else list(specs)
        unknown = [m for m in self.modalities if m not in specs]
        if unknown:
            raise ValueError(f"model.net.modalities names {unknown}, which the data set does not serve "
                             f"({list(specs)}); fix model.net.modalities or data.modalities")
        self.dim = dim
        self.encoders = EncoderBank(specs, dim, self.modalities, encoder)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | None]:
        """``{modality: (B, dim) features}``, ``None`` for a modality dropped from the batch."""
        require(batch, self.modalities)
        return {m: self.encoders.encode(batch, m) if is_present(batch, m) else None for m in self.modalities}

    def stacked(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Features ``(B, M, dim)`` with missing modalities zeroed, and the presence mask ``(B, M)`` (float);
        in training, modality dropout removes more."""
        feats = self(batch)
        n = present_mask(batch, self.modalities[0]).shape[0]
        param = next(self.parameters())
        parts, masks = [], []
        for m in self.modalities:
            mask = present_mask(batch, m).to(device=param.device, dtype=param.dtype)
            if self.training and self.modality_dropout > 0:
                mask = mask * (torch.rand(n, device=param.device) >= self.modality_dropout).to(param.dtype)
            h = feats[m] if feats[m] is not None else torch.zeros(n, self.dim, device=param.device, dtype=param.dtype)
            parts.append(h * mask[:, None])
            masks.append(mask)
        return torch.stack(parts, 1), torch.stack(masks, 1)


class Unimodal(nn.Module):
    """A single-modality classifier (encoder + linear head): the baseline every fusion must beat.

    Examples:
        >>> net = Unimodal({"image": ModalitySpec("image", "image", (1, 8, 8))}, num_classes=10, modality="image")
        >>> net({"image": torch.zeros(2, 1, 8, 8)}).shape
        torch.Size([2, 10])
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modality: str, hidden: int = 128,
                 encoder: dict[str, dict] | None = None) -> None:
        super().__init__()
        self.front = UnimodalEncoders(specs, hidden, [modality], encoder)
        self.modality = modality
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        h = self.front(batch)[self.modality]
        if h is None:  # the only modality is missing: predict the uniform distribution
            n = present_mask(batch, self.modality).shape[0]
            return torch.zeros(n, self.head.out_features, device=self.head.weight.device)
        return self.head(h)


class EarlyFusion(nn.Module):
    """Early (feature-level) fusion: concatenated unimodal features -> MLP classifier.

    Args:
        specs: modality specs (from the datamodule). num_classes: classes.
        modalities: which to fuse (default all). hidden: encoder output and MLP width.
        modality_dropout: during training, drop each modality of each example with this probability
            (see :class:`UnimodalEncoders`), the training-time counterpart of missing-modality robustness.

    Shapes: batch dict -> logits ``(B, num_classes)``.
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modalities: list[str] | None = None,
                 hidden: int = 128, dropout: float = 0.2, modality_dropout: float = 0.0,
                 encoder: dict[str, dict] | None = None) -> None:
        super().__init__()
        self.front = UnimodalEncoders(specs, hidden, modalities, encoder, modality_dropout)
        self.head = mlp([hidden * len(self.front.modalities), hidden, num_classes], dropout=dropout)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        h, _ = self.front.stacked(batch)
        return self.head(h.flatten(1))


COMBINATIONS = ("mean", "product", "learned")


class LateFusion(nn.Module):
    """Late (decision-level) fusion: a classifier per modality, decisions combined.

    ``combine="mean"`` averages class probabilities, ``"product"`` multiplies them (sums
    log-probabilities, the naive-Bayes rule), ``"learned"`` weights each modality's log-probabilities
    by softmax-normalised learned weights. Each unimodal classifier is trained on its own
    cross-entropy (``aux_loss``); the learned weights on the fused output's.

    Shapes: batch dict -> ``{"logits": (B, C) fused log-probabilities, "aux_loss": scalar, "unimodal": {m: (B, C)}}``.
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modalities: list[str] | None = None,
                 hidden: int = 128, combine: str = "mean", encoder: dict[str, dict] | None = None) -> None:
        super().__init__()
        if combine not in COMBINATIONS:
            raise ValueError(f"model.net.combine={combine!r}; choose one of {list(COMBINATIONS)}")
        self.front = UnimodalEncoders(specs, hidden, modalities, encoder)
        self.combine = combine
        self.heads = nn.ModuleDict({m: nn.Linear(hidden, num_classes) for m in self.front.modalities})
        self.weights = nn.Parameter(torch.zeros(len(self.front.modalities)))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        feats = self.front(batch)
        mods = self.front.modalities
        logp, masks = [], []
        n = present_mask(batch, mods[0]).shape[0]
        for m in mods:
            if feats[m] is None:
                logp.append(torch.zeros(n, self.heads[m].out_features, device=self.weights.device))
                masks.append(torch.zeros(n, device=self.weights.device))
            else:
                logp.append(F.log_softmax(self.heads[m](feats[m]), dim=-1))
                masks.append(present_mask(batch, m).to(logp[-1].dtype))
        unimodal = torch.stack(logp, 1)  # (B, M, C)
        # decisions are combined, not learned through: only the learned weights see the fused loss
        lp = unimodal.detach() if self.training else unimodal
        mask = torch.stack(masks, 1)  # (B, M)
        if self.combine == "learned":
            w = torch.softmax(self.weights, 0)[None, :] * mask
            w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
            fused = (w[..., None] * lp).sum(1)
        elif self.combine == "product":
            fused = (mask[..., None] * lp).sum(1)
        else:
            w = mask / mask.sum(1, keepdim=True).clamp_min(1e-12)
            fused = torch.logsumexp(lp + w[..., None].clamp_min(1e-12).log(), dim=1)
        fused = F.log_softmax(fused, dim=-1)
        out = {"logits": fused, "unimodal": {m: logp[i] for i, m in enumerate(mods)}}
        if "label" in batch and self.training:
            out["aux_loss"] = sum(F.nll_loss(logp[i], batch["label"]) for i, m in enumerate(mods)
                                  if feats[m] is not None)
        return out
