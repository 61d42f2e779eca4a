"""Alignment-quality diagnostics of an attention matrix (L rows = words, S columns = steps), beside the boundary error.

- :func:`attention_entropy`: each row's entropy over the steps divided by log S (0: all weight on one
  step; 1: uniform), averaged over rows; sharp alignments (Chorowski et al. 2015) are low.
- :func:`diagonality`: the share of attention weight the diagonal prior of Tachibana, Uenoyama & Aihara
  (ICASSP 2018) keeps, 1 - sum(A * W) / L with ``W_nt = 1 - exp(-(n/N - t/T)^2 / (2 g^2))``
  (:func:`mmml.alignment.guided_attention.guided_attention_weights`); 1 on the diagonal.
- :func:`monotonic_share`: the share of consecutive rows whose attention peak does not move back.

:func:`attention_diagnostics` returns all three for one matrix; :func:`pool_diagnostics` averages them
over utterances, weighting by rows (entropy, diagonality) and by row pairs (monotonic share).

Examples:
    >>> eye = torch.eye(4)
    >>> attention_entropy(eye), diagonality(eye), monotonic_share(eye)
    (0.0, 1.0, 1.0)
    >>> monotonic_share(torch.eye(3).flip(0))
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .guided_attention import guided_attention_weights

__all__ = ["DIAGNOSTICS", "attention_diagnostics", "attention_entropy", "diagonality", "monotonic_share",
           "pool_diagnostics"]
DIAGNOSTICS = ("attention_entropy", "diagonality", "monotonic_share")


def _matrix(att: Tensor) -> Tensor:
    a = torch.as_tensor(att).detach().double().cpu()
    if a.dim() != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"attention has shape {tuple(a.shape)}; pass one non-empty (words, steps) matrix")
    if (a < 0).any() or not torch.isfinite(a).all():
        raise ValueError("attention has negative or non-finite weights; pass attention probabilities")
    return a / a.sum(1, keepdim=True).clamp_min(1e-300)


def attention_entropy(att: Tensor) -> float:
    """Mean over rows of the row's entropy / log S (0 = one-hot rows, 1 = uniform rows; 0 when S = 1)."""
    a = _matrix(att)
    if a.shape[1] == 1:
        return 0.0
    h = -(a * a.clamp_min(1e-300).log()).sum(1)
    return float(h.mean() / math.log(a.shape[1]))


def diagonality(att: Tensor, g: float = 0.2) -> float:
    """1 - sum(A * W) / L, W the guided-attention weights of width ``g``: 1 when all weight lies on the diagonal."""
    a = _matrix(att)
    w = guided_attention_weights(a.shape[0], a.shape[1], g, dtype=a.dtype)
    return float(1.0 - (a * w).sum() / a.shape[0])


def monotonic_share(att: Tensor) -> float:
    """Share of consecutive rows (words k, k+1) whose argmax step does not decrease (1.0 for a single row)."""
    peaks = _matrix(att).argmax(1)
    return float((peaks[1:] >= peaks[:-1]).double().mean()) if peaks.numel() > 1 else 1.0


def attention_diagnostics(att: Tensor, g: float = 0.2) -> dict[str, float]:
    """``{"attention_entropy", "diagonality", "monotonic_share"}`` of one (L, S) attention matrix."""
    return {"attention_entropy": attention_entropy(att), "diagonality": diagonality(att, g),
            "monotonic_share": monotonic_share(att)}


def pool_diagnostics(matrices: Sequence[Tensor], g: float = 0.2) -> dict[str, float]:
    """The diagnostics over utterances: entropy and diagonality weighted by rows, monotonic share by row pairs."""
    if not matrices:
        return {k: math.nan for k in DIAGNOSTICS}
    rows = torch.tensor([float(m.shape[0]) for m in matrices], dtype=torch.float64)
    pairs = (rows - 1).clamp_min(0)
    d = [attention_diagnostics(m, g) for m in matrices]
    out = {k: float((torch.tensor([x[k] for x in d], dtype=torch.float64) * rows).sum() / rows.sum())
           for k in ("attention_entropy", "diagonality")}
    mono = torch.tensor([x["monotonic_share"] for x in d], dtype=torch.float64)
    out["monotonic_share"] = float((mono * pairs).sum() / pairs.sum()) if pairs.sum() > 0 else 1.0
    return out
