"""Single-view baselines of the fusion table: the per-view SVM is scikit-learn's SVC with the kernel rows'
kernel, and ``mkl_best`` (one kernel kept) is reported as single-view, never as the best fused method."""

from __future__ import annotations

import numpy as np
from mmml.fusion import MultipleKernelFusion, report
from sklearn.svm import SVC


def _views(seed=0, n=120):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return [rng.normal(size=(n, 5)) + y[:, None], rng.normal(size=(n, 4)) * 3 + 0.5 * y[:, None]], y


def test_single_view_svm_is_sklearn_svc_with_that_kernel():
    (a, _), y = _views()
    z = (a - a.mean(0)) / a.std(0, ddof=1)  # the estimator standardises with training statistics
    for kernels, ref in ((["rbf"], SVC(kernel="rbf", gamma="scale", C=1.0)), (["linear"], SVC(kernel="linear"))):
        ours = MultipleKernelFusion(kernels=kernels, gammas=[1.0], weights="uniform", normalize=False).fit([a], y)
        ref.fit(z, y)
        np.testing.assert_array_equal(ours.predict([a]), ref.predict(z))
        np.testing.assert_allclose(ours.decision_function([a]), ref.decision_function(z), rtol=1e-5, atol=1e-6)


def _record(method, family, dataset, seed, acc):
    return {"status": "ok", "challenge": "fusion", "method": method, "family": family, "dataset": dataset, "seed": seed,
            "metrics": {"test/clean/acc": acc, "test/clean/f1": acc}}


def test_mkl_best_is_single_view_in_the_comparison():
    recs = []
    for seed, noise in enumerate((0.0, 0.01, -0.01)):
        recs += [_record("only_fou", "unimodal", "mfeat", seed, 0.80 + noise),
                 _record("svm_kar", "unimodal", "mfeat", seed, 0.90 + noise),
                 _record("mkl_best", "kernel", "mfeat", seed, 0.97 + noise),  # the highest row, one kernel
                 _record("mkl_easymkl", "kernel", "mfeat", seed, 0.95 + noise),
                 _record("late_mean", "model_agnostic", "mfeat", seed, 0.93 + noise)]
    assert report.is_single_view("kernel", "mkl_best") and not report.is_single_view("kernel", "mkl_uniform")
    table = {}
    for r in recs:  # the summary's shape: (family, method, dataset) -> {"acc": [...]}
        table.setdefault((r["family"], r["method"], r["dataset"]), {"acc": []})["acc"].append(
            r["metrics"]["test/clean/acc"])
    (line,) = report.best_versus_unimodal(table)
    assert "highest fused mkl_easymkl 0.950" in line and "(max of 2 fused)" in line
    assert "highest single view mkl_best 0.970" in line and "(max of 3 single-view)" in line
    assert "difference -0.020" in line and "not a verdict" in line and "beat" not in line
    described, paired = report.best_versus_unimodal(table, recs)  # with the records: the paired verdict too
    assert "paired test" in paired and "does not hold" in paired and "single mkl_best 0.970" in paired
    one_seed = [r for r in recs if r["seed"] == 0]
    assert "one seed, so no paired test" in report.best_versus_unimodal(table, one_seed)[-1]


def test_single_view_svm_with_its_view_dropped_predicts_the_mean_kernel_class():
    import torch

    (a, _), y = _views(1)
    m = MultipleKernelFusion(weights="uniform").fit([a], y)
    dropped = {"a_present": torch.zeros(9, dtype=torch.bool), "label": torch.zeros(9, dtype=torch.long)}
    views = m.views_from_batch(dropped, ["a"])
    assert views[0].shape == (9, 0)
    mean_row = (m.weights_ @ m.col_mean_)[None].cpu().numpy()  # each kernel's training mean, weighted
    expected = m.svm_.predict(mean_row)
    assert (m.predict(views) == expected[0]).all()
