"""Pivot bridging, disjoint pairs, hidden labels, InfoNCE and retrieval metrics against hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmml.colearning import PivotBridge
from mmml.colearning.coordinated_space import info_nce, retrieval_metrics
from mmml.colearning.supervision import disjoint_pairs, hide_labels, labelled_mask, pooled_views

from mmml.data.spec import ModalitySpec


def test_info_nce_matches_the_loop_over_queries():
    torch.manual_seed(0)
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    t = 0.2
    a2b = [-torch.log_softmax(an[i] @ bn.T / t, 0)[i] for i in range(5)]
    b2a = [-torch.log_softmax(bn[i] @ an.T / t, 0)[i] for i in range(5)]
    torch.testing.assert_close(info_nce(a, b, t), 0.5 * (torch.stack(a2b).mean() + torch.stack(b2a).mean()))


def test_retrieval_metrics_against_brute_force_ranks():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(30, 4)), rng.normal(size=(25, 4))
    yq, yg = rng.integers(0, 4, 30), np.r_[np.arange(4), rng.integers(0, 4, 21)]
    m = retrieval_metrics(torch.tensor(q), torch.tensor(g), torch.tensor(yq), torch.tensor(yg))
    sim = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    ranked = [yg[np.argsort(-s, kind="stable")] for s in sim]
    first = np.array([1 + np.flatnonzero(r == y)[0] for r, y in zip(ranked, yq, strict=True)])
    assert m["R@1"] == pytest.approx(np.mean(first <= 1))
    assert m["R@5"] == pytest.approx(np.mean(first <= 5))
    assert m["medr"] == pytest.approx(np.sort(first)[(len(first) - 1) // 2])  # torch's (lower) median


def test_retrieval_recall_matches_torchmetrics_hit_rate():
    from torchmetrics.retrieval import RetrievalHitRate

    torch.manual_seed(0)
    q, g = torch.randn(20, 3), torch.randn(15, 3)
    yq, yg = torch.randint(0, 3, (20,)), torch.arange(15) % 3
    ours = retrieval_metrics(q, g, yq, yg, ks=(1, 3))
    sim = F.normalize(q, dim=1) @ F.normalize(g, dim=1).T
    relevant = yq[:, None] == yg[None, :]
    index = torch.arange(20)[:, None].expand_as(sim)
    for k in (1, 3):
        ref = RetrievalHitRate(top_k=k)(sim.flatten(), relevant.flatten(), indexes=index.flatten())
        assert ours[f"R@{k}"] == pytest.approx(float(ref))


def test_retrieval_metrics_hand_case():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g = torch.tensor([[0.0, 1.0], [1.0, 0.1]])
    m = retrieval_metrics(q, g, torch.tensor([0, 1]), torch.tensor([1, 0]), ks=(1,))
    assert m == {"R@1": 1.0, "medr": 1.0}


def test_labelled_mask_keeps_a_stratified_seeded_share():
    labels = torch.arange(10).repeat_interleave(50)
    mask = labelled_mask(labels, 0.1, seed=3)
    assert torch.bincount(labels[mask], minlength=10).tolist() == [5] * 10
    assert torch.equal(mask, labelled_mask(labels, 0.1, seed=3))
    assert not torch.equal(mask, labelled_mask(labels, 0.1, seed=4))
    assert torch.bincount(labels[labelled_mask(labels, 0.001, 0)]).tolist() == [1] * 10  # one per class at least
    with pytest.raises(ValueError, match="labelled_fraction=0.0"):
        labelled_mask(labels, 0.0, 0)
    split = {"label": labels}
    assert torch.equal(hide_labels(split, 1.0, 0), torch.ones(500, dtype=torch.bool))


def test_disjoint_pairs_never_pair_source_and_target():
    labels = torch.arange(4).repeat_interleave(25)
    split = {m: torch.zeros(100, 2) for m in ("image", "audio", "text")} | {"label": labels}
    disjoint_pairs(split, [["image", "audio"], ["audio", "text"]], 0.8, seed=0)
    image, audio, text = split["image_present"], split["audio_present"], split["text_present"]
    assert not (image & text).any()
    assert int((image & audio).sum()) == int((audio & text).sum()) == 40
    assert int(audio.sum()) == 80
    with pytest.raises(KeyError, match="'video'"):
        disjoint_pairs(split, [["image", "video"]], 1.0, 0)


def test_pooled_views_mean_and_std_of_valid_frames():
    x = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [2.0], [2.0]]])
    views = pooled_views({"audio": x, "audio_lengths": torch.tensor([2, 3]), "image": torch.ones(2, 1, 2, 2)},
                         ["audio", "image", "text"])
    np.testing.assert_allclose(views[0], [[2.0, 1.0], [2.0, 0.0]])
    assert views[1].shape == (2, 4) and views[2] is None


SPECS = {m: ModalitySpec(m, "vector", (3,)) for m in ("image", "audio", "text")}


def test_pivot_bridge_loss_uses_only_the_observed_pairs():
    torch.manual_seed(0)
    net = PivotBridge(SPECS, dim=4).eval()  # no dropout, so both computations see the same embeddings
    batch = {m: torch.randn(6, 3) for m in SPECS}
    half = torch.tensor([True, True, True, False, False, False])
    batch.update(image_present=half, audio_present=torch.ones(6, dtype=torch.bool), text_present=~half)
    emb = {m: net.embed(batch, m) for m in SPECS}
    expected = info_nce(emb["image"][half], emb["audio"][half], 0.1) + \
        info_nce(emb["audio"][~half], emb["text"][~half], 0.1)
    torch.testing.assert_close(net.loss(batch), expected)
    assert net.pair_counts(batch) == {"image-text": 0, "image-audio": 3, "audio-text": 3}
    direct = PivotBridge(SPECS, pivot=None, dim=4)
    assert direct.pairs == [("image", "text")]
    assert float(direct.loss(batch)) == 0.0  # no image-text pair in this batch: nothing to learn from


def test_pivot_bridge_errors_name_the_fix():
    with pytest.raises(ValueError, match="different modalities"):
        PivotBridge(SPECS, source="image", target="image")
    with pytest.raises(ValueError, match="data.modalities"):
        PivotBridge(SPECS, pivot="video")
