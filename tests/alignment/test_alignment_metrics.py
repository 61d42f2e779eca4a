"""Alignment metrics on a hand-worked case."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.alignment.metrics import alignment_scores, boundary_errors_ms, frame_accuracy, frame_labels


def test_hand_worked_case():
    # 100 frames per second (10 ms). Utterance A: words end at 10, 25, 40 (pred 12, 25, 35).
    # Utterance B: words end at 5, 20 (pred 5, 24). Errors in frames: 2, 0, 5 | 0, 4 -> ms 20, 0, 50, 0, 40.
    pred = [[12, 25, 35], torch.tensor([5, 24])]
    true = [np.array([10, 25, 40]), [5, 20]]
    assert boundary_errors_ms(pred, true, 100).tolist() == [20.0, 0.0, 50.0, 0.0, 40.0]
    # frames: A has 40 (max end), wrong: 10-11 (2 frames) and 35-39 (5) -> 33/40; B has 24, wrong 20-23 -> 20/24
    assert frame_accuracy(pred, true) == pytest.approx((33 + 20) / (40 + 24))
    scores = alignment_scores(pred, true, frame_rate=100)
    assert scores == pytest.approx({"boundary_mae_ms": 22.0, "within_20ms": 0.6, "within_50ms": 1.0,
                                    "frame_accuracy": 53 / 64})


def test_frame_labels_and_explicit_frame_counts():
    assert frame_labels([2, 5], 7).tolist() == [0, 0, 1, 1, 1, 2, 2]
    # with 8 frames, trailing frames after both last ends count as right
    assert frame_accuracy([3, 6], [3, 5], n_frames=8) == pytest.approx(7 / 8)
    assert boundary_errors_ms([3], [1], frame_rate=50).tolist() == [40.0]


def test_errors():
    with pytest.raises(ValueError, match=r"utterance 0: 2 predicted words but 3 true ones"):
        boundary_errors_ms([1, 2], [1, 2, 3], 100)
    with pytest.raises(ValueError, match=r"not sorted"):
        frame_accuracy([5, 2], [2, 5])
    with pytest.raises(ValueError, match=r"frame_rate=0 must be > 0"):
        boundary_errors_ms([1], [1], 0)
    with pytest.raises(ValueError, match=r"2 predicted alignments but 1 true"):
        alignment_scores([[1], [2]], [[1]], 100)


def test_spans_with_silence_and_padding():
    # 10 ms frames; reference words [2, 5) and [7, 9) with silence around; prediction [2, 6) and [6, 9)
    true = torch.tensor([[[2, 5], [7, 9], [-1, -1]]])  # (N, D, 2) padded as in the data contract
    pred = [np.array([[2, 6], [6, 9]])]
    assert frame_labels(true[0], 10).tolist() == [-1, -1, 0, 0, 0, -1, -1, 1, 1, -1]
    # boundaries 2, 5, 7, 9 against 2, 6, 6, 9 -> errors 0, 10, 10, 0 ms
    assert boundary_errors_ms(pred, true, 100).tolist() == [0.0, 10.0, 10.0, 0.0]
    # 9 frames (the larger last end): wrong are 5 (pred word 0, true silence) and 6 (pred 1, true silence)
    assert frame_accuracy(pred, true) == pytest.approx(7 / 9)
    assert frame_accuracy(pred, true, ignore_silence=True) == 1.0
    # predicted ends (no silence) against reference spans: the ends are compared
    assert boundary_errors_ms(torch.tensor([6, 9]), true[0], 100).tolist() == [10.0, 0.0]
