"""A bidirectional GRU over padded sequences of different lengths, without packing, its backward written by hand.

``nn.utils.rnn.pack_padded_sequence`` makes a bidirectional GRU read each sequence only within its length
(the backward direction starts at the last valid frame, not at the padding), but on the CPU the packed GRU
runs a batch that shrinks step by step, and its backward pass was half of a translation model's training
step. :func:`bidirectional_gru` computes the same outputs and final states from the module's own weights:
the forward direction reads the batch as it is (padding only follows the valid frames), the backward direction
reads each sequence reversed within its length, its outputs reversed back.

Both directions run in one time loop (:class:`_GRUDirections`), the input projection of every step one
matrix product before it, six operations a step for all directions together, the gates kept; the backward
pass is written by hand: every coefficient that does not depend on the incoming gradient is computed for all
steps at once from the kept gates, so that the time loop left is three operations a step (the gradient through
the update gate, the gate gradients, one batched product with the recurrent weights) and the weight gradients
are one matrix product each over all steps, where autograd replays some twenty small operations per step and
direction and accumulates the weight gradients step by step. 16 sequences, one CPU thread, forward and
backward (``experiments/benchmarks/recurrent.py``, docs/benchmarks.md): 113 steps of 64 units 19.1 ms against
27.6 ms for two unpacked ``nn.GRU`` runs under autograd and 63.9 ms packed; 46 steps 7.6 against 11.6 ms.
``tests/mmml/test_recurrent.py`` checks outputs, final states and gradients against the packed module (in
float64 to 1e-10) and the backward by gradcheck. On an accelerator, or for a GRU with several layers, it runs
the packed module itself.

Examples:
    >>> gru = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    >>> out, last = bidirectional_gru(gru, torch.randn(2, 5, 3), torch.tensor([5, 2]))
    >>> out.shape, last.shape, bool((out[1, 2:] == 0).all())
    (torch.Size([2, 5, 8]), torch.Size([2, 2, 4]), True)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


class _GRUDirections(torch.autograd.Function):
    """Several one-layer GRUs ``d`` (here: a bidirectional GRU's two directions), each read forward over its
    input ``x[d]`` ``(B, T, F)`` from a zero state, with weights ``w_ih[d]``, ``w_hh[d]``, ``b_ih[d]``,
    ``b_hh[d]`` (PyTorch's gate order r, z, n): the states ``(D, B, T, H)``.

    With ``a = x W_ih^T + b_ih`` and ``c = h_{t-1} W_hh^T + b_hh`` split into (r, z, n) parts:
    ``r = sigmoid(a_r + c_r)``, ``z = sigmoid(a_z + c_z)``, ``n = tanh(a_n + r c_n)``,
    ``h_t = (1 - z) n + z h_{t-1}`` (PyTorch's GRU). The input projection ``a`` is one product for all steps;
    the time loop runs all directions at once, six operations a step, and keeps the gates. With ``g_t`` the
    gradient reaching ``h_t``, the gradients of the pre-activations are ``g_t K_t`` (``K``:
    ``(1 - z)(1 - n^2) c_n r (1 - r)`` for r, ``(h_{t-1} - n) z (1 - z)`` for z, ``(1 - z)(1 - n^2) r`` for
    ``c_n``, ``(1 - z)(1 - n^2)`` for ``a_n``), all computed at once from the saved gates;
    ``g_{t-1} = dL/dh_{t-1} + g_t z_t + (g_t K_t) W_hh`` is all that runs step by step.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        d, b, t, f = x.shape
        h = w_hh.shape[-1]
        xt = x.transpose(1, 2).reshape(d, t * b, f)  # rows in time-major order (t * B + b)
        a = torch.baddbmm(b_ih[:, None], xt, w_ih.transpose(1, 2)).view(d, t, b, 3 * h).transpose(0, 1)
        a_rz, a_n = a[..., : 2 * h], a[..., 2 * h:]
        c = x.new_empty(t, d, b, 3 * h)       # every buffer (T, D, B, .): one step is one contiguous block
        rz = x.new_empty(t, d, b, 2 * h)
        n = x.new_empty(t, d, b, h)
        states = x.new_empty(t + 1, d, b, h)
        states[0] = 0
        c_rz, c_n, r, z = c[..., : 2 * h], c[..., 2 * h:], rz[..., :h], rz[..., h:]
        w_hh_t, b_hh_rows = w_hh.transpose(1, 2), b_hh[:, None]
        for s in range(t):
            torch.baddbmm(b_hh_rows, states[s], w_hh_t, out=c[s])
            torch.add(a_rz[s], c_rz[s], out=rz[s]).sigmoid_()
            torch.addcmul(a_n[s], r[s], c_n[s], out=n[s]).tanh_()
            torch.lerp(n[s], states[s], z[s], out=states[s + 1])
        ctx.save_for_backward(xt, c_n, rz, n, states, w_ih, w_hh)
        return states[1:].permute(1, 2, 0, 3)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, ...]:
        xt, c_n, rz, n, states, w_ih, w_hh = ctx.saved_tensors
        t, d, b, h = n.shape
        r, z, prev = rz[..., :h], rz[..., h:], states[:-1]
        a_n = (1 - z) * (1 - n * n)                      # d h_t / d (a_n): the n part of the input gates
        k = torch.cat([a_n * c_n * r * (1 - r), (prev - n) * z * (1 - z), a_n * r], -1)
        dout = grad.permute(2, 0, 1, 3).contiguous()      # (T, D, B, H)
        g = torch.empty_like(dout)                         # the gradient reaching h_t, along every path
        dc = torch.empty_like(k)                           # of c_t = h_{t-1} W_hh^T + b_hh
        g[t - 1] = dout[t - 1]
        k3, dc3 = k.view(t, d, b, 3, h), dc.view(t, d, b, 3, h)
        for s in range(t - 1, -1, -1):
            torch.mul(k3[s], g[s][:, :, None], out=dc3[s])
            if s == 0:
                break
            torch.baddbmm(torch.addcmul(dout[s - 1], g[s], z[s]), dc[s], w_hh, out=g[s - 1])
        rows = lambda v: v.transpose(0, 1).reshape(d, t * b, v.shape[-1])  # noqa: E731
        dc_rows = rows(dc)
        da = dc_rows.clone()                               # the input gates: r, z as for c; n through a_n
        da[..., 2 * h:] = rows(g * a_n)
        dx = torch.bmm(da, w_ih).view(d, t, b, -1).transpose(1, 2)
        return (dx, torch.bmm(da.transpose(1, 2), xt), torch.bmm(dc_rows.transpose(1, 2), rows(prev)), da.sum(1),
                dc_rows.sum(1))


def reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence of ``x`` ``(B, T, F)`` reversed within its first ``lengths[b]`` steps (the rest kept).

    Examples:
        >>> reverse_within(torch.arange(4.0).view(1, 4, 1), torch.tensor([3]))[0, :, 0].tolist()
        [2.0, 1.0, 0.0, 3.0]
    """
    steps = torch.arange(x.shape[1], device=x.device)[None]
    lengths = lengths.to(x.device)[:, None]
    order = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, order[..., None].expand_as(x))


def _stacked(gru: nn.GRU, name: str) -> Tensor:
    """``name``'s forward and reverse parameters stacked ``(2, ...)`` (zeros for a GRU without biases)."""
    if not gru.bias and name.startswith("bias"):
        return gru.weight_hh_l0.new_zeros(2, 3 * gru.hidden_size)
    return torch.stack([getattr(gru, name), getattr(gru, name + "_reverse")])


def bidirectional_gru(gru: nn.GRU, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Outputs ``(B, T, 2H)`` (zero past each length) and final states ``(2, B, H)`` of a bidirectional,
    batch-first, one-layer ``gru`` over ``x`` ``(B, T, F)`` read within ``lengths`` — what the packed module
    gives."""
    lengths = lengths.clamp(1, x.shape[1])
    if x.device.type != "cpu" or gru.num_layers != 1 or not (gru.bidirectional and gru.batch_first):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, last = gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, last
    lengths = lengths.to(x.device)
    both = torch.stack([x, reverse_within(x, lengths)])
    states = _GRUDirections.apply(both, *(_stacked(gru, n) for n in _NAMES))
    ahead, back = states[0], reverse_within(states[1], lengths)
    idx = torch.arange(x.shape[0], device=x.device)
    last = torch.stack([ahead[idx, lengths - 1], back[:, 0]])
    mask = (torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None])[..., None]
    return torch.cat([ahead, back], -1) * mask, last
