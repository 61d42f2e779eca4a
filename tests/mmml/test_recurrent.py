"""The unpacked bidirectional GRU against torch's packed one: outputs, final states and gradients."""

import pytest
import torch
from torch import nn

from mmml.recurrent import bidirectional_gru, reverse_within


def _packed(gru, x, lengths):
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, last = gru(packed)
    return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], last


def _against_packed(gru, x, lengths, atol_out, atol_grad):
    """bidirectional_gru against the packed module: outputs, final states and every gradient."""
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, last = bidirectional_gru(gru, x1, lengths)
    ref, ref_last = _packed(gru, x2, lengths)
    assert torch.allclose(out, ref, atol=atol_out) and torch.allclose(last, ref_last, atol=atol_out)
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum() + last.sum(), [x1, *gru.parameters()])
    ref_grads = torch.autograd.grad((ref * w).sum() + ref_last.sum(), [x2, *gru.parameters()])
    for g, r in zip(grads, ref_grads, strict=True):
        assert torch.allclose(g, r, atol=atol_grad)
    return out


@pytest.mark.parametrize("bias", [True, False])
def test_equals_the_packed_gru_with_its_gradients(bias):
    torch.manual_seed(0)
    gru = nn.GRU(5, 7, batch_first=True, bidirectional=True, bias=bias)
    lengths = torch.tensor([9, 3, 1, 6, 9])
    x = torch.randn(5, 9, 5)
    x = x * (torch.arange(9)[None] < lengths[:, None])[..., None]  # padded with zeros, as the datamodules do
    out = _against_packed(gru, x, lengths, 1e-6, 1e-5)
    if bias:  # reading the zero padding moves a GRU with biases: the lengths matter, and are honoured
        assert not torch.allclose(out[:, :, 7:], _packed(gru, x, torch.full((5,), 9))[0][:, :, 7:], atol=1e-3)


def test_reverse_within_by_hand():
    x = torch.arange(10.0).view(2, 5, 1)
    assert reverse_within(x, torch.tensor([5, 2]))[..., 0].tolist() == [[4, 3, 2, 1, 0], [6, 5, 7, 8, 9]]


def test_hand_written_backward_passes_gradcheck():
    from mmml.recurrent import _GRUDirections

    g = torch.Generator().manual_seed(0)
    d, b, t, f, h = 2, 3, 5, 4, 3
    args = [torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
            for shape in ((d, b, t, f), (d, 3 * h, f), (d, 3 * h, h), (d, 3 * h), (d, 3 * h))]
    assert torch.autograd.gradcheck(_GRUDirections.apply, args)


def test_equals_torch_in_float64_on_long_sequences():
    torch.manual_seed(1)
    gru = nn.GRU(6, 8, batch_first=True, bidirectional=True).double()
    lengths = torch.tensor([120, 37, 1, 119])
    x = torch.randn(4, 120, 6, dtype=torch.float64) * (torch.arange(120)[None] < lengths[:, None])[..., None]
    _against_packed(gru, x, lengths, 1e-12, 1e-10)


def test_draws_no_random_numbers():
    """A job's random numbers must not depend on which GRU sizes an earlier job of the process used."""
    gru = nn.GRU(11, 13, batch_first=True, bidirectional=True)  # a size no other test builds
    state = torch.get_rng_state()
    bidirectional_gru(gru, torch.ones(2, 4, 11), torch.tensor([4, 2]))[0].sum().backward()
    assert torch.equal(torch.get_rng_state(), state)
