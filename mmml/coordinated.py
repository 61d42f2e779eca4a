"""Coordinated-space operations shared by every challenge: CCA, the deep-CCA objective, InfoNCE.

One copy, used by representation (CCA, deep CCA, contrastive), alignment (canonical time warping and
its deep variant), translation (cross-modal retrieval) and co-learning (helper transfer, pivot bridge).

CCA (Hotelling 1936) and deep CCA (Andrew et al. 2013) rest on one computation,
:func:`whitened_cross_covariance`: with ridge-regularised covariances ``Cxx + rx I = Lx Lx'`` and
``Cyy + ry I = Ly Ly'`` (Cholesky), the singular values of ``T = Lx^-1 Cxy Ly^-T`` are the canonical
correlations and its singular vectors give the projections. Cholesky whitening (rather than the
inverse square root by eigendecomposition, whose gradient has ``1 / (l_i - l_j)`` terms) keeps the
gradient finite when the covariance has repeated or zero eigenvalues, as it has when a mini-batch is
smaller than the latent size; ``torch.linalg.svdvals`` has a finite gradient everywhere.

Regularisation (canonical ridge, Vinod 1976; Andrew et al.'s ``r1, r2``): ``reg`` is added to the
diagonal of each within-view covariance; with ``relative_reg=True`` it is scaled by that view's mean
variance (``reg * (trace(C) / d + 1e-12)``), which makes it independent of the features' units. With
``reg=0``, a view with fewer samples than dimensions, or a rank-deficient view, raises an error that
says so, never a NaN.

Examples:
    >>> g = torch.Generator().manual_seed(0); z = torch.randn(200, 1, generator=g, dtype=torch.float64)
    >>> a = torch.cat([z, torch.randn(200, 2, generator=g, dtype=torch.float64)], 1)
    >>> wa, wb, corr = canonical_weights(a, 2 * z, 1)
    >>> round(float(corr[0]), 4)
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from torch import Tensor

__all__ = ["CCA", "canonical_weights", "correlations", "dcca_correlation", "info_nce",
           "whitened_cross_covariance"]


def _cholesky(c: Tensor, name: str, n: int, reg: float) -> Tensor:
    chol, info = torch.linalg.cholesky_ex(c)
    if int(info) != 0:
        raise ValueError(
            f"view {name} ({n} samples, {c.shape[0]} dimensions) has a singular covariance with reg={reg}: "
            "it is rank-deficient (constant or collinear features, or fewer samples than dimensions); "
            "set reg > 0 (ridge on the covariance), or reduce the view's dimension (e.g. PCA)")
    return chol


def whitened_cross_covariance(x: Tensor, y: Tensor, reg: float | tuple[float, float] = 0.0,
                              relative_reg: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """``(T, Lx, Ly)``: the cross-covariance of two views after whitening each with its Cholesky factor.

    Args:
        x: ``(n, dx)`` view. y: ``(n, dy)`` view (same rows). reg: ridge on the within-view
            covariances, one value or ``(rx, ry)``. relative_reg: scale each ridge by the view's mean
            variance.

    Returns:
        ``T (dx, dy)`` whose singular values are the canonical correlations, and the lower Cholesky
        factors ``Lx``, ``Ly`` of the regularised covariances.
    """
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"CCA views must be 2-D (n, d); got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CCA views have {x.shape[0]} and {y.shape[0]} rows; they must hold the same "
                         "samples")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"CCA needs at least 2 samples, got {n}")
    rx, ry = (reg, reg) if isinstance(reg, (int, float)) else reg
    if rx < 0 or ry < 0:
        raise ValueError(f"reg={reg}; the ridge on the covariances must be >= 0")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("CCA views hold NaN or Inf; clean the inputs (e.g. torch.nan_to_num) first")
    x = x - x.mean(0)
    y = y - y.mean(0)
    for name, v, r in (("x", x, rx), ("y", y, ry)):
        if r == 0 and n - 1 < v.shape[1]:
            raise ValueError(f"view {name} has {n} samples for {v.shape[1]} dimensions, so its covariance is "
                             "singular; set reg > 0 (ridge on the covariance) or use more samples than "
                             "dimensions")
    factors = []
    for name, v, r in (("x", x, rx), ("y", y, ry)):
        c = v.T @ v / (n - 1)
        ridge = r * (c.trace() / v.shape[1] + 1e-12) if relative_reg else r
        eye = torch.eye(v.shape[1], dtype=v.dtype, device=v.device)
        factors.append(_cholesky(c + ridge * eye, name, n, r))
    lx, ly = factors
    cxy = x.T @ y / (n - 1)
    a = torch.linalg.solve_triangular(lx, cxy, upper=False)  # Lx^-1 Cxy
    t = torch.linalg.solve_triangular(ly, a.T, upper=False).T  # (Ly^-1 (Lx^-1 Cxy)')' = Lx^-1 Cxy Ly^-T
    return t, lx, ly


def canonical_weights(x: Tensor, y: Tensor, n_components: int, reg: float = 0.0, relative_reg: bool = False
                      ) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form (ridge) CCA of paired rows (Hotelling 1936): ``(wx (dx, k), wy (dy, k), corr (k,))``.

    ``(x - x.mean(0)) @ wx`` and ``(y - y.mean(0)) @ wy`` have unit (regularised) variance and
    correlations ``corr``, in decreasing order. Differentiable (Cholesky whitening, see the module).

    Args:
        x: ``(n, dx)``, y: ``(n, dy)``, row i of ``x`` paired with row i of ``y``. n_components: pairs
            kept, 1..min(dx, dy). reg, relative_reg: the ridge (module docstring).
    """
    k = int(n_components)
    if not 1 <= k <= min(x.shape[-1], y.shape[-1]):
        raise ValueError(f"n_components={k}; use 1 to min(view dimensions) = {min(x.shape[-1], y.shape[-1])}")
    t, lx, ly = whitened_cross_covariance(x, y, reg, relative_reg)
    u, s, vh = torch.linalg.svd(t, full_matrices=False)
    wx = torch.linalg.solve_triangular(lx.T, u[:, :k], upper=True)  # Lx^-T U
    wy = torch.linalg.solve_triangular(ly.T, vh[:k].T, upper=True)  # Ly^-T V
    return wx, wy, s[:k]


def dcca_correlation(x: Tensor, y: Tensor, n_components: int | None = None, reg: float = 1e-3,
                     relative_reg: bool = False) -> Tensor:
    """Total canonical correlation of two batches of features: the deep CCA objective (to maximise).

    Andrew, Arora, Bilmes & Livescu, "Deep Canonical Correlation Analysis", ICML 2013: the sum of the
    top ``n_components`` canonical correlations (all of them, the trace norm of ``T``, when ``None``).
    Finite with a finite gradient for any batch size >= 2 when ``reg > 0``.

    Examples:
        >>> x = torch.randn(50, 3, dtype=torch.float64)
        >>> round(float(dcca_correlation(x, 2 * x, reg=0.0)), 6)
        3.0
    """
    t, _, _ = whitened_cross_covariance(x, y, reg, relative_reg)
    s = torch.linalg.svdvals(t)
    return s.sum() if n_components is None else s[:n_components].sum()


def correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pair of columns ``(x[:, k], y[:, k])``.

    Examples:
        >>> correlations(np.array([[0.0], [1.0], [2.0]]), np.array([[2.0], [1.0], [0.0]])).tolist()
        [-1.0]
    """
    x = x - x.mean(0)
    y = y - y.mean(0)
    den = np.sqrt((x**2).sum(0) * (y**2).sum(0))
    return (x * y).sum(0) / np.where(den > 0, den, 1.0)


class CCA(TransformerMixin, BaseEstimator):
    """Linear CCA in closed form, a scikit-learn-style estimator over two views (cca-zoo's ``Xs`` API).

    Hotelling, "Relations between two sets of variates", Biometrika 1936; with ridge ``reg`` on the
    within-view covariances (canonical ridge, Vinod 1976). Computed in float64.

    Args:
        n_components: number of canonical pairs kept. reg: ridge on each covariance (``0``: none; a
            view with fewer samples than dimensions then raises). relative_reg: scale the ridge by
            each view's mean variance.

    Attributes:
        canonical_correlations_: ``(k,)`` on the training data, decreasing. weights_: ``[(dx, k), (dy, k)]``.
        means_: the training means of each view.

    Examples:
        >>> rng = np.random.default_rng(0); z = rng.normal(size=(200, 1))
        >>> Xs = [np.hstack([z, rng.normal(size=(200, 2))]), np.hstack([z + 0.1 * rng.normal(size=(200, 1)),
        ...       rng.normal(size=(200, 3))])]
        >>> bool(CCA(1).fit(Xs).canonical_correlations_[0] > 0.99)
        True
    """

    def __init__(self, n_components: int = 2, reg: float = 0.0, relative_reg: bool = False) -> None:
        self.n_components = n_components
        self.reg = reg
        self.relative_reg = relative_reg

    def fit(self, Xs: Sequence[np.ndarray], y: object = None) -> CCA:
        if len(Xs) != 2:
            raise ValueError(f"CCA takes exactly two views, got {len(Xs)}; for more, fit one CCA per pair")
        x, yv = (torch.as_tensor(np.asarray(v, dtype=np.float64)) for v in Xs)
        wx, wy, s = canonical_weights(x, yv, self.n_components, self.reg, self.relative_reg)
        self.weights_ = [wx.numpy(), wy.numpy()]
        self.means_ = [x.mean(0).numpy(), yv.mean(0).numpy()]
        self.canonical_correlations_ = s.numpy()
        self.n_params_ = int(wx.numel() + wy.numel())
        return self

    def transform(self, Xs: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Canonical variates ``[(n, k), (n, k)]`` of each view (``None`` stays ``None``)."""
        if not hasattr(self, "weights_"):
            raise RuntimeError("this CCA is not fitted yet; call fit(Xs) first")
        return [None if v is None else (np.asarray(v, dtype=np.float64) - m) @ w
                for v, m, w in zip(Xs, self.means_, self.weights_, strict=True)]

    def score(self, Xs: Sequence[np.ndarray], y: object = None) -> float:
        """Mean correlation of the canonical variate pairs on ``Xs`` (on held-out data: generalisation)."""
        a, b = self.transform(Xs)
        return float(correlations(a, b).mean())


def info_nce(a: Tensor, b: Tensor, temperature: float | Tensor = 0.1, *, logit_scale: Tensor | float | None = None,
             normalize: bool = True) -> Tensor:
    """Symmetric InfoNCE of row-paired embeddings: the mean of the cross-entropies a->b and b->a.

    van den Oord, Li & Vinyals, "Representation Learning with Contrastive Predictive Coding", 2018;
    symmetric as in CLIP (Radford et al., ICML 2021, its Fig. 3 pseudocode). Row ``i`` of ``a`` should
    match row ``i`` of ``b``; every other row of the batch is a negative.

    Args:
        a, b: ``(B, d)`` embeddings. temperature: the logits are ``a @ b.T / temperature``.
        logit_scale: CLIP's learned log scale instead: the logits are ``exp(logit_scale) * a @ b.T``
            (the temperature is then ignored). normalize: L2-normalise the rows first (set ``False``
            when they already are).

    Examples:
        >>> a = torch.eye(4)
        >>> float(info_nce(a, a, temperature=0.01)) < 1e-6
        True
        >>> bool(info_nce(a, a, logit_scale=0.0) > info_nce(a, a, logit_scale=2.0))
        True
    """
    if a.shape != b.shape:
        raise ValueError(f"paired embeddings have shapes {tuple(a.shape)} and {tuple(b.shape)}; they must "
                         "match")
    if normalize:
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    if logit_scale is not None:
        scale = math.exp(logit_scale) if isinstance(logit_scale, (int, float)) else logit_scale.exp()
        logits = scale * a @ b.T
    else:
        if float(temperature.detach() if isinstance(temperature, Tensor) else temperature) <= 0:
            raise ValueError(f"temperature={temperature}; use a positive number such as 0.1")
        logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
