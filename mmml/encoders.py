"""Small unimodal encoders, sized from a :class:`~mmml.data.spec.ModalitySpec`.

``build_encoder(spec, out_dim)`` returns an ``nn.Module`` mapping one modality's tensor (and its
lengths, for sequences and tokens) to ``(B, out_dim)`` features: an MLP for vectors, a CNN for images,
a 1-D convolution (default) or GRU for audio frames, embedding + GRU for tokens.
``encode(encoder, batch, modality)`` calls it on a batch dict.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmml.data.spec import ModalitySpec


def mlp(sizes: list[int], dropout: float = 0.0, last_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them (and optionally after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def masked_mean(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Mean over time of ``x`` (B, T, F) over the first ``lengths`` frames."""
    if lengths is None:
        return x.mean(dim=1)
    mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(x.dtype)
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)


class VectorEncoder(nn.Module):
    """MLP over a feature vector (or a flattened example)."""

    def __init__(self, spec: ModalitySpec, out_dim: int, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = mlp([spec.feature_dim, hidden, out_dim], dropout=dropout, last_activation=True)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.net(x.flatten(1).float())


class ImageEncoder(nn.Module):
    """Two 3x3 conv blocks (the second with stride 2) then a linear layer; any C x H x W."""

    def __init__(self, spec: ModalitySpec, out_dim: int, channels: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        c, h, w = spec.shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, stride=2), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(channels * ((h + 1) // 2) * ((w + 1) // 2), out_dim), nn.ReLU())

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.head(self.conv(x.float()))


class SequenceConvEncoder(nn.Module):
    """1-D convolutions over frames, then a masked mean over time (fast; the default for audio)."""

    def __init__(self, spec: ModalitySpec, out_dim: int, channels: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        f = spec.feature_dim
        self.conv = nn.Sequential(
            nn.Conv1d(f, channels, 5, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=2), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * channels, out_dim), nn.ReLU())

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h = self.conv(x.float().transpose(1, 2)).transpose(1, 2)  # (B, T, C)
        if lengths is not None:
            mask = torch.arange(h.shape[1], device=h.device)[None, :] < lengths[:, None]
            peak = h.masked_fill(~mask[..., None], float("-inf")).amax(1)
            peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
        else:
            peak = h.amax(1)
        return self.head(torch.cat([masked_mean(h, lengths), peak], dim=1))


class SequenceGRUEncoder(nn.Module):
    """Bidirectional GRU over frames; the final states of both directions."""

    def __init__(self, spec: ModalitySpec, out_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.gru = nn.GRU(spec.feature_dim, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, out_dim), nn.ReLU())

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.head(_gru_final(self.gru, x.float(), lengths))


class TokenEncoder(nn.Module):
    """Token embedding + bidirectional GRU; padding id 0."""

    def __init__(self, spec: ModalitySpec, out_dim: int, embed: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(spec.feature_dim, embed, padding_idx=0)
        self.gru = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, out_dim), nn.ReLU())

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.head(_gru_final(self.gru, self.embed(x.long()), lengths))


def _gru_final(gru: nn.GRU, x: Tensor, lengths: Tensor | None) -> Tensor:
    if lengths is not None:
        x = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
    _, h = gru(x)  # (2, B, H)
    return torch.cat([h[0], h[1]], dim=1)


ENCODERS = {"vector": VectorEncoder, "image": ImageEncoder, "sequence": SequenceConvEncoder, "tokens": TokenEncoder}
ALTERNATIVES = {"mlp": VectorEncoder, "cnn": ImageEncoder, "conv1d": SequenceConvEncoder, "gru": SequenceGRUEncoder,
                "tokens": TokenEncoder}


def build_encoder(spec: ModalitySpec, out_dim: int, kind: str | None = None, **kwargs) -> nn.Module:
    """The default encoder for ``spec.kind`` (or ``kind``: mlp, cnn, conv1d, gru, tokens), output ``out_dim``.

    Examples:
        >>> enc = build_encoder(ModalitySpec("image", "image", (1, 8, 8)), 16)
        >>> enc(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 16])
    """
    if kind is None:
        cls = ENCODERS[spec.kind]
    elif kind in ALTERNATIVES:
        cls = ALTERNATIVES[kind]
    else:
        raise ValueError(f"encoder {kind!r} for {spec.name!r} is unknown; choose from {list(ALTERNATIVES)}")
    return cls(spec, out_dim, **kwargs)


def encode(encoder: nn.Module, batch: dict[str, Tensor], modality: str) -> Tensor:
    """Run ``encoder`` on ``batch[modality]`` with its lengths when the batch has them."""
    return encoder(batch[modality], batch.get(f"{modality}_lengths"))
