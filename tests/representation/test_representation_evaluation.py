"""Evaluation functions against scikit-learn (probe) and constructed cases (arithmetic); retrieval: tests/mmml."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.representation import arithmetic_accuracy, linear_probe
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def test_linear_probe_equals_scikit_learn_and_reads_chance_on_shuffled_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = rng.normal(size=(300, 5)) + 2 * y[:, None]
    acc, _ = linear_probe(torch.tensor(x[:200]), torch.tensor(y[:200]), torch.tensor(x[200:]), torch.tensor(y[200:]))
    scaler = StandardScaler().fit(x[:200])
    ref = LogisticRegression(max_iter=500).fit(scaler.transform(x[:200]), y[:200])
    assert acc == pytest.approx(ref.score(scaler.transform(x[200:]), y[200:]))
    assert acc > 0.9
    shuffled, _ = linear_probe(torch.tensor(x[:200]), torch.tensor(rng.permutation(y[:200])), torch.tensor(x[200:]),
                               torch.tensor(y[200:]))
    assert shuffled < 0.6


def test_arithmetic_is_perfect_in_an_ideal_coordinated_space_and_chance_without_one():
    g = torch.Generator().manual_seed(0)
    prototypes = torch.randn(5, 16, generator=g)
    labels = torch.arange(200) % 5
    x = prototypes[labels] + 0.05 * torch.randn(200, 16, generator=g)
    y = prototypes[labels] + 0.05 * torch.randn(200, 16, generator=g)
    assert arithmetic_accuracy(x, y, labels) > 0.95
    unrelated = torch.randn(200, 16, generator=g)
    assert arithmetic_accuracy(x, unrelated, labels) < 0.4
    assert arithmetic_accuracy(x, y, labels, seed=1) == arithmetic_accuracy(x, y, labels, seed=1)
    with pytest.raises(ValueError, match="one space"):
        arithmetic_accuracy(x, y[:, :3], labels)
