"""Read-outs: an attention matrix (L words, S steps) turned into word spans (L, 2) ``[start, end)`` in steps.

Implicit aligners (:mod:`mmml.alignment.implicit`, :mod:`mmml.alignment.attention_aligners`) all read their
forced attention out the same way, by one of

- ``"argmax"`` (:func:`argmax_readout`): each word at its attention peak (peaks kept in order), boundaries
  half-way between consecutive peaks;
- ``"monotonic"`` (:func:`monotonic_readout`): Viterbi over the log attention, the monotonic segmentation
  of the steps into the L words (each at least one step, in order) maximising the summed log attention,
  optionally with silences scored as uniform attention (log 1/S per step);
- ``"expected"`` (:func:`expected_readout`): each word centred at its expected position (the attention's
  centre of mass) and as wide as a uniform window of the same variance (half-width sqrt(3) sigma), so a
  row that is uniform over a word's steps gives that word exactly; overlaps split half-way.

Which one a model uses is a setting chosen on the validation split (:func:`choose_readout`).

Examples:
    >>> att = torch.tensor([[.7, .2, .1, 0.], [.1, .5, .3, .1], [0., .1, .2, .7]])
    >>> monotonic_readout(att).tolist(), argmax_readout(att).tolist()
    ([[0, 1], [1, 3], [3, 4]], [[0, 1], [1, 3], [3, 4]])
    >>> expected_readout(torch.tensor([[.5, .5, 0., 0., 0.], [0., 0., 0., .5, .5]])).tolist()
    [[0, 2], [3, 5]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .hmm import viterbi
from .segments import tiling_spans

__all__ = ["READOUTS", "argmax_readout", "choose_readout", "expected_readout", "monotonic_readout", "read_out"]


def _check_attention(att: Tensor) -> np.ndarray:
    a = torch.as_tensor(att).detach().double().cpu().numpy()
    if a.ndim != 2:
        raise ValueError(f"attention has shape {tuple(a.shape)}; pass one (words, steps) matrix")
    if a.shape[0] == 0 or a.shape[1] < a.shape[0]:
        raise ValueError(f"attention has {a.shape[0]} words over {a.shape[1]} steps; every word needs a step "
                         "(use a smaller encoder stride)")
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError("attention has negative or non-finite weights; pass attention probabilities")
    return a


def monotonic_readout(att: Tensor, silence: bool = False, silence_scale: float = 1.0) -> Tensor:
    """Spans (L, 2) of the monotonic segmentation of S steps into L words maximising sum log att[word, step].

    Every word gets at least one step, in order. Without ``silence`` the words tile the steps; with it, an
    optional silence may come before, between and after the words, scored log(silence_scale / S) per step:
    a step is left to silence where no word attends to it more than ``silence_scale`` x uniform attention
    (a setting of the read-out, chosen on validation: sharp attention leaves a word's other steps well
    below uniform weight, and a smaller scale gives them back to the word).
    """
    if not silence_scale > 0:
        raise ValueError(f"silence_scale={silence_scale} must be > 0 (silence scores log(silence_scale / S))")
    a = _check_attention(att)
    n_words, n_steps = a.shape
    log_att = np.log(np.clip(a.T, 1e-30, None))
    if not silence:
        chain = np.eye(n_words) + np.eye(n_words, k=1)  # stay or move one word on
        start, final, words, emit = np.eye(n_words)[0], n_words - 1, np.arange(n_words), log_att
    else:  # states: sil, w1, sil, w2, ..., wL, sil; a silence may be skipped
        n = 2 * n_words + 1
        chain = np.eye(n) + np.eye(n, k=1)
        chain[np.arange(1, n - 2, 2), np.arange(3, n, 2)] = 1.0  # word k -> word k+1 directly
        start, final = (np.arange(n) < 2).astype(float), [n - 2, n - 1]
        words = np.full(n, -1)
        words[1::2] = np.arange(n_words)
        emit = np.full((n_steps, n), np.log(silence_scale / n_steps))
        emit[:, 1::2] = log_att
    with np.errstate(divide="ignore"):
        _, states = viterbi(emit, np.log(start), np.log(chain), final_state=final)
    owner = words[states]
    steps = np.arange(n_steps)
    return torch.tensor([[steps[owner == k].min(), steps[owner == k].max() + 1] for k in range(n_words)])


def argmax_readout(att: Tensor) -> Tensor:
    """Spans (L, 2) around each word's attention peak (peaks made non-decreasing), split half-way between peaks."""
    a = _check_attention(att)
    peaks = np.maximum.accumulate(a.argmax(1))
    ends = np.append((peaks[:-1] + peaks[1:]) // 2 + 1, a.shape[1])
    return tiling_spans(torch.from_numpy(np.maximum.accumulate(ends)))


def expected_readout(att: Tensor, width_scale: float = 1.0) -> Tensor:
    """Spans (L, 2) centred at each row's expected position, half-width sqrt(3) x its standard deviation.

    Step ``t`` covers ``[t, t + 1)``: a row's centre is ``sum_t a_t (t + 1/2)`` and its variance the weights'
    variance plus 1/12 (uniform within a step), so uniform weight over steps ``[s, e)`` gives exactly
    ``[s, e)``. Rows are normalised first. Centres are kept in order; where two spans overlap the boundary
    goes half-way through the overlap; every word keeps at least one step. ``width_scale`` multiplies the
    half-width (a read-out setting chosen on validation: attention that covers only a word's core, its
    vowel, reads out too narrow at 1).
    """
    if not width_scale > 0:
        raise ValueError(f"width_scale={width_scale} must be > 0")
    a = _check_attention(att)
    n_words, n_steps = a.shape
    a = a / np.clip(a.sum(1, keepdims=True), 1e-30, None)
    pos = np.arange(n_steps) + 0.5
    centre = np.maximum.accumulate(a @ pos)
    var = a @ pos**2 - (a @ pos) ** 2 + 1.0 / 12.0
    half = width_scale * np.sqrt(3.0 * np.clip(var, 0.0, None))
    starts, ends = np.clip(np.rint(centre - half), 0, n_steps), np.clip(np.rint(centre + half), 0, n_steps)
    for k in range(1, n_words):  # overlaps: meet half-way
        if starts[k] < ends[k - 1]:
            mid = np.floor((starts[k] + ends[k - 1]) / 2)
            starts[k], ends[k - 1] = mid, mid
    spans = np.stack([starts, ends], 1).astype(np.int64)
    # at least one step per word, in order, inside [0, S): push forward, then back from the end
    for k in range(n_words):
        lo = spans[k - 1, 1] if k else 0
        spans[k, 0] = min(max(spans[k, 0], lo), n_steps - (n_words - k))
        spans[k, 1] = max(spans[k, 1], spans[k, 0] + 1)
    for k in range(n_words - 1, -1, -1):
        hi = spans[k + 1, 0] if k + 1 < n_words else n_steps
        spans[k, 1] = min(spans[k, 1], hi)
    return torch.from_numpy(spans)


READOUTS: dict[str, Callable[..., Tensor]] = {"argmax": argmax_readout, "monotonic": monotonic_readout,
                                              "expected": expected_readout}


def read_out(att: Tensor, readout: str = "monotonic", silence: bool = True, silence_scale: float = 1.0,
             width_scale: float = 1.0) -> Tensor:
    """Spans (L, 2) of one attention matrix by the named read-out (``silence``, ``silence_scale``: ``"monotonic"``;
    ``width_scale``: ``"expected"``)."""
    if readout not in READOUTS:
        raise ValueError(f"readout={readout!r}; choose one of {sorted(READOUTS)}")
    if readout == "monotonic":
        return monotonic_readout(att, silence=silence, silence_scale=silence_scale)
    return expected_readout(att, width_scale) if readout == "expected" else argmax_readout(att)


def choose_readout(errors: Mapping[str, Sequence[float] | float]) -> tuple[str, dict[str, float]]:
    """The read-out with the lowest mean validation boundary error, and each one's mean (ms).

    Examples:
        >>> choose_readout({"argmax": [30.0, 50.0], "monotonic": [20.0], "expected": float("nan")})
        ('monotonic', {'argmax': 40.0, 'monotonic': 20.0, 'expected': nan})
    """
    means = {k: float(np.mean(v)) if np.size(v) else math.nan for k, v in errors.items()}
    finite = {k: v for k, v in means.items() if math.isfinite(v)}
    if not finite:
        raise ValueError(f"no read-out has a finite validation error ({means}); check the validation split")
    return min(finite, key=finite.get), means
