"""Guided attention loss (Tachibana, Uenoyama & Aihara, "Efficiently trainable text-to-speech system based on deep
convolutional networks with guided attention", ICASSP 2018, Sec. 4.2): a diagonal prior on an attention matrix.

An (N, T) attention A between two sequences that advance together should lie near the diagonal
n / N = t / T. The loss ``mean_nt(A_nt W_nt)`` with ``W_nt = 1 - exp(-(n/N - t/T)^2 / (2 g^2))`` penalises
weight far from it (the paper uses g = 0.2); it is zero for attention on the diagonal, e.g. the identity
when N = T. Here rows are the transcript's words and columns the encoder's steps; padded rows and
columns are masked out, and the mean runs over each example's valid N x T cells.

Examples:
    >>> guided_attention_loss(torch.eye(3)[None]).item()
    0.0
    >>> guided_attention_loss(torch.eye(3).flip(1)[None]).item() > 0
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["guided_attention_loss", "guided_attention_weights"]


def guided_attention_weights(n_rows: int, n_cols: int, g: float = 0.2, dtype: torch.dtype = torch.float32,
                             device: torch.device | str | None = None) -> Tensor:
    """(N, T) weights ``W_nt = 1 - exp(-(n/N - t/T)^2 / (2 g^2))``, n and t from 0 (Tachibana et al. 2018)."""
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"guided attention needs at least one row and one column, got N={n_rows}, T={n_cols}")
    if not g > 0:
        raise ValueError(f"g={g} must be > 0 (the width of the diagonal band; the paper uses 0.2)")
    n = torch.arange(n_rows, dtype=dtype, device=device)[:, None] / n_rows
    t = torch.arange(n_cols, dtype=dtype, device=device)[None, :] / n_cols
    return 1.0 - torch.exp(-((n - t) ** 2) / (2.0 * g * g))


def guided_attention_loss(att: Tensor, row_lengths: Tensor | None = None, col_lengths: Tensor | None = None,
                          g: float = 0.2) -> Tensor:
    """Mean of ``A * W`` over the valid cells of a batch of attention matrices (B, N, T).

    Args:
        att: (B, N, T) attention (rows: output steps, columns: input steps).
        row_lengths, col_lengths: (B,) valid rows and columns (default: all); W is built per example
            from its own N_b and T_b, so every example's diagonal runs corner to corner.
        g: the band's width.
    """
    if att.dim() != 3:
        raise ValueError(f"att has shape {tuple(att.shape)}; pass a batch of attention matrices (B, N, T)")
    b, n_max, t_max = att.shape
    rows = torch.full((b,), n_max, device=att.device) if row_lengths is None else row_lengths.to(att.device).long()
    cols = torch.full((b,), t_max, device=att.device) if col_lengths is None else col_lengths.to(att.device).long()
    if (rows < 1).any() or (cols < 1).any() or (rows > n_max).any() or (cols > t_max).any():
        raise ValueError(f"row_lengths {rows.tolist()} / col_lengths {cols.tolist()} must lie in 1..{n_max} / "
                         f"1..{t_max}")
    n = torch.arange(n_max, device=att.device, dtype=att.dtype)[None, :, None] / rows[:, None, None]
    t = torch.arange(t_max, device=att.device, dtype=att.dtype)[None, None, :] / cols[:, None, None]
    w = 1.0 - torch.exp(-((n - t) ** 2) / (2.0 * g * g))
    mask = (torch.arange(n_max, device=att.device)[None, :, None] < rows[:, None, None]) & \
           (torch.arange(t_max, device=att.device)[None, None, :] < cols[:, None, None])
    return (att * w * mask).sum() / mask.sum()
