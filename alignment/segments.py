"""Word segments of the ``digit_sequences`` batches: transcripts, words cut at their spans, spans from paths.

The glue between the data contract (``<m>_boundaries``: (N, D, 2) ``[start, end)`` frames, -1 padded;
``text`` token ids with ``text_lengths``) and the aligners: what each aligner reads (transcripts, word
and pause examples of the training split) and how it writes its answer (spans, padded the same way).

Examples:
    >>> import torch
    >>> warp_spans(torch.tensor([[0, 0], [1, 1], [2, 1], [3, 2], [4, 3]]), torch.tensor([[0, 2], [3, 5]]), 4).tolist()
    [[0, 1], [2, 4]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mmml.data.digit_sequences import pad_bounds
from mmml.data.sequences import lengths_of

__all__ = ["cut_segments", "pad_spans", "tiling_spans", "transcripts", "uniform_spans",
           "valid_spans", "warp_spans"]


def transcripts(batch: dict[str, Tensor], key: str = "text") -> list[list[int]]:
    """Each example's token ids, ``<key>_lengths`` long (the words to align)."""
    ids, n = batch[key].long().cpu(), lengths_of(batch, key).cpu()
    return [ids[i, : int(n[i])].tolist() for i in range(ids.shape[0])]


def valid_spans(bounds: Tensor) -> list[Tensor]:
    """(N, D, 2) -1-padded spans -> one (L_i, 2) long tensor per example."""
    b = bounds.long().cpu()
    return [b[i][(b[i] >= 0).all(1)] for i in range(b.shape[0])]


def pad_spans(spans: Sequence[Tensor | np.ndarray], width: int) -> Tensor:
    """One (L_i, 2) spans per example -> (N, width, 2), padded with -1 (the data contract's layout)."""
    too_long = [i for i, s in enumerate(spans) if len(s) > width]
    if too_long:
        raise ValueError(f"example {too_long[0]} has {len(spans[too_long[0]])} words, more than width={width}")
    return pad_bounds([np.asarray(s, dtype=np.int64).reshape(-1, 2) for s in spans], width)


def cut_segments(x: Tensor, lengths: Tensor, bounds: Tensor, words: list[list[int]]
                 ) -> tuple[list[Tensor], list[int], list[Tensor]]:
    """Cut the frames of every word at its span, and of every pause (lead, gaps, tail) between spans.

    Args:
        x: (N, T, F) frames; lengths: (N,) valid frames; bounds: (N, D, 2) word spans; words: token ids.

    Returns:
        ``(word frames, their tokens, pause frames)``; empty pauses are left out.
    """
    segments, tokens, pauses = [], [], []
    for i, (spans, ids) in enumerate(zip(valid_spans(bounds), words, strict=True)):
        if len(spans) != len(ids):
            raise ValueError(f"example {i} has {len(ids)} words but {len(spans)} spans; the boundaries must "
                             "follow the transcript")
        edges = [0] + spans.flatten().tolist() + [int(lengths[i])]
        for (s, e), token in zip(spans.tolist(), ids, strict=True):
            segments.append(x[i, s:e])
            tokens.append(token)
        pauses += [x[i, a:b] for a, b in zip(edges[::2], edges[1::2], strict=True) if b > a]
    return segments, tokens, pauses


def uniform_spans(n_frames: int, n_words: int) -> Tensor:
    """(n_words, 2) spans splitting ``[0, n_frames)`` into equal parts (the baseline that knows nothing).

    Examples:
        >>> uniform_spans(10, 3).tolist()
        [[0, 3], [3, 7], [7, 10]]
    """
    if n_words < 1 or n_frames < 1:
        raise ValueError(f"cannot split {n_frames} frames into {n_words} words; both must be >= 1")
    edges = torch.round(torch.linspace(0, n_frames, n_words + 1)).long()
    return torch.stack([edges[:-1], edges[1:]], 1)


def tiling_spans(ends: Tensor | Sequence[int]) -> Tensor:
    """Word end frames (L,) tiling ``[0, ends[-1])`` -> (L, 2) spans with no silence between words.

    Examples:
        >>> tiling_spans([2, 5, 9]).tolist()
        [[0, 2], [2, 5], [5, 9]]
    """
    e = torch.as_tensor(ends, dtype=torch.long).flatten()
    return torch.stack([torch.cat([e.new_zeros(1), e[:-1]]), e], 1)


def warp_spans(path: Tensor | np.ndarray, spans: Tensor, n_target: int, source: int = 0) -> Tensor:
    """Map known spans of one sequence through a warping path onto the other sequence's frames.

    A boundary at source frame ``b`` goes to the first target frame aligned with a source frame ``>= b``
    (a boundary at the source's end goes to ``n_target``), so ordered spans stay ordered and do not
    overlap (a word the path squeezes into no target frame gets an empty span).

    Args:
        path: (P, 2) monotone warping path (DTW's ``(i, j)`` pairs); source: which column indexes the
            sequence whose ``spans`` (L, 2) are known; the other column indexes the target.
        n_target: frames of the target sequence.
    """
    p = torch.as_tensor(path, dtype=torch.long)
    src, dst = p[:, source].contiguous(), p[:, 1 - source]
    flat = torch.as_tensor(spans, dtype=torch.long).reshape(-1)
    idx = torch.searchsorted(src, flat)  # first path step whose source frame is >= the boundary
    mapped = torch.where(idx < len(src), dst[idx.clamp(max=len(src) - 1)], torch.tensor(n_target))
    return mapped.reshape(-1, 2)
