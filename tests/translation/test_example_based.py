"""Example-based translators: retrieval checked against a brute-force numpy search, consensus by a
hand-worked case, cross-modal retrieval recovering paired targets, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.translation.directions import fixed_view
from mmml.translation.example_based import CrossModalRetrieval, TopKConsensus, UnimodalRetrieval

from mmml.data.digit_sequences import VOCAB_EN
from mmml.data.spec import ModalitySpec

SPECS = {"image": ModalitySpec("image", "sequence", (12, 8)),
         "text": ModalitySpec("text", "tokens", (3,), vocab=VOCAB_EN.tokens),
         "audio": ModalitySpec("audio", "sequence", (20, 4), log_mel=True)}


def _pairs(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Strips whose columns encode the digits (a noisy one-hot per digit block) and their words."""
    g = torch.Generator().manual_seed(seed)
    digits = torch.randint(0, 8, (n, 3), generator=g)
    image = torch.zeros(n, 12, 8)
    for j in range(3):
        image[:, 4 * j: 4 * j + 4] = torch.nn.functional.one_hot(digits[:, j], 8)[:, None].float()
    image += 0.1 * torch.randn(image.shape, generator=g)
    return {"image": image, "image_lengths": torch.full((n,), 12), "text": digits + 4,
            "text_lengths": torch.full((n,), 3), "audio": torch.randn(n, 20, 4, generator=g),
            "audio_lengths": torch.randint(5, 21, (n,), generator=g)}


def test_unimodal_retrieval_equals_brute_force_search():
    train, test = _pairs(60, 0), _pairs(15, 1)
    net = UnimodalRetrieval(SPECS, "captioning", frames=6)
    net.fit(train)
    out = net.translate(test)
    xs = fixed_view(train, "image", SPECS["image"], 6).double().numpy()
    xq = fixed_view(test, "image", SPECS["image"], 6).double().numpy()
    mean, std = xs.mean(0), xs.std(0) + 1e-6
    d = ((((xq - mean) / std)[:, None] - ((xs - mean) / std)[None]) ** 2).sum(-1)
    assert torch.equal(out["tokens"], train["text"][torch.as_tensor(d.argmin(1))])
    assert not out["truncated"].any()


def test_unimodal_retrieval_of_speech_copies_frames_and_lengths():
    train = _pairs(20, 0)
    net = UnimodalRetrieval(SPECS, "synthesis")
    net.fit(train)
    out = net.translate(train)  # every source is its own nearest neighbour
    assert torch.equal(out["frames"], train["audio"]) and torch.equal(out["lengths"], train["audio_lengths"])


def test_topk_consensus_by_hand():
    net = TopKConsensus(SPECS, "captioning", k=4)
    net.fit(_pairs(4, 0))
    net.targets = torch.tensor([[4, 5, 6], [4, 5, 7], [4, 5, 7], [9, 9, 9]])
    # word edit distances: rows sum to 0+1+1+3=5, 1+0+0+3=4, 4, 3+3+3+0=9 -> candidate 1 (first of the tie)
    assert net.consensus(np.array([0, 1, 2, 3])) == 1
    assert net.consensus(np.array([3, 0])) == 0  # a tie of two goes to the nearer source


def test_cross_modal_retrieval_recovers_paired_targets():
    train, test = _pairs(200, 0), _pairs(30, 1)
    net = CrossModalRetrieval(SPECS, "captioning", frames=12, components=8, pca=24)
    net.fit(train)
    out = net.translate(test)
    # retrieved from the training targets only, and mostly the right digits (chance is 1/8 per word)
    assert all(any(torch.equal(row, t) for t in train["text"]) for row in out["tokens"])
    assert (out["tokens"] == test["text"]).float().mean() > 0.5


def test_clear_errors():
    with pytest.raises(RuntimeError, match=r"fit\(train_split\)"):
        UnimodalRetrieval(SPECS, "captioning").translate(_pairs(2, 0))
    with pytest.raises(ValueError, match="positive number of neighbours"):
        TopKConsensus(SPECS, "captioning", k=0)
    with pytest.raises(ValueError, match="needs modalities"):
        UnimodalRetrieval({"text": SPECS["text"]}, "captioning")
