"""Pivot bridging, disjoint pairs and hidden labels against hand-computed references (InfoNCE: tests/mmml)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.colearning import PivotBridge
from mmml.colearning.supervision import LABEL_PRESENT, disjoint_pairs, labelled_mask, observed_labels, pooled_views

from mmml.coordinated import info_nce
from mmml.data.spec import ModalitySpec


def test_labelled_mask_keeps_a_stratified_seeded_share():
    labels = torch.arange(10).repeat_interleave(50)
    mask = labelled_mask(labels, 0.1, seed=3)
    assert torch.bincount(labels[mask], minlength=10).tolist() == [5] * 10
    assert torch.equal(mask, labelled_mask(labels, 0.1, seed=3))
    assert not torch.equal(mask, labelled_mask(labels, 0.1, seed=4))
    assert torch.bincount(labels[labelled_mask(labels, 0.001, 0)]).tolist() == [1] * 10  # one per class at least
    with pytest.raises(ValueError, match="labelled_fraction=0.0"):
        labelled_mask(labels, 0.0, 0)
    assert torch.equal(labelled_mask(labels, 1.0, 0), torch.ones(500, dtype=torch.bool))
    assert torch.equal(observed_labels({"label": labels}), torch.ones(500, dtype=torch.bool))  # no mask: all seen


def test_disjoint_pairs_never_pair_source_and_target():
    labels = torch.arange(4).repeat_interleave(25)
    split = {m: torch.zeros(100, 2) for m in ("image", "audio", "text")} | {"label": labels}
    split[LABEL_PRESENT] = labelled_mask(labels, 0.8, seed=0)  # the datamodule's share (data.labelled_fraction)
    disjoint_pairs(split, [["image", "audio"], ["audio", "text"]], seed=0)
    image, audio, text = split["image_present"], split["audio_present"], split["text_present"]
    assert not (image & text).any()
    assert int((image & audio).sum()) == int((audio & text).sum()) == 40
    assert int(audio.sum()) == 80
    assert not (audio & ~split[LABEL_PRESENT]).any()  # pairs only among the kept examples
    with pytest.raises(KeyError, match="'video'"):
        disjoint_pairs(split, [["image", "video"]], 0)


def test_pooled_views_mean_and_std_of_valid_frames():
    x = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [2.0], [2.0]]])
    views = pooled_views({"audio": x, "audio_lengths": torch.tensor([2, 3]), "image": torch.ones(2, 1, 2, 2),
                          "text_present": torch.zeros(2, dtype=torch.bool)}, ["audio", "image", "text"])
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
