"""Linear CCA and the deep CCA objective against scipy's principal angles and scikit-learn's CCA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.representation import CCA, DeepCCA, dcca_correlation
from scipy.linalg import subspace_angles
from sklearn.cross_decomposition import CCA as SklearnCCA

from mmml.data.spec import ModalitySpec


def correlated_views(n: int, seed: int = 0, dx: int = 5, dy: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Two views sharing a 2-D latent with different strengths, plus independent noise dimensions."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    x = np.hstack([z[:, :1] + 0.3 * rng.normal(size=(n, 1)), z[:, 1:] + 1.0 * rng.normal(size=(n, 1)),
                   rng.normal(size=(n, dx - 2))]) @ rng.normal(size=(dx, dx))
    y = np.hstack([z + 0.5 * rng.normal(size=(n, 2)), rng.normal(size=(n, dy - 2))]) @ rng.normal(size=(dy, dy))
    return x, y


def reference_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Canonical correlations = cosines of the principal angles between the centred column spaces."""
    return np.sort(np.cos(subspace_angles(x - x.mean(0), y - y.mean(0))))[::-1]


def test_canonical_correlations_equal_scipy_principal_angles():
    x, y = correlated_views(300)
    cca = CCA(n_components=4, reg=0.0).fit([x, y])
    np.testing.assert_allclose(cca.canonical_correlations_, reference_correlations(x, y)[:4], atol=1e-10)


def test_variates_are_uncorrelated_unit_variance_and_match_sklearn():
    x, y = correlated_views(400, seed=1)
    cca = CCA(n_components=2, reg=0.0).fit([x, y])
    u, v = cca.transform([x, y])
    np.testing.assert_allclose(np.cov(u.T), np.eye(2), atol=1e-10)
    np.testing.assert_allclose(np.cov(u.T, v.T)[:2, 2:], np.diag(cca.canonical_correlations_), atol=1e-10)
    ref = SklearnCCA(n_components=2, max_iter=5000, tol=1e-12, scale=False).fit(x, y)
    xs, ys = ref.transform(x, y)
    sk = [abs(np.corrcoef(xs[:, k], ys[:, k])[0, 1]) for k in range(2)]
    np.testing.assert_allclose(cca.canonical_correlations_, sk, atol=1e-6)


def test_held_out_score_generalises():
    x, y = correlated_views(2000, seed=2)
    cca = CCA(n_components=1, reg=0.0).fit([x[:1000], y[:1000]])
    assert abs(cca.score([x[1000:], y[1000:]]) - cca.canonical_correlations_[0]) < 0.05


def test_dcca_objective_is_the_sum_of_canonical_correlations():
    x, y = correlated_views(200, seed=3, dx=4, dy=4)
    total = dcca_correlation(torch.from_numpy(x), torch.from_numpy(y), reg=0.0)
    assert float(total) == pytest.approx(reference_correlations(x, y).sum(), abs=1e-9)
    top2 = dcca_correlation(torch.from_numpy(x), torch.from_numpy(y), n_components=2, reg=0.0)
    assert float(top2) == pytest.approx(reference_correlations(x, y)[:2].sum(), abs=1e-9)


def test_deep_cca_loss_equals_minus_correlation_of_its_outputs():
    torch.manual_seed(0)
    specs = {"a": ModalitySpec("a", "vector", (6,)), "b": ModalitySpec("b", "vector", (5,))}
    net = DeepCCA(specs, dim=3, hidden=8, reg=0.0).eval()  # eval: no dropout, both passes alike
    batch = {"a": torch.randn(64, 6), "b": torch.randn(64, 5)}
    loss = net.loss(batch).detach()
    h = net.front(batch)
    ref = reference_correlations(h["a"].detach().double().numpy(), h["b"].detach().double().numpy()).sum()
    assert float(-loss) == pytest.approx(ref, abs=1e-4)


def test_deep_cca_stays_finite_when_the_batch_is_smaller_than_the_latent_size():
    torch.manual_seed(0)
    specs = {"a": ModalitySpec("a", "vector", (6,)), "b": ModalitySpec("b", "vector", (5,))}
    net = DeepCCA(specs, dim=16, hidden=8, reg=1e-3)
    loss = net.loss({"a": torch.randn(4, 6), "b": torch.randn(4, 5)})
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    # with a batch of 4 at most 3 correlations are non-zero, each <= 1
    assert -3.0 - 1e-4 <= loss.item() <= 0.0


def test_eigh_whitening_would_give_nan_gradients_where_ours_does_not():
    """Why Cholesky: the inverse square root by eigh has 1/(l_i - l_j) in its gradient (repeated eigenvalues)."""
    z = torch.zeros(4, 8, requires_grad=True)  # a batch whose covariance is 0: all eigenvalues repeat
    with torch.no_grad():
        z += torch.randn(4, 8) * torch.tensor([1.0] * 2 + [0.0] * 6)
    w = torch.randn(4, 8)
    c = torch.cov(z.T) + 1e-3 * torch.eye(8)
    vals, vecs = torch.linalg.eigh(c)
    (vecs @ torch.diag(vals.rsqrt()) @ vecs.T).sum().backward()
    assert not torch.isfinite(z.grad).all()
    z.grad = None
    dcca_correlation(z, w, reg=1e-3).backward()
    assert torch.isfinite(z.grad).all()


def test_fewer_samples_than_dimensions_without_ridge_is_a_clear_error():
    x, y = np.random.default_rng(0).normal(size=(2, 5, 8))
    with pytest.raises(ValueError, match="set reg > 0"):
        CCA(n_components=2, reg=0.0).fit([x, y])
    cca = CCA(n_components=2, reg=1e-2).fit([x, y])
    assert np.isfinite(cca.canonical_correlations_).all() and (cca.canonical_correlations_ <= 1 + 1e-9).all()


def test_rank_deficient_view_is_a_clear_error_and_ridge_fixes_it():
    x, y = correlated_views(100)
    x = np.hstack([x, x[:, :1]])  # a duplicated column
    with pytest.raises(ValueError, match="rank-deficient"):
        CCA(n_components=2, reg=0.0).fit([x, y])
    assert np.isfinite(CCA(n_components=2, reg=1e-3).fit([x, y]).canonical_correlations_).all()


def test_input_errors_name_the_problem():
    x, y = correlated_views(50)
    with pytest.raises(ValueError, match="same samples"):
        CCA(2).fit([x, y[:40]])
    with pytest.raises(ValueError, match="n_components"):
        CCA(9).fit([x, y])
    with pytest.raises(ValueError, match="exactly two views"):
        CCA(2).fit([x, y, y])
    with pytest.raises(RuntimeError, match="not fitted"):
        CCA(2).transform([x, y])
