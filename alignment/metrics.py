"""Alignment metrics: boundary error in milliseconds, share of boundaries within a tolerance, frame accuracy.

Measures of forced-alignment papers (e.g. McAuliffe et al., "Montreal Forced Aligner", Interspeech
2017: mean absolute boundary error and the share within 20 ms / 50 ms; frame accuracy as in
phone-alignment evaluations).

An utterance's alignment is given either as

- **spans** (L, 2): each word's ``[start, end)`` frame, as the data contract's ``<m>_boundaries``
  (rows with a negative entry are padding and dropped); frames outside every span are silence;
- **ends** (L,): each word's end frame (exclusive), the words tiling the frames: word ``k`` covers
  ``[ends[k-1], ends[k])`` with ``ends[-1] = 0``.

Functions take one utterance (a flat list or 1-D tensor of ends, or a (L, 2) tensor/array of spans), a
list of utterances, or a (N, D, 2) tensor of padded spans. When the
prediction gives ends and the reference spans, only the ends are compared and the prediction has no
silence. Every given boundary counts, the last end included.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["alignment_scores", "boundary_errors_ms", "frame_accuracy", "frame_labels"]


def _bounds(b, name: str) -> Tensor:
    """(L,) ends or (L, 2) spans as a CPU long tensor, padding rows dropped, order checked."""
    t = (b.detach() if isinstance(b, Tensor) else torch.as_tensor(np.asarray(b))).cpu().long()
    if t.dim() == 2 and t.shape[1] == 2:
        t = t[(t >= 0).all(1)]
        if ((t[:, 1] < t[:, 0]).any() or (t[1:, 0] < t[:-1, 1]).any()) if t.numel() else False:
            raise ValueError(f"{name} {t.tolist()} are not ordered, non-overlapping [start, end) spans")
        return t
    if t.dim() != 1:
        raise ValueError(f"{name} has shape {tuple(t.shape)}; pass (L,) word ends or (L, 2) [start, end) spans")
    t = t[t >= 0]
    if t.numel() and (torch.diff(t) < 0).any():
        raise ValueError(f"{name} {t.tolist()} is not sorted; boundaries are word end frames in order")
    return t


def _is_single(b) -> bool:
    """One utterance: a tensor or array of ends (L,) or spans (L, 2), or a flat list of ends. A list of
    lists holds utterances (so one utterance's spans go in as an array)."""
    if isinstance(b, (Tensor, np.ndarray)):
        return b.ndim <= 2
    return len(b) == 0 or isinstance(b[0], numbers.Number) or (isinstance(b[0], Tensor) and b[0].dim() == 0)


def _pairs(pred, true) -> list[tuple[Tensor, Tensor]]:
    """One (pred, true) pair, or a list of them; checks that the word counts agree."""
    preds, trues = ([pred], [true]) if _is_single(pred) else (list(pred), list(true))
    if len(preds) != len(trues):
        raise ValueError(f"{len(preds)} predicted alignments but {len(trues)} true ones; pass one per utterance")
    out = []
    for i, (p, t) in enumerate(zip(preds, trues, strict=True)):
        p, t = _bounds(p, f"pred[{i}]"), _bounds(t, f"true[{i}]")
        if p.shape[0] != t.shape[0]:
            raise ValueError(f"utterance {i}: {p.shape[0]} predicted words but {t.shape[0]} true ones; "
                             f"align the same transcript as the reference")
        if p.dim() != t.dim():  # ends against spans: compare the ends
            p, t = (p[:, 1] if p.dim() == 2 else p), (t[:, 1] if t.dim() == 2 else t)
        out.append((p, t))
    return out


def _last(b: Tensor) -> int:
    return int(b[-1, 1] if b.dim() == 2 else b[-1]) if b.numel() else 0


def frame_labels(bounds: Tensor | Sequence, n_frames: int) -> Tensor:
    """(n_frames,) index of the word each frame belongs to: -1 outside spans, ``len(ends)`` after the last end.

    Examples:
        >>> frame_labels([2, 5], 6).tolist(), frame_labels([[1, 2], [3, 5]], 6).tolist()
        ([0, 0, 1, 1, 1, 2], [-1, 0, -1, 1, 1, -1])
    """
    b = _bounds(bounds, "bounds")
    frames = torch.arange(n_frames)
    if b.dim() == 1:
        return torch.searchsorted(b, frames, right=True)
    k = torch.searchsorted(b[:, 0].contiguous(), frames, right=True) - 1  # last span starting at or before the frame
    inside = (k >= 0) & (frames < b[k.clamp(min=0), 1])
    return torch.where(inside, k, torch.full_like(k, -1))


def boundary_errors_ms(pred, true, frame_rate: float) -> Tensor:
    """Absolute boundary errors in ms, pooled over utterances (starts and ends of spans, or ends).

    Args:
        pred, true: one utterance's (L,) ends or (L, 2) spans, a list of them, or (N, D, 2) padded spans.
        frame_rate: frames per second (100 for a 10 ms hop).

    Examples:
        >>> boundary_errors_ms([3, 7, 10], [3, 9, 10], frame_rate=100).tolist()
        [0.0, 20.0, 0.0]
    """
    if not frame_rate > 0:
        raise ValueError(f"frame_rate={frame_rate} must be > 0 (frames per second)")
    diffs = [(p - t).abs().reshape(-1).double() for p, t in _pairs(pred, true)]
    return torch.cat(diffs) * (1000.0 / frame_rate) if diffs else torch.zeros(0, dtype=torch.float64)


def frame_accuracy(pred, true, n_frames: int | Sequence[int] | None = None, ignore_silence: bool = False) -> float:
    """Share of frames assigned to the right word (or to silence), pooled over utterances.

    ``n_frames`` (per utterance) defaults to the larger of the two last ends. With
    ``ignore_silence``, only frames inside a reference word count.

    Examples:
        >>> frame_accuracy([3, 7, 10], [3, 9, 10])
        0.8
    """
    pairs = _pairs(pred, true)
    counts = [n_frames] * len(pairs) if n_frames is None or isinstance(n_frames, int) else list(n_frames)
    if len(counts) != len(pairs):
        raise ValueError(f"n_frames has {len(counts)} entries but there are {len(pairs)} utterances")
    right = total = 0
    for (p, t), n in zip(pairs, counts, strict=True):
        n = max(_last(p), _last(t)) if n is None else int(n)
        lp, lt = frame_labels(p, n), frame_labels(t, n)
        scored = lt >= 0 if ignore_silence else torch.ones(n, dtype=torch.bool)
        right += int(((lp == lt) & scored).sum())
        total += int(scored.sum())
    return right / total if total else float("nan")


def alignment_scores(pred, true, frame_rate: float, n_frames: int | Sequence[int] | None = None,
                     tolerances_ms: Sequence[float] = (20.0, 50.0), ignore_silence: bool = False) -> dict[str, float]:
    """All alignment measures at once: ``boundary_mae_ms``, ``within_<tol>ms`` per tolerance, ``frame_accuracy``.

    Examples:
        >>> alignment_scores([[3, 7, 10]], [[3, 9, 10]], frame_rate=100)
        {'boundary_mae_ms': 6.666666666666667, 'within_20ms': 1.0, 'within_50ms': 1.0, 'frame_accuracy': 0.8}
    """
    err = boundary_errors_ms(pred, true, frame_rate)
    out = {"boundary_mae_ms": float(err.mean()) if err.numel() else float("nan")}
    for tol in tolerances_ms:
        out[f"within_{tol:g}ms"] = float((err <= tol + 1e-9).double().mean()) if err.numel() else float("nan")
    out["frame_accuracy"] = frame_accuracy(pred, true, n_frames, ignore_silence)
    return out
