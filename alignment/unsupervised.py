"""Explicit aligners that learn no acoustic model: warping against a reference whose boundaries are known.

- :class:`UniformAligner`: the baseline that knows only the number of words (equal parts).
- :class:`TemplateAligner`: DTW (Sakoe & Chiba 1978) of the utterance against a reference rendition of its
  transcript, per-word templates averaged over the training words (:func:`mmml.alignment.templates.mean_template`,
  or soft-DTW barycenters, Cuturi & Blondel 2017) joined by a mean pause frame; the reference's word
  boundaries are carried through the warping path (:func:`mmml.alignment.segments.warp_spans`).
- :class:`CTWAligner`: canonical time warping (Zhou & De la Torre 2009) between two modalities, e.g. the
  speech and the image strip of the same digits: CCA projections learned without any boundary from the
  training pairs, then DTW in the canonical space; the strip's known digit columns are carried onto the
  speech frames.

Each has ``align(batch) -> (B, D, 2)`` ``[start, end)`` frames (-1 padded) and, when it learns something,
``fit(train_split)`` (see :class:`mmml.alignment.task.AlignmentTask`).

Examples:
    >>> import torch
    >>> UniformAligner().align({"audio": torch.zeros(1, 9, 2), "text": torch.tensor([[5, 6, 7]])})[0].tolist()
    [[0, 3], [3, 6], [6, 9]]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from mmml.data.sequences import lengths_of
from mmml.data.spec import ModalitySpec

from .ctw import CanonicalTimeWarping
from .dynamic_time_warping import dtw
from .segments import cut_segments, pad_spans, transcripts, uniform_spans, valid_spans, warp_spans
from .templates import mean_template, soft_dtw_barycenter

__all__ = ["CTWAligner", "TemplateAligner", "UniformAligner"]


class UniformAligner(nn.Module):
    """Split each utterance's frames into as many equal parts as its transcript has words.

    Args:
        modality: the sequence to align; transcript: its token ids.
    """

    def __init__(self, modality: str = "audio", transcript: str = "text") -> None:
        super().__init__()
        self.modality, self.transcript = modality, transcript

    def align(self, batch: dict[str, Tensor]) -> Tensor:
        n, words = lengths_of(batch, self.modality), transcripts(batch, self.transcript)
        spans = [uniform_spans(int(n[i]), len(w)) for i, w in enumerate(words)]
        return pad_spans(spans, batch[self.transcript].shape[1]).to(batch[self.modality].device)

    forward = align


class TemplateAligner(nn.Module):
    """DTW against a rendition of the transcript from per-word templates of the training split.

    Args:
        specs: the data set's modalities (checks that ``modality`` is a sequence).
        modality, transcript: the frames to align and their token ids.
        average: ``"mean"`` (resampled frame-wise mean) or ``"soft_dtw"`` (soft-DTW barycenter from the mean).
        gamma, barycenter_iter: soft-DTW smoothing and L-BFGS-B iterations of the barycenter.
        max_examples: at most this many training examples per word (the first ones).
        step_pattern, distance, window: passed to :func:`mmml.alignment.dynamic_time_warping.dtw`.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str = "audio", transcript: str = "text",
                 average: str = "mean", gamma: float = 1.0, barycenter_iter: int = 30, max_examples: int = 100,
                 step_pattern: str = "symmetric2", distance: str = "sqeuclidean", window: int | None = None) -> None:
        super().__init__()
        if average not in ("mean", "soft_dtw"):
            raise ValueError(f"average={average!r}; choose 'mean' or 'soft_dtw'")
        if specs[modality].kind != "sequence":
            raise ValueError(f"modality {modality!r} is {specs[modality].kind!r}; DTW aligns sequences")
        self.modality, self.transcript, self.average = modality, transcript, average
        self.gamma, self.barycenter_iter, self.max_examples = float(gamma), int(barycenter_iter), int(max_examples)
        self.dtw_args = {"step_pattern": step_pattern, "distance": distance, "window": window}
        self.templates: dict[int, Tensor] = {}
        self.pause = torch.zeros(0)
        self.pause_lengths = (1, 1, 1)

    def fit(self, train_split: dict[str, Tensor]) -> None:
        """Average each word's training examples into a template; the pause frame and median pause lengths."""
        x = train_split[self.modality].float().cpu()
        bounds, n = train_split[f"{self.modality}_boundaries"], lengths_of(train_split, self.modality)
        words, tokens, pauses = cut_segments(x, n, bounds, transcripts(train_split, self.transcript))
        by_token: dict[int, list[Tensor]] = defaultdict(list)
        for seg, token in zip(words, tokens, strict=True):
            if len(seg) and len(by_token[token]) < self.max_examples:
                by_token[token].append(seg)
        self.templates = {}
        for token, examples in sorted(by_token.items()):
            template = mean_template(examples)
            if self.average == "soft_dtw":
                template = soft_dtw_barycenter(examples, template, self.gamma, max_iter=self.barycenter_iter)
            self.templates[token] = template.float()
        self.pause = torch.cat(pauses).mean(0) if pauses else x.new_zeros(x.shape[-1])
        leads, gaps, tails = [], [], []
        for spans, length in zip(valid_spans(bounds), n.tolist(), strict=True):
            leads.append(int(spans[0, 0]))
            gaps += (spans[1:, 0] - spans[:-1, 1]).tolist()
            tails.append(int(length) - int(spans[-1, 1]))
        self.pause_lengths = tuple(max(1, int(np.median(v))) if v else 1 for v in (leads, gaps, tails))

    def render(self, words: list[int]) -> tuple[Tensor, Tensor]:
        """The reference rendition of a transcript: frames (T, F) and each word's [start, end) (L, 2)."""
        if not self.templates:
            raise RuntimeError("TemplateAligner has no templates: call fit(train_split) first")
        missing = [w for w in words if w not in self.templates]
        if missing:
            raise ValueError(f"token {missing[0]} never occurs in the training split, so it has no template; "
                             f"use more data.n_sequences (templates exist for {sorted(self.templates)})")
        lead, gap, tail = self.pause_lengths
        parts, spans, pos = [self.pause.expand(lead, -1)], [], lead
        for k, w in enumerate(words):
            t = self.templates[w]
            parts.append(t)
            spans.append((pos, pos + len(t)))
            pos += len(t)
            n_pause = gap if k + 1 < len(words) else tail
            parts.append(self.pause.expand(n_pause, -1))
            pos += n_pause
        return torch.cat(parts), torch.tensor(spans)

    @torch.no_grad()
    def align(self, batch: dict[str, Tensor]) -> Tensor:
        x, n = batch[self.modality].float().cpu(), lengths_of(batch, self.modality).cpu()
        refs, ref_spans = zip(*(self.render(w) for w in transcripts(batch, self.transcript)), strict=True)
        ref = nn.utils.rnn.pad_sequence(list(refs), batch_first=True)
        _, paths = dtw(ref, x, [len(r) for r in refs], n, return_path=True, **self.dtw_args)
        spans = [warp_spans(p, s, int(n[i]), source=0) for i, (p, s) in enumerate(zip(paths, ref_spans, strict=True))]
        return pad_spans(spans, batch[self.transcript].shape[1]).to(batch[self.modality].device)

    forward = align


class CTWAligner(nn.Module):
    """Canonical time warping between the sequence to align and a reference modality with known segments.

    Args:
        specs: the data set's modalities. modality: the frames to align (e.g. ``"audio"``); reference: the
            other rendition whose ``<reference>_boundaries`` are carried over (e.g. the ``"image"`` strip).
        n_components, reg, max_iter, window, step_pattern: :class:`~mmml.alignment.ctw.CanonicalTimeWarping`.
        max_pairs: training pairs the projections are fitted on (the first ones); no boundary is used.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str = "audio", reference: str = "image",
                 n_components: int = 4, reg: float = 1e-3, max_iter: int = 10, window: int | None = None,
                 step_pattern: str = "symmetric1", max_pairs: int = 64) -> None:
        super().__init__()
        for m in (modality, reference):
            if specs[m].kind != "sequence":
                raise ValueError(f"modality {m!r} is {specs[m].kind!r}; canonical time warping aligns two sequences")
        self.modality, self.reference, self.max_pairs = modality, reference, int(max_pairs)
        self.ctw = CanonicalTimeWarping(n_components=n_components, reg=reg, max_iter=max_iter, window=window,
                                        step_pattern=step_pattern)

    def _pairs(self, batch: dict[str, Tensor], limit: int | None = None) -> tuple[list[Tensor], list[Tensor]]:
        nx, ny = lengths_of(batch, self.modality), lengths_of(batch, self.reference)
        count = len(nx) if limit is None else min(limit, len(nx))
        xs = [batch[self.modality][i, : int(nx[i])].double().cpu() for i in range(count)]
        ys = [batch[self.reference][i, : int(ny[i])].double().cpu() for i in range(count)]
        return xs, ys

    def fit(self, train_split: dict[str, Tensor]) -> None:
        """Fit the shared CCA projections by CTW on the first ``max_pairs`` training pairs (no boundaries)."""
        self.ctw.fit(*self._pairs(train_split, self.max_pairs))

    @torch.no_grad()
    def align(self, batch: dict[str, Tensor]) -> Tensor:
        if not hasattr(self.ctw, "x_weights_"):
            raise RuntimeError("CTWAligner is not fitted: call fit(train_split) first")
        xs, ys = self._pairs(batch)
        paths = self.ctw.align(xs, ys)
        known = valid_spans(batch[f"{self.reference}_boundaries"])
        spans = [warp_spans(p, s, len(x), source=1) for p, s, x in zip(paths, known, xs, strict=True)]
        return pad_spans(spans, batch[f"{self.reference}_boundaries"].shape[1]).to(batch[self.modality].device)

    forward = align
