"""Alignment metrics on a hand-worked case."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignment.metrics import alignment_scores, boundary_errors_ms, frame_accuracy, frame_labels


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
    with pytest.raises(ValueError, match=r"utterance 0: 2 predicted boundaries but 3 true ones"):
        boundary_errors_ms([1, 2], [1, 2, 3], 100)
    with pytest.raises(ValueError, match=r"not sorted"):
        frame_accuracy([5, 2], [2, 5])
    with pytest.raises(ValueError, match=r"frame_rate=0 must be > 0"):
        boundary_errors_ms([1], [1], 0)
    with pytest.raises(ValueError, match=r"2 predicted alignments but 1 true"):
        alignment_scores([[1], [2]], [[1]], 100)
