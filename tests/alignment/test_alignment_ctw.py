"""Canonical time warping: closed-form CCA against scikit-learn, recovery of known warps across feature sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.alignment.ctw import CanonicalTimeWarping, DeepCanonicalTimeWarping, cca, uniform_path
from sklearn.base import clone
from sklearn.cross_decomposition import CCA


def warped_pair(n=80, m=100, dx=3, dy=5, seed=0):
    """A 2-D latent curve, time-warped two ways, mapped linearly to dx and dy features (+ noise).

    Returns X (n, dx), Y (m, dy) and the latent times of their frames.
    """
    rng = np.random.default_rng(seed)
    u = np.linspace(0, 1, 400)
    z = np.stack([np.sin(2 * np.pi * u), np.cos(np.pi * u)], 1)
    tx, ty = np.linspace(0, 1, n) ** 1.3, np.linspace(0, 1, m) ** 0.8
    zx = np.stack([np.interp(tx, u, z[:, d]) for d in range(2)], 1)
    zy = np.stack([np.interp(ty, u, z[:, d]) for d in range(2)], 1)
    map_x, map_y = rng.standard_normal((2, dx)), rng.standard_normal((2, dy))  # the same for every length
    x = zx @ map_x + 0.05 * rng.standard_normal((n, dx))
    y = zy @ map_y + 0.05 * rng.standard_normal((m, dy)) + 3.0
    return x, y, tx, ty


def time_error(path, tx, ty) -> float:
    """Mean latent-time mismatch of the aligned frames (0 for the true warping)."""
    return float(np.mean(np.abs(tx[path[:, 0]] - ty[path[:, 1]])))


def test_cca_matches_scikit_learn():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 4, generator=g, dtype=torch.float64)
    b = a[:, :2] @ torch.randn(2, 3, generator=g, dtype=torch.float64) + 0.7 * torch.randn(
        400, 3, generator=g, dtype=torch.float64)
    wa, wb, corr = cca(a - a.mean(0), b - b.mean(0), 2, reg=0.0)
    u, v = CCA(n_components=2, max_iter=1000, tol=1e-10).fit(a.numpy(), b.numpy()).transform(a.numpy(), b.numpy())
    ref = [np.corrcoef(u[:, k], v[:, k])[0, 1] for k in range(2)]
    np.testing.assert_allclose(corr.numpy(), ref, rtol=1e-6)
    pa, pb = (a - a.mean(0)) @ wa, (b - b.mean(0)) @ wb
    torch.testing.assert_close(pa.T @ pa / 399, torch.eye(2, dtype=torch.float64))  # unit-variance variates
    torch.testing.assert_close(torch.diag(pa.T @ pb / 399), corr)


def test_uniform_path():
    assert uniform_path(3, 5).tolist() == [[0, 0], [0, 1], [1, 2], [2, 3], [2, 4]]
    assert uniform_path(1, 1).tolist() == [[0, 0]]


def test_ctw_recovers_a_warp_between_different_feature_sizes():
    x, y, tx, ty = warped_pair()
    ctw = CanonicalTimeWarping(n_components=2).fit(x, y)
    path = ctw.paths_[0]
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [79, 99]
    assert ctw.x_weights_.shape == (3, 2) and ctw.y_weights_.shape == (5, 2)
    uniform = time_error(uniform_path(80, 100), tx, ty)
    assert time_error(path, tx, ty) < 0.4 * uniform
    assert ctw.correlations_[0] > 0.95 and ctw.costs_[ctw.n_iter_ - 1] == min(ctw.costs_)
    px, py = ctw.transform(x, y)
    assert px[0].shape == (80, 2) and py[0].shape == (100, 2)
    new_x, new_y, ntx, nty = warped_pair(seed=0, n=60, m=70)  # same maps (same seed), other lengths
    assert time_error(ctw.align(new_x, new_y)[0], ntx, nty) < 0.5 * time_error(uniform_path(60, 70), ntx, nty)
    assert clone(ctw).get_params()["n_components"] == 2


def test_ctw_fits_several_pairs_with_shared_projections():
    pairs = [warped_pair(n=n, m=m) for n, m in [(60, 90), (80, 70)]]
    ctw = CanonicalTimeWarping(n_components=2).fit([p[0] for p in pairs], [p[1] for p in pairs])
    assert len(ctw.paths_) == 2
    for path, (_, _, tx, ty) in zip(ctw.paths_, pairs, strict=True):
        assert time_error(path, tx, ty) < 0.5 * time_error(uniform_path(len(tx), len(ty)), tx, ty)


def test_deep_ctw_aligns_a_nonlinear_pair():
    x, y, tx, ty = warped_pair(n=60, m=70)
    y = np.tanh(y - 3.0)  # a non-linear view
    model = DeepCanonicalTimeWarping(3, 5, n_components=2, hidden=(16,), epochs=20, max_iter=3, random_state=0)
    model.fit(x, y)
    assert model.paths_[0][-1].tolist() == [59, 69]
    assert time_error(model.paths_[0], tx, ty) < 0.4 * time_error(uniform_path(60, 70), tx, ty)
    assert model.correlations_[0] > 0.95
    hx, hy = model(torch.as_tensor(x), torch.as_tensor(y))
    assert hx.shape == (60, 2) and hy.shape == (70, 2)


def test_errors():
    x, y, _, _ = warped_pair(n=20, m=25)
    with pytest.raises(ValueError, match=r"n_components=4 must lie in 1..min\(dx, dy\) = 3"):
        CanonicalTimeWarping(n_components=4).fit(x, y)
    with pytest.raises(ValueError, match=r"X holds 2 sequences but Y holds 1"):
        CanonicalTimeWarping().fit([x, x], [y])
    with pytest.raises(ValueError, match=r"X\[0\] is an empty sequence"):
        CanonicalTimeWarping().fit(np.zeros((0, 3)), y)
    with pytest.raises(ValueError, match=r"built for x_features=4"):
        DeepCanonicalTimeWarping(4, 5).fit(x, y)


def test_deep_ctw_loss_has_finite_gradients_where_eigh_whitening_gave_nan():
    """Fewer aligned frame pairs than network outputs: the covariance has repeated eigenvalues.

    The inverse square root by eigh (CTW's former whitening) has 1 / (l_i - l_j) terms in its gradient, so it
    is NaN here; the shared Cholesky whitening (:func:`mmml.coordinated.dcca_correlation`) is finite.
    """
    from mmml.alignment.ctw import dcca_loss

    g = torch.Generator().manual_seed(0)
    h1 = (torch.randn(4, 8, generator=g, dtype=torch.float64) * torch.tensor([1.0] * 2 + [0.0] * 6,
                                                                             dtype=torch.float64)).requires_grad_()
    h2 = torch.randn(4, 8, generator=g, dtype=torch.float64)

    def eigh_loss(a, b, reg=1e-3):  # the former formulation, kept here as the reference that fails
        a, b = a - a.mean(0), b - b.mean(0)
        covs = []
        for v in (a, b):
            c = v.T @ v / 3
            covs.append(c + reg * (c.trace() / 8 + 1e-12) * torch.eye(8, dtype=v.dtype))
        inv = []
        for c in covs:
            vals, vecs = torch.linalg.eigh(c)
            inv.append((vecs * vals.clamp(min=1e-12).rsqrt()) @ vecs.T)
        return -torch.linalg.svdvals(inv[0] @ (a.T @ b / 3) @ inv[1]).sum()

    eigh_loss(h1, h2).backward()
    assert not torch.isfinite(h1.grad).all()
    h1.grad = None
    loss = dcca_loss(h1, h2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(h1.grad).all()
    assert float(loss.detach()) == pytest.approx(float(eigh_loss(h1.detach(), h2)), rel=1e-6)  # same value
