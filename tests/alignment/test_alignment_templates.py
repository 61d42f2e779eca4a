"""Word templates: the resampled mean by hand, the soft-DTW barycenter against tslearn's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.alignment.templates import mean_template, resample, soft_dtw_barycenter


def test_mean_template_by_hand():
    xs = [torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[4.0], [4.0], [4.0]])]
    # median length 3: [0, 1, 2], [0, 1, 2], [4, 4, 4] -> mean [4/3, 2, 8/3]
    assert torch.allclose(mean_template(xs), torch.tensor([[4 / 3], [2.0], [8 / 3]]))
    assert resample(torch.tensor([[1.0, 2.0]]), 3).tolist() == [[1.0, 2.0]] * 3
    with pytest.raises(ValueError, match="no example"):
        mean_template([])


def test_soft_dtw_barycenter_matches_tslearn(tslearn_barycenters):
    softdtw_barycenter = tslearn_barycenters.softdtw_barycenter
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 12)
    xs = [np.stack([np.sin(2 * np.pi * t ** p), np.cos(3 * t ** p)], 1) + 0.05 * rng.standard_normal((12, 2))
          for p in (0.8, 1.0, 1.3)]
    init = np.mean(xs, 0)
    ours = soft_dtw_barycenter([torch.from_numpy(x) for x in xs], torch.from_numpy(init), gamma=0.5, max_iter=50)
    ref = softdtw_barycenter(np.stack(xs), gamma=0.5, max_iter=50, init=init.copy())
    np.testing.assert_allclose(ours.numpy(), ref, atol=2e-3)
    assert not np.allclose(ref, init, atol=1e-2)  # the optimisation moved away from the start


def test_soft_dtw_barycenter_checks_its_inputs():
    x = torch.zeros(3, 1)
    with pytest.raises(ValueError, match="gamma=0"):
        soft_dtw_barycenter([x], x, gamma=0)
    with pytest.raises(ValueError, match="weights has 2 entries"):
        soft_dtw_barycenter([x], x, weights=[1.0, 2.0])
