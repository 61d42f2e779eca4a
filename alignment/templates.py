"""Word templates for template-based alignment: the average of a word's examples, linear or under soft-DTW.

- :func:`mean_template`: each example linearly resampled to the median length (:func:`mmml.data.sequences.resample`),
  then averaged frame by frame.
- :func:`soft_dtw_barycenter`: the soft-DTW barycenter (Cuturi & Blondel, "Soft-DTW: a differentiable loss
  function for time-series", ICML 2017, Sec. 4.1): ``argmin_z sum_i w_i soft-DTW_gamma(z, x_i)``, found by
  L-BFGS-B (``scipy.optimize.minimize``) from the mean template, with the gradient of our soft-DTW; the
  average that respects the examples' different timings instead of blurring them.

Examples:
    >>> import torch
    >>> xs = [torch.tensor([[0.0], [1.0], [0.0]]), torch.tensor([[0.0], [0.0], [1.0], [1.0], [0.0]])]
    >>> mean_template(xs).shape  # the median length of 3 and 5 frames
    torch.Size([4, 1])
    >>> soft_dtw_barycenter(xs, mean_template(xs), gamma=0.1).shape
    torch.Size([4, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.optimize
import torch
from torch import Tensor

from mmml.data.sequences import resample

from .soft_dtw_loss import soft_dtw

__all__ = ["mean_template", "resample", "soft_dtw_barycenter"]


def mean_template(examples: Sequence[Tensor], length: int | None = None) -> Tensor:
    """Frame-wise mean of the examples (T_i, F), each resampled to ``length`` (default: their median length)."""
    if not examples:
        raise ValueError("no example to average; every word of the transcripts needs training examples")
    n = int(length or np.median([len(x) for x in examples]))
    return torch.stack([resample(x, max(n, 1)) for x in examples]).mean(0)


def soft_dtw_barycenter(examples: Sequence[Tensor], init: Tensor, gamma: float = 1.0,
                        weights: Sequence[float] | None = None, max_iter: int = 50, tol: float = 1e-3) -> Tensor:
    """Soft-DTW barycenter of sequences (T_i, F) (Cuturi & Blondel 2017), started from ``init`` (T, F).

    Minimises ``sum_i weights[i] * soft_dtw(z, x_i, gamma)`` (squared Euclidean local cost, as
    ``tslearn.barycenters.softdtw_barycenter``) with L-BFGS-B, at most ``max_iter`` iterations.
    """
    if not examples:
        raise ValueError("no example to average; pass at least one sequence")
    if gamma <= 0:
        raise ValueError(f"gamma={gamma}; soft-DTW needs a smoothing gamma > 0")
    xs = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x, dtype=torch.float64) for x in examples],
                                         batch_first=True)
    lengths = [len(x) for x in examples]
    w = torch.ones(len(examples), dtype=torch.float64) if weights is None else \
        torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (len(examples),):
        raise ValueError(f"weights has {w.numel()} entries but there are {len(examples)} examples")
    shape = tuple(init.shape)

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        z = torch.from_numpy(flat.reshape(shape)).requires_grad_(True)
        with torch.enable_grad():
            value = (w * soft_dtw(z.expand(len(examples), -1, -1), xs, gamma, None, lengths)).sum()
            value.backward()
        return float(value.detach()), z.grad.numpy().ravel()

    z0 = init.detach().double().cpu().numpy().ravel()
    res = scipy.optimize.minimize(objective, z0, method="L-BFGS-B", jac=True, tol=tol, options={"maxiter": max_iter})
    return torch.from_numpy(res.x.reshape(shape)).to(init.dtype)
