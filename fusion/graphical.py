"""Graphical fusion (Baltrusaitis et al. 2017, Sec. 6.2): multistream HMM classifiers with hmmlearn.

Each modality is a stream of frames: audio frames, image columns (an image ``C x H x W`` is ``W``
frames of ``C*H`` values), a vector is one frame. One HMM per class (Gaussian, diagonal covariances,
left-to-right by default; Rabiner 1989) is trained with hmmlearn's EM, and a sample goes to the class
whose model explains it best. Two ways to fuse streams (Potamianos et al. 2003, "Recent advances in the
automatic recognition of audiovisual speech"; Dupont & Luettin 2000):

- ``fusion="feature"``: streams are brought to a common frame rate (nearest-frame upsampling to the
  longest stream of each sample) and concatenated; one HMM per class over the joint frames. A missing
  stream is marginalised: its dimensions are left out of the diagonal Gaussians.
- ``fusion="decision"``: one HMM per class and stream; the class score is ``sum_s w_s log p(O_s | class, s)``
  with non-negative stream weights fitted by conditional likelihood on a held-out part of the training
  set (``stream_weights="learned"``) or equal. A missing stream drops out of the sum.

Scores are computed by a batched forward algorithm in torch from the fitted hmmlearn parameters; they
equal hmmlearn's ``score`` per sequence (tested).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from hmmlearn.hmm import GaussianHMM
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from torch import Tensor

Stream = tuple[np.ndarray, np.ndarray]  # frames (n, T, F) and lengths (n,)


def stream_from_batch(batch: dict[str, Tensor], modality: str) -> Stream | None:
    """``(frames (n, T, F), lengths (n,))`` of one modality, ``None`` when it was dropped.

    Examples:
        >>> X, L = stream_from_batch({"image": torch.zeros(2, 1, 8, 6)}, "image")
        >>> X.shape, L.tolist()
        ((2, 6, 8), [6, 6])
    """
    if modality not in batch:
        if f"{modality}_present" in batch:
            return None
        raise KeyError(f"batch has no modality {modality!r} (keys {sorted(batch)}); add it to data.modalities")
    x = batch[modality].detach().double().cpu()
    if not batch[modality].is_floating_point():
        raise TypeError(f"modality {modality!r} holds integer tokens; multistream HMMs need real-valued frames "
                        "(audio, images, vectors): leave it out of data.modalities")
    if x.dim() == 4:  # image (n, C, H, W): columns left to right
        frames = x.permute(0, 3, 1, 2).flatten(2)
    elif x.dim() == 3:
        frames = x
    elif x.dim() == 2:
        frames = x[:, None, :]
    else:
        raise ValueError(f"modality {modality!r} has shape {tuple(x.shape)}; expected (n, T, F) frames, "
                         "(n, C, H, W) images or (n, F) vectors")
    lengths = batch.get(f"{modality}_lengths")
    lengths = np.full(len(frames), frames.shape[1]) if lengths is None else lengths.detach().cpu().numpy()
    return frames.numpy(), lengths.astype(np.int64)


def check_lengths(lengths: np.ndarray, T: int, name: str) -> None:
    """Every sequence has between 1 and ``T`` frames, else a clear error naming the rows."""
    bad = np.flatnonzero((lengths < 1) | (lengths > T))
    if len(bad):
        raise ValueError(f"{name}: sequences {bad[:5].tolist()} have lengths {lengths[bad[:5]].tolist()}; every "
                         f"sequence needs 1 to {T} frames (an empty sequence cannot be scored)")


def forward_log_likelihood(frames: Tensor, lengths: Tensor, startprob: Tensor, transmat: Tensor, means: Tensor,
                           variances: Tensor, observed: Tensor | None = None) -> Tensor:
    """Log-likelihood of each sequence under each of several diagonal-Gaussian HMMs (forward algorithm).

    Shapes: frames ``(n, T, F)``, lengths ``(n,)``; per model (``C`` of them): startprob ``(C, K)``,
    transmat ``(C, K, K)``, means and variances ``(C, K, F)``; ``observed`` ``(n, F)`` bool marks the
    dimensions to use (the others are marginalised). Returns ``(n, C)``.
    """
    mask = torch.ones(frames.shape[0], frames.shape[2], dtype=frames.dtype, device=frames.device) \
        if observed is None else observed.to(frames.dtype)
    C, K, F = means.shape
    inv = (1.0 / variances).reshape(C * K, F).T  # (F, C*K)
    x = frames * mask[:, None, :]
    quad = ((x * frames) @ inv - 2 * x @ (means.reshape(C * K, F).T * inv)
            + (mask @ (means.reshape(C * K, F).T ** 2 * inv))[:, None])
    logdet = (mask @ torch.log(2 * math.pi * variances).reshape(C * K, F).T)[:, None]
    quad, logdet = quad.reshape(*quad.shape[:2], C, K), logdet.reshape(logdet.shape[0], 1, C, K)
    ll = -0.5 * (quad + logdet)  # (n, T, C, K)
    alpha = torch.log(startprob)[None] + ll[:, 0]  # (n, C, K)
    for t in range(1, frames.shape[1]):  # log-space recursion with the max factored out, as a matmul
        top = alpha.amax(-1, keepdim=True)
        step = torch.log(torch.einsum("nck,ckj->ncj", torch.exp(alpha - top), transmat)) + top + ll[:, t]
        alpha = torch.where((t < lengths)[:, None, None], step, alpha)
    return torch.logsumexp(alpha, dim=-1)


def synchronise(streams: list[Stream | None], widths: list[int] | None = None) -> tuple[np.ndarray, ...]:
    """Concatenate streams frame by frame at the longest present stream's rate (nearest-frame upsampling).

    ``widths``: features per stream (needed for a missing stream, which is filled with zeros).
    Returns ``(frames (n, T, sum F), lengths (n,), observed (n, sum F) bool)``.
    """
    present = [s for s in streams if s is not None]
    n = len(present[0][0])
    lengths = np.max([s[1] for s in present], axis=0)
    T = int(lengths.max())
    parts, observed = [], []
    widths = widths or [s[0].shape[2] for s in streams]
    for s, ref in zip(streams, widths, strict=True):
        if s is None:
            parts.append(np.zeros((n, T, ref)))
            observed.append(np.zeros((n, ref), dtype=bool))
            continue
        X, L = s
        t = np.arange(T)[None, :]
        idx = np.minimum((t * L[:, None]) // np.maximum(lengths[:, None], 1), L[:, None] - 1)
        parts.append(np.take_along_axis(X, idx[..., None], axis=1))
        observed.append(np.ones((n, X.shape[2]), dtype=bool))
    return np.concatenate(parts, 2), lengths, np.concatenate(observed, 1)


class MultistreamHMM(ClassifierMixin, BaseEstimator):
    """HMM classifier over several streams, fused at the feature or at the decision level.

    Args:
        fusion: ``"feature"`` or ``"decision"`` (see the module docstring). n_states: states per HMM
            (at most the shortest training sequence). topology: ``"left-right"`` or ``"ergodic"``.
        n_iter: EM iterations. min_covar: variance floor. stream_weights: ``"learned"``, ``"uniform"``
            or a list of weights (decision fusion). held_out: share of the training set used to learn
            the weights. refit: refit the HMMs on the whole training set after learning the weights
            (else keep those fitted without the held-out part: half the cost). standardize: per-stream feature
            standardisation with training statistics. random_state: seed of hmmlearn's initialisation.

    Fitted: ``models_[s][c]`` (hmmlearn ``GaussianHMM``), ``weights_`` (S,), ``classes_``, ``n_params_``.

    Examples:
        >>> rng = np.random.default_rng(0); y = np.repeat([0, 1], 10)
        >>> X = rng.normal(size=(20, 6, 2)) + y[:, None, None]; L = np.full(20, 6)
        >>> model = MultistreamHMM(n_states=2, n_iter=5).fit([(X, L)], y)
        >>> model.predict_proba([(X, L)]).shape
        (20, 2)
    """

    def __init__(self, fusion: str = "decision", n_states: int = 4, topology: str = "left-right", n_iter: int = 10,
                 min_covar: float = 1e-3, stream_weights: Any = "learned", held_out: float = 0.25,
                 refit: bool = True, standardize: bool = True, random_state: int = 0) -> None:
        self.fusion, self.n_states, self.topology, self.n_iter = fusion, n_states, topology, n_iter
        self.min_covar, self.stream_weights, self.held_out, self.refit = min_covar, stream_weights, held_out, refit
        self.standardize, self.random_state = standardize, random_state

    def views_from_batch(self, batch: dict[str, Tensor], modalities: list[str]) -> list[Stream | None]:
        """The streams of a batch: :func:`stream_from_batch` of each modality."""
        return [stream_from_batch(batch, m) for m in modalities]

    # ---- fitting -------------------------------------------------------------------------------
    def fit(self, Xs: list[Stream], y: Any) -> MultistreamHMM:
        if self.fusion not in ("feature", "decision"):
            raise ValueError(f"model.net.fusion={self.fusion!r}; choose 'feature' or 'decision'")
        if self.topology not in ("left-right", "ergodic"):
            raise ValueError(f"model.net.topology={self.topology!r}; choose 'left-right' or 'ergodic'")
        streams = self._check(Xs, allow_missing=False)
        y = np.asarray(y)
        if len(y) != len(streams[0][0]):
            raise ValueError(f"{len(y)} labels for {len(streams[0][0])} sequences; give one label per sequence")
        self.classes_ = np.unique(y)
        self.n_streams_ = len(streams)
        self.widths_ = [X.shape[2] for X, _ in streams]
        self.mean_, self.std_ = [], []
        for X, L in streams:
            valid = np.arange(X.shape[1])[None, :] < L[:, None]
            frames = X[valid]
            self.mean_.append(frames.mean(0) if self.standardize else np.zeros(X.shape[2]))
            self.std_.append(np.maximum(frames.std(0), 1e-6) if self.standardize else np.ones(X.shape[2]))
        streams = self._standardise(streams)
        weights, self.models_ = self.stream_weights, None
        if self.fusion == "decision" and weights == "learned" and len(streams) > 1:
            fit_idx, held_idx = train_test_split(np.arange(len(y)), test_size=self.held_out, stratify=y,
                                                 random_state=self.random_state)
            self.models_ = self._fit_models([(X[fit_idx], L[fit_idx]) for X, L in streams], y[fit_idx])
            scores = self._stream_scores([(X[held_idx], L[held_idx]) for X, L in streams])
            weights = self._learn_weights(scores, y[held_idx])
        elif self.fusion == "decision" and weights in ("learned", "uniform"):
            weights = np.ones(len(streams))
        self.weights_ = np.ones(1) if self.fusion == "feature" else np.asarray(weights, dtype=np.float64)
        if self.fusion == "decision" and self.weights_.shape != (len(streams),):
            raise ValueError(f"model.net.stream_weights has {self.weights_.size} entries for {len(streams)} streams")
        if self.models_ is None or self.refit:
            self.models_ = self._fit_models(streams, y)
        self.n_params_ = int(sum(m.startprob_.size + m.transmat_.size + m.means_.size + m.n_components *
                                 m.n_features for ms in self.models_ for m in ms) + self.weights_.size)
        return self

    def _fit_models(self, streams: list[Stream], y: np.ndarray) -> list[list[GaussianHMM]]:
        if self.fusion == "feature":
            X, L, _ = synchronise(streams)
            streams = [(X, L)]
        models = []
        for X, L in streams:
            k = max(1, min(int(self.n_states), int(L.min())))
            row = []
            for c in self.classes_:
                sel = np.flatnonzero(y == c)
                data = np.concatenate([X[i, : L[i]] for i in sel])
                row.append(self._fit_one(k, data, L[sel]))
            models.append(row)
        return models

    def _fit_one(self, k: int, data: np.ndarray, lengths: np.ndarray) -> GaussianHMM:
        """EM with hmmlearn's scaled forward-backward (fast); in log space when scaling under- or overflows
        (it raises, or leaves non-finite parameters, with many dimensions per frame)."""
        try:
            hmm = self._new_hmm(k, data, lengths, "scaling").fit(data, lengths)
            if all(np.isfinite(p).all() for p in (hmm.startprob_, hmm.transmat_, hmm.means_, hmm.covars_)):
                return hmm
        except ValueError:
            pass
        return self._new_hmm(k, data, lengths, "log").fit(data, lengths)

    def _new_hmm(self, k: int, data: np.ndarray, lengths: np.ndarray, implementation: str) -> GaussianHMM:
        """An HMM initialised by uniform segmentation: state ``j`` starts from the ``j``-th k-th of every
        sequence (the flat start of left-to-right speech models; cheaper and steadier than k-means)."""
        state = np.concatenate([(np.arange(n) * k) // n for n in lengths])
        means = np.stack([data[state == j].mean(0) for j in range(k)])
        covars = np.stack([data[state == j].var(0) + self.min_covar for j in range(k)])
        hmm = GaussianHMM(k, covariance_type="diag", n_iter=self.n_iter, min_covar=self.min_covar,
                          random_state=self.random_state, init_params="",
                          params="stmc" if lengths.max() > 1 else "smc",  # one-frame sequences show no transition
                          implementation=implementation)
        if self.topology == "ergodic" or k == 1:
            hmm.startprob_ = np.full(k, 1.0 / k)
            hmm.transmat_ = np.full((k, k), 1.0 / k)
        else:
            hmm.startprob_ = np.eye(k)[0]
            hmm.transmat_ = 0.5 * (np.eye(k) + np.eye(k, k=1))
            hmm.transmat_[-1, -1] = 1.0
        hmm.means_, hmm.covars_ = means, covars
        return hmm

    def _learn_weights(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Non-negative stream weights maximising the conditional likelihood of ``y`` given the scores."""
        target = np.searchsorted(self.classes_, y)
        scores = scores - scores.max(2, keepdims=True)  # (n, S, C), per-stream shift does not change softmax

        def nll(w: np.ndarray) -> tuple[float, np.ndarray]:
            logits = np.einsum("s,nsc->nc", w, scores)
            logits = logits - logits.max(1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
            p = np.exp(logp)
            onehot = np.eye(len(self.classes_))[target]
            grad = np.einsum("nc,nsc->s", p - onehot, scores) / len(y)
            return -logp[np.arange(len(y)), target].mean(), grad

        w0 = np.full(scores.shape[1], 1.0 / scores.shape[1])
        res = minimize(nll, w0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * scores.shape[1])
        return res.x

    # ---- scoring -------------------------------------------------------------------------------
    def _check(self, Xs: list, allow_missing: bool) -> list[Stream | None]:
        if not isinstance(Xs, (list, tuple)) or not Xs:
            raise ValueError(f"{type(self).__name__} takes a list of streams, each (frames (n, T, F), lengths (n,))")
        out, sizes = [], {}
        for i, s in enumerate(Xs):
            if s is None:
                if not allow_missing:
                    raise ValueError(f"stream {i} is missing (None); every stream is needed to fit")
                out.append(None)
                continue
            X, L = np.asarray(s[0], dtype=np.float64), np.asarray(s[1], dtype=np.int64)
            if X.ndim != 3 or L.shape != (X.shape[0],):
                raise ValueError(f"stream {i}: frames {X.shape} and lengths {L.shape}; expected (n, T, F) and (n,)")
            check_lengths(L, X.shape[1], f"stream {i}")
            sizes[i] = len(X)
            out.append((X, L))
        if len(set(sizes.values())) > 1:
            raise ValueError(f"streams have different numbers of sequences {sizes} (stream: n); each stream must "
                             "list the same samples in the same order")
        if not sizes:
            raise ValueError("every stream is missing; at least one is needed to predict")
        return out

    def _standardise(self, streams: list[Stream | None]) -> list[Stream | None]:
        return [None if s is None else ((s[0] - self.mean_[i]) / self.std_[i], s[1]) for i, s in enumerate(streams)]

    def _stream_scores(self, streams: list[Stream | None]) -> np.ndarray:
        """``(n, S, C)`` log-likelihoods (``nan`` for a missing stream); ``S = 1`` for feature fusion."""
        observed = None
        if self.fusion == "feature":
            X, L, observed = synchronise(streams, self.widths_)
            streams = [(X, L)]
        n = next(len(s[0]) for s in streams if s is not None)
        out = np.full((n, len(streams), len(self.classes_)), np.nan)
        for i, s in enumerate(streams):
            if s is None:
                continue
            ms = self.models_[i]
            params = [torch.as_tensor(np.stack(p)) for p in (
                [m.startprob_ for m in ms], [m.transmat_ for m in ms], [m.means_ for m in ms],
                [np.diagonal(m.covars_, axis1=1, axis2=2) for m in ms])]
            out[:, i] = forward_log_likelihood(torch.as_tensor(s[0]), torch.as_tensor(s[1]), *params,
                                               None if observed is None else torch.as_tensor(observed)).numpy()
        return out

    def stream_scores(self, Xs: list[Stream | None]) -> np.ndarray:
        """Log-likelihood of each sample under each class's HMM, per stream: ``(n, S, C)``."""
        if getattr(self, "models_", None) is None:
            raise RuntimeError("MultistreamHMM is not fitted; call fit(Xs, y) first")
        streams = self._check(Xs, allow_missing=True)
        if len(streams) != self.n_streams_:
            raise ValueError(f"got {len(streams)} streams but the model was fitted on {self.n_streams_}")
        return self._stream_scores(self._standardise(streams))

    def decision_function(self, Xs: list[Stream | None]) -> np.ndarray:
        """Fused class scores ``(n, C)``: weighted sum of the present streams' log-likelihoods."""
        scores = self.stream_scores(Xs)
        return np.einsum("s,nsc->nc", self.weights_, np.nan_to_num(scores, nan=0.0))

    def predict_proba(self, Xs: list[Stream | None]) -> np.ndarray:
        d = self.decision_function(Xs)
        d = d - d.max(1, keepdims=True)
        e = np.exp(d)
        return e / e.sum(1, keepdims=True)

    def predict(self, Xs: list[Stream | None]) -> np.ndarray:
        return self.classes_[self.decision_function(Xs).argmax(1)]
