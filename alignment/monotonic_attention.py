"""Monotonic attention (Raffel, Luong, Liu, Weiss & Eck, "Online and linear-time attention by enforcing monotonic
alignments", ICML 2017) trained through its expected alignment, and its chunkwise form (Chiu & Raffel, ICLR 2018).

At output step i, a hard monotonic attention scans the input from where it stopped at step i - 1 and stops
at input j with probability ``p_ij = sigmoid(e_ij)``. Training uses the expected alignment
(Raffel et al. 2017, eq. 9-10)::

    alpha_ij = p_ij * q_ij,    q_ij = (1 - p_i,j-1) q_i,j-1 + alpha_i-1,j

computed here in closed form, ``q_ij = sum_{k <= j} alpha_i-1,k prod_{l=k}^{j-1} (1 - p_il)``, as a (S, S)
lower-triangular matrix of ``exp(c_j - c_k)``, ``c`` the running sum of ``log(1 - p)``: every entry is at
most 1, so no division by a vanishing cumulative product. Chunkwise attention (MoChA) spreads each stop
over the ``w`` inputs ending there with a softmax of separate energies ``u``:
``beta_ij = sum_{k=j}^{j+w-1} alpha_ik exp(u_ij) / sum_{l=k-w+1}^{k} exp(u_il)``.

Examples:
    >>> p = torch.tensor([[0.0, 0.5, 0.5, 0.9]])
    >>> [round(v, 4) for v in expected_alignment(p, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))[0].tolist()]
    [0.0, 0.5, 0.25, 0.225]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["chunkwise_attention", "expected_alignment", "hard_monotonic_stops"]


def expected_alignment(p_choose: Tensor, previous: Tensor, mask: Tensor | None = None) -> Tensor:
    """Raffel et al.'s expected alignment (B, S) of this output step from its stopping probabilities (B, S) and
    the previous step's alignment (B, S) (the first step's previous alignment is a one-hot at input 0).

    Masked inputs (``mask`` False) never stop. Weight that passes the last input without stopping is lost,
    as in the paper (the row then sums to less than 1).
    """
    if p_choose.shape != previous.shape or p_choose.dim() != 2:
        raise ValueError(f"p_choose {tuple(p_choose.shape)} and previous {tuple(previous.shape)} must both be (B, S)")
    p = p_choose if mask is None else p_choose.masked_fill(~mask, 0.0)
    log_stay = torch.log1p(-p.clamp(max=1.0 - 1e-6))
    c = torch.cumsum(log_stay, -1) - log_stay  # c_j = sum_{l<j} log(1 - p_l)
    diff = c[:, :, None] - c[:, None, :]  # (B, j, k): c_j - c_k
    lower = torch.ones(p.shape[1], p.shape[1], dtype=torch.bool, device=p.device).tril()
    q = torch.einsum("bjk,bk->bj", torch.exp(diff.masked_fill(~lower, float("-inf"))), previous)
    return p * q


def chunkwise_attention(alpha: Tensor, energies: Tensor, chunk: int, mask: Tensor | None = None) -> Tensor:
    """MoChA's expected attention (B, S): each stop's weight ``alpha`` spread over the ``chunk`` inputs ending
    at it by a softmax of ``energies`` (B, S) (Chiu & Raffel 2018, eq. 13-15)."""
    if chunk < 1:
        raise ValueError(f"chunk={chunk}; a chunk covers at least one input")
    u = energies if mask is None else energies.masked_fill(~mask, float("-inf"))
    u = u - u.max(-1, keepdim=True).values.detach().clamp_min(-1e4)
    ex = torch.exp(u)
    # denominators d_k = sum_{l=k-w+1}^{k} exp(u_l): a moving sum looking back
    d = F.avg_pool1d(F.pad(ex, (chunk - 1, 0))[:, None], chunk, stride=1)[:, 0] * chunk
    ratio = alpha / d.clamp_min(1e-30)
    # beta_j = exp(u_j) sum_{k=j}^{j+w-1} ratio_k: a moving sum looking ahead
    ahead = F.avg_pool1d(F.pad(ratio, (0, chunk - 1))[:, None], chunk, stride=1)[:, 0] * chunk
    return ex * ahead


@torch.no_grad()
def hard_monotonic_stops(p_choose: Tensor, threshold: float = 0.5) -> Tensor:
    """Test-time hard monotonic attention for one sequence: (L, S) stopping probabilities -> (L,) stop inputs.

    Each row scans from the previous stop and stops at the first input with ``p >= threshold``; a row that
    never stops stays at the last input (Raffel et al. 2017, Sec. 2.2)."""
    stops, start = [], 0
    for row in p_choose:
        hit = torch.nonzero(row[start:] >= threshold).flatten()
        start = start + int(hit[0]) if hit.numel() else row.shape[0] - 1
        stops.append(start)
    return torch.tensor(stops)
