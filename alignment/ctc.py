"""CTC forced alignment: the best CTC path of a known transcript through an acoustic model's frame posteriors.

References: A. Graves, S. Fernandez, F. Gomez and J. Schmidhuber, "Connectionist Temporal
Classification", ICML 2006 (the CTC topology); the Viterbi search is
``torchaudio.functional.forced_align`` (Kurzinger et al., "CTC-segmentation", SPECOM 2020, and
Pratap et al., "Scaling speech technology to 1,000+ languages", 2023, describe its use).

CTC paths are peaky: a token fires on a frame or two and blanks fill the rest. Word boundaries are
therefore placed inside the blank gaps between words, by ``policy``: ``"midpoint"`` (default, the
middle of the gap), ``"start"`` (at the next word's first token) or ``"end"`` (right after the
word's last token). Boundaries are word end frames (exclusive); the last one is T.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchaudio.functional as AF
from torch import Tensor

__all__ = ["CTCAlignment", "TokenSpan", "ctc_forced_align", "ctc_word_alignment", "merge_tokens"]

try:
    from torchaudio.functional import TokenSpan
except ImportError:  # older torchaudio: same fields

    @dataclass
    class TokenSpan:  # type: ignore[no-redef]
        """A token and the frames [start, end) it occupies, with its mean probability."""

        token: int
        start: int
        end: int
        score: float

        def __len__(self) -> int:
            return self.end - self.start


def merge_tokens(tokens: Tensor, scores: Tensor, blank: int = 0) -> list[TokenSpan]:
    """Collapse a frame-level CTC path (T,) into token spans; ``scores`` are per-frame probabilities (T,).

    Uses ``torchaudio.functional.merge_tokens`` where it exists; this fallback gives the same spans.

    Examples:
        >>> [(s.token, s.start, s.end) for s in merge_tokens(torch.tensor([0, 3, 3, 0, 3, 5]), torch.ones(6))]
        [(3, 1, 3), (3, 4, 5), (5, 5, 6)]
    """
    if hasattr(AF, "merge_tokens"):
        return AF.merge_tokens(tokens, scores, blank=blank)
    diff = torch.diff(tokens, prepend=torch.tensor([-1], device=tokens.device), append=torch.tensor([-1],
                                                                                                    device=tokens.device))
    changes = torch.nonzero(diff != 0).flatten().tolist()
    spans = []
    for start, end in zip(changes[:-1], changes[1:], strict=True):
        token = int(tokens[start])
        if token != blank:
            spans.append(TokenSpan(token, start, end, float(scores[start:end].mean())))
    return spans


def _count_repeats(tokens: Sequence[int]) -> int:
    return sum(1 for a, b in zip(tokens[:-1], tokens[1:], strict=True) if a == b)


def _check(log_probs: Tensor, tokens: list[int], blank: int) -> Tensor:
    if log_probs.dim() == 3 and log_probs.shape[0] == 1:
        log_probs = log_probs[0]
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs has shape {tuple(log_probs.shape)}; pass one utterance as (T, C)")
    n_frames, n_classes = log_probs.shape
    if n_frames == 0:
        raise ValueError("log_probs is an empty sequence (0 frames); there is nothing to align")
    if not tokens:
        raise ValueError("the transcript is empty; pass at least one token")
    bad = [t for t in tokens if t == blank or not 0 <= t < n_classes]
    if bad:
        raise ValueError(f"transcript token {bad[0]} is the blank ({blank}) or outside 0..{n_classes - 1}; "
                         f"map words to non-blank classes of the acoustic model")
    need = len(tokens) + _count_repeats(tokens)
    if n_frames < need:
        raise ValueError(
            f"the transcript is too long for its frames: {len(tokens)} tokens with {_count_repeats(tokens)} "
            f"adjacent repeats need T >= {need} frames (each repeat needs a blank between), but log_probs has "
            f"T = {n_frames}; use a higher frame rate (smaller hop or less subsampling) or a shorter transcript"
        )
    return log_probs


def ctc_forced_align(log_probs: Tensor, tokens: Sequence[int], blank: int = 0) -> tuple[Tensor, list[TokenSpan]]:
    """Best CTC path of ``tokens`` through (T, C) log-probabilities: (frame labels (T,), token spans).

    Graves et al. (2006); Viterbi by ``torchaudio.functional.forced_align``. Needs T >= L + repeats.

    Examples:
        >>> lp = torch.log(torch.tensor([[.9, .1, 0.], [.1, .9, 0.], [.8, .1, .1], [.1, 0., .9]]) + 1e-6)
        >>> path, spans = ctc_forced_align(lp, [1, 2])
        >>> path.tolist(), [(s.token, s.start, s.end) for s in spans]
        ([0, 1, 0, 2], [(1, 1, 2), (2, 3, 4)])
    """
    tokens = [int(t) for t in tokens]
    log_probs = _check(torch.as_tensor(log_probs), tokens, blank)
    if not log_probs.is_floating_point():
        raise ValueError(f"log_probs has dtype {log_probs.dtype}; pass float log-probabilities")
    targets = torch.tensor([tokens], dtype=torch.int32, device=log_probs.device)
    path, scores = AF.forced_align(log_probs[None].detach(), targets, blank=blank)
    return path[0], merge_tokens(path[0], scores[0].exp(), blank=blank)


@dataclass
class CTCAlignment:
    """Result of :func:`ctc_word_alignment`: frame path, token spans, word spans and boundaries."""

    path: Tensor  #: (T,) label of each frame (blank or token)
    token_spans: list[TokenSpan]
    word_spans: Tensor  #: (L, 2) first token's start and last token's end (exclusive) of each word
    boundaries: Tensor  #: (L,) word end frames (exclusive) tiling [0, T) by the gap policy; the last is T


def ctc_word_alignment(log_probs: Tensor, words: Sequence[int] | Sequence[Sequence[int]], blank: int = 0,
                       policy: str = "midpoint") -> CTCAlignment:
    """Word boundaries from CTC forced alignment of a transcript given as words of tokens.

    Args:
        log_probs: (T, C) log-probabilities of one utterance (log_softmax output of a CTC model).
        words: one token per word (``[3, 1, 4]``) or a token list per word (``[[5, 2], [7]]``).
        blank: the blank class.
        policy: where a boundary falls in the blank gap between words: ``"midpoint"``, ``"start"``, ``"end"``.

    Returns:
        a :class:`CTCAlignment`; ``boundaries`` follows the data contract's ``<m>_boundaries``.

    Examples:
        >>> lp = torch.log(torch.tensor([[.1, .9, 0.], [.9, .1, 0.], [.9, 0., .1], [.9, 0., .1],
        ...                               [.1, 0., .9], [.9, .1, 0.]]) + 1e-6)
        >>> ctc_word_alignment(lp, [1, 2]).boundaries.tolist()
        [2, 6]
    """
    if policy not in ("midpoint", "start", "end"):
        raise ValueError(f"policy={policy!r} is not supported; choose 'midpoint', 'start' or 'end'")
    groups = [[int(w)] if isinstance(w, numbers.Integral) or (isinstance(w, Tensor) and w.dim() == 0)
              else [int(t) for t in w] for w in words]
    if any(len(g) == 0 for g in groups):
        raise ValueError(f"word {[len(g) for g in groups].index(0)} has no tokens; every word needs at least one")
    tokens = [t for g in groups for t in g]
    path, spans = ctc_forced_align(log_probs, tokens, blank)
    firsts = torch.tensor([0] + [len(g) for g in groups[:-1]]).cumsum(0)
    lasts = torch.tensor([len(g) for g in groups]).cumsum(0) - 1
    starts = torch.tensor([spans[i].start for i in firsts.tolist()])
    ends = torch.tensor([spans[i].end for i in lasts.tolist()])
    n_frames = path.shape[0]
    if policy == "midpoint":
        inner = (ends[:-1] + starts[1:]) // 2
    elif policy == "start":
        inner = starts[1:]
    else:
        inner = ends[:-1]
    boundaries = torch.cat([inner, torch.tensor([n_frames])]).long()
    return CTCAlignment(path, spans, torch.stack([starts, ends], 1), boundaries)
