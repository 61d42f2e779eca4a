"""Example-based translation (Baltrusaitis et al. 2017, Sec. 4.1): translate by retrieving from a dictionary.

The dictionary is the training split (source, target) pairs. Sources and targets are compared through
fixed-size views (:func:`mmml.translation.directions.fixed_view`: tokens one-hot by position, sequences
resampled to a fixed number of frames), standardised with the training statistics.

- :class:`UnimodalRetrieval`: the nearest training source, its target copied (Farhadi et al. 2010 style
  retrieval in the source modality).
- :class:`CrossModalRetrieval`: the nearest training *target* to the source in a coordinated space
  learned by CCA (the shared closed-form :class:`mmml.coordinated.CCA` after PCA on each side; Socher et
  al. 2014, Hodosh et al. 2013).
- :class:`TopKConsensus`: the K nearest sources' targets, and the one that agrees most with the other
  K-1 (smallest word edit distance for text, smallest frame distance for speech; Devlin et al. 2015).

They have no trainable parameters: ``fit(train_split)`` stores the dictionary (a fitted method of
:mod:`mmml.tasks.contract`), ``translate(batch)`` returns what the translators of
:mod:`mmml.translation.model_based` return.

Examples:
    >>> import torch
    >>> from mmml.data.digit_sequences import VOCAB_EN
    >>> from mmml.data.spec import ModalitySpec
    >>> specs = {"image": ModalitySpec("image", "sequence", (4, 2)),
    ...          "text": ModalitySpec("text", "tokens", (2,), vocab=VOCAB_EN.tokens)}
    >>> train = {"image": torch.eye(4, 2)[None].repeat(3, 1, 1) * torch.arange(3.)[:, None, None],
    ...          "text": torch.tensor([[4, 4], [5, 5], [6, 6]]), "text_lengths": torch.tensor([2, 2, 2])}
    >>> net = UnimodalRetrieval(specs, "captioning"); net.fit(train)
    >>> net.translate({"image": train["image"][1:2] + 0.1})["tokens"].tolist()
    [[5, 5]]
"""

from __future__ import annotations

import numpy as np
import torch
from mmml.translation.directions import check_batch, fixed_view, get_direction, target_is_text
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from torch import Tensor, nn
from torchaudio.functional import edit_distance

from mmml.coordinated import CCA
from mmml.data.sequences import lengths_of
from mmml.data.spec import ModalitySpec


class ExampleBasedTranslator(nn.Module):
    """Base: keeps the training pairs and the standardised source views.

    Args:
        specs: the data set's modalities. direction: a name from :data:`mmml.translation.directions.DIRECTIONS`.
        frames: frames each sequence is resampled to for its fixed-size view.
    """

    def __init__(self, specs: dict[str, ModalitySpec], direction: str = "captioning", frames: int = 16) -> None:
        super().__init__()
        self.direction = get_direction(direction, specs)
        self.specs, self.frames = specs, int(frames)
        self.text_target = target_is_text(self.direction, specs)
        self.dummy = nn.Parameter(torch.zeros(1), requires_grad=False)  # Lightning wants a parameter
        self.targets: Tensor | None = None
        self.target_lengths: Tensor | None = None

    def source_view(self, batch: dict[str, Tensor]) -> np.ndarray:
        check_batch(batch, self.direction)
        x = torch.cat([fixed_view(batch, m, self.specs[m], self.frames) for m in self.direction.sources], 1)
        x = x.detach().cpu().double().numpy()
        return (x - self.mean_) / self.std_ if hasattr(self, "mean_") else x

    def target_view(self, targets: Tensor, lengths: Tensor) -> np.ndarray:
        t = self.direction.target
        view = fixed_view({t: targets, f"{t}_lengths": lengths}, t, self.specs[t], self.frames)
        return view.detach().cpu().double().numpy()

    def fit(self, train_split: dict[str, Tensor]) -> None:
        """Store the dictionary: training targets and standardised source views."""
        for attr in ("mean_", "std_"):
            if hasattr(self, attr):
                delattr(self, attr)
        x = self.source_view(train_split)
        self.mean_, self.std_ = x.mean(0), x.std(0) + 1e-6
        self.sources_ = (x - self.mean_) / self.std_
        t = self.direction.target
        self.targets, self.target_lengths = train_split[t].detach().cpu(), lengths_of(train_split, t).detach().cpu()

    def _check_fitted(self) -> None:
        if self.targets is None:
            raise RuntimeError(f"{type(self).__name__} translates from a dictionary: call fit(train_split) first")

    def output(self, index: np.ndarray, device: torch.device) -> dict[str, Tensor]:
        """The stored targets at ``index``, as a translation."""
        idx = torch.as_tensor(index, dtype=torch.long)
        lengths = self.target_lengths[idx].to(device)
        if self.text_target:
            return {"tokens": self.targets[idx].to(device), "lengths": lengths,
                    "truncated": torch.zeros(len(idx), dtype=torch.bool, device=device)}
        return {"frames": self.targets[idx].to(device).float(), "lengths": lengths}

    def translate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError


class UnimodalRetrieval(ExampleBasedTranslator):
    """Nearest training source (Euclidean on standardised views); its target is the translation."""

    def fit(self, train_split: dict[str, Tensor]) -> None:
        super().fit(train_split)
        self.index_ = NearestNeighbors(n_neighbors=1).fit(self.sources_)

    def translate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self._check_fitted()
        _, idx = self.index_.kneighbors(self.source_view(batch))
        return self.output(idx[:, 0], batch[self.direction.sources[0]].device)


class CrossModalRetrieval(ExampleBasedTranslator):
    """Nearest training target in a CCA space shared by source and target views (cosine similarity).

    Args: as :class:`ExampleBasedTranslator`, plus ``components`` (CCA dimensions), ``pca``
    (dimensions each view is reduced to first, which regularises CCA on few examples) and ``reg`` (the
    CCA ridge, relative to each view's mean variance: :mod:`mmml.coordinated`).
    """

    def __init__(self, specs: dict[str, ModalitySpec], direction: str = "captioning", frames: int = 16,
                 components: int = 16, pca: int = 48, reg: float = 1e-3) -> None:
        super().__init__(specs, direction, frames)
        self.components, self.pca, self.reg = int(components), int(pca), float(reg)

    def fit(self, train_split: dict[str, Tensor]) -> None:
        super().fit(train_split)
        y = self.target_view(self.targets, self.target_lengths)
        n = len(y)
        self.pca_x_ = PCA(min(self.pca, n - 1, self.sources_.shape[1]), random_state=0).fit(self.sources_)
        self.pca_y_ = PCA(min(self.pca, n - 1, y.shape[1]), random_state=0).fit(y)
        xs, ys = self.pca_x_.transform(self.sources_), self.pca_y_.transform(y)
        k = min(self.components, xs.shape[1], ys.shape[1])
        self.cca_ = CCA(k, reg=self.reg, relative_reg=True).fit([xs, ys])
        _, cand = self.cca_.transform([None, ys])
        self.candidates_ = cand / (np.linalg.norm(cand, axis=1, keepdims=True) + 1e-12)

    def translate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self._check_fitted()
        q, _ = self.cca_.transform([self.pca_x_.transform(self.source_view(batch)), None])
        q = q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-12)
        return self.output((q @ self.candidates_.T).argmax(1), batch[self.direction.sources[0]].device)


class TopKConsensus(ExampleBasedTranslator):
    """Among the targets of the ``k`` nearest training sources, the one closest on average to the others.

    Text: mean word edit distance (``torchaudio.functional.edit_distance``); speech: mean Euclidean
    distance of the fixed-size frame views. Ties go to the nearer source.
    """

    def __init__(self, specs: dict[str, ModalitySpec], direction: str = "captioning", frames: int = 16,
                 k: int = 5) -> None:
        super().__init__(specs, direction, frames)
        if int(k) < 1:
            raise ValueError(f"model.net.k={k}; use a positive number of neighbours")
        self.k = int(k)

    def fit(self, train_split: dict[str, Tensor]) -> None:
        super().fit(train_split)
        self.index_ = NearestNeighbors(n_neighbors=min(self.k, len(self.sources_))).fit(self.sources_)
        if not self.text_target:
            self.target_views_ = self.target_view(self.targets, self.target_lengths)

    def consensus(self, candidates: np.ndarray) -> int:
        """Position (in ``candidates``, training indices) of the candidate nearest to the others."""
        if self.text_target:
            words = [self.targets[c, : self.target_lengths[c]].tolist() for c in candidates]
            dist = np.array([[edit_distance(a, b) for b in words] for a in words], dtype=float)
        else:
            v = self.target_views_[candidates]
            dist = np.sqrt(((v[:, None] - v[None]) ** 2).sum(-1))
        return int(np.argmin(dist.sum(1)))  # stable argmin: the nearer source wins ties

    def translate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self._check_fitted()
        _, idx = self.index_.kneighbors(self.source_view(batch))
        chosen = np.array([row[self.consensus(row)] for row in idx])
        return self.output(chosen, batch[self.direction.sources[0]].device)
