"""Evaluation of translations, and of the evaluation itself (Baltrusaitis et al. 2017, Sec. 4.3).

Text: BLEU (Papineni et al. 2002) from torchmetrics and chrF (Popović 2015) from sacreBLEU (its reference
implementation; 75x faster than torchmetrics' ``CHRFScore`` on 200 digit strings, 12 ms against 0.90 s, which
made chrF 90 % of every validation pass), both on sacreBLEU's 0-100 scale; WER and CER from torchmetrics; exact
match; CIDEr-D (Vedantam et al. 2015) from ``pycocoevalcap``'s scorer (pure Python; only its PTB tokenizer needs
Java, and our words are already tokens). Speech: mel distance under DTW (Sakoe & Chiba 1978, alignment's batched
:func:`mmml.alignment.dtw`), and recognition-based scores (a separately trained recogniser transcribes the
generated speech). The dilemma: :func:`metric_agreement` gives, across methods, each metric's Spearman rank
correlation with exact match.

Examples:
    >>> s = text_scores([["one", "two"]], [["one", "two"]])
    >>> s["exact"], s["wer"], round(s["bleu"])
    (1.0, 0.0, 0)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sacrebleu.metrics import CHRF
from scipy.stats import spearmanr
from torch import Tensor
from torchmetrics.functional.text import char_error_rate, word_error_rate
from torchmetrics.text import BLEUScore

from mmml.columns import direction
from mmml.data.text import Vocab

log = logging.getLogger(__name__)


def decode(ids: Tensor, vocab: Vocab, lengths: Tensor | None = None) -> list[list[str]]:
    """Word lists of a batch of ids ``(B, L)``, cut at ``lengths`` or at ``<eos>``, specials dropped."""
    out = []
    for i in range(ids.shape[0]):
        row = ids[i, : int(lengths[i])] if lengths is not None else ids[i]
        out.append(vocab.decode(row.tolist()))
    return out


def bleu(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], n_gram: int = 4) -> float:
    """Corpus BLEU-4 (one reference each, no smoothing, brevity penalty), 0-100 as sacreBLEU."""
    metric = BLEUScore(n_gram=n_gram)
    return 100.0 * float(metric([" ".join(h) for h in hyps], [[" ".join(r)] for r in refs]))


def chrf(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Corpus chrF (character 6-grams, beta 2), 0-100, by sacreBLEU."""
    metric = CHRF(char_order=6, word_order=0, beta=2)
    return float(metric.corpus_score([" ".join(h) for h in hyps], [[" ".join(r) for r in refs]]).score)


def cider_d(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """CIDEr-D (n-grams 1-4, tf-idf over the references, clipping, Gaussian length penalty sigma 6),
    from ``pycocoevalcap`` (``pip install pycocoevalcap``); ``nan`` when it is not installed."""
    try:
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        log.warning("CIDEr-D needs pycocoevalcap (pip install pycocoevalcap); reported as nan")
        return math.nan
    gts = {i: [" ".join(r)] for i, r in enumerate(refs)}
    res = {i: [" ".join(h)] for i, h in enumerate(hyps)}
    return float(Cider().compute_score(gts, res)[0])


def exact_match(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Share of translations equal to their reference, word for word."""
    return float(np.mean([list(h) == list(r) for h, r in zip(hyps, refs, strict=True)]))


def text_scores(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> dict[str, float]:
    """Every text metric: ``bleu``, ``chrf`` (0-100), ``wer``, ``cer``, ``exact``, ``cider``.

    Args:
        hyps: one word list per example (may be empty). refs: the reference word lists.
    """
    if len(hyps) != len(refs) or not refs:
        raise ValueError(f"got {len(hyps)} translations for {len(refs)} references; pass one per reference")
    hyp_s, ref_s = [" ".join(h) for h in hyps], [" ".join(r) for r in refs]
    return {
        "bleu": bleu(hyps, refs), "chrf": chrf(hyps, refs),
        "wer": float(word_error_rate(hyp_s, ref_s)), "cer": float(char_error_rate(hyp_s, ref_s)),
        "exact": exact_match(hyps, refs), "cider": cider_d(hyps, refs),
    }


def mel_dtw_distance(generated: Tensor, generated_lengths: Tensor, reference: Tensor,
                     reference_lengths: Tensor) -> Tensor:
    """Mean Euclidean distance between aligned frames along the DTW path, per pair: ``(B,)``.

    Args: generated ``(B, T, F)`` and reference ``(B, T', F)`` frames with their valid lengths.
    """
    from mmml.alignment import dtw

    cost, paths = dtw(generated.float(), reference.float(), generated_lengths.clamp_min(1),
                      reference_lengths.clamp_min(1), distance="euclidean", return_path=True)
    steps = torch.tensor([len(p) for p in paths], dtype=cost.dtype, device=cost.device)
    return cost / steps


def metric_agreement(rows: Mapping[str, Mapping[str, float]], reference: str = "exact") -> dict[str, float]:
    """Spearman rank correlation, across rows (methods), between each metric and ``reference``.

    ``rows`` maps a method to its metrics. Lower-is-better metrics (``↓`` by :func:`mmml.columns.direction`, the
    tables' rule) are negated first, so 1 means "ranks the methods exactly as exact match does". Metrics seen in
    fewer than 3 rows, or constant ones, give ``nan``.
    """
    names = sorted({k for r in rows.values() for k in r if k != reference})
    out = {}
    for name in names:
        pairs = [(r[name], r[reference]) for r in rows.values()
                 if name in r and reference in r and np.isfinite(r[name]) and np.isfinite(r[reference])]
        if len(pairs) < 3:
            out[name] = math.nan
            continue
        a, b = np.asarray(pairs, dtype=float).T
        a = -a if direction(name) == "↓" else a
        out[name] = math.nan if np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)
    return out
