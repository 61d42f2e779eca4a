"""Co-training against scikit-learn's self-training and hand-built cases; helper transfer's contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.colearning import CoTraining, HelperTransfer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.semi_supervised import SelfTrainingClassifier
from sklearn.svm import LinearSVC

from mmml.data.spec import ModalitySpec


def two_view_blobs(n_per_class=60, n_classes=4, noise=1.2, seed=0, n_views=2):
    """Views conditionally independent given the class (Blum & Mitchell's assumption)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    views = []
    for _ in range(n_views):
        centres = rng.normal(0, 2.0, (n_classes, 5))
        views.append(centres[y] + rng.normal(0, noise, (len(y), 5)))
    return views, y


def hide(y, per_class, seed=0):
    rng = np.random.default_rng(seed)
    y_obs = np.full_like(y, -1)
    for c in np.unique(y):
        keep = rng.choice(np.flatnonzero(y == c), per_class, replace=False)
        y_obs[keep] = c
    return y_obs


def test_one_view_threshold_equals_sklearn_self_training():
    views, y = two_view_blobs(n_views=1)
    y_obs = hide(y, 3)
    ref = SelfTrainingClassifier(LogisticRegression(), criterion="threshold", threshold=0.8, max_iter=10)
    ref.fit(views[0], y_obs)
    ours = CoTraining(LogisticRegression(), threshold=0.8, n_per_round=None, class_balanced=False,
                      max_iter=10).fit(views, y_obs)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(ours.transduction_, ref.transduction_)
    np.testing.assert_array_equal(ours.labeled_iter_, ref.labeled_iter_)
    np.testing.assert_allclose(ours.predict_proba(views), ref.predict_proba(views[0]), rtol=1e-10)


def test_one_view_k_best_equals_sklearn_self_training():
    views, y = two_view_blobs(n_views=1, seed=1)
    y_obs = hide(y, 2, seed=1)
    ref = SelfTrainingClassifier(LogisticRegression(), criterion="k_best", k_best=7, max_iter=5).fit(views[0], y_obs)
    ours = CoTraining(LogisticRegression(), n_per_round=7, class_balanced=False, max_iter=5).fit(views, y_obs)
    np.testing.assert_array_equal(ours.transduction_, ref.transduction_)
    np.testing.assert_allclose(ours.predict_proba(views), ref.predict_proba(views[0]), rtol=1e-10)


def test_unreachable_threshold_adds_nothing_and_equals_the_supervised_learners():
    views, y = two_view_blobs(n_views=3, n_classes=3)
    y_obs = hide(y, 2)
    model = CoTraining(GaussianNB(), threshold=1.0, max_iter=20).fit(views, y_obs)
    assert model.termination_condition_ == "no_change"
    assert (model.labeled_iter_ <= 0).all()
    np.testing.assert_array_equal(model.transduction_, y_obs)
    labelled = y_obs != -1
    logp = sum(GaussianNB().fit(X[labelled], y_obs[labelled]).predict_log_proba(X) for X in views)
    product = np.exp(logp - logp.max(1, keepdims=True))  # the normalised product of the views' probabilities
    np.testing.assert_allclose(model.predict_proba(views), product / product.sum(1, keepdims=True), atol=1e-9)
    sup = CoTraining(GaussianNB(), max_iter=0).fit(views, y_obs)
    np.testing.assert_allclose(sup.predict_proba(views), model.predict_proba(views), atol=1e-12)


def test_class_balanced_growth_respects_quota_per_class_and_view():
    views, y = two_view_blobs(n_classes=2, n_per_class=80)
    y_obs = hide(y, 4)
    model = CoTraining(GaussianNB(), n_per_round=4, class_balanced=True, max_iter=1).fit(views, y_obs)
    first = model.labeled_iter_ == 1
    counts = np.bincount(model.transduction_[first], minlength=2)
    # each of the 2 views proposes its 2 most confident examples of each class (equal priors: 4 * 0.5)
    assert (counts >= 2).all() and (counts <= 4).all()


def test_co_training_beats_supervised_with_few_labels_on_independent_views():
    views, y = two_view_blobs(n_per_class=100, n_classes=4, noise=1.5, seed=3, n_views=2)
    test_views, y_test = [v[1::2] for v in views], y[1::2]
    train_views, y_train = [v[::2] for v in views], y[::2]
    y_obs = hide(y_train, 1, seed=3)
    sup = CoTraining(GaussianNB(), max_iter=0).fit(train_views, y_obs).score(test_views, y_test)
    co = CoTraining(GaussianNB(), n_per_round=8, max_iter=20, random_state=0).fit(train_views, y_obs)
    assert co.score(test_views, y_test) > sup


def test_any_number_of_views_and_classes_and_a_missing_view_at_prediction():
    views, y = two_view_blobs(n_views=4, n_classes=5, seed=4)
    model = CoTraining(n_per_round=10, max_iter=3, combine="mean", pool_size=50, random_state=0)
    model.fit(views, hide(y, 3, seed=4))
    assert model.predict_proba(views).shape == (len(y), 5)
    one = model.predict_proba([views[0], None, None, None])
    np.testing.assert_allclose(one, model.estimators_[0].predict_proba(views[0]), atol=1e-12)
    assert set(model.predict(views)) <= set(range(5))


def test_same_seed_same_result_with_a_random_pool():
    views, y = two_view_blobs(seed=5)
    y_obs = hide(y, 2, seed=5)
    a = CoTraining(pool_size=30, n_per_round=4, random_state=7).fit(views, y_obs).transduction_
    b = CoTraining(pool_size=30, n_per_round=4, random_state=7).fit(views, y_obs).transduction_
    np.testing.assert_array_equal(a, b)


def test_views_with_different_sample_counts_get_a_clear_error():
    views, y = two_view_blobs()
    with pytest.raises(ValueError, match=r"different sample counts \[240, 239\]"):
        CoTraining().fit([views[0], views[1][:-1]], hide(y, 2))


@pytest.mark.parametrize("bad, match", [
    (lambda v, y: CoTraining().fit(v[0], y), "list of views"),
    (lambda v, y: CoTraining().fit(v, y[:-1]), "one label per example"),
    (lambda v, y: CoTraining().fit(v, np.where(y == 0, 0, -1)), "at least two classes"),
    (lambda v, y: CoTraining(LinearSVC()).fit(v, hide(y, 2)), "no predict_proba"),
    (lambda v, y: CoTraining([GaussianNB()] * 3).fit(v, hide(y, 2)), "one per view"),
    (lambda v, y: CoTraining(combine="max").fit(v, hide(y, 2)), "combine"),
])
def test_invalid_inputs_name_the_fix(bad, match):
    views, y = two_view_blobs()
    with pytest.raises(ValueError, match=match):
        bad(views, y)


SPECS = {"image": ModalitySpec("image", "image", (1, 8, 8)), "audio": ModalitySpec("audio", "vector", (6,))}


def test_helper_transfer_reads_only_the_target_at_test_time():
    torch.manual_seed(0)
    net = HelperTransfer(SPECS, 10, target="image", helper="audio").eval()
    image = torch.randn(4, 1, 8, 8)
    alone = net({"image": image})["logits"]
    with_helper = net({"image": image, "audio": torch.randn(4, 6)})["logits"]
    torch.testing.assert_close(alone, with_helper)
    net.train()
    with pytest.raises(KeyError, match="audio"):
        net({"image": image, "label": torch.zeros(4, dtype=torch.long)})


@pytest.mark.parametrize("mode", ["coordinated", "distill"])
def test_helper_transfer_adds_a_helper_loss_that_trains_the_target_encoder(mode):
    torch.manual_seed(0)
    net = HelperTransfer(SPECS, 3, target="image", helper="audio", mode=mode, temperature=2.0 if mode == "distill"
                         else 0.1).train()
    batch = {"image": torch.randn(8, 1, 8, 8), "audio": torch.randn(8, 6), "label": torch.arange(8) % 3,
             "label_present": torch.tensor([1, 0, 0, 0, 1, 0, 0, 0], dtype=torch.bool)}
    out = net(batch)
    assert out["aux_loss"].ndim == 0 and out["aux_loss"] > 0
    out["aux_loss"].backward()
    assert net.encoders["image"].head[2].weight.grad.abs().sum() > 0
    assert "aux_loss" not in HelperTransfer(SPECS, 3, helper=None).train()(batch)


def test_helper_transfer_config_errors():
    with pytest.raises(ValueError, match="helper='text'"):
        HelperTransfer(SPECS, 3, helper="text")
    with pytest.raises(ValueError, match="another modality"):
        HelperTransfer(SPECS, 3, target="image", helper="image")
    with pytest.raises(ValueError, match="mode"):
        HelperTransfer(SPECS, 3, mode="both")


def test_torch_view_classifier_without_hidden_layers_is_sklearn_logistic_regression():
    from mmml.colearning.view_models import TorchViewClassifier

    views, y = two_view_blobs(n_per_class=40, n_classes=3, seed=6, n_views=1)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=5000).fit(views[0], y)
    ours = TorchViewClassifier(hidden=(), alpha=2.0, max_iter=500, random_state=0).fit(views[0], y)
    np.testing.assert_allclose(ours.predict_proba(views[0]), ref.predict_proba(views[0]), atol=1e-4)


def test_co_training_with_a_torch_model_per_view_is_seeded():
    from mmml.colearning.view_models import TorchViewClassifier

    views, y = two_view_blobs(n_per_class=30, n_classes=3, seed=7)
    y_obs = hide(y, 2, seed=7)
    est = TorchViewClassifier(hidden=(16,), max_iter=50, random_state=0)
    a = CoTraining(est, n_per_round=6, max_iter=3).fit(views, y_obs)
    b = CoTraining(est, n_per_round=6, max_iter=3).fit(views, y_obs)
    np.testing.assert_array_equal(a.transduction_, b.transduction_)
    np.testing.assert_allclose(a.predict_proba(views), b.predict_proba(views))
    assert a.score(views, y) > 0.6
