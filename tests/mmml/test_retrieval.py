"""Retrieval metrics (R@K, median rank) against torchmetrics.retrieval, a brute-force numpy ranking and
hand-worked cases; the torchmetrics class against its functional twin, batch by batch and merged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.functional.retrieval import retrieval_hit_rate, retrieval_reciprocal_rank
from torchmetrics.retrieval import RetrievalHitRate

from mmml.metrics import RetrievalMetrics, first_relevant_rank, retrieval_metrics
from mmml.metrics.retrieval import metrics_from_ranks


def class_case(seed: int = 0, q: int = 40, g: int = 50, d: int = 8, classes: int = 5):
    gen = torch.Generator().manual_seed(seed)
    query, gallery = torch.randn(q, d, generator=gen), torch.randn(g, d, generator=gen)
    ql, gl = torch.randint(0, classes, (q,), generator=gen), torch.randint(0, classes, (g,), generator=gen)
    gl[:classes] = torch.arange(classes)  # every class has a gallery item
    return query, gallery, ql, gl


def test_ranks_and_recall_match_torchmetrics_functional():
    q, gal, ql, gl = class_case()
    sim = F.normalize(q, dim=1) @ F.normalize(gal, dim=1).T
    relevant = ql[:, None] == gl[None, :]
    ranks = first_relevant_rank(q, gal, ql, gl)
    ref_ranks = torch.stack([1 / retrieval_reciprocal_rank(sim[i], relevant[i]) for i in range(len(q))])
    torch.testing.assert_close(ranks.double(), ref_ranks.double().round())
    out = retrieval_metrics(q, gal, ql, gl)
    assert list(out) == ["R@1", "R@5", "R@10", "medr"]
    for k in (1, 5, 10):
        ref = torch.stack([retrieval_hit_rate(sim[i], relevant[i], top_k=k) for i in range(len(q))]).float().mean()
        assert out[f"R@{k}"] == pytest.approx(float(ref))
    assert out["medr"] == pytest.approx(float(np.median(ref_ranks.numpy())))


def test_recall_matches_torchmetrics_hit_rate_class_with_indexes():
    q, g, yq, yg = class_case(seed=1, q=20, g=15, d=3, classes=3)
    ours = retrieval_metrics(q, g, yq, yg, ks=(1, 3))
    sim = F.normalize(q, dim=1) @ F.normalize(g, dim=1).T
    relevant = yq[:, None] == yg[None, :]
    index = torch.arange(20)[:, None].expand_as(sim)
    for k in (1, 3):
        ref = RetrievalHitRate(top_k=k)(sim.flatten(), relevant.flatten(), indexes=index.flatten())
        assert ours[f"R@{k}"] == pytest.approx(float(ref))


def test_against_a_brute_force_numpy_ranking():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(31, 4)), rng.normal(size=(25, 4))
    yq, yg = rng.integers(0, 4, 31), np.r_[np.arange(4), rng.integers(0, 4, 21)]
    m = retrieval_metrics(torch.tensor(q), torch.tensor(g), torch.tensor(yq), torch.tensor(yg), ks=(1, 5))
    sim = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    ranked = [yg[np.argsort(-s, kind="stable")] for s in sim]
    first = np.array([1 + np.flatnonzero(r == y)[0] for r, y in zip(ranked, yq, strict=True)])
    assert m == pytest.approx({"R@1": np.mean(first <= 1), "R@5": np.mean(first <= 5), "medr": np.median(first)})


def test_hand_worked_cases():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g = torch.tensor([[0.0, 1.0], [1.0, 0.1]])
    # query 0 (label 0) is nearest to g[1] (label 0); query 1 (label 1) to g[0] (label 1): both at rank 1
    assert retrieval_metrics(q, g, torch.tensor([0, 1]), torch.tensor([1, 0]), ks=(1,)) == {"R@1": 1.0, "medr": 1.0}
    # instance pairing: q[0]'s partner g[0] is second, q[1]'s partner g[1] is second too
    assert first_relevant_rank(q, g, match="instance").tolist() == [2, 2]
    # ranks 1, 2, 4, 8: R@1 = 1/4, R@5 = 3/4, medr = (2 + 4) / 2
    assert metrics_from_ranks(torch.tensor([1, 2, 4, 8]), ks=(1, 5)) == {"R@1": 0.25, "R@5": 0.75, "medr": 3.0}
    # a tie between the best relevant item and an irrelevant one ranks the query pessimistically
    tie = first_relevant_rank(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [2.0, 0.0]]),
                              torch.tensor([0]), torch.tensor([0, 1]))
    assert tie.tolist() == [2]


def test_instance_retrieval_perfect_and_reversed():
    x = torch.randn(10, 4)
    assert retrieval_metrics(x, x, match="instance") == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "medr": 1.0}
    worst = retrieval_metrics(x, -x, match="instance")
    assert worst["R@1"] == 0.0 and worst["medr"] == 10.0


def test_metric_class_equals_the_functional_twin_over_batches_and_merged_ranks():
    q, g, yq, yg = class_case(seed=2, q=30, g=30)
    ref = retrieval_metrics(q, g, yq, yg)
    metric = RetrievalMetrics()
    for s in range(0, 30, 7):
        metric.update(q[s:s + 7], g[s:s + 7], yq[s:s + 7], yg[s:s + 7])
    assert {k: float(v) for k, v in metric.compute().items()} == pytest.approx(ref)
    # two "ranks" each holding half the split, merged as DDP's gather would (list states, cat)
    a, b = RetrievalMetrics(), RetrievalMetrics()
    a.update(q[:15], g[:15], yq[:15], yg[:15])
    b.update(q[15:], g[15:], yq[15:], yg[15:])
    a.merge_state(b)
    assert {k: float(v) for k, v in a.compute().items()} == pytest.approx(ref)
    assert all(a._reductions[name] is not None for name in ("query", "gallery", "query_labels", "gallery_labels"))
    inst = RetrievalMetrics(ks=(1,), match="instance")
    inst.update(q[:10], q[:10])
    inst.update(q[10:20], q[10:20])
    assert {k: float(v) for k, v in inst.compute().items()} == {"R@1": 1.0, "medr": 1.0}


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="one space"):
        retrieval_metrics(torch.randn(3, 4), torch.randn(3, 5), match="instance")
    with pytest.raises(ValueError, match="no relevant"):
        retrieval_metrics(torch.randn(3, 4), torch.randn(3, 4), torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match="match"):
        retrieval_metrics(torch.randn(3, 4), torch.randn(3, 4), match="nearest")
    with pytest.raises(ValueError, match="needs query_labels"):
        RetrievalMetrics().update(torch.randn(3, 4), torch.randn(3, 4))
    with pytest.raises(RuntimeError, match="before any update"):
        RetrievalMetrics().compute()
