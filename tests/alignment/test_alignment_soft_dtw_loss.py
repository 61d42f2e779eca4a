"""Soft-DTW: a plain-Python recursion, gradcheck in double, the hard-DTW limit, the loss module."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmml.alignment.dynamic_time_warping import dtw, dtw_from_cost
from mmml.alignment.soft_dtw_loss import SoftDTWLoss, soft_dtw, soft_dtw_from_cost


def reference_soft_dtw(c: np.ndarray, gamma: float) -> float:
    """Cuturi & Blondel's Algorithm 1, cell by cell."""
    n, m = c.shape
    r = np.full((n + 1, m + 1), np.inf)
    r[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            a = -np.array([r[i - 1, j - 1], r[i - 1, j], r[i, j - 1]]) / gamma
            top = a.max()
            r[i, j] = c[i - 1, j - 1] - gamma * (top + np.log(np.exp(a - top).sum()))
    return r[n, m]


def test_matches_plain_recursion_with_lengths():
    rng = np.random.default_rng(0)
    c = rng.random((3, 6, 8))
    out = soft_dtw_from_cost(torch.from_numpy(c), 0.5, [6, 4, 1], [8, 3, 5])
    ref = [reference_soft_dtw(c[0], 0.5), reference_soft_dtw(c[1, :4, :3], 0.5), reference_soft_dtw(c[2, :1, :5], 0.5)]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"step_pattern": "symmetric2"}, {"window": 2},
                                    {"x_lengths": [5, 3], "y_lengths": [6, 2]}])
def test_gradcheck_on_costs(kwargs):
    c = torch.rand(2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: soft_dtw_from_cost(t, 0.3, **kwargs), (c,))


def test_gradcheck_through_sequences():
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw(a, b, 0.7), (x, y))
    x9 = torch.randn(1, 4, 9, dtype=torch.float64, requires_grad=True)  # matmul route for distances
    y9 = torch.randn(1, 5, 9, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: soft_dtw(a, y9, 0.7), (x9,))


@pytest.mark.parametrize("step_pattern", ["symmetric1", "symmetric2"])
def test_tends_to_dtw_as_gamma_goes_to_zero(step_pattern):
    c = torch.rand(4, 9, 7, dtype=torch.float64)
    hard, paths = dtw_from_cost(c, step_pattern=step_pattern, return_path=True)
    gaps = []
    for gamma in (1.0, 0.1, 0.01, 0.001):
        soft = soft_dtw_from_cost(c, gamma, step_pattern=step_pattern)
        assert (soft <= hard + 1e-12).all()  # softmin <= min
        assert (hard - soft <= gamma * math.log(3) * (9 + 7) + 1e-12).all()
        gaps.append(float((hard - soft).max()))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-4


def test_gradient_tends_to_the_dtw_path():
    """The gradient is the expected alignment (Cuturi & Blondel), a path indicator as gamma -> 0."""
    c = torch.rand(4, 9, 7, dtype=torch.float64, requires_grad=True)
    soft_dtw_from_cost(c, 1e-3, step_pattern="symmetric1").sum().backward()
    _, paths1 = dtw_from_cost(c.detach(), return_path=True)
    for b, path in enumerate(paths1):
        target = torch.zeros(9, 7, dtype=torch.float64)
        target[path[:, 0], path[:, 1]] = 1.0
        torch.testing.assert_close(c.grad[b], target, atol=1e-4, rtol=0)


def test_soft_dtw_of_sequences_equals_cost_route():
    x, y = torch.randn(3, 8, 2, dtype=torch.float64), torch.randn(3, 5, 2, dtype=torch.float64)
    sq = ((x[:, :, None] - y[:, None]) ** 2).sum(-1)
    torch.testing.assert_close(soft_dtw(x, y, 0.2), soft_dtw_from_cost(sq, 0.2))
    torch.testing.assert_close(soft_dtw(x, y, 1e-4), dtw(x, y), atol=1e-2, rtol=0)


def test_loss_module_reductions_normalisation_and_descent():
    x = torch.randn(4, 12, 2, dtype=torch.float64)
    loss = SoftDTWLoss(gamma=0.1, normalize=True)
    assert abs(loss(x, x).item()) < 1e-10  # the divergence vanishes on equal inputs
    raw = SoftDTWLoss(gamma=0.1, reduction="none")
    assert raw(x, x.flip(1)).shape == (4,)
    assert SoftDTWLoss(0.1, reduction="sum")(x, x.flip(1)).item() == pytest.approx(raw(x, x.flip(1)).sum().item())
    pred = torch.zeros(4, 12, 2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([pred], lr=0.05)
    first = None
    for _ in range(20):
        opt.zero_grad()
        value = SoftDTWLoss(0.1)(pred, x)
        value.backward()
        opt.step()
        first = value.item() if first is None else first
    assert value.item() < 0.5 * first


def test_errors():
    with pytest.raises(ValueError, match=r"gamma=0 must be > 0"):
        soft_dtw_from_cost(torch.rand(3, 3), 0)
    with pytest.raises(ValueError, match=r"window=1 is too narrow"):
        soft_dtw(torch.randn(5, 1), torch.randn(8, 1), window=1)
    with pytest.raises(ValueError, match=r"same batch size and feature size"):
        soft_dtw(torch.randn(2, 5, 1), torch.randn(2, 8, 3))
    with pytest.raises(ValueError, match=r"x is an empty sequence at batch index 1"):
        soft_dtw(torch.randn(2, 5, 1), torch.randn(2, 8, 1), x_lengths=[5, 0])


@pytest.mark.parametrize("features", [1, 5])
def test_tslearn_value_alignment_and_gradient(tslearn_metrics, features):
    """Soft-DTW value, expected alignment (the gradient with respect to the costs) and the gradient with
    respect to x equal tslearn's (Blondel's implementation of Cuturi & Blondel's Algorithms 1 and 2)."""
    from tslearn.metrics.softdtw_variants import SoftDTW, SquaredEuclidean

    rng = np.random.default_rng(features)
    x, y = rng.standard_normal((11, features)), rng.standard_normal((8, features))
    xt = torch.from_numpy(x).requires_grad_()
    value = soft_dtw(xt, torch.from_numpy(y), gamma=0.3)
    value.backward()
    assert value.item() == pytest.approx(tslearn_metrics.soft_dtw(x, y, gamma=0.3), rel=1e-12)
    dist = SquaredEuclidean(x, y)
    sdtw = SoftDTW(dist, gamma=0.3)
    assert value.item() == pytest.approx(sdtw.compute(), rel=1e-12)
    with np.errstate(over="ignore"):  # tslearn's exp((R - inf) / gamma) off the grid; its result is finite
        alignment = sdtw.grad()
    np.testing.assert_allclose(xt.grad.numpy(), dist.jacobian_product(alignment), rtol=1e-9, atol=1e-12)
    cost = torch.from_numpy(((x[:, None] - y[None]) ** 2).sum(-1)).requires_grad_()
    soft_dtw_from_cost(cost, 0.3).backward()
    np.testing.assert_allclose(cost.grad.numpy(), alignment, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"step_pattern": "symmetric2"}, {"window": 3},
                                    {"x_lengths": [10, 6, 3], "y_lengths": [9, 9, 2]}])
@pytest.mark.parametrize("features", [2, 12])
def test_compiled_kernels_equal_the_torch_wavefront(monkeypatch, kwargs, features):
    """The CPU kernels and the torch route (the GPU route) give the same values and gradients."""
    pytest.importorskip("numba")
    x = torch.randn(3, 10, features, dtype=torch.float64)
    y = torch.randn(3, 9, features, dtype=torch.float64)
    results = []
    for backend in ("auto", "torch"):
        monkeypatch.setenv("MMML_DTW_BACKEND", backend)
        a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
        v = soft_dtw(a, b, 0.5, **kwargs)
        (v * torch.arange(1.0, 4.0, dtype=torch.float64)).sum().backward()
        v32 = soft_dtw(x.float(), y.float(), 0.5, **kwargs)
        results.append((v.detach(), a.grad, b.grad, v32))
    for got, ref in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(got, ref)
