"""Translation metrics against references: sacreBLEU (BLEU, chrF), hand-worked WER/CER, CIDEr-D and DTW
cases, scipy's Spearman correlation."""

from __future__ import annotations

import math

import pytest
import torch
from mmml.translation.evaluation import (
    bleu,
    chrf,
    cider_d,
    exact_match,
    mel_dtw_distance,
    metric_agreement,
    text_scores,
)
from scipy.stats import spearmanr

HYPS = [["one", "two", "three", "four", "five"], ["six", "seven", "eight", "nine"], ["zero", "one", "one"],
        ["deux", "trois", "quatre", "cinq", "six", "sept"], ["zéro", "huit"]]
REFS = [["one", "two", "three", "four", "six"], ["six", "seven", "eight", "nine"], ["zero", "one", "two", "one"],
        ["deux", "trois", "quatre", "cinq", "six", "sept", "huit"], ["zéro", "neuf"]]


def test_bleu_equals_sacrebleu_and_chrf_equals_torchmetrics():
    """Each metric against the other library: BLEU (torchmetrics) vs sacreBLEU, chrF (sacreBLEU) vs torchmetrics."""
    sacrebleu = pytest.importorskip("sacrebleu")
    from torchmetrics.text import CHRFScore

    hyp, ref = [" ".join(h) for h in HYPS], [" ".join(r) for r in REFS]
    assert bleu(HYPS, REFS) == pytest.approx(sacrebleu.corpus_bleu(hyp, [ref]).score, abs=1e-4)  # float32
    # torchmetrics' chrF agrees with sacreBLEU's to about 0.002 points here (float32 statistics)
    reference = 100.0 * float(CHRFScore(n_char_order=6, n_word_order=0, beta=2.0)(hyp, [[r] for r in ref]))
    assert chrf(HYPS, REFS) == pytest.approx(reference, abs=0.01)
    assert chrf(HYPS, REFS) != pytest.approx(chrf(HYPS[::-1], REFS), abs=0.01)  # pairs matter
    one = [HYPS[1]], [REFS[1]]
    assert bleu(*one) == pytest.approx(100.0) and chrf(*one) == pytest.approx(100.0)


def test_wer_cer_exact_by_hand():
    s = text_scores([["one", "two"], ["three"]], [["one", "three"], ["three"]])
    assert s["wer"] == pytest.approx(1 / 3)  # one substitution in three reference words
    # characters "one two" vs "one three": t-w-o -> t-h-r-e-e is 1 substitution (w->h) + 2 sub + 2 ins = 4
    # (edit distance of "two" and "three" is 4); 4 edits over 9 + 5 reference characters
    assert s["cer"] == pytest.approx(4 / 14)
    assert s["exact"] == 0.5 and exact_match([[]], [[]]) == 1.0


def test_cider_d_hand_worked():
    pytest.importorskip("pycocoevalcap")
    # two documents, df = 1 for every reference n-gram, idf = log 2. Example 1 is identical: cosine 1 for
    # n = 1..3, no 4-grams -> mean 0.75, x10 = 7.5. Example 2 ("four six" vs "four five"): unigram cosine
    # log2^2 / (sqrt(2) log2)^2 = 0.5, bigrams 0 -> mean 0.125, x10 = 1.25. Corpus: (7.5 + 1.25) / 2.
    score = cider_d([["one", "two", "three"], ["four", "six"]], [["one", "two", "three"], ["four", "five"]])
    assert score == pytest.approx(4.375)


def test_text_scores_rejects_mismatched_lists():
    with pytest.raises(ValueError, match="one per reference"):
        text_scores([["one"]], [["one"], ["two"]])


def test_mel_dtw_distance_cases():
    torch.manual_seed(0)
    ref = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 4])
    assert torch.allclose(mel_dtw_distance(ref, lengths, ref, lengths), torch.zeros(2), atol=1e-6)
    stretched = ref.repeat_interleave(2, dim=1)  # every frame twice: DTW absorbs it
    assert torch.allclose(mel_dtw_distance(stretched, 2 * lengths, ref, lengths), torch.zeros(2), atol=1e-6)
    shifted = ref + torch.tensor([0.0, 2.0, 0.0])  # a constant offset of 2 in one band: distance 2 per step
    assert torch.allclose(mel_dtw_distance(shifted, lengths, ref, lengths), torch.full((2,), 2.0), atol=1e-5)


def test_metric_agreement_is_spearman_with_signs():
    rows = {"a": {"exact": 0.9, "bleu": 80.0, "wer": 0.1}, "b": {"exact": 0.5, "bleu": 60.0, "wer": 0.3},
            "c": {"exact": 0.1, "bleu": 70.0, "wer": 0.8}, "d": {"exact": 0.0, "bleu": 10.0}}
    out = metric_agreement(rows)
    assert out["bleu"] == pytest.approx(spearmanr([80, 60, 70, 10], [0.9, 0.5, 0.1, 0.0]).statistic)
    assert out["wer"] == pytest.approx(1.0)  # lower is better: perfectly reversed ranks agree
    assert math.isnan(metric_agreement({"a": {"exact": 1.0, "bleu": 1.0}})["bleu"])
