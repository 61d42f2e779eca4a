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


def _conditioning_by_loop(net, states, dur, tail, n_words, t_max):
    """The per-frame features written segment by segment (the reference for the vectorised pass)."""
    b = states.shape[0]
    feats = states.new_zeros(b, t_max, states.shape[-1] + 4)
    lengths = torch.zeros(b, dtype=torch.long)
    for i in range(b):
        pos = 0
        segs = [(j, k, int(dur[i, j, k])) for j in range(int(n_words[i])) for k in (0, 1)]
        segs.append((int(n_words[i]) - 1, 2, int(tail[i])))
        for j, kind, n in segs:
            n = min(n, t_max - pos)
            if n <= 0:
                continue
            phase = torch.arange(n, dtype=states.dtype) / max(n - 1, 1)
            flags = states.new_tensor([kind == 1, kind != 1])
            feats[i, pos:pos + n] = torch.cat([states[i, max(j, 0)].expand(n, -1), flags.expand(n, -1),
                                               phase[:, None], 1 - phase[:, None]], 1)
            pos += n
        lengths[i] = pos
    return net.segment(feats).transpose(1, 2), lengths


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conditioning_equals_the_segment_by_segment_loop(dtype):
    torch.manual_seed(1)
    net = ContinuousGenerator(SPECS, hidden=8).to(dtype)
    g = torch.Generator().manual_seed(3)
    b, d, h = 7, 4, 8
    states = torch.randn(b, d, h, generator=g, dtype=dtype)
    dur = torch.randint(-2, 9, (b, d, 2), generator=g)  # negative durations count as none
    tail = torch.randint(-1, 7, (b,), generator=g)
    n_words = torch.tensor([0, 1, 2, 4, 4, 3, 4])
    dur[4] = 20  # example 4 runs past t_max: cut inside a segment
    for t_max in (60, 33):
        s1, s2 = states.clone().requires_grad_(), states.clone().requires_grad_()
        got, n_got = net._conditioning(s1, dur, tail, n_words, t_max)
        want, n_want = _conditioning_by_loop(net, s2, dur, tail, n_words, t_max)
        assert torch.equal(n_got, n_want) and int(n_got[4]) == t_max
        assert torch.allclose(got, want, atol=1e-6 if dtype == torch.float32 else 1e-12)
        w = torch.randn(got.shape, generator=g, dtype=dtype)
        (got * w).sum().backward()
        (want * w).sum().backward()
        assert torch.allclose(s1.grad, s2.grad, atol=1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("kernel", [2, 3])
def test_causal_convolution_equals_the_padded_conv1d(kernel):
    from mmml.translation.generation import CausalBlock

    torch.manual_seed(0)
    block = CausalBlock(6, dilation=4, kernel=kernel)
    x = torch.randn(3, 6, 17, requires_grad=True)
    want = block.conv(torch.nn.functional.pad(x, (block.pad, 0)))
    got = block.causal(x)
    assert got.shape == want.shape == (3, 12, 17)
    assert torch.allclose(got, want, atol=1e-6)
    w = torch.randn(want.shape)
    grads = [torch.autograd.grad((y * w).sum(), (x, block.conv.weight, block.conv.bias)) for y in (got, want)]
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
