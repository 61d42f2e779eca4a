"""Alignment metrics: boundary error in milliseconds, share of boundaries within a tolerance, frame accuracy.

Boundaries follow the data contract's ``<modality>_boundaries``: each word's end frame (exclusive), in
order, so word ``k`` covers frames ``[ends[k-1], ends[k])`` with ``ends[-1] = 0``. These are the
measures of forced-alignment papers (e.g. McAuliffe et al., "Montreal Forced Aligner", Interspeech
2017: mean absolute boundary error and the share within 20 ms / 50 ms; frame accuracy as in
phone-alignment evaluations). Every given boundary counts, the last one included.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["alignment_scores", "boundary_errors_ms", "frame_accuracy", "frame_labels"]


def _seq(b, name: str) -> Tensor:
    t = torch.as_tensor(b).reshape(-1).to(torch.int64) if not isinstance(b, Tensor) else b.reshape(-1).long()
    if t.numel() and (torch.diff(t) < 0).any():
        raise ValueError(f"{name} {t.tolist()} is not sorted; boundaries are word end frames in order")
    return t.cpu()


def _is_single(b) -> bool:
    if isinstance(b, (Tensor, np.ndarray)):
        return b.ndim == 1
    return len(b) == 0 or isinstance(b[0], numbers.Number) or (isinstance(b[0], Tensor) and b[0].dim() == 0)


def _pairs(pred, true) -> list[tuple[Tensor, Tensor]]:
    """One (pred, true) pair, or a list of them; checks that the word counts agree."""
    single = _is_single(pred)
    preds, trues = ([pred], [true]) if single else (list(pred), list(true))
    if len(preds) != len(trues):
        raise ValueError(f"{len(preds)} predicted alignments but {len(trues)} true ones; pass one per utterance")
    out = []
    for i, (p, t) in enumerate(zip(preds, trues, strict=True)):
        p, t = _seq(p, f"pred[{i}]"), _seq(t, f"true[{i}]")
        if p.numel() != t.numel():
            raise ValueError(f"utterance {i}: {p.numel()} predicted boundaries but {t.numel()} true ones; "
                             f"align the same transcript as the reference")
        out.append((p, t))
    return out


def frame_labels(ends: Tensor | Sequence[int], n_frames: int) -> Tensor:
    """(n_frames,) index of the word each frame belongs to (``len(ends)`` after the last end).

    Example:
        >>> frame_labels([2, 5], 6).tolist()
        [0, 0, 1, 1, 1, 2]
    """
    return torch.searchsorted(_seq(ends, "ends"), torch.arange(n_frames), right=True)


def boundary_errors_ms(pred, true, frame_rate: float) -> Tensor:
    """Absolute boundary errors in ms, pooled over utterances: (total boundaries,).

    Args:
        pred, true: (L,) end frames of one utterance, or lists of them.
        frame_rate: frames per second (100 for a 10 ms hop).

    Example:
        >>> boundary_errors_ms([3, 7, 10], [3, 9, 10], frame_rate=100).tolist()
        [0.0, 20.0, 0.0]
    """
    if not frame_rate > 0:
        raise ValueError(f"frame_rate={frame_rate} must be > 0 (frames per second)")
    pairs = _pairs(pred, true)
    diffs = [(p - t).abs().double() for p, t in pairs]
    return torch.cat(diffs) * (1000.0 / frame_rate) if diffs else torch.zeros(0, dtype=torch.float64)


def frame_accuracy(pred, true, n_frames: int | Sequence[int] | None = None) -> float:
    """Share of frames assigned to the right word, pooled over utterances.

    ``n_frames`` (per utterance) defaults to the larger of the two last boundaries.

    Example:
        >>> frame_accuracy([3, 7, 10], [3, 9, 10])
        0.8
    """
    pairs = _pairs(pred, true)
    if n_frames is None or isinstance(n_frames, int):
        counts = [n_frames] * len(pairs)
    else:
        counts = list(n_frames)
    right = total = 0
    for (p, t), n in zip(pairs, counts, strict=True):
        n = int(max(p[-1], t[-1])) if n is None else int(n)
        right += int((frame_labels(p, n) == frame_labels(t, n)).sum())
        total += n
    return right / total if total else float("nan")


def alignment_scores(pred, true, frame_rate: float, n_frames: int | Sequence[int] | None = None,
                     tolerances_ms: Sequence[float] = (20.0, 50.0)) -> dict[str, float]:
    """All alignment measures at once: ``boundary_mae_ms``, ``within_<tol>ms`` per tolerance, ``frame_accuracy``.

    Example:
        >>> alignment_scores([[3, 7, 10]], [[3, 9, 10]], frame_rate=100)
        {'boundary_mae_ms': 6.666666666666667, 'within_20ms': 1.0, 'within_50ms': 1.0, 'frame_accuracy': 0.8}
    """
    err = boundary_errors_ms(pred, true, frame_rate)
    out = {"boundary_mae_ms": float(err.mean()) if err.numel() else float("nan")}
    for tol in tolerances_ms:
        out[f"within_{tol:g}ms"] = float((err <= tol + 1e-9).double().mean()) if err.numel() else float("nan")
    out["frame_accuracy"] = frame_accuracy(pred, true, n_frames)
    return out
