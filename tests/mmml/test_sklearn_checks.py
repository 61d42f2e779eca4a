"""scikit-learn's estimator checks on mmml's single-view estimators.

``TorchViewClassifier`` (colearning/view_models.py, the per-view learner of co-training) passes every check of
``parametrize_with_checks``; no check is listed as an expected failure. (``check_array_api_input`` is skipped by
scikit-learn itself unless ``SCIPY_ARRAY_API=1``.) The other estimators are multi-view: ``fit(Xs, y)`` takes a
list of view arrays (``CoTraining``, ``CCA``, ``MultipleKernelFusion``, ``StackedLateFusion``) or of sequences
(``MultistreamHMM``, ``HMMForcedAligner``), which the checks' single ``X`` cannot express; their ``clone`` and
parameters are tested in tests/mmml/test_estimators.py, and co-training's use of this classifier below.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.colearning.parallel import CoTraining
from mmml.colearning.view_models import TorchViewClassifier
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

torch.set_num_threads(1)


@parametrize_with_checks([TorchViewClassifier(hidden=(4,), max_iter=15, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_the_four_checks_it_used_to_fail_directly():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.repeat([0, 1], 20)
    with pytest.raises(NotFittedError):
        TorchViewClassifier().predict(X)
    est = TorchViewClassifier(hidden=(), max_iter=30, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but TorchViewClassifier is expecting 3 features"):
        est.predict(X[:, :2])
    with pytest.raises(ValueError, match="continuous"):
        TorchViewClassifier().fit(X, rng.normal(size=40))
    assert 0 < est.n_iter_ <= 30


def test_logistic_case_still_matches_sklearn_and_n_iter_counts_lbfgs():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 30)
    X = y[:, None] + rng.normal(0, 1.0, (90, 2))
    ours = TorchViewClassifier(hidden=(), alpha=1.0, max_iter=500, random_state=0).fit(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=5000).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert ours.n_iter_ < 500  # converged before the budget
    # a short budget stops L-BFGS early (its evaluation budget, 1.25 max_iter, can end it first)
    short = TorchViewClassifier(hidden=(), max_iter=3, random_state=0).fit(X, y).n_iter_
    assert 1 <= short <= 3 < ours.n_iter_


def test_cotraining_clones_the_view_classifier_per_view():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    views = [y[:, None] + rng.normal(0, 0.4, (60, 1)), y[:, None] + rng.normal(0, 0.4, (60, 2))]
    base = TorchViewClassifier(hidden=(), max_iter=50, random_state=0)
    co = CoTraining(estimator=base, n_per_round=4, max_iter=2, random_state=0)
    assert clone(co).get_params()["estimator"].get_params() == base.get_params()
    y_obs = np.where(np.arange(60) % 6 == 0, y, -1)
    co.fit(views, y_obs)
    assert not hasattr(base, "net_")  # the given classifier is a template: each view fits a clone
    assert co.score(views, y) > 0.8
