"""Target types: losses, metrics (against numpy, scipy and scikit-learn), affect accuracies, probes, label checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr
from sklearn.metrics import f1_score

from mmml.data.datamodule import MultimodalDataModule
from mmml.data.spec import ModalitySpec
from mmml.data.targets import check_labels, check_supported
from mmml.tasks import ClassificationTask
from mmml.tasks.affect import AffectAccuracy, affect_binary_accuracy, affect_seven_class_accuracy
from mmml.tasks.probes import fit_probe, probe_scores
from mmml.tasks.targets import target_loss, target_metrics, target_scores, update_metrics


def reference_affect(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """The CMU-MOSI convention in numpy: sign accuracy over non-neutral truths; rounded, clipped 7 classes."""
    nonzero = true != 0
    acc2 = np.mean((pred[nonzero] > 0) == (true[nonzero] > 0))
    acc7 = np.mean(np.round(np.clip(pred, -3, 3)) == np.round(np.clip(true, -3, 3)))
    return float(acc2), float(acc7)


def test_affect_accuracies_on_a_hand_worked_case():
    pred = torch.tensor([2.6, -0.4, 0.2, -3.7, 0.5, 1.5])
    true = torch.tensor([3.0, 0.0, -1.0, -2.6, 0.4, 2.5])
    # non-neutral: 3 (+,+ ok), -1 (+ vs -, wrong), -2.6 (ok), 0.4 (ok), 2.5 (ok) -> 4 / 5
    assert affect_binary_accuracy(pred, true) == pytest.approx(0.8)
    # rounded: 3|3 ok, -0|0 ok, 0|-1 no, -3|-3 ok, 0 (0.5: half to even)|0 ok, 2 (1.5)|2 (2.5) ok -> 5 / 6
    assert affect_seven_class_accuracy(pred, true) == pytest.approx(5 / 6)


def test_affect_accuracies_match_numpy_and_accumulate_over_batches():
    rng = np.random.default_rng(0)
    true = rng.integers(-6, 7, size=200) / 2.0  # many exact zeros and halves
    pred = true + rng.normal(scale=1.2, size=200)
    acc2, acc7 = reference_affect(pred, true)
    t, p = torch.from_numpy(true), torch.from_numpy(pred)
    assert affect_binary_accuracy(p, t) == pytest.approx(acc2)
    assert affect_seven_class_accuracy(p, t) == pytest.approx(acc7)
    for classes, expected in ((2, acc2), (7, acc7)):
        metric = AffectAccuracy(classes)
        for chunk in range(0, 200, 64):
            metric.update(p[chunk:chunk + 64], t[chunk:chunk + 64])
        assert float(metric.compute()) == pytest.approx(expected)
    assert np.isnan(affect_binary_accuracy(torch.ones(3), torch.zeros(3)))
    with pytest.raises(ValueError, match="use 2 .* or 7"):
        AffectAccuracy(5)


def test_regression_metrics_match_scipy_and_numpy():
    rng = np.random.default_rng(1)
    true = rng.uniform(-3, 3, size=80)
    pred = true * 0.7 + rng.normal(scale=0.8, size=80)
    scores = target_scores("regression", torch.from_numpy(pred), torch.from_numpy(true))
    assert scores["mae"] == pytest.approx(np.abs(pred - true).mean(), rel=1e-6)
    assert scores["corr"] == pytest.approx(pearsonr(pred, true)[0], rel=1e-6)
    assert (scores["acc2"], scores["acc7"]) == pytest.approx(reference_affect(pred, true))


def test_multilabel_f1_matches_scikit_learn():
    rng = np.random.default_rng(2)
    true = (rng.random((60, 5)) < 0.3).astype(np.float32)
    logits = rng.normal(size=(60, 5)) + 2.0 * (true - 0.5)
    scores = target_scores("multilabel", torch.from_numpy(logits).float(), torch.from_numpy(true))
    decided = (logits > 0).astype(int)  # sigmoid > 0.5
    assert scores["f1_micro"] == pytest.approx(f1_score(true, decided, average="micro", zero_division=0), rel=1e-5)
    assert scores["f1_macro"] == pytest.approx(f1_score(true, decided, average="macro", zero_division=0), rel=1e-5)


def test_losses_of_each_target():
    out = torch.randn(6, 3)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    assert torch.equal(target_loss("classification", out, labels), F.cross_entropy(out, labels))
    values = torch.randn(6)
    assert torch.allclose(target_loss("regression", out[:, :1], values), (out[:, 0] - values).abs().mean())
    multi = (torch.rand(6, 3) < 0.5).float()
    expected = -(multi * F.logsigmoid(out) + (1 - multi) * F.logsigmoid(-out)).mean()
    assert torch.allclose(target_loss("multilabel", out, multi), expected, atol=1e-6)
    with pytest.raises(ValueError, match="target 'ordinal' is not a target type"):
        target_loss("ordinal", out, labels)


def test_classification_metrics_keep_their_names_and_values():
    metrics = target_metrics("classification", 3)
    assert list(metrics) == ["acc", "f1"]
    logits, labels = torch.eye(3)[[0, 1, 2, 2]], torch.tensor([0, 1, 1, 2])
    update_metrics("classification", metrics, logits, labels)
    got = metrics.compute()
    assert float(got["acc"]) == pytest.approx(0.75)
    assert float(got["f1"]) == pytest.approx(f1_score(labels, logits.argmax(1), average="macro"))


def test_a_regression_task_trains_and_scores_one_output():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, batch):
            return self.lin(batch["x"])

    task = ClassificationTask(Net(), num_classes=1, target_type="regression")
    batch = {"x": torch.randn(8, 2), "label": torch.randn(8)}
    loss, out = task.step(batch, "train")
    assert loss.shape == () and out.shape == (8, 1)
    task.update_metrics(task.val_metrics, batch, out)
    assert set(task.val_metrics.compute()) == {"val/mae", "val/corr", "val/acc2", "val/acc7"}


def test_labels_are_checked_against_the_target():
    check_labels(torch.tensor([0, 2]), "classification", ("a", "b", "c"), "toy")
    with pytest.raises(ValueError, match="toy: 1 labels lie outside the 2 declared classes"):
        check_labels(torch.tensor([0, 2]), "classification", ("a", "b"), "toy")
    with pytest.raises(ValueError, match="classification labels must be a 1-D integer tensor"):
        check_labels(torch.tensor([0.5]), "classification", ("a",), "toy")
    with pytest.raises(ValueError, match="neither 0 nor 1"):
        check_labels(torch.tensor([[0.0, 2.0]]), "multilabel", ("a", "b"), "toy")
    with pytest.raises(ValueError, match=r"shape \(3, 2\) but 1 outputs are named"):
        check_labels(torch.zeros(3, 2), "regression", ("y",), "toy")
    check_supported(["classification", "regression"], "regression", "model=x")
    with pytest.raises(ValueError, match="model=x supports targets \\['classification'\\] but the data set has a "
                                         "multilabel target"):
        check_supported(None, "multilabel", "model=x")


class _Regression(MultimodalDataModule):
    name, target_type = "toy_regression", "regression"

    def describe(self):
        return {"x": ModalitySpec("x", "vector", (2,))}, ("y",)

    def build(self):
        g = torch.Generator().manual_seed(0)
        return {"x": torch.randn(40, 2, generator=g), "label": torch.randn(40, generator=g)}


def test_a_regression_data_set_is_split_without_strata_and_reproducibly():
    a, b = _Regression(cache=False, seed=3), _Regression(cache=False, seed=3)
    a.setup()
    b.setup()
    assert [len(a.split(s)["label"]) for s in ("train", "val", "test")] == [27, 5, 8]
    assert torch.equal(a.split("test")["label"], b.split("test")["label"])
    assert a.split("train")["label"].dtype == torch.float32


def test_probes_of_each_target_score_a_linear_signal():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 4, generator=g)
    y = x[:, 0] - 0.5 * x[:, 1]
    probe = fit_probe("regression", x[:80], y[:80], C=100.0)
    assert probe_scores("regression", probe, x[80:], y[80:])["corr"] > 0.99
    multi = torch.stack([(x[:, 0] > 0), (x[:, 1] > 0), torch.ones(120, dtype=torch.bool)], 1).float()
    probe = fit_probe("multilabel", x[:80], multi[:80])  # the constant third label is predicted as such
    scores = probe_scores("multilabel", probe, x[80:], multi[80:])
    assert scores["f1_micro"] > 0.9 and set(scores) == {"f1_micro", "f1_macro"}
