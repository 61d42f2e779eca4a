"""CTC forced alignment on hand-built emissions, against a brute-force search over CTC paths."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchaudio.functional as AF
from mmml.alignment import ctc
from mmml.alignment.ctc import ctc_forced_align, ctc_word_alignment, merge_tokens


def peaked(frames: list[int], n_classes: int = 4, p: float = 0.97) -> torch.Tensor:
    """(T, C) log-probabilities that put ``p`` on the given class of each frame."""
    probs = torch.full((len(frames), n_classes), (1 - p) / (n_classes - 1))
    probs[torch.arange(len(frames)), torch.tensor(frames)] = p
    return probs.log()


def collapse(path, blank=0):
    out = [k for k, _ in itertools.groupby(path)]
    return [k for k in out if k != blank]


def test_hand_built_emission_gives_the_known_path_and_spans():
    frames = [0, 1, 1, 0, 0, 2, 0, 2, 0, 3]  # the repeated 2 needs the blank between its two spans
    path, spans = ctc_forced_align(peaked(frames), [1, 2, 2, 3])
    assert path.tolist() == frames
    assert [(s.token, s.start, s.end) for s in spans] == [(1, 1, 3), (2, 5, 6), (2, 7, 8), (3, 9, 10)]


def test_forced_path_follows_the_transcript_not_the_argmax():
    log_probs = peaked([0, 1, 0, 3, 0, 2, 0])  # the acoustic model hears 3 where the transcript says 2
    path, spans = ctc_forced_align(log_probs, [1, 2, 2])
    assert collapse(path.tolist()) == [1, 2, 2] and [s.token for s in spans] == [1, 2, 2]


def test_equals_brute_force_best_path():
    torch.manual_seed(3)
    log_probs = torch.randn(6, 3, dtype=torch.float64).log_softmax(-1)
    tokens = [1, 2]
    best = max((p for p in itertools.product(range(3), repeat=6) if collapse(p) == tokens),
               key=lambda p: float(log_probs[torch.arange(6), torch.tensor(p)].sum()))
    path, _ = ctc_forced_align(log_probs, tokens)
    assert path.tolist() == list(best)


def test_word_boundaries_by_gap_policy():
    log_probs = peaked([0, 1, 1, 0, 0, 2, 0, 2, 0, 3])
    words = [[1], [2, 2], [3]]
    result = ctc_word_alignment(log_probs, words)
    assert result.word_spans.tolist() == [[1, 3], [5, 8], [9, 10]]
    assert result.boundaries.tolist() == [4, 8, 10]
    assert ctc_word_alignment(log_probs, words, policy="start").boundaries.tolist() == [5, 9, 10]
    assert ctc_word_alignment(log_probs, words, policy="end").boundaries.tolist() == [3, 8, 10]
    single = ctc_word_alignment(peaked([1, 0, 0, 2, 2, 0]), [1, 2])  # one token per word
    assert single.boundaries.tolist() == [2, 6] and single.word_spans.tolist() == [[0, 1], [3, 5]]


def test_merge_tokens_fallback_matches_torchaudio(monkeypatch):
    tokens = torch.tensor([0, 3, 3, 0, 3, 5, 5, 0])
    scores = torch.rand(8)
    expected = AF.merge_tokens(tokens, scores)
    monkeypatch.delattr(ctc.AF, "merge_tokens")
    got = merge_tokens(tokens, scores)
    assert [(s.token, s.start, s.end) for s in got] == [(s.token, s.start, s.end) for s in expected]
    assert [s.score for s in got] == pytest.approx([s.score for s in expected])


def test_errors_name_the_input_and_the_fix():
    with pytest.raises(ValueError, match=r"4 tokens with 2 adjacent repeats need T >= 6 frames.*T = 5"):
        ctc_forced_align(peaked([0, 1, 0, 2, 0]), [1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"token 0 is the blank"):
        ctc_forced_align(peaked([0, 1, 0, 2, 0]), [1, 0])
    with pytest.raises(ValueError, match=r"token 9 .*outside 0..3"):
        ctc_forced_align(peaked([0, 1, 0, 2, 0]), [9])
    with pytest.raises(ValueError, match=r"transcript is empty"):
        ctc_forced_align(peaked([0, 1]), [])
    with pytest.raises(ValueError, match=r"log_probs is an empty sequence"):
        ctc_forced_align(torch.zeros(0, 4), [1])
    with pytest.raises(ValueError, match=r"policy='middle'"):
        ctc_word_alignment(peaked([0, 1]), [1], policy="middle")
