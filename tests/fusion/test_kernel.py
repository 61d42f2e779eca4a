"""Multiple kernel learning against scikit-learn's SVC and a scipy QP solver."""

import numpy as np
import pytest
import torch
from mmml.fusion.kernel import MultipleKernelFusion, check_kernels, easymkl_gamma, easymkl_weights, kernel
from scipy.optimize import minimize
from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel
from sklearn.svm import SVC


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    informative = rng.normal(size=(90, 4)) + 1.5 * np.eye(3)[y] @ rng.normal(size=(3, 4))
    noise = rng.normal(size=(90, 3))
    return [informative, noise], y


def test_kernels_match_sklearn():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    tx, ty = torch.as_tensor(X), torch.as_tensor(Y)
    np.testing.assert_allclose(kernel(tx, ty, "linear").numpy(), X @ Y.T)
    np.testing.assert_allclose(kernel(tx, ty, "rbf", gamma=0.3).numpy(), rbf_kernel(X, Y, gamma=0.3), atol=1e-12)
    np.testing.assert_allclose(kernel(tx, ty, "poly", gamma=0.3, degree=3, coef0=1.0).numpy(),
                               polynomial_kernel(X, Y, degree=3, gamma=0.3, coef0=1.0), atol=1e-12)


@pytest.mark.parametrize("normalize", [False, True])
def test_single_kernel_matches_svc(data, normalize):
    Xs, y = data
    X = Xs[0]
    mkl = MultipleKernelFusion(kernels=("rbf",), gammas=(1.0,), standardize=False, normalize=normalize, C=2.0)
    mkl.fit([X], y)
    svc = SVC(kernel="rbf", gamma="scale", C=2.0).fit(X, y)  # an RBF kernel has unit diagonal: same C
    np.testing.assert_allclose(mkl.decision_function([X]), svc.decision_function(X), atol=1e-3)  # libsvm tol
    np.testing.assert_array_equal(mkl.predict([X]), svc.predict(X))


def test_trace_normalisation_is_svc_with_rescaled_c(data):
    Xs, y = data
    X = Xs[0]
    mkl = MultipleKernelFusion(kernels=("linear",), standardize=False, normalize=True, C=1.0).fit([X], y)
    scale = float(np.mean(np.sum(X * X, 1)))  # K / s with C is K with C / s
    svc = SVC(kernel="linear", C=1.0 / scale).fit(X, y)
    np.testing.assert_array_equal(mkl.predict([X]), svc.predict(X))


def test_easymkl_qp_matches_scipy():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(24, 3))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=24) > 0, 1.0, -1.0)
    K, lam = X @ X.T + 1.0, 0.2
    Q = y[:, None] * K * y[None]

    def f(g):
        return (1 - lam) * g @ Q @ g + lam * g @ g

    cons = [{"type": "eq", "fun": lambda g: g[y > 0].sum() - 1}, {"type": "eq", "fun": lambda g: g[y < 0].sum() - 1}]
    start = np.where(y > 0, 1 / (y > 0).sum(), 1 / (y < 0).sum())
    ref = minimize(f, start, bounds=[(0, None)] * 24, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-15, "maxiter": 2000})
    got = easymkl_gamma(torch.as_tensor(K), torch.as_tensor(y)[:, None], lam, max_iter=20000, tol=1e-12)[0].numpy()
    assert got.min() >= 0
    np.testing.assert_allclose([got[y > 0].sum(), got[y < 0].sum()], [1, 1], atol=1e-9)
    assert f(got) <= ref.fun + 1e-9
    np.testing.assert_allclose(got, ref.x, atol=1e-4)


def test_easymkl_weights_informative_view(data):
    Xs, y = data
    Ks = [kernel(torch.as_tensor(X), torch.as_tensor(X), "linear") for X in Xs]
    Ks = [K / K.diagonal().mean() for K in Ks]
    w = easymkl_weights(Ks, y)
    assert w.sum().item() == pytest.approx(1.0)
    assert w[0] > w[1]


def test_mkl_fusion_predicts_and_handles_missing_view(data):
    Xs, y = data
    for weights in ("easymkl", "uniform", "best"):
        mkl = MultipleKernelFusion(weights=weights).fit(Xs, y)
        assert (mkl.predict(Xs) == y).mean() > 0.8
        proba = mkl.predict_proba([Xs[0], None])
        np.testing.assert_allclose(proba.sum(1), 1.0)
        assert len(mkl.weights_) == len(mkl.kernel_names_) == 10
    assert np.count_nonzero(mkl.weights_.numpy()) == 1  # "best": a single kernel


def test_kernel_errors_are_clear(data):
    Xs, y = data
    with pytest.raises(ValueError, match="different numbers of samples"):
        MultipleKernelFusion().fit([Xs[0], Xs[1][:50]], y)
    with pytest.raises(ValueError, match="must be square"):
        check_kernels([np.ones((3, 4))])
    with pytest.raises(ValueError, match="not symmetric"):
        check_kernels([np.array([[1.0, 0.5], [0.2, 1.0]])])
    with pytest.raises(ValueError, match="cover the same samples"):
        check_kernels([np.eye(3), np.eye(4)])
    with pytest.raises(ValueError, match="weights"):
        MultipleKernelFusion(weights="magic").fit(Xs, y)
