"""scikit-learn compliance of the multi-view estimators: ``clone``, ``get_params``/``set_params`` and mixins."""

from __future__ import annotations

import numpy as np
import pytest
from mmml.fusion.graphical import MultistreamHMM
from mmml.fusion.kernel import MultipleKernelFusion
from mmml.fusion.stacking import StackedLateFusion
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone, is_classifier

from mmml.coordinated import CCA

ESTIMATORS = [
    (CCA(n_components=3, reg=0.1, relative_reg=True), {"n_components": 1}, TransformerMixin),
    (MultipleKernelFusion(kernels=("linear", "rbf"), gammas=(1.0,), C=2.0), {"C": 0.5}, ClassifierMixin),
    (MultistreamHMM(fusion="feature", n_states=3, n_iter=5), {"n_states": 2}, ClassifierMixin),
    (StackedLateFusion(cv=3, C=0.3), {"cv": 4}, ClassifierMixin),
]


@pytest.mark.parametrize(("est", "change", "mixin"), ESTIMATORS, ids=lambda v: type(v).__name__)
def test_clone_round_trip(est, change, mixin):
    assert isinstance(est, BaseEstimator) and isinstance(est, mixin)
    assert is_classifier(est) == (mixin is ClassifierMixin)
    copy = clone(est)
    assert copy is not est and type(copy) is type(est)
    assert copy.get_params() == est.get_params()
    copy.set_params(**change)
    key, value = next(iter(change.items()))
    assert copy.get_params()[key] == value and est.get_params()[key] != value


def test_clone_drops_fitted_state_and_refits_to_the_same_numbers():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(120, 1))
    Xs = [np.hstack([z, rng.normal(size=(120, 2))]), np.hstack([z + 0.1 * rng.normal(size=(120, 1)),
                                                                  rng.normal(size=(120, 3))])]
    cca = CCA(n_components=2, reg=1e-3).fit(Xs)
    copy = clone(cca)
    assert not hasattr(copy, "weights_")
    np.testing.assert_allclose(copy.fit(Xs).canonical_correlations_, cca.canonical_correlations_)
