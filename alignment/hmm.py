"""HMM forced alignment: left-to-right Gaussian word HMMs, concatenated along a transcript, decoded by Viterbi.

References: L. Rabiner, "A tutorial on hidden Markov models and selected applications in speech
recognition", Proc. IEEE 77(2), 1989 (left-to-right models, Viterbi); forced alignment by a
composite HMM as in HTK's HVite (Young et al., The HTK Book).

Each word gets a ``hmmlearn.hmm.GaussianHMM`` whose start is its first state and whose transitions
only stay or move one state on (the zeros of a left-to-right matrix stay zero under Baum-Welch, and
the start probabilities are neither re-initialised nor re-estimated). Its means and covariances
start from a uniform segmentation of the training examples. For a transcript, the word models are
chained: each word's last state keeps its self-loop, estimated from its mean duration in the
training examples, and passes the rest to the next word's first state; the last word's last state
must be reached at the final frame.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from hmmlearn.hmm import GaussianHMM
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

__all__ = ["HMMForcedAligner", "left_to_right_transmat", "viterbi"]


def left_to_right_transmat(n_states: int, self_loop: float) -> np.ndarray:
    """(S, S) transitions that stay with ``self_loop`` or move one state on; the last state absorbs."""
    a = np.eye(n_states) * self_loop + np.eye(n_states, k=1) * (1.0 - self_loop)
    a[-1, -1] = 1.0
    return a


def viterbi(log_emission: np.ndarray, log_startprob: np.ndarray, log_transmat: np.ndarray,
            final_state: int | None = None) -> tuple[float, np.ndarray]:
    """Most likely state path (Viterbi 1967) from (T, S) log-emissions, optionally forced to end in ``final_state``.

    Returns ``(log_prob, states (T,))``; ties go to the lowest state index.

    Example:
        >>> le = np.log([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9]])
        >>> lp, states = viterbi(le, np.array([0.0, -np.inf]), np.array([[np.log(0.5), np.log(0.5)], [-np.inf, 0.0]]))
        >>> states.tolist()
        [0, 1, 1]
    """
    n_frames, n_states = log_emission.shape
    back = np.empty((n_frames, n_states), dtype=np.int64)
    delta = log_startprob + log_emission[0]
    for t in range(1, n_frames):
        scores = delta[:, None] + log_transmat  # (from, to)
        back[t] = scores.argmax(0)
        delta = scores[back[t], np.arange(n_states)] + log_emission[t]
    last = int(delta.argmax()) if final_state is None else final_state
    if not np.isfinite(delta[last]):
        raise ValueError("no state path reaches the final state with non-zero probability")
    states = np.empty(n_frames, dtype=np.int64)
    states[-1] = last
    for t in range(n_frames - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return float(delta[last]), states


def _frames(x, name: str) -> np.ndarray:
    """(T, D) float array from (T, D) or (T,); names the input when it has no frame."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} is an empty sequence (0 frames); there is nothing to align")
    return x.reshape(x.shape[0], -1)


def _gaussian_loglik(x: np.ndarray, means: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """(T, S) log densities of frames (T, D) under full-covariance Gaussians (S, D), (S, D, D)."""
    out = np.empty((x.shape[0], means.shape[0]))
    for s, (mu, cov) in enumerate(zip(means, covars, strict=True)):
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (x - mu).T)
        out[:, s] = -0.5 * (z * z).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * x.shape[1] * np.log(2 * np.pi)
    return out


class HMMForcedAligner(BaseEstimator):
    """Forced alignment of a known word sequence with left-to-right Gaussian word HMMs (hmmlearn).

    Args:
        n_states: states per word model; every state lasts at least one frame.
        covariance_type: ``"diag"``, ``"full"``, ``"spherical"`` or ``"tied"`` (hmmlearn's).
        n_iter, tol, min_covar: Baum-Welch settings of each word model.
        self_loop: initial self-transition probability of each state.
        random_state: seed (an int, a RandomState or None).

    ``fit(X, y)``: X a list of (T_i, D) isolated-word examples, y their word labels. Learned:
    ``classes_``, ``models_`` (label -> fitted GaussianHMM), ``exit_probs_`` (label -> probability of
    leaving the last state), ``n_features_in_``. ``align(X, transcript)`` returns each word's end
    frame (exclusive), the last one equal to T.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> word = lambda m: np.repeat(np.asarray(m, float)[:, None], 4, 0) + 0.1 * rng.standard_normal((4 * len(m), 1))
        >>> a, b = [0.0, 1.0, 2.0], [5.0, 4.0, 3.0]
        >>> examples, labels = [word(a) for _ in range(5)] + [word(b) for _ in range(5)], ["a"] * 5 + ["b"] * 5
        >>> hmm = HMMForcedAligner(n_states=3, random_state=0).fit(examples, labels)
        >>> hmm.align(np.concatenate([word(b), word(a), word(b)]), ["b", "a", "b"]).tolist()
        [12, 24, 36]
    """

    def __init__(self, n_states: int = 5, covariance_type: str = "diag", n_iter: int = 20, tol: float = 1e-2,
                 self_loop: float = 0.6, min_covar: float = 1e-3, random_state=None) -> None:
        self.n_states = n_states
        self.covariance_type = covariance_type
        self.n_iter = n_iter
        self.tol = tol
        self.self_loop = self_loop
        self.min_covar = min_covar
        self.random_state = random_state

    def _flat_start(self, examples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Means (S, D) and full covariances (S, D, D) from splitting each example into S equal parts."""
        s = self.n_states
        parts: list[list[np.ndarray]] = [[] for _ in range(s)]
        for x in examples:
            for k, chunk in enumerate(np.array_split(x, s)):
                parts[k].append(chunk)
        d = examples[0].shape[1]
        means = np.stack([np.concatenate(p).mean(0) for p in parts])
        covs = np.stack([np.atleast_2d(np.cov(np.concatenate(p).T, bias=True)) if np.concatenate(p).shape[0] > 1
                         else np.zeros((d, d)) for p in parts]) + self.min_covar * np.eye(d)
        return means, covs

    def _word_model(self, examples: list[np.ndarray], seed: int) -> GaussianHMM:
        means, covs = self._flat_start(examples)
        model = GaussianHMM(n_components=self.n_states, covariance_type=self.covariance_type, n_iter=self.n_iter,
                            tol=self.tol, min_covar=self.min_covar, random_state=seed, init_params="", params="tmc")
        model.startprob_ = np.eye(self.n_states)[0]
        model.transmat_ = left_to_right_transmat(self.n_states, self.self_loop)
        model.means_ = means
        diag = np.stack([np.diag(c) for c in covs])
        model.covars_ = {"full": covs, "diag": diag, "spherical": diag.mean(1),
                         "tied": covs.mean(0)}[self.covariance_type]
        return model.fit(np.concatenate(examples), [len(x) for x in examples])

    def fit(self, X: Sequence[np.ndarray], y: Sequence[Hashable]) -> HMMForcedAligner:
        if self.covariance_type not in ("diag", "full", "spherical", "tied"):
            raise ValueError(f"covariance_type={self.covariance_type!r}; choose 'diag', 'full', 'spherical' or 'tied'")
        if not 0.0 < self.self_loop < 1.0:
            raise ValueError(f"self_loop={self.self_loop} must lie strictly between 0 and 1")
        xs = [_frames(x, f"X[{i}]") for i, x in enumerate(X)]
        labels = list(y)
        if len(xs) != len(labels):
            raise ValueError(f"X holds {len(xs)} examples but y holds {len(labels)} labels; pass one label per example")
        if not xs:
            raise ValueError("X holds no example; pass at least one isolated example per word")
        dims = {x.shape[1] for x in xs}
        if len(dims) > 1:
            raise ValueError(f"the examples in X have different feature sizes {sorted(dims)}")
        short = [(i, len(x)) for i, x in enumerate(xs) if len(x) < self.n_states]
        if short:
            raise ValueError(
                f"example {short[0][0]} has {short[0][1]} frames, fewer than n_states={self.n_states}; a "
                f"left-to-right word model visits every state, so lower n_states or drop the short examples"
            )
        rng = check_random_state(self.random_state)
        self.n_features_in_ = dims.pop()
        self.classes_ = sorted(set(labels), key=str)
        self.models_: dict[Hashable, GaussianHMM] = {}
        self.exit_probs_: dict[Hashable, float] = {}
        for label in self.classes_:
            examples = [x for x, lab in zip(xs, labels, strict=True) if lab == label]
            model = self._word_model(examples, int(rng.randint(2**31 - 1)))
            # the last state's duration is geometric: leave it with 1 / (its mean number of frames)
            ends = [float(np.sum(model.predict(x) == self.n_states - 1)) for x in examples]
            self.models_[label] = model
            self.exit_probs_[label] = 1.0 / max(float(np.mean(ends)), 1.0)
        return self

    def _check_transcript(self, transcript: Sequence[Hashable], n_frames: int | None = None) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError("this HMMForcedAligner is not fitted yet; call fit(X, y) first")
        if len(transcript) == 0:
            raise ValueError("the transcript is empty; pass at least one word")
        unknown = [w for w in transcript if w not in self.models_]
        if unknown:
            raise ValueError(f"word {unknown[0]!r} has no model; fit() saw {self.classes_}")
        need = len(transcript) * self.n_states
        if n_frames is not None and n_frames < need:
            raise ValueError(
                f"the transcript has {len(transcript)} words, which need at least {need} frames "
                f"({len(transcript)} x n_states={self.n_states}, no state can be skipped), but X has {n_frames}; "
                f"use fewer n_states or more frames per second"
            )

    def concatenate(self, transcript: Sequence[Hashable]) -> GaussianHMM:
        """The composite left-to-right HMM of a transcript, as a full-covariance ``GaussianHMM``."""
        self._check_transcript(transcript)
        s, total = self.n_states, len(transcript) * self.n_states
        trans = np.zeros((total, total))
        for w, word in enumerate(transcript):
            model, lo = self.models_[word], w * s
            trans[lo : lo + s, lo : lo + s] = model.transmat_
            if w + 1 < len(transcript):
                leave = self.exit_probs_[word]
                trans[lo + s - 1, lo + s - 1] = 1.0 - leave
                trans[lo + s - 1, lo + s] = leave
        model = GaussianHMM(n_components=total, covariance_type="full", min_covar=self.min_covar, init_params="",
                            params="")
        model.n_features = self.n_features_in_
        model.startprob_ = np.eye(total)[0]
        model.transmat_ = trans
        model.means_ = np.concatenate([self.models_[w].means_ for w in transcript])
        model.covars_ = np.concatenate([self.models_[w].covars_ for w in transcript])
        return model

    def decode(self, X: np.ndarray, transcript: Sequence[Hashable], force_end: bool = True) -> tuple[float, np.ndarray]:
        """Viterbi through the transcript's composite HMM: ``(log_prob, states (T,))``.

        With ``force_end=False`` this is ``self.concatenate(transcript).decode(X)`` of hmmlearn.
        """
        x = _frames(X, "X")
        self._check_transcript(transcript)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {x.shape[1]} features per frame but the word models were fitted on "
                             f"{self.n_features_in_}")
        self._check_transcript(transcript, x.shape[0])
        model = self.concatenate(transcript)
        with np.errstate(divide="ignore"):
            log_start, log_trans = np.log(model.startprob_), np.log(model.transmat_)
        log_em = _gaussian_loglik(x, model.means_, model.covars_)
        return viterbi(log_em, log_start, log_trans, model.n_components - 1 if force_end else None)

    def align(self, X: np.ndarray, transcript: Sequence[Hashable]) -> np.ndarray:
        """Word end frames (exclusive), (L,) int array, from forced Viterbi alignment of X (T, D)."""
        _, states = self.decode(X, transcript)
        words = states // self.n_states
        return np.searchsorted(words, np.arange(len(transcript)), side="right").astype(np.int64)
