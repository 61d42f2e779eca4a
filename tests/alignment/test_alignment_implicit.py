"""Implicit alignment: attention readouts against brute force and hand-worked cases; the attention aligner's shapes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from mmml.alignment.implicit import AttentionAligner, argmax_readout, monotonic_readout

from mmml.data.digit_sequences import VOCAB_EN
from mmml.data.spec import ModalitySpec


def _best_segmentation(att: np.ndarray) -> list[list[int]]:
    """Every split of S steps into L non-empty ordered runs, scored by sum log att: the best one's spans."""
    n_words, n_steps = att.shape
    best, spans = -np.inf, None
    for cuts in itertools.combinations(range(1, n_steps), n_words - 1):
        edges = (0, *cuts, n_steps)
        score = sum(np.log(att[k, edges[k]: edges[k + 1]]).sum() for k in range(n_words))
        if score > best:
            best, spans = score, [[edges[k], edges[k + 1]] for k in range(n_words)]
    return spans


def test_monotonic_readout_is_the_best_monotonic_segmentation():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n_words, n_steps = rng.integers(1, 5), rng.integers(5, 10)
        att = rng.dirichlet(np.ones(n_steps), size=n_words)
        assert monotonic_readout(torch.from_numpy(att)).tolist() == _best_segmentation(att)


def _best_with_silence(att: np.ndarray) -> list[list[int]]:
    """Every labelling of the steps by a word or silence (-1) with the words in order, each contiguous and
    present, scored by sum log att over word steps and log(1/S) per silent step: the best one's spans."""
    n_words, n_steps = att.shape
    best, spans = -np.inf, None
    for owner in itertools.product(range(-1, n_words), repeat=n_steps):
        words = [w for w in owner if w >= 0]
        runs = [w for i, w in enumerate(owner) if w >= 0 and (i == 0 or owner[i - 1] != w)]
        if runs != list(range(n_words)) or words != sorted(words):
            continue
        score = sum(np.log(att[w, i]) if w >= 0 else -np.log(n_steps) for i, w in enumerate(owner))
        if score > best:
            steps = np.arange(n_steps)
            best = score
            spans = [[int(steps[np.array(owner) == k].min()), int(steps[np.array(owner) == k].max()) + 1]
                     for k in range(n_words)]
    return spans


def test_monotonic_readout_with_silence_is_the_best_labelling():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n_words, n_steps = rng.integers(1, 4), rng.integers(4, 8)
        att = rng.dirichlet(0.5 * np.ones(n_steps), size=n_words)
        assert monotonic_readout(torch.from_numpy(att), silence=True).tolist() == _best_with_silence(att)


def test_readouts_by_hand():
    att = torch.tensor([[.7, .2, .1, 0.], [.1, .5, .3, .1], [0., .1, .2, .7]])
    assert monotonic_readout(att).tolist() == [[0, 1], [1, 3], [3, 4]]
    # peaks at 0, 1, 3 -> ends (0+1)//2+1 = 1, (1+3)//2+1 = 3, then 4
    assert argmax_readout(att).tolist() == [[0, 1], [1, 3], [3, 4]]
    # a peak that goes back is held at the previous one, so the spans stay ordered
    back = torch.tensor([[0., 0., 1., 0.], [1., 0., 0., 0.]])
    assert argmax_readout(back).tolist() == [[0, 3], [3, 4]]
    # with silence, a step that no word attends to above 1/S = 0.25 is left out
    assert monotonic_readout(torch.tensor([[.9, .05, .05, 0.], [0., .05, .05, .9]]), silence=True).tolist() == \
        [[0, 1], [3, 4]]


def test_readouts_reject_impossible_inputs():
    with pytest.raises(ValueError, match="3 words over 2 steps"):
        monotonic_readout(torch.ones(3, 2) / 2)
    with pytest.raises(ValueError, match="one \\(words, steps\\) matrix"):
        argmax_readout(torch.ones(2, 3, 4))


def _specs():
    return {"audio": ModalitySpec("audio", "sequence", (60, 6), frame_rate=62.5),
            "text": ModalitySpec("text", "tokens", (4,), vocab=VOCAB_EN.tokens)}


def _batch():
    return {"audio": torch.randn(2, 60, 6), "audio_lengths": torch.tensor([60, 31]),
            "text": torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]]), "text_lengths": torch.tensor([3, 2])}


@pytest.mark.parametrize("kind", [{"location": 0}, {"location": 4}, {"attention": "gmm"}])
def test_attention_aligner_forced_attention_and_spans(kind):
    net = AttentionAligner(_specs(), hidden=8, silence=False, **kind).eval()
    batch = _batch()
    logp, att, gold = net(batch)
    assert logp.shape == (2, 5, len(VOCAB_EN.tokens)) and att.shape == (2, 5, 30)
    assert gold[0].tolist() == [5, 6, 7, 3, 0] and gold[1].tolist() == [8, 9, 3, 0, 0]
    assert torch.allclose(att.sum(-1), torch.ones(2, 5))
    assert att[1, :, 16:].eq(0).all()  # 31 frames at stride 2 -> 16 valid steps; no attention on padding
    rows = net.attention(batch)
    assert [tuple(r.shape) for r in rows] == [(3, 30), (2, 16)]
    spans = net.align(batch)
    assert spans.shape == (2, 4, 2) and spans[0, :3, 0].tolist()[0] == 0 and int(spans[1, 1, 1]) == 31
    assert spans[1, 2:].eq(-1).all()
    assert torch.isfinite(net.loss(batch))


@pytest.mark.parametrize("kind", [{"location": 4}, {"attention": "gmm"}], ids=["location-aware", "gmm"])
def test_attention_aligner_learns_to_attend_to_the_right_word(kind):
    """Words are constant feature patterns, one per digit, at known places: after training on them, the forced
    attention of each word peaks inside that word's frames (content-only attention, which cannot tell
    repeated digits apart, reaches about 0.7 here; location-aware 0.98, GMM 1.0)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    pattern = torch.randn(10, 6, generator=g) * 2
    n, width = 48, 8
    digits = torch.randint(0, 10, (n, 3), generator=g)
    audio = 0.1 * torch.randn(n, 3 * width, 6, generator=g)
    for k in range(3):
        audio[:, k * width: (k + 1) * width] += pattern[digits[:, k]][:, None]
    batch = {"audio": audio, "audio_lengths": torch.full((n,), 3 * width), "text": digits + 4,
             "text_lengths": torch.full((n,), 3)}
    specs = {"audio": ModalitySpec("audio", "sequence", (3 * width, 6), frame_rate=62.5),
             "text": ModalitySpec("text", "tokens", (3,), vocab=VOCAB_EN.tokens)}
    net = AttentionAligner(specs, hidden=16, stride=1, dilations=(), dropout=0.0, silence=False, **kind)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(100):
        opt.zero_grad()
        net.loss(batch).backward()
        opt.step()
    net.eval()
    peaks = torch.stack([a.argmax(1) for a in net.attention(batch)]) // width
    assert (peaks == torch.arange(3)).float().mean() > 0.9
    truth = torch.tensor([[k * width, (k + 1) * width] for k in range(3)])
    assert (net.align(batch) - truth).abs().float().mean() < 2
