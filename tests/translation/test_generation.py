"""Continuous generation: durations read from boundaries by hand, causality of the convolution stack,
frame-by-frame generation equal to the whole-sequence computation on its own outputs, and training."""

from __future__ import annotations

import pytest
import torch
from mmml.translation.generation import ContinuousGenerator, segment_durations

from mmml.data.digit_sequences import VOCAB_EN
from mmml.data.spec import ModalitySpec

SPECS = {"text": ModalitySpec("text", "tokens", (4,), vocab=VOCAB_EN.tokens),
         "audio": ModalitySpec("audio", "sequence", (60, 6), frame_rate=62.5, log_mel=True)}


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    bounds = torch.tensor([[[3, 10], [14, 20], [-1, -1], [-1, -1]], [[0, 5], [5, 9], [12, 30], [33, 40]]])
    return {"text": torch.tensor([[5, 6, 0, 0], [4, 7, 8, 9]]), "text_lengths": torch.tensor([2, 4]),
            "audio": torch.randn(2, 60, 6, generator=g), "audio_lengths": torch.tensor([25, 44]),
            "audio_boundaries": bounds}


def test_segment_durations_by_hand():
    b = _batch()
    dur, tail = segment_durations(b["audio_boundaries"], b["text_lengths"], b["audio_lengths"])
    assert dur[0].tolist() == [[3, 7], [4, 6], [0, 0], [0, 0]]
    assert dur[1].tolist() == [[0, 5], [0, 4], [3, 18], [3, 7]]
    assert tail.tolist() == [5, 4]


def test_convolution_stack_is_causal():
    torch.manual_seed(0)
    net = ContinuousGenerator(SPECS, hidden=8, dilations=(1, 2, 4)).eval()
    prev, cond = torch.randn(1, 6, 20), torch.randn(1, 8, 20)
    out = net._stack(prev, cond)
    later = prev.clone()
    later[..., 12:] += 5.0  # change inputs from frame 12 on
    changed = net._stack(later, cond)
    assert torch.allclose(out[..., :12], changed[..., :12], atol=1e-6)
    assert not torch.allclose(out[..., 12:], changed[..., 12:])


def test_frame_by_frame_generation_equals_the_whole_sequence_pass():
    torch.manual_seed(0)
    net = ContinuousGenerator(SPECS, hidden=8, dilations=(1, 2, 4)).eval()
    batch = _batch()
    out = net.translate(batch)
    frames, lengths = out["frames"], out["lengths"]
    assert frames.shape == (2, 60, 6) and (lengths > 0).all()
    assert (frames[0, lengths[0]:] == 0).all()
    # feeding the generated frames back as teacher-forced inputs reproduces them (window = receptive field)
    with torch.no_grad():
        states, n_words = net._words(batch)
        dur = torch.expm1(net.duration(states).clamp(0, 8)).round().long()
        dur[..., 1] = dur[..., 1].clamp_min(1)
        tail = torch.expm1(net.tail(states.mean(1))[:, 0].clamp(0, 8)).round().long()
        cond, lengths2 = net._conditioning(states, dur, tail, n_words)
        t = int(lengths2.max())
        prev = torch.zeros(2, 6, t)
        prev[..., 1:] = frames[:, : t - 1].transpose(1, 2)
        whole = net._stack(prev, cond[..., :t]).transpose(1, 2)
    assert torch.equal(lengths, lengths2)
    mask = torch.arange(t)[None, :, None] < lengths[:, None, None]
    assert torch.allclose(whole * mask, frames[:, :t], atol=1e-5)


def test_generator_learns_a_batch():
    torch.manual_seed(0)
    batch = _batch()
    net = ContinuousGenerator(SPECS, hidden=16, input_noise=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = net.loss(batch).item()
    for _ in range(40):
        loss = net.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_clear_errors():
    with pytest.raises(ValueError, match="AttentionTranslator"):
        ContinuousGenerator({**SPECS, "image": ModalitySpec("image", "sequence", (9, 8))}, "captioning")
