"""Coordinated representations (Baltrusaitis et al. 2017, Sec. 3.2): a space per modality, tied together.

- :class:`CCAEmbedding`: linear CCA in closed form (Hotelling 1936) on vector views of two modalities.
- :class:`DeepCCA`: encoders trained to maximise the total canonical correlation of their outputs
  (Andrew et al. 2013), then a linear CCA of those outputs gives the coordinated space.
- :class:`ContrastiveEmbedding`: symmetric InfoNCE (:func:`mmml.coordinated.info_nce`) with a learned
  temperature (CLIP, Radford et al. 2021), summed over every pair of modalities.
- :class:`RankingEmbedding`: max-margin ranking of matching over mismatching pairs (visual-semantic
  embedding, Kiros et al. 2014), optionally with the hardest negative only (VSE++, Faghri et al. 2018).

Each is a plain ``nn.Module`` with ``embed(batch) -> {modality: (B, dim)}`` (see :mod:`mmml.representation.base`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from mmml.representation.base import CoordinatedModel, ModalityEncoders, choose_modalities, choose_pair, present
from mmml.representation.views import vector_view, view_dim
from torch import Tensor, nn

from mmml.coordinated import CCA, dcca_correlation, info_nce
from mmml.data.spec import ModalitySpec


def ranking_loss(a: Tensor, b: Tensor, margin: float = 0.2, hardest: bool = False) -> Tensor:
    """Bidirectional max-margin ranking loss of paired rows (Kiros et al. 2014; VSE++ if ``hardest``).

    With cosine scores ``s = a @ b.T`` (rows normalised), each matching pair ``(i, i)`` should beat every
    mismatch by ``margin`` both ways: ``sum_j [margin - s_ii + s_ij]_+ + [margin - s_ii + s_ji]_+``;
    ``hardest=True`` keeps only the largest violation of each direction (Faghri et al., "VSE++", BMVC
    2018). Averaged over the batch.
    """
    s = a @ b.T
    pos = s.diag()
    off = ~torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
    cost_b = ((margin + s - pos[:, None]).clamp_min(0)) * off  # a_i against the wrong b_j
    cost_a = ((margin + s - pos[None, :]).clamp_min(0)) * off  # b_j against the wrong a_i
    if hardest:
        return (cost_b.amax(1) + cost_a.amax(0)).mean()
    return (cost_b.sum(1) + cost_a.sum(0)).mean()


class CanonicalProjection(nn.Module):
    """A fitted linear CCA of two sets of features, held as buffers (so it saves with the model).

    Args:
        dims: ``(dx, dy)`` input sizes. n_components: canonical pairs kept. reg: covariance ridge.
    """

    def __init__(self, dims: tuple[int, int], n_components: int, reg: float) -> None:
        super().__init__()
        self.n_components, self.reg = int(n_components), float(reg)
        for i, d in enumerate(dims):
            self.register_buffer(f"mean{i}", torch.zeros(d))
            self.register_buffer(f"weight{i}", torch.zeros(d, self.n_components))
        self.register_buffer("correlations", torch.zeros(self.n_components))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def fit(self, x: Tensor, y: Tensor) -> CanonicalProjection:
        cca = CCA(self.n_components, self.reg).fit([x.detach().cpu().double().numpy(),
                                                    y.detach().cpu().double().numpy()])
        for i in range(2):
            getattr(self, f"mean{i}").copy_(torch.from_numpy(cca.means_[i]))
            getattr(self, f"weight{i}").copy_(torch.from_numpy(cca.weights_[i]))
        self.correlations.copy_(torch.from_numpy(np.ascontiguousarray(cca.canonical_correlations_)))
        self.fitted.fill_(True)
        return self

    def forward(self, z: Tensor, view: int) -> Tensor:
        if not bool(self.fitted):
            raise RuntimeError("the canonical projection is not fitted; train the model (fit / finalize) "
                               "first")
        return (z - getattr(self, f"mean{view}")) @ getattr(self, f"weight{view}")


class CCAEmbedding(CoordinatedModel):
    """Linear CCA between two modalities, fitted in closed form on the whole train split.

    Hotelling, "Relations between two sets of variates", Biometrika 1936. Inputs are vector views
    (:func:`mmml.representation.views.vector_view`: sequences as per-feature mean and std by default).

    Args:
        specs: modality specs. modalities: the two to relate (default: the first two served).
        dim: canonical pairs kept. reg: ridge on the covariances. sequence: ``"stats"`` or ``"flat"``.

    Shapes: ``embed(batch) -> {m: (B, dim)}`` canonical variates.

    Examples:
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> net = CCAEmbedding(specs, dim=2)
        >>> z = torch.randn(40, 2)
        >>> _ = net.fit({"a": torch.cat([z, torch.randn(40, 1)], 1), "b": z + 0.1 * torch.randn(40, 2)})
        >>> net.embed({"a": torch.zeros(5, 3), "b": torch.zeros(5, 2)})["b"].shape
        torch.Size([5, 2])
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None = None, dim: int = 10,
                 reg: float = 1e-3, sequence: str = "stats") -> None:
        super().__init__()
        chosen = choose_pair(specs, modalities, "CCAEmbedding")
        self.modalities, self.sequence = chosen, sequence
        self.specs = {m: specs[m] for m in chosen}
        dims = tuple(view_dim(self.specs[m], sequence) for m in chosen)
        if dim > min(dims):
            raise ValueError(f"model.net.dim={dim} exceeds the smaller view's dimension {min(dims)}; "
                             "lower it")
        self.projection = CanonicalProjection(dims, dim, reg)

    def fit(self, train_split: Mapping[str, Tensor]) -> CCAEmbedding:
        """Fit the canonical projection on the whole train split (the training contract's ``fit``)."""
        x, y = (vector_view(train_split, self.specs[m], self.sequence) for m in self.modalities)
        self.projection.fit(x, y)
        return self

    def embed(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        dev = self.projection.weight0.device
        return {m: self.projection(vector_view(batch, self.specs[m], self.sequence).to(dev), i)
                for i, m in enumerate(self.modalities) if m in present(batch, self.modalities)}


class DeepCCA(CoordinatedModel):
    """Deep CCA (Andrew, Arora, Bilmes & Livescu, ICML 2013) of two modalities.

    Each modality's encoder ends in a linear layer of ``dim`` outputs; the loss is minus the sum of
    the top ``n_components`` canonical correlations of the two outputs over the mini-batch
    (:func:`mmml.coordinated.dcca_correlation`, Cholesky whitening with ridge ``reg``: finite for
    any batch of two or more examples, even smaller than ``dim``). After training, a linear CCA of the
    train split's outputs (``finalize``) gives the coordinated space, as in the paper.

    Args:
        specs: modality specs. modalities: the two (default the first two). dim: output size.
        hidden: encoder width. n_components: correlations in the objective (``None``: all ``dim``).
        reg: covariance ridge. encoder: encoder options by modality or kind (:class:`mmml.encoders.EncoderBank`).

    Shapes: ``embed(batch) -> {m: (B, dim)}``; ``loss(batch) -> ()``.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None = None, dim: int = 10,
                 hidden: int = 64, n_components: int | None = None, reg: float = 1e-3,
                 encoder: Mapping[str, Mapping] | None = None) -> None:
        super().__init__()
        chosen = choose_pair(specs, modalities, "DeepCCA")
        self.modalities, self.n_components, self.reg = chosen, n_components, reg
        self.front = ModalityEncoders(specs, dim, chosen, encoder, hidden=hidden)
        self.projection = CanonicalProjection((dim, dim), dim, reg)

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        h = self.front(batch)
        a, b = (h[m] for m in self.modalities)
        return -dcca_correlation(a, b, self.n_components, self.reg)

    def finalize(self, train_split: Mapping[str, Tensor]) -> None:
        """Fit the linear CCA of the outputs on the whole train split (after training)."""
        with torch.no_grad():
            h = self.front(train_split)
        self.projection.fit(*(h[m] for m in self.modalities))

    def embed(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        h = self.front(batch)
        return {m: self.projection(h[m], self.modalities.index(m)) for m in h}


class _PairwiseEmbedding(CoordinatedModel):
    """Encoders into one normalised space, trained by a loss over every pair of modalities."""

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None, dim: int, hidden: int,
                 encoder: Mapping[str, Mapping] | None) -> None:
        super().__init__()
        self.modalities = choose_modalities(specs, modalities)
        self.front = ModalityEncoders(specs, dim, self.modalities, encoder, hidden=hidden)

    def embed(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {m: F.normalize(h, dim=-1) for m, h in self.front(batch).items()}

    def pair_loss(self, a: Tensor, b: Tensor) -> Tensor:
        raise NotImplementedError

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        z = self.embed(batch)
        pairs = list(itertools.combinations(self.modalities, 2))
        return sum(self.pair_loss(z[a], z[b]) for a, b in pairs) / len(pairs)


class ContrastiveEmbedding(_PairwiseEmbedding):
    """Contrastive coordinated space: symmetric InfoNCE with a learned temperature (CLIP).

    Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML
    2021. The logit scale starts at ``1 / temperature`` and is learned in log space, clipped at 100
    as in CLIP; with more than two modalities the loss is the mean over every pair.

    Args:
        specs: modality specs. modalities: default all served. dim: embedding size. hidden: encoder
            width. temperature: initial temperature. learn_temperature: learn it (else fixed).

    Shapes: ``embed(batch) -> {m: (B, dim)}`` unit vectors; ``loss(batch) -> ()``.

    Examples:
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> net = ContrastiveEmbedding(specs, dim=4, hidden=8)
        >>> net.loss({"a": torch.randn(6, 3), "b": torch.randn(6, 2)}).shape
        torch.Size([])
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None = None, dim: int = 32,
                 hidden: int = 64, temperature: float = 0.07, learn_temperature: bool = True,
                 encoder: Mapping[str, Mapping] | None = None) -> None:
        super().__init__(specs, modalities, dim, hidden, encoder)
        if temperature <= 0:
            raise ValueError(f"model.net.temperature={temperature}; use a positive temperature (CLIP: 0.07)")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)),
                                        requires_grad=learn_temperature)

    def pair_loss(self, a: Tensor, b: Tensor) -> Tensor:
        return info_nce(a, b, logit_scale=self.logit_scale.clamp(max=math.log(100.0)), normalize=False)


class RankingEmbedding(_PairwiseEmbedding):
    """Max-margin ranking coordinated space: the visual-semantic embedding of Kiros et al.

    Kiros, Salakhutdinov & Zemel, "Unifying Visual-Semantic Embeddings with Multimodal Neural Language
    Models", 2014 (pairwise ranking loss over cosine scores); ``hardest=True`` uses the hardest
    negative of each direction (Faghri et al., VSE++, 2018). Mean over every pair of modalities.
    When pairs are matched by class only (avdigits), the hardest "negative" is usually of the same
    class, and ``hardest=True`` collapses the space (docs/representation.md); the default sums.

    Args: as :class:`ContrastiveEmbedding`, plus ``margin`` and ``hardest``.

    Shapes: ``embed(batch) -> {m: (B, dim)}`` unit vectors; ``loss(batch) -> ()``.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None = None, dim: int = 32,
                 hidden: int = 64, margin: float = 0.2, hardest: bool = False,
                 encoder: Mapping[str, Mapping] | None = None) -> None:
        super().__init__(specs, modalities, dim, hidden, encoder)
        self.margin, self.hardest = float(margin), bool(hardest)

    def pair_loss(self, a: Tensor, b: Tensor) -> Tensor:
        return ranking_loss(a, b, self.margin, self.hardest)
