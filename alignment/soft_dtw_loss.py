"""Soft-DTW, a differentiable relaxation of dynamic time warping, usable as a loss.

Reference: M. Cuturi and M. Blondel, "Soft-DTW: a differentiable loss function for time-series",
ICML 2017 (forward recursion: Algorithm 1; gradient by the backward recursion: Algorithm 2). The
normalised variant is the soft-DTW divergence of Blondel, Mensch and Vert (AISTATS 2021).

On CPU (float32/float64, numba installed) both recursions run per pair in compiled kernels
(:mod:`._dtw_kernels`), one thread; elsewhere they run batched over anti-diagonals in torch, like
:mod:`mmml.alignment.dynamic_time_warping`, on any device. The min of DTW becomes
``softmin_g(a) = -g log sum exp(-a / g)``, so soft-DTW tends to DTW as ``g -> 0``
(from below: ``dtw - g log 3 (N + M) <= soft_dtw <= dtw``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .dynamic_time_warping import (
    STEP_PATTERNS,
    _as_batch,
    _check_band,
    _check_choice,
    _cpu_kernels,
    _lengths,
    band_range,
)

__all__ = ["SoftDTWLoss", "soft_dtw", "soft_dtw_from_cost"]


def _diagonals(t: Tensor) -> Tensor:
    """Anti-diagonal view of a (R, C, B) table: ``view[k, i] = t[i, k - i]`` (valid where 0 <= k - i < C)."""
    r, c, b = t.shape
    return t.as_strided((r + c - 1, r, b), (b, (c - 1) * b, 1), t.storage_offset())


def _valid_mask(n: int, m: int, n_len: list[int], m_len: list[int], device: torch.device) -> Tensor:
    rows = torch.arange(n, device=device)[None, :, None] < torch.tensor(n_len, device=device)[:, None, None]
    cols = torch.arange(m, device=device)[None, None, :] < torch.tensor(m_len, device=device)[:, None, None]
    return rows & cols  # (B, N, M)


class _SoftDTW(torch.autograd.Function):
    """Soft-DTW of a batch of local-cost tables (B, N, M), with the gradient of Cuturi & Blondel's Algorithm 2.

    Compiled per-pair kernels on CPU; the torch wavefront (batch-last tables) elsewhere."""

    @staticmethod
    def forward(ctx, cost: Tensor, gamma: float, n_len: list[int], m_len: list[int], window: int | None,
                weights: tuple[float, float, float]) -> Tensor:
        ctx.gamma, ctx.n_len, ctx.m_len, ctx.window, ctx.weights = gamma, n_len, m_len, window, weights
        kernels = _cpu_kernels(cost)
        ctx.kernels = kernels
        if kernels is not None:
            bsz, n, m = cost.shape
            c = cost.detach().contiguous()
            table = np.empty((bsz, (n + 2) * (m + 2)), dtype=c.numpy().dtype)
            out = np.empty(bsz, dtype=table.dtype)
            kernels.soft_dtw_forward(c.numpy(), np.asarray(n_len, dtype=np.int64), np.asarray(m_len, dtype=np.int64),
                                     -1 if window is None else int(window), gamma, *weights, table, out)
            ctx.save_for_backward(c, torch.from_numpy(table))
            return torch.from_numpy(out)
        cost = cost.permute(1, 2, 0).contiguous()
        n, m, bsz = cost.shape
        table = torch.full((n + 1, m + 1, bsz), torch.inf, dtype=cost.dtype, device=cost.device)
        table[0, 0] = 0.0
        rd = _diagonals(table)
        cd = _diagonals(cost)
        stack = torch.empty((3, n, bsz), dtype=cost.dtype, device=cost.device)
        for k in range(2, n + m + 1):
            lo, hi = band_range(k, n, m, window)
            if lo > hi:
                continue
            c = cd[k - 2, lo - 1 : hi]
            s = stack[:, : hi - lo + 1]
            torch.add(rd[k - 2, lo - 1 : hi], c, alpha=weights[0], out=s[0])
            torch.add(rd[k - 1, lo - 1 : hi], c, alpha=weights[1], out=s[1])
            torch.add(rd[k - 1, lo : hi + 1], c, alpha=weights[2], out=s[2])
            s.mul_(-1.0 / gamma)
            rd[k, lo : hi + 1] = torch.logsumexp(s, 0).mul_(-gamma)
        idx = torch.arange(bsz, device=cost.device)
        ends = (torch.tensor(n_len, device=cost.device), torch.tensor(m_len, device=cost.device))
        ctx.save_for_backward(cost, table)
        return table[ends[0], ends[1], idx]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        cost, table = ctx.saved_tensors
        gamma, window, (w_d, w_v, w_h) = ctx.gamma, ctx.window, ctx.weights
        if ctx.kernels is not None:  # in float64 (the float32 kernel is slower: mixed-width vectors)
            bsz, n, m = cost.shape
            grad = np.zeros((bsz, n, m), dtype=np.float64)
            ctx.kernels.soft_dtw_backward(cost.double().numpy(), table.double().numpy().reshape(bsz, n + 2, m + 2),
                                          np.asarray(ctx.n_len, dtype=np.int64), np.asarray(ctx.m_len, dtype=np.int64),
                                          gamma, w_d, w_v, w_h, grad_out.detach().double().contiguous().numpy(), grad)
            return torch.from_numpy(grad).to(cost.dtype), None, None, None, None, None
        n, m, bsz = cost.shape
        kw = {"dtype": cost.dtype, "device": cost.device}
        # softmin weight of each predecessor in each cell: exp((R[s] - R[p] - w c[s]) / gamma), zero off the band
        rs = table[1:, 1:]
        probs = torch.zeros((3, n + 2, m + 2, bsz), **kw)
        for t, (pred, w) in enumerate(((table[:-1, :-1], w_d), (table[:-1, 1:], w_v), (table[1:, :-1], w_h))):
            torch.exp((rs - pred - w * cost) / gamma, out=probs[t, 1 : n + 1, 1 : m + 1])
        torch.nan_to_num_(probs, nan=0.0, posinf=0.0)
        grad = torch.zeros((n + 2, m + 2, bsz), **kw)
        idx = torch.arange(bsz, device=cost.device)
        grad[torch.tensor(ctx.n_len, device=cost.device), torch.tensor(ctx.m_len, device=cost.device), idx] = grad_out
        gd, pd, pv, ph = _diagonals(grad), _diagonals(probs[0]), _diagonals(probs[1]), _diagonals(probs[2])
        tmp = torch.empty((n, bsz), **kw)
        for k in range(n + m, 1, -1):
            lo, hi = band_range(k, n, m, window)
            if lo > hi:
                continue
            t = tmp[: hi - lo + 1]
            dst = gd[k, lo : hi + 1]
            torch.mul(gd[k + 1, lo + 1 : hi + 2], pv[k + 1, lo + 1 : hi + 2], out=t)  # from (i + 1, j)
            dst.add_(t)
            torch.mul(gd[k + 1, lo : hi + 1], ph[k + 1, lo : hi + 1], out=t)  # from (i, j + 1)
            dst.add_(t)
            torch.mul(gd[k + 2, lo + 1 : hi + 2], pd[k + 2, lo + 1 : hi + 2], out=t)  # from (i + 1, j + 1)
            dst.add_(t)
        inner = probs[:, 1 : n + 1, 1 : m + 1]
        local = inner[0] * w_d + inner[1] * w_v + inner[2] * w_h
        return (grad[1 : n + 1, 1 : m + 1] * local).permute(2, 0, 1), None, None, None, None, None


def _soft_dtw_nmb(cost: Tensor, gamma: float, n_len: list[int], m_len: list[int], window: int | None,
                  step_pattern: str) -> Tensor:
    if not gamma > 0:
        raise ValueError(f"gamma={gamma} must be > 0; use mmml.alignment.dtw (hard DTW) for the hard min (gamma = 0)")
    _check_band(window, n_len, m_len)
    _, n, m = cost.shape
    ragged = any(a < n for a in n_len) or any(a < m for a in m_len)
    if ragged and _cpu_kernels(cost) is None:  # torch route: padding never feeds a valid cell; keep it finite
        cost = cost.masked_fill(~_valid_mask(n, m, n_len, m_len, cost.device), 0.0)
    return _SoftDTW.apply(cost, float(gamma), n_len, m_len, window, STEP_PATTERNS[step_pattern])


def soft_dtw_from_cost(cost: Tensor, gamma: float = 1.0, x_lengths: Tensor | Sequence[int] | None = None,
                       y_lengths: Tensor | Sequence[int] | None = None, *, window: int | None = None,
                       step_pattern: str = "symmetric1") -> Tensor:
    """Soft-DTW value of precomputed local costs, differentiable with respect to ``cost``.

    Cuturi & Blondel (2017), Algorithms 1 and 2.

    Args:
        cost: (B, N, M) local costs, or one (N, M) matrix.
        gamma: smoothing, > 0; the result tends to the DTW cost as gamma -> 0.
        x_lengths, y_lengths: (B,) true sizes of padded rows and columns.
        window: Sakoe-Chiba band radius (default: none).

    Returns:
        (B,) values (a scalar for one matrix).

    Examples:
        >>> c = torch.tensor([[1.0, 5.0], [5.0, 1.0]], requires_grad=True)
        >>> v = soft_dtw_from_cost(c, gamma=0.01); v.backward()
        >>> round(v.item(), 3), [[round(g, 6) for g in row] for row in c.grad.tolist()]
        (2.0, [[1.0, 0.0], [0.0, 1.0]])
    """
    _check_choice("step_pattern", step_pattern, list(STEP_PATTERNS))
    cost = torch.as_tensor(cost)
    single = cost.dim() == 2
    if single:
        cost = cost[None]
    if cost.dim() != 3:
        raise ValueError(f"cost has shape {tuple(cost.shape)}; pass (B, N, M) or one (N, M) matrix")
    if cost.shape[1] == 0 or cost.shape[2] == 0:
        raise ValueError(f"cost has shape {tuple(cost.shape)}: an empty sequence; soft-DTW needs a frame each")
    n_len = _lengths(x_lengths, cost.shape[0], cost.shape[1], "x_lengths")
    m_len = _lengths(y_lengths, cost.shape[0], cost.shape[2], "y_lengths")
    out = _soft_dtw_nmb(cost, gamma, n_len, m_len, window, step_pattern)
    return out[0] if single else out


class _SqDistances(torch.autograd.Function):
    """(B, N, M) squared Euclidean distances from the compiled kernel (differences, not the expanded
    square, so no cancellation); gradient ``dx_i = 2 (x_i sum_j G_ij - sum_j G_ij y_j)`` by matmuls."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, kernels) -> Tensor:
        xc, yc = x.detach().contiguous(), y.detach().contiguous()
        out = np.empty((x.shape[0], x.shape[1], y.shape[1]), dtype=xc.numpy().dtype)
        kernels.sq_distances(xc.numpy(), yc.numpy(), out)
        ctx.save_for_backward(xc, yc)
        return torch.from_numpy(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, y = ctx.saved_tensors
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = 2 * (grad.sum(2, keepdim=True) * x - grad @ y)
        if ctx.needs_input_grad[1]:
            gy = 2 * (grad.sum(1)[..., None] * y - grad.transpose(1, 2) @ x)
        return gx, gy, None


def _sq_distances(x: Tensor, y: Tensor) -> Tensor:
    """(B, N, M) squared Euclidean distances between (B, N, D) and (B, M, D), differentiable."""
    kernels = _cpu_kernels(x, y)
    if kernels is not None and x.dtype == y.dtype:
        return _SqDistances.apply(x, y, kernels)
    if x.shape[-1] < 8:
        return (x[:, :, None] - y[:, None]).square().sum(-1)
    c = (x * x).sum(-1)[:, :, None] + (y * y).sum(-1)[:, None, :] - 2 * x @ y.transpose(1, 2)
    return c.clamp(min=0)


def soft_dtw(x: Tensor, y: Tensor, gamma: float = 1.0, x_lengths: Tensor | Sequence[int] | None = None,
             y_lengths: Tensor | Sequence[int] | None = None, *, window: int | None = None,
             step_pattern: str = "symmetric1") -> Tensor:
    """Soft-DTW between sequences under the squared Euclidean local cost, differentiable in ``x`` and ``y``.

    Cuturi & Blondel (2017). Shapes as :func:`~mmml.alignment.dtw`: (B, N, D) and (B, M, D), or single
    sequences (N, D)/(N,); returns (B,) or a scalar. For other local costs use :func:`soft_dtw_from_cost`.

    Examples:
        >>> x = torch.zeros(2, 5, 3, requires_grad=True); y = torch.ones(2, 4, 3)
        >>> soft_dtw(x, y, gamma=0.1).sum().backward(); tuple(x.grad.shape)
        (2, 5, 3)
    """
    _check_choice("step_pattern", step_pattern, list(STEP_PATTERNS))
    xb, single = _as_batch(x, "x")
    yb, _ = _as_batch(y, "y")
    if xb.shape[0] != yb.shape[0] or xb.shape[2] != yb.shape[2]:
        raise ValueError(
            f"x {tuple(xb.shape)} and y {tuple(yb.shape)} must have the same batch size and feature size; "
            f"project both to a common space first if the modalities differ"
        )
    if xb.shape[1] == 0 or yb.shape[1] == 0:
        raise ValueError("x or y is an empty sequence (0 frames); soft-DTW needs at least one frame each")
    n_len = _lengths(x_lengths, xb.shape[0], xb.shape[1], "x_lengths")
    m_len = _lengths(y_lengths, yb.shape[0], yb.shape[1], "y_lengths")
    out = _soft_dtw_nmb(_sq_distances(xb, yb), gamma, n_len, m_len, window, step_pattern)
    return out[0] if single else out


class SoftDTWLoss(nn.Module):
    """Soft-DTW loss between predicted and target sequences (Cuturi & Blondel, 2017).

    With ``normalize=True`` it is the soft-DTW divergence ``sdtw(x, y) - (sdtw(x, x) + sdtw(y, y)) / 2``
    (Blondel, Mensch & Vert, 2021), which is zero when ``x == y``.

    Args:
        gamma: smoothing, > 0.
        normalize: use the divergence instead of the raw value.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the batch.
        window: Sakoe-Chiba band radius.

    Shapes: ``forward(x (B, N, D), y (B, M, D), x_lengths=None, y_lengths=None)`` -> scalar, or (B,).

    Examples:
        >>> loss = SoftDTWLoss(gamma=0.1, normalize=True)
        >>> x = torch.randn(4, 20, 2, requires_grad=True)
        >>> loss(x, x.detach()).abs().item() < 1e-6
        True
    """

    def __init__(self, gamma: float = 1.0, normalize: bool = False, reduction: str = "mean",
                 window: int | None = None) -> None:
        super().__init__()
        _check_choice("reduction", reduction, ["mean", "sum", "none"])
        if not gamma > 0:
            raise ValueError(f"gamma={gamma} must be > 0")
        self.gamma, self.normalize, self.reduction, self.window = gamma, normalize, reduction, window

    def forward(self, x: Tensor, y: Tensor, x_lengths: Tensor | None = None,
                y_lengths: Tensor | None = None) -> Tensor:
        kw = {"gamma": self.gamma, "window": self.window}
        out = soft_dtw(x, y, x_lengths=x_lengths, y_lengths=y_lengths, **kw)
        if self.normalize:
            out = out - 0.5 * (soft_dtw(x, x, x_lengths=x_lengths, y_lengths=x_lengths, **kw)
                               + soft_dtw(y, y, x_lengths=y_lengths, y_lengths=y_lengths, **kw))
        if self.reduction == "mean":
            return out.mean()
        return out.sum() if self.reduction == "sum" else out

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, normalize={self.normalize}, reduction={self.reduction!r}, window={self.window}"
