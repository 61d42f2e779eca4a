"""Decoders from a latent vector back to one modality, with the reconstruction loss that fits its kind.

Images and vectors: Gaussian (squared error); sequences: squared error over the valid frames only
(``target="frames"``) or of the per-feature mean and std over them (``target="stats"``, the vector
view of :mod:`mmml.representation.views`); tokens: cross-entropy per valid position. Each loss is
returned per example and averaged over the modality's elements, so modalities of very different
sizes weigh alike (the ``lambda_m`` weighting of Wu & Goodman 2018, Sec. 4). Used by the
multimodal autoencoder and the product-of-experts VAE.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch  # noqa: F401 - the docstring examples use it
import torch.nn.functional as F
from mmml.representation.views import SEQUENCE_VIEWS, vector_view, view_dim
from torch import Tensor, nn

from mmml.data.sequences import valid_mask
from mmml.data.spec import ModalitySpec
from mmml.encoders import mlp


class ModalityDecoder(nn.Module):
    """MLP ``latent -> hidden -> modality`` and its per-example reconstruction loss.

    Shapes: ``forward(z (B, latent))`` returns ``(B, *spec.shape)`` (tokens: ``(B, L, V)`` logits);
    ``loss(z, batch)`` returns ``(B,)``.

    Examples:
        >>> dec = ModalityDecoder(ModalitySpec("image", "image", (1, 8, 8)), latent=4, hidden=16)
        >>> dec.loss(torch.zeros(2, 4), {"image": torch.zeros(2, 1, 8, 8)}).shape
        torch.Size([2])
    """

    def __init__(self, spec: ModalitySpec, latent: int, hidden: int, target: str = "frames") -> None:
        super().__init__()
        if target not in SEQUENCE_VIEWS + ("frames",):
            raise ValueError(f"decoder target {target!r}; choose 'frames' or 'stats'")
        self.spec = spec
        self.stats = spec.kind == "sequence" and target == "stats"
        size = view_dim(spec, "stats") if self.stats else (
            spec.shape[0] * spec.feature_dim if spec.is_sequential else spec.feature_dim)
        self.net = mlp([latent, hidden, size])

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(z)
        if self.stats:
            return out
        if self.spec.kind == "tokens":
            return out.view(z.shape[0], self.spec.shape[0], self.spec.feature_dim)
        return out.view(z.shape[0], *self.spec.shape)

    def loss(self, z: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        name, kind = self.spec.name, self.spec.kind
        pred, target = self(z), batch[name]
        lengths = batch.get(f"{name}_lengths")
        if kind == "tokens":
            ce = F.cross_entropy(pred.transpose(1, 2), target.long(), ignore_index=0, reduction="none")
            valid = (target != 0).to(ce.dtype)
            return (ce * valid).sum(1) / valid.sum(1).clamp_min(1.0)
        if self.stats:
            return ((pred - vector_view(batch, self.spec, "stats")) ** 2).mean(1)
        err = (pred - target.float()) ** 2
        if kind == "sequence" and lengths is not None:
            mask = valid_mask(lengths.to(err.device), err.shape[1]).to(err.dtype)
            return (err.sum(-1) * mask).sum(1) / (mask.sum(1) * err.shape[-1]).clamp_min(1.0)
        return err.flatten(1).mean(1)


def reconstruction_loss(decoders: nn.ModuleDict, z: Tensor, batch: Mapping[str, Tensor],
                        modalities: list[str]) -> Tensor:
    """Per-example sum over ``modalities`` of each decoder's loss, ``(B,)``."""
    return sum(decoders[m].loss(z, batch) for m in modalities)
