"""Neural fusion (Baltrusaitis et al. 2017, Sec. 6.2): tensor, low-rank and gated fusion, any number of modalities.

- :class:`TensorFusion`: outer product of the modality vectors each extended by a 1 (Zadeh et al. 2017,
  "Tensor Fusion Network for Multimodal Sentiment Analysis"), then a post-fusion network.
- :class:`LowRankFusion`: the same multilinear map with its weight tensor in rank-``r`` modality factors
  (Liu et al. 2018, "Efficient Low-rank Multimodal Fusion with Modality-Specific Factors").
- :class:`GatedFusion`: per-sample weights over modalities, from all inputs (gated multimodal unit,
  Arevalo et al. 2017) or from each modality alone (additive attention over modalities).

A modality dropped at test time is zero-imputed (tensor, low-rank) or left out of the weights (gated).
"""

from __future__ import annotations

import math

import torch
from mmml.fusion.model_agnostic import UnimodalEncoders
from torch import Tensor, nn

from mmml.data.spec import ModalitySpec


def tensor_product(feats: list[Tensor]) -> Tensor:
    """Flattened outer product of ``[z_m; 1]`` over modalities (first modality varies slowest).

    Shapes: ``M`` tensors ``(B, d_m)`` -> ``(B, prod_m (d_m + 1))``.

    Examples:
        >>> tensor_product([torch.tensor([[2.0]]), torch.tensor([[3.0]])])
        tensor([[6., 2., 3., 1.]])
    """
    if not feats:
        raise ValueError("tensor_product needs at least one modality's features")
    out = None
    for z in feats:
        z1 = torch.cat([z, torch.ones_like(z[:, :1])], dim=1)
        out = z1 if out is None else (out[:, :, None] * z1[:, None, :]).flatten(1)
    return out


def tensor_dim(n_modalities: int, hidden: int, max_size: int) -> int:
    """Largest per-modality size ``d <= hidden`` with ``(d + 1) ** n_modalities <= max_size``."""
    d = min(int(hidden), int(math.floor(max_size ** (1.0 / n_modalities) + 1e-9)) - 1)
    if d < 1:
        raise ValueError(f"tensor fusion of {n_modalities} modalities cannot fit max_size={max_size} with even 1 "
                         f"feature each (needs {2 ** n_modalities}); raise model.net.max_size")
    return d


class _FusionClassifier(nn.Module):
    """Shared front (encoders to ``dim``) and back (ReLU, dropout, linear) of tensor and low-rank fusion."""

    def __init__(self, specs, num_classes, modalities, dim, post, dropout, encoder, modality_dropout) -> None:
        super().__init__()
        self.front = UnimodalEncoders(specs, dim, modalities, encoder, modality_dropout)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(post, num_classes))

    def features(self, batch: dict[str, Tensor]) -> list[Tensor]:
        h, _ = self.front.stacked(batch)
        return list(h.unbind(1))


class TensorFusion(_FusionClassifier):
    """Tensor fusion: ``Z = [z_1; 1] x ... x [z_M; 1]``, then ``head(W vec(Z) + b)``.

    Args:
        specs: modality specs. num_classes: classes. modalities: which (default all).
        hidden: cap on each modality's vector size ``d_m``; ``d_m`` is the largest size that keeps the
            fused tensor at most ``max_size`` entries. post: width of the post-fusion layer.
        encoder: per-kind encoder arguments (see ``UnimodalEncoders``). modality_dropout: ModDrop in
            training (see ``UnimodalEncoders``): a dropped modality enters as ``[0; 1]``.

    Shapes: batch dict -> logits ``(B, num_classes)``; ``fusion_layer`` maps ``(B, prod(d_m + 1))`` to ``(B, post)``.

    Examples:
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> net = TensorFusion(specs, num_classes=4, hidden=5)
        >>> net({"a": torch.zeros(2, 3), "b": torch.zeros(2, 2)}).shape
        torch.Size([2, 4])
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modalities: list[str] | None = None,
                 hidden: int = 32, max_size: int = 4096, post: int = 64, dropout: float = 0.1,
                 encoder: dict[str, dict] | None = None, modality_dropout: float = 0.0) -> None:
        n = len(modalities) if modalities is not None else len(specs)
        self.dim = tensor_dim(n, hidden, max_size)
        super().__init__(specs, num_classes, modalities, self.dim, post, dropout, encoder, modality_dropout)
        self.fusion_layer = nn.Linear((self.dim + 1) ** n, post)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(self.fusion_layer(tensor_product(self.features(batch))))


class LowRankFusion(_FusionClassifier):
    """Low-rank multimodal fusion: ``h = sum_r lambda_r prod_m ([z_m; 1] W_m^(r)) + b``, then ``head(h)``.

    Equals :class:`TensorFusion` whose weight tensor is ``W = sum_r lambda_r W_1^(r) x ... x W_M^(r)``,
    at a cost linear rather than exponential in the number of modalities.

    Args: as :class:`TensorFusion`, with ``hidden`` the size of every modality vector and ``rank`` the
    number of factors; ``factors[m]`` has shape ``(rank, d_m + 1, post)``.

    Examples:
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> net = LowRankFusion(specs, num_classes=4, hidden=5, rank=2)
        >>> net({"a": torch.zeros(2, 3), "b": torch.zeros(2, 2)}).shape
        torch.Size([2, 4])
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modalities: list[str] | None = None,
                 hidden: int = 32, rank: int = 4, post: int = 64, dropout: float = 0.1,
                 encoder: dict[str, dict] | None = None, modality_dropout: float = 0.0) -> None:
        if int(rank) < 1:
            raise ValueError(f"model.net.rank={rank}; use a rank >= 1")
        super().__init__(specs, num_classes, modalities, hidden, post, dropout, encoder, modality_dropout)
        n = len(self.front.modalities)
        self.dim, self.rank = hidden, int(rank)
        # each factor starts as a product of n terms of size ~1, so the sum keeps unit scale
        self.factors = nn.ParameterList([nn.Parameter(torch.randn(rank, hidden + 1, post) * (hidden + 1) ** -0.5)
                                         for _ in range(n)])
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(post))

    def fuse(self, feats: list[Tensor]) -> Tensor:
        """``(B, post)`` fused vector from the modality vectors ``(B, d)`` each."""
        prod = None
        for z, w in zip(feats, self.factors, strict=True):
            z1 = torch.cat([z, torch.ones_like(z[:, :1])], dim=1)
            proj = torch.einsum("bd,rdo->bro", z1, w)
            prod = proj if prod is None else prod * proj
        return torch.einsum("bro,r->bo", prod, self.rank_weights) + self.bias

    def full_weight(self) -> Tensor:
        """The equivalent tensor-fusion weight ``(d_1 + 1, ..., d_M + 1, post)`` rebuilt from the factors."""
        out = None
        for w in self.factors:
            out = w if out is None else (out.unsqueeze(-2) * w.reshape(w.shape[0], *([1] * (out.dim() - 2)),
                                                                      w.shape[1], w.shape[2]))
        return torch.einsum("r...,r->...", out, self.rank_weights)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(self.fuse(self.features(batch)))


class GatedFusion(nn.Module):
    """Gated fusion: ``h = sum_m g_m tanh(W_m x_m)``, with per-sample weights ``g`` over modalities.

    ``gate="gmu"`` scores every modality from all inputs, ``g = softmax(W_g [x_1; ...; x_M])`` (the gated
    multimodal unit of Arevalo et al. 2017; with two modalities ``g_1 = sigmoid((w_1 - w_2) [x_1; x_2])``);
    ``gate="attention"`` scores each from its own ``h_m``: ``g = softmax(v^T tanh(U h_m))``. A missing
    modality gets weight 0; ``modality_dropout`` drops modalities in training (see ``UnimodalEncoders``).

    Shapes: batch dict -> ``{"logits": (B, C), "gates": (B, M)}``.

    Examples:
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> net = GatedFusion(specs, num_classes=4, hidden=8)
        >>> net({"a": torch.zeros(2, 3), "b": torch.zeros(2, 2)})["gates"].shape
        torch.Size([2, 2])
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modalities: list[str] | None = None,
                 hidden: int = 32, gate: str = "gmu", dropout: float = 0.1,
                 encoder: dict[str, dict] | None = None, modality_dropout: float = 0.0) -> None:
        super().__init__()
        if gate not in ("gmu", "attention"):
            raise ValueError(f"model.net.gate={gate!r}; choose 'gmu' or 'attention'")
        self.front = UnimodalEncoders(specs, hidden, modalities, encoder, modality_dropout)
        n = len(self.front.modalities)
        self.gate = gate
        self.transforms = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(n)])
        self.scorer = nn.Linear(n * hidden, n) if gate == "gmu" else nn.Sequential(
            nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x, mask = self.front.stacked(batch)  # (B, M, H), (B, M)
        h = torch.stack([torch.tanh(t(x[:, i])) for i, t in enumerate(self.transforms)], 1)
        scores = self.scorer(x.flatten(1)) if self.gate == "gmu" else self.scorer(h).squeeze(-1)
        scores = scores.masked_fill(mask == 0, float("-inf"))
        gates = torch.softmax(scores, dim=1).nan_to_num(0.0)  # every modality missing: all weights 0
        fused = (gates[..., None] * h).sum(1)
        return {"logits": self.head(fused), "gates": gates}
