"""DTW against a plain O(NM) dynamic programme, tslearn and dtaidistance.

Square-root convention: tslearn's ``dtw`` and dtaidistance's ``distance`` return the square root of the
summed squared Euclidean distances along the path; ours (``distance="sqeuclidean"``) returns the sum.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmml.alignment.dynamic_time_warping import dtw, dtw_from_cost


def reference_dtw(c: np.ndarray, window=None, step_pattern="symmetric1"):
    """Textbook DTW on a local-cost matrix: cost and path (ties: diagonal, then i - 1, then j - 1)."""
    n, m = c.shape
    w_d = 2.0 if step_pattern == "symmetric2" else 1.0
    r = np.full((n + 1, m + 1), np.inf)
    r[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if window is not None and abs(i - j) > window:
                continue
            r[i, j] = min(r[i - 1, j - 1] + w_d * c[i - 1, j - 1], r[i - 1, j] + c[i - 1, j - 1],
                          r[i, j - 1] + c[i - 1, j - 1])
    i, j, path = n, m, [(n - 1, m - 1)]
    while (i, j) != (1, 1):
        cand = [r[i - 1, j - 1] + (w_d - 1) * c[i - 1, j - 1], r[i - 1, j], r[i, j - 1]]
        k = int(np.argmin(cand))
        i, j = (i - 1, j - 1) if k == 0 else (i - 1, j) if k == 1 else (i, j - 1)
        path.append((i - 1, j - 1))
    return r[n, m], path[::-1]


def local_cost(x: np.ndarray, y: np.ndarray, distance: str) -> np.ndarray:
    c = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return np.sqrt(c) if distance == "euclidean" else c


@pytest.mark.parametrize("step_pattern", ["symmetric1", "symmetric2"])
@pytest.mark.parametrize("distance", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("window", [None, 4])
@pytest.mark.parametrize("features", [1, 3, 9])  # 9 takes the matmul route for local distances
def test_dtw_equals_plain_dynamic_programme(step_pattern, distance, window, features):
    rng = np.random.default_rng(features)
    x_len, y_len = [12, 7, 9, 1], [10, 9, 5, 3]
    x = rng.standard_normal((4, 12, features))
    y = rng.standard_normal((4, 10, features))
    if window is not None:
        x_len, y_len = [12, 7, 9, 2], [10, 9, 5, 3]
    cost, paths = dtw(torch.from_numpy(x), torch.from_numpy(y), x_len, y_len, window=window,
                      step_pattern=step_pattern, distance=distance, return_path=True)
    cost_only = dtw(torch.from_numpy(x), torch.from_numpy(y), x_len, y_len, window=window,
                    step_pattern=step_pattern, distance=distance)
    for b in range(4):
        c = local_cost(x[b, : x_len[b]], y[b, : y_len[b]], distance)
        ref_cost, ref_path = reference_dtw(c, window, step_pattern)
        assert cost[b].item() == pytest.approx(ref_cost, rel=1e-9)
        assert cost_only[b].item() == pytest.approx(ref_cost, rel=1e-9)
        assert [tuple(p) for p in paths[b].tolist()] == ref_path


@pytest.mark.parametrize("step_pattern", ["symmetric1", "symmetric2"])
def test_dtw_from_cost_equals_reference_and_dtw(step_pattern):
    rng = np.random.default_rng(1)
    c = rng.random((3, 8, 6))
    cost, paths = dtw_from_cost(torch.from_numpy(c), [8, 5, 2], [6, 6, 4], step_pattern=step_pattern,
                                return_path=True)
    for b, (n, m) in enumerate([(8, 6), (5, 6), (2, 4)]):
        ref_cost, ref_path = reference_dtw(c[b, :n, :m], step_pattern=step_pattern)
        assert cost[b].item() == pytest.approx(ref_cost)
        assert [tuple(p) for p in paths[b].tolist()] == ref_path
    x, y = torch.randn(2, 7, 2, dtype=torch.float64), torch.randn(2, 9, 2, dtype=torch.float64)
    sq = ((x[:, :, None] - y[:, None]) ** 2).sum(-1)
    torch.testing.assert_close(dtw_from_cost(sq, step_pattern=step_pattern), dtw(x, y, step_pattern=step_pattern))


def test_single_sequences_and_float32():
    x = torch.tensor([0.0, 1.0, 2.0])
    y = torch.tensor([0.0, 1.0, 1.0, 2.0, 2.0])
    cost, path = dtw(x, y, return_path=True)
    assert cost.dim() == 0 and cost.item() == 0.0 and cost.dtype == torch.float32
    assert path.tolist() == [[0, 0], [1, 1], [1, 2], [2, 3], [2, 4]]
    assert dtw(x[:, None], y[:, None]).item() == 0.0  # (N, D) is one sequence too


def test_window_zero_is_euclidean_on_equal_lengths():
    x, y = torch.randn(3, 11, 2, dtype=torch.float64), torch.randn(3, 11, 2, dtype=torch.float64)
    cost, paths = dtw(x, y, window=0, return_path=True)
    torch.testing.assert_close(cost, ((x - y) ** 2).sum((1, 2)))
    assert all(p.tolist() == [[i, i] for i in range(11)] for p in paths)


def test_tslearn_cost_path_and_band(tslearn_metrics):
    metrics = tslearn_metrics
    rng = np.random.default_rng(2)
    for n, m, d in [(30, 30, 1), (25, 40, 3), (17, 9, 2)]:
        x, y = rng.standard_normal((n, d)), rng.standard_normal((m, d))
        cost, path = dtw(torch.from_numpy(x), torch.from_numpy(y), return_path=True)
        ref_path, ref_dist = metrics.dtw_path(x, y)
        assert math.sqrt(cost.item()) == pytest.approx(metrics.dtw(x, y), rel=1e-9)  # tslearn returns the sqrt
        assert math.sqrt(cost.item()) == pytest.approx(ref_dist, rel=1e-9)
        assert [tuple(p) for p in path.tolist()] == [tuple(p) for p in ref_path]
    x, y = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    ours = dtw(torch.from_numpy(x), torch.from_numpy(y), window=3)  # equal lengths: same band as tslearn's radius
    ref = metrics.dtw(x, y, global_constraint="sakoe_chiba", sakoe_chiba_radius=3)
    assert math.sqrt(ours.item()) == pytest.approx(ref, rel=1e-9)


def test_dtaidistance_cost():
    dtai = pytest.importorskip("dtaidistance.dtw")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 50)), rng.standard_normal((5, 60))
    ours = dtw(torch.from_numpy(x)[..., None], torch.from_numpy(y)[..., None])
    ref = [dtai.distance(x[b], y[b]) for b in range(5)]  # sqrt of the summed squared differences
    np.testing.assert_allclose(ours.sqrt().numpy(), ref, rtol=1e-9)
    banded = dtw(torch.from_numpy(x[:, :50])[..., None], torch.from_numpy(y[:, :50])[..., None], window=5)
    ref = [dtai.distance(x[b], y[b, :50], window=6) for b in range(5)]  # dtaidistance's window counts the diagonal
    np.testing.assert_allclose(banded.sqrt().numpy(), ref, rtol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    x, y = torch.randn(8, 40, 3), torch.randn(8, 33, 3)
    cost, paths = dtw(x, y, [40] * 4 + [20] * 4, None, window=25, return_path=True)
    cost_gpu, paths_gpu = dtw(x.cuda(), y.cuda(), [40] * 4 + [20] * 4, None, window=25, return_path=True)
    torch.testing.assert_close(cost_gpu.cpu(), cost)
    assert all((p.cpu() == q).all() for p, q in zip(paths_gpu, paths, strict=True))


def test_errors_name_the_input_and_the_fix():
    x, y = torch.randn(2, 10, 3), torch.randn(2, 16, 3)
    with pytest.raises(ValueError, match=r"window=4 is too narrow.*\|N - M\| = 6.*window >= 6"):
        dtw(x, y, window=4)
    with pytest.raises(ValueError, match=r"x has 3 features per frame but y has 5.*project"):
        dtw(x, torch.randn(2, 16, 5))
    with pytest.raises(ValueError, match=r"y is an empty sequence at batch index 1"):
        dtw(x, y, None, [16, 0])
    with pytest.raises(ValueError, match=r"x is an empty sequence"):
        dtw(torch.zeros(0, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"x has 2 sequences but y has 3"):
        dtw(x, torch.randn(3, 16, 3))
    with pytest.raises(ValueError, match=r"step_pattern='asymmetric'.*symmetric1"):
        dtw(x, y, step_pattern="asymmetric")
    with pytest.raises(ValueError, match=r"x_lengths\[0\]=11 lies outside 0..10"):
        dtw(x, y, [11, 3])


@pytest.mark.parametrize("features, length", [(2, 30), (13, 30), (40, 30), (16, 230)])
def test_dtaidistance_multivariate_cost(features, length):
    """Multivariate DTW equals dtaidistance's C ``dtw_ndim.distance_fast`` (squared) and its Python twin
    (many features: distances cell by cell on short sequences, along diagonals on long ones)."""
    ndim = pytest.importorskip("dtaidistance.dtw_ndim")
    rng = np.random.default_rng(features)
    x, y = rng.standard_normal((3, length, features)), rng.standard_normal((3, length - 6, features))
    ours = dtw(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    fast = [ndim.distance_fast(x[b], y[b]) for b in range(3)]
    np.testing.assert_allclose(np.sqrt(ours), fast, rtol=1e-9)
    if length < 100:  # the pure-Python twin is slow
        slow = [ndim.distance(x[b], y[b], use_c=False) for b in range(3)]
        np.testing.assert_allclose(np.sqrt(ours), slow, rtol=1e-9)
    ours32 = dtw(torch.from_numpy(x).float(), torch.from_numpy(y).float()).numpy()
    np.testing.assert_allclose(np.sqrt(ours32), fast, rtol=1e-5)


@pytest.mark.parametrize("step_pattern", ["symmetric1", "symmetric2"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_kernels_equal_the_torch_wavefront(monkeypatch, step_pattern, dtype):
    """The CPU kernels and the torch wavefront (the GPU route) give the same costs and the same paths,
    with ragged lengths, a band, both local distances, few and many features, and precomputed costs."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(7)
    for features in (1, 3, 20):
        x = torch.from_numpy(rng.standard_normal((4, 15, features))).to(dtype)
        y = torch.from_numpy(rng.standard_normal((4, 12, features))).to(dtype)
        for window, x_len, y_len in [(None, [15, 9, 4, 1], [12, 12, 6, 3]), (5, [15, 9, 8, 12], [12, 11, 6, 10])]:
            for distance in ("sqeuclidean", "euclidean"):
                kw = {"window": window, "step_pattern": step_pattern, "distance": distance, "return_path": True}
                monkeypatch.setenv("MMML_DTW_BACKEND", "auto")
                cost, paths = dtw(x, y, x_len, y_len, **kw)
                monkeypatch.setenv("MMML_DTW_BACKEND", "torch")
                ref_cost, ref_paths = dtw(x, y, x_len, y_len, **kw)
                torch.testing.assert_close(cost, ref_cost)
                assert all(torch.equal(p, q) for p, q in zip(paths, ref_paths, strict=True))
    c = torch.from_numpy(rng.random((3, 9, 11))).to(dtype)
    monkeypatch.setenv("MMML_DTW_BACKEND", "auto")
    cost, paths = dtw_from_cost(c, [9, 4, 6], [11, 11, 3], step_pattern=step_pattern, return_path=True)
    monkeypatch.setenv("MMML_DTW_BACKEND", "torch")
    ref_cost, ref_paths = dtw_from_cost(c, [9, 4, 6], [11, 11, 3], step_pattern=step_pattern, return_path=True)
    torch.testing.assert_close(cost, ref_cost)
    assert all(torch.equal(p, q) for p, q in zip(paths, ref_paths, strict=True))
