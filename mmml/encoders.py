"""Small unimodal encoders, sized from a :class:`~mmml.data.spec.ModalitySpec`.

``build_encoder(spec, out_dim)`` returns an ``nn.Module`` mapping one modality's tensor (and its
lengths, for sequences and tokens) to ``(B, out_dim)`` features: an MLP for vectors, a CNN for images,
a 1-D convolution (default) or GRU for audio frames, embedding + GRU for tokens.
``encode(encoder, batch, modality)`` calls it on a batch dict. :class:`EncoderBank` holds one encoder per
modality, built from options keyed by modality name or kind: the ``encoder`` key of every model config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from mmml.data.sequences import masked_mean
from mmml.data.spec import KINDS, ModalitySpec
from mmml.recurrent import bidirectional_gru


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
    if lengths is None:
        _, h = gru(x)  # (2, B, H)
    else:
        _, h = bidirectional_gru(gru, x, lengths)  # read within each length
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


def encode(encoder: nn.Module, batch: Mapping[str, Tensor], modality: str) -> Tensor:
    """Run ``encoder`` on ``batch[modality]`` with its lengths when the batch has them."""
    return encoder(batch[modality], batch.get(f"{modality}_lengths"))


class EncoderBank(nn.ModuleDict):
    """One encoder per modality, each to ``dim`` features: the modality encoders every method shares.

    The one place where a model's ``encoder`` option becomes modules (the dict of modality encoders of
    TorchMultimodal's late-fusion model; Baltrusaitis et al. 2017, Sec. 3, unimodal representations
    before any fusion or coordination). ``options`` maps a modality name or a modality kind
    (``image``, ``sequence``, ``tokens``, ``vector``) to keyword arguments of :func:`build_encoder`;
    ``"kind"`` in them picks an alternative encoder (``mlp``, ``cnn``, ``conv1d``, ``gru``, ``tokens``).
    A name key wins over a kind key; a key that is neither a served modality nor a kind is an error.

    Args:
        specs: the data set's modality specs. dim: output size of every encoder.
        modalities: the encoders to build now, in this order (default: every spec). :meth:`add` builds
            more later, so that a model can interleave its own layers and keep its parameter
            initialisation order.
        options: ``{name or kind: build_encoder keyword arguments}``.
        where: the config key named in errors.

    Shapes: :meth:`encode` (batch, modality) -> ``(B, dim)``.

    Examples:
        >>> specs = {"image": ModalitySpec("image", "image", (1, 8, 8)),
        ...          "audio": ModalitySpec("audio", "sequence", (5,))}
        >>> bank = EncoderBank(specs, 16, options={"sequence": {"kind": "gru"}, "image": {"channels": 4}})
        >>> list(bank), type(bank["audio"]).__name__, bank["image"].conv[0].out_channels
        (['image', 'audio'], 'SequenceGRUEncoder', 4)
        >>> bank.encode({"audio": torch.zeros(2, 7, 5), "audio_lengths": torch.tensor([7, 3])}, "audio").shape
        torch.Size([2, 16])
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], dim: int, modalities: Sequence[str] | None = None,
                 options: Mapping[str, Mapping | None] | None = None, where: str = "model.net.encoder") -> None:
        super().__init__()
        self.specs, self.dim, self.where = dict(specs), int(dim), where
        self.options = {str(k): dict(v or {}) for k, v in dict(options or {}).items()}
        unknown = [k for k in self.options if k not in self.specs and k not in KINDS]
        if unknown:
            raise ValueError(f"{where} has keys {unknown}, which are neither modalities of the data set "
                             f"{list(self.specs)} nor kinds {list(KINDS)}; key the encoder options by one of those")
        for m in self.specs if modalities is None else modalities:
            self.add(m)

    def options_for(self, modality: str) -> dict:
        """The :func:`build_encoder` keyword arguments of ``modality`` (its name's options, else its kind's)."""
        spec = self.specs[modality]
        return dict(self.options.get(modality, self.options.get(spec.kind)) or {})

    def add(self, modality: str) -> nn.Module:
        """Build (consuming the RNG now), store and return the encoder of ``modality``."""
        if modality not in self.specs:
            raise ValueError(f"an encoder for {modality!r} was asked for, but the data set serves "
                             f"{list(self.specs)}; fix the model's modalities or data.modalities")
        if modality in self:
            raise ValueError(f"{self.where}: the encoder of {modality!r} is already built")
        kw = self.options_for(modality)
        self[modality] = build_encoder(self.specs[modality], self.dim, kw.pop("kind", None), **kw)
        return self[modality]

    def encode(self, batch: Mapping[str, Tensor], modality: str) -> Tensor:
        """``(B, dim)`` features of ``batch[modality]`` (with its lengths when the batch has them)."""
        return encode(self[modality], batch, modality)
