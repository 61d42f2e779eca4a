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
must be reached at the final frame. With a ``silence`` label among the training labels, an optional
silence model may fill the start, the end and each gap between words (HTK's optional ``sp``/``sil``).
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
            final_state: int | Sequence[int] | None = None) -> tuple[float, np.ndarray]:
    """Most likely state path (Viterbi 1967) from (T, S) log-emissions, optionally forced to end in
    ``final_state`` (one state or a list of allowed ones).

    Returns ``(log_prob, states (T,))``; ties go to the lowest state index.

    Examples:
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
    if final_state is None:
        last = int(delta.argmax())
    else:
        allowed = np.atleast_1d(np.asarray(final_state, dtype=np.int64))
        last = int(allowed[delta[allowed].argmax()])
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
        silence: the label of silence examples in ``fit``'s y, or None; with it, optional silence may
            precede, follow and separate the words of a transcript.
        silence_states: states of the silence model; silence_prob: probability of entering each
            optional silence.
        covariance_type: ``"diag"``, ``"full"``, ``"spherical"`` or ``"tied"`` (hmmlearn's).
        n_iter, tol, min_covar: Baum-Welch settings of each word model.
        self_loop: initial self-transition probability of each state.
        random_state: seed (an int, a RandomState or None).

    ``fit(X, y)``: X a list of (T_i, D) isolated-word examples, y their word labels. Learned:
    ``classes_``, ``models_`` (label -> fitted GaussianHMM), ``exit_probs_`` (label -> probability of
    leaving the last state), ``n_features_in_``. ``align(X, transcript)`` returns each word's
    ``[start, end)`` frames, (L, 2), as the data contract's ``<m>_boundaries``; without silence the
    words tile the frames.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> word = lambda m: np.repeat(np.asarray(m, float)[:, None], 4, 0) + 0.1 * rng.standard_normal((4 * len(m), 1))
        >>> a, b = [0.0, 1.0, 2.0], [5.0, 4.0, 3.0]
        >>> examples, labels = [word(a) for _ in range(5)] + [word(b) for _ in range(5)], ["a"] * 5 + ["b"] * 5
        >>> hmm = HMMForcedAligner(n_states=3, random_state=0).fit(examples, labels)
        >>> hmm.align(np.concatenate([word(b), word(a), word(b)]), ["b", "a", "b"]).tolist()
        [[0, 12], [12, 24], [24, 36]]
    """

    def __init__(self, n_states: int = 5, silence: Hashable | None = None, silence_states: int = 1,
                 silence_prob: float = 0.5, covariance_type: str = "diag", n_iter: int = 20, tol: float = 1e-2,
                 self_loop: float = 0.6, min_covar: float = 1e-3, random_state=None) -> None:
        self.n_states = n_states
        self.silence = silence
        self.silence_states = silence_states
        self.silence_prob = silence_prob
        self.covariance_type = covariance_type
        self.n_iter = n_iter
        self.tol = tol
        self.self_loop = self_loop
        self.min_covar = min_covar
        self.random_state = random_state

    def _states(self, label: Hashable) -> int:
        return self.silence_states if self.silence is not None and label == self.silence else self.n_states

    def _flat_start(self, examples: list[np.ndarray], s: int) -> tuple[np.ndarray, np.ndarray]:
        """Means (S, D) and full covariances (S, D, D) from splitting each example into S equal parts."""
        parts: list[list[np.ndarray]] = [[] for _ in range(s)]
        for x in examples:
            for k, chunk in enumerate(np.array_split(x, s)):
                parts[k].append(chunk)
        d = examples[0].shape[1]
        means = np.stack([np.concatenate(p).mean(0) for p in parts])
        covs = np.stack([np.atleast_2d(np.cov(np.concatenate(p).T, bias=True)) if np.concatenate(p).shape[0] > 1
                         else np.zeros((d, d)) for p in parts]) + self.min_covar * np.eye(d)
        return means, covs

    def _word_model(self, examples: list[np.ndarray], n_states: int, seed: int) -> GaussianHMM:
        means, covs = self._flat_start(examples, n_states)
        model = GaussianHMM(n_components=n_states, covariance_type=self.covariance_type, n_iter=self.n_iter,
                            tol=self.tol, min_covar=self.min_covar, random_state=seed, init_params="", params="tmc")
        model.startprob_ = np.eye(n_states)[0]
        model.transmat_ = left_to_right_transmat(n_states, self.self_loop)
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
        if not 0.0 < self.silence_prob < 1.0:
            raise ValueError(f"silence_prob={self.silence_prob} must lie strictly between 0 and 1")
        if self.silence is not None and self.silence not in labels:
            raise ValueError(f"silence={self.silence!r} is not among the labels in y; add silence examples "
                             f"(e.g. the pauses between words) or set silence=None")
        short = [(i, len(x), lab) for i, (x, lab) in enumerate(zip(xs, labels, strict=True))
                 if len(x) < self._states(lab)]
        if short:
            i, n, lab = short[0]
            what = "silence_states" if self.silence is not None and lab == self.silence else "n_states"
            raise ValueError(
                f"example {i} ({lab!r}) has {n} frames, fewer than {what}={self._states(lab)}; a left-to-right "
                f"model visits every state, so lower {what} or drop the short examples"
            )
        rng = check_random_state(self.random_state)
        self.n_features_in_ = dims.pop()
        self.classes_ = sorted(set(labels), key=str)
        self.models_: dict[Hashable, GaussianHMM] = {}
        self.exit_probs_: dict[Hashable, float] = {}
        for label in self.classes_:
            examples = [x for x, lab in zip(xs, labels, strict=True) if lab == label]
            n_states = self._states(label)
            model = self._word_model(examples, n_states, int(rng.randint(2**31 - 1)))
            # the last state's duration is geometric: leave it with 1 / (its mean number of frames)
            ends = [float(np.sum(model.predict(x) == n_states - 1)) for x in examples]
            self.models_[label] = model
            self.exit_probs_[label] = 1.0 / max(float(np.mean(ends)), 1.0)
        return self

    def _check_transcript(self, transcript: Sequence[Hashable], n_frames: int | None = None) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError("this HMMForcedAligner is not fitted yet; call fit(X, y) first")
        if len(transcript) == 0:
            raise ValueError("the transcript is empty; pass at least one word")
        unknown = [w for w in transcript if w not in self.models_ or (self.silence is not None and w == self.silence)]
        if unknown:
            note = f" (silence {self.silence!r} is inserted by itself)" if self.silence is not None else ""
            raise ValueError(f"word {unknown[0]!r} has no word model; fit() saw {self.classes_}{note}")
        need = len(transcript) * self.n_states
        if n_frames is not None and n_frames < need:
            raise ValueError(
                f"the transcript has {len(transcript)} words, which need at least {need} frames "
                f"({len(transcript)} x n_states={self.n_states}, no state can be skipped), but X has {n_frames}; "
                f"use fewer n_states or more frames per second"
            )

    def _blocks(self, transcript: Sequence[Hashable]) -> list[tuple[Hashable, int]]:
        """The composite model's blocks: (label, word index or -1 for an optional silence)."""
        sil = self.silence is not None
        blocks: list[tuple[Hashable, int]] = [(self.silence, -1)] if sil else []
        for k, word in enumerate(transcript):
            blocks.append((word, k))
            if sil:
                blocks.append((self.silence, -1))
        return blocks

    def _composite(self, transcript: Sequence[Hashable]):
        """Start probabilities, transitions, means, full covariances, owner word of each state, final states."""
        blocks = self._blocks(transcript)
        sizes = [self.models_[label].n_components for label, _ in blocks]
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        total = int(np.sum(sizes))
        trans, start = np.zeros((total, total)), np.zeros(total)
        p_sil = self.silence_prob
        for b, (label, _) in enumerate(blocks):
            lo, n = first[b], sizes[b]
            trans[lo : lo + n, lo : lo + n] = self.models_[label].transmat_
            last, leave = lo + n - 1, self.exit_probs_[label]
            targets = []  # (state, share of the exit mass)
            if b + 1 < len(blocks):
                if blocks[b + 1][1] >= 0:  # next is a word
                    targets = [(first[b + 1], 1.0)]
                elif b + 2 < len(blocks):  # optional silence, then a word
                    targets = [(first[b + 1], p_sil), (first[b + 2], 1.0 - p_sil)]
                else:  # optional trailing silence, or stay to the end
                    targets = [(first[b + 1], p_sil)]
            if targets:
                mass = sum(share for _, share in targets) * leave
                trans[last, last] = 1.0 - mass
                for state, share in targets:
                    trans[last, state] = share * leave
        if blocks[0][1] < 0:  # optional leading silence
            start[first[0]], start[first[1]] = p_sil, 1.0 - p_sil
        else:
            start[0] = 1.0
        means = np.concatenate([self.models_[label].means_ for label, _ in blocks])
        covars = np.concatenate([self.models_[label].covars_ for label, _ in blocks])
        owner = np.concatenate([np.full(n, k) for (_, k), n in zip(blocks, sizes, strict=True)])
        word_blocks = [b for b, (_, k) in enumerate(blocks) if k >= 0]
        finals = [first[word_blocks[-1]] + sizes[word_blocks[-1]] - 1]
        if blocks[-1][1] < 0:
            finals.append(total - 1)
        return start, trans, means, covars, owner, finals

    def concatenate(self, transcript: Sequence[Hashable]) -> GaussianHMM:
        """The composite left-to-right HMM of a transcript, as a full-covariance ``GaussianHMM``."""
        self._check_transcript(transcript)
        start, trans, means, covars, _, _ = self._composite(transcript)
        model = GaussianHMM(n_components=len(start), covariance_type="full", min_covar=self.min_covar,
                            init_params="", params="")
        model.n_features = self.n_features_in_
        model.startprob_, model.transmat_, model.means_, model.covars_ = start, trans, means, covars
        return model

    def decode(self, X: np.ndarray, transcript: Sequence[Hashable], force_end: bool = True) -> tuple[float, np.ndarray]:
        """Viterbi through the transcript's composite HMM: ``(log_prob, states (T,))``.

        With ``force_end=False`` this is ``self.concatenate(transcript).decode(X)`` of hmmlearn; by
        default the path must end in the last word's last state (or in the trailing silence).
        """
        x = _frames(X, "X")
        self._check_transcript(transcript)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {x.shape[1]} features per frame but the word models were fitted on "
                             f"{self.n_features_in_}")
        self._check_transcript(transcript, x.shape[0])
        start, trans, means, covars, _, finals = self._composite(transcript)
        with np.errstate(divide="ignore"):
            log_start, log_trans = np.log(start), np.log(trans)
        return viterbi(_gaussian_loglik(x, means, covars), log_start, log_trans, finals if force_end else None)

    def align(self, X: np.ndarray, transcript: Sequence[Hashable]) -> np.ndarray:
        """Each word's ``[start, end)`` frames, (L, 2) int array, from forced Viterbi alignment of X (T, D)."""
        _, states = self.decode(X, transcript)
        owner = self._composite(transcript)[4][states]
        frames = np.arange(len(owner))
        return np.array([[frames[owner == k].min(), frames[owner == k].max() + 1] for k in range(len(transcript))],
                        dtype=np.int64)
