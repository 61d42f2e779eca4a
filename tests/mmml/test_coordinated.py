"""The shared coordinated-space operations (mmml.coordinated) against scipy, scikit-learn and hand loops.

The estimator's own checks (principal angles, scikit-learn's CCA, errors) are in
tests/representation/test_representation_cca.py; CTW's use of it in tests/alignment/test_alignment_ctw.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.linalg import subspace_angles

from mmml.coordinated import CCA, canonical_weights, dcca_correlation, info_nce


def views(n: int = 300, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x = torch.cat([z + 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64),
                   torch.randn(n, 2, generator=g, dtype=torch.float64)], 1)
    y = torch.cat([z @ torch.randn(2, 2, generator=g, dtype=torch.float64),
                   torch.randn(n, 1, generator=g, dtype=torch.float64)], 1) * 100.0  # other units
    return x, y


def test_canonical_weights_give_scipy_correlations_and_unit_variance_variates():
    x, y = views()
    wx, wy, corr = canonical_weights(x, y, 3)
    ref = np.sort(np.cos(subspace_angles((x - x.mean(0)).numpy(), (y - y.mean(0)).numpy())))[::-1]
    np.testing.assert_allclose(corr.numpy(), ref, atol=1e-10)
    u, v = (x - x.mean(0)) @ wx, (y - y.mean(0)) @ wy
    torch.testing.assert_close(u.T @ u / (len(x) - 1), torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(torch.diag(u.T @ v / (len(x) - 1)), corr)


def test_relative_ridge_does_not_depend_on_units():
    x, y = views()
    absolute = [float(canonical_weights(x, s * y, 2, reg=0.1)[2][0]) for s in (1.0, 0.01)]
    relative = [float(canonical_weights(x, s * y, 2, reg=0.1, relative_reg=True)[2][0]) for s in (1.0, 0.01)]
    assert relative[0] == pytest.approx(relative[1], rel=1e-9)
    assert absolute[0] != pytest.approx(absolute[1], rel=1e-3)  # an absolute ridge depends on the units
    est = CCA(2, reg=0.1, relative_reg=True).fit([x.numpy(), y.numpy()])
    np.testing.assert_allclose(est.canonical_correlations_[0], relative[0], rtol=1e-12)


def test_dcca_gradient_is_finite_on_a_batch_smaller_than_the_latent_size():
    g = torch.Generator().manual_seed(0)
    h1 = torch.randn(3, 8, generator=g, dtype=torch.float64, requires_grad=True)
    h2 = torch.randn(3, 8, generator=g, dtype=torch.float64)
    for relative in (False, True):
        h1.grad = None
        dcca_correlation(h1, h2, reg=1e-3, relative_reg=relative).backward()
        assert torch.isfinite(h1.grad).all()


def hand_info_nce(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """The loop over queries of both directions, on normalised rows."""
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    a2b = [-torch.log_softmax(an[i] @ bn.T / t, 0)[i] for i in range(len(a))]
    b2a = [-torch.log_softmax(bn[i] @ an.T / t, 0)[i] for i in range(len(a))]
    return 0.5 * (torch.stack(a2b).mean() + torch.stack(b2a).mean())


def test_info_nce_matches_the_loop_over_queries_in_both_parametrisations():
    torch.manual_seed(0)
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    torch.testing.assert_close(info_nce(a, b, 0.2), hand_info_nce(a, b, 0.2))
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    torch.testing.assert_close(info_nce(an, bn, logit_scale=torch.tensor(math.log(5.0)), normalize=False),
                               hand_info_nce(a, b, 0.2))
    torch.testing.assert_close(info_nce(an, bn, logit_scale=0.0, normalize=False), hand_info_nce(a, b, 1.0))


def test_info_nce_errors():
    with pytest.raises(ValueError, match="shapes"):
        info_nce(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.randn(4, 3), torch.randn(4, 3), temperature=0.0)


@pytest.mark.parametrize("name", ["mmml.coordinated", "mmml.metrics.retrieval", "mmml.data.sequences"])
def test_docstring_examples_of_the_shared_building_blocks_run(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
