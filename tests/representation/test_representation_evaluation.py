"""Evaluation functions against torchmetrics (retrieval), scikit-learn (probe) and constructed cases (arithmetic)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmml.representation import arithmetic_accuracy, first_relevant_rank, linear_probe, retrieval_metrics
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torchmetrics.functional.retrieval import retrieval_hit_rate, retrieval_reciprocal_rank


def test_ranks_and_recall_match_torchmetrics():
    g = torch.Generator().manual_seed(0)
    q, gal = torch.randn(40, 8, generator=g), torch.randn(50, 8, generator=g)
    ql, gl = torch.randint(0, 5, (40,), generator=g), torch.randint(0, 5, (50,), generator=g)
    gl[:5] = torch.arange(5)  # every class has a gallery item
    sim = F.normalize(q, dim=1) @ F.normalize(gal, dim=1).T
    relevant = ql[:, None] == gl[None, :]
    ranks = first_relevant_rank(q, gal, ql, gl)
    ref_ranks = torch.stack([1 / retrieval_reciprocal_rank(sim[i], relevant[i]) for i in range(40)])
    torch.testing.assert_close(ranks.double(), ref_ranks.double().round())
    out = retrieval_metrics(q, gal, ql, gl)
    for k in (1, 5, 10):
        ref = torch.stack([retrieval_hit_rate(sim[i], relevant[i], top_k=k) for i in range(40)]).float().mean()
        assert out[f"r{k}"] == pytest.approx(float(ref))
    assert out["medr"] == pytest.approx(float(np.median(ref_ranks.numpy())))


def test_instance_retrieval_perfect_and_reversed():
    x = torch.randn(10, 4)
    assert retrieval_metrics(x, x, match="instance") == {"r1": 1.0, "r5": 1.0, "r10": 1.0, "medr": 1.0}
    worst = retrieval_metrics(x, -x, match="instance")
    assert worst["r1"] == 0.0 and worst["medr"] == 10.0


def test_retrieval_errors():
    with pytest.raises(ValueError, match="one space"):
        retrieval_metrics(torch.randn(3, 4), torch.randn(3, 5), match="instance")
    with pytest.raises(ValueError, match="no relevant"):
        retrieval_metrics(torch.randn(3, 4), torch.randn(3, 4), torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match="match"):
        retrieval_metrics(torch.randn(3, 4), torch.randn(3, 4), match="nearest")


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
