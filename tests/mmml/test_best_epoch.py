"""Selection on validation (issue 14): validation metrics through the test path, and the best epoch's weights tested.

A threshold classifier ``logit_1 - logit_0 = x - b`` whose offset ``b`` is set by hand at each epoch (learning
rate 0), so validation accuracy follows a known schedule; accuracies are checked against scikit-learn's.
"""

import pytest
import pytorch_lightning as pl
import torch
from sklearn.metrics import accuracy_score
from torch import nn

from mmml.data.datamodule import MultimodalDataModule
from mmml.data.spec import ModalitySpec
from mmml.tasks import ClassificationTask, EstimatorTask
from mmml.tasks.base import metric_mode

OFFSETS = (-2.0, 0.0, 0.8, 1.6)  # epoch -> b: the true threshold is 0, so epoch 1 is best


class Line(MultimodalDataModule):
    """300 points on a line, label ``x > 0``; stratified splits."""

    name = "line"

    def describe(self):
        return {"x": ModalitySpec("x", "vector", (1,))}, ("neg", "pos")

    def build(self):
        x = torch.linspace(-3, 3, 300)[:, None]
        return {"x": x, "label": (x[:, 0] > 0).long()}


class Threshold(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        z = batch["x"][:, 0] - self.b
        return torch.stack([torch.zeros_like(z), z], 1)


class Scheduled(ClassificationTask):
    """Sets the offset of each epoch by hand; keeps the offset it tests and the validation accuracies."""

    def on_train_epoch_start(self) -> None:
        with torch.no_grad():
            self.net.b.fill_(OFFSETS[self.current_epoch])

    def on_validation_end(self) -> None:
        super().on_validation_end()
        acc = self.trainer.callback_metrics.get("val/acc")
        self.history = [*getattr(self, "history", []), None if acc is None else float(acc)]

    def on_test_start(self) -> None:
        super().on_test_start()
        self.tested_offset = float(self.net.b)

    def on_fit_end(self) -> None:
        self.last_train_loss = float(self.trainer.callback_metrics["train/loss"])


def _accuracy(split, b):
    return accuracy_score(split["label"].numpy(), (split["x"][:, 0] > b).long().numpy())


def _fit_test(**task_kwargs):
    pl.seed_everything(0)
    dm = Line(cache=False, batch_size=32, eval_batch_size=50)  # several validation batches
    task = Scheduled(Threshold(), num_classes=2, lr=0.0, **task_kwargs)
    trainer = pl.Trainer(max_epochs=len(OFFSETS), accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(task, datamodule=dm)
    trainer.test(task, datamodule=dm, verbose=False)
    return task, dm


def test_the_weights_tested_are_those_of_the_best_validation_epoch():
    task, dm = _fit_test()
    val, test = dm.split("val"), dm.split("test")
    expected = [_accuracy(val, b) for b in OFFSETS]
    assert task.history == pytest.approx(expected)  # val/acc per epoch, as scikit-learn counts it
    assert max(expected) == expected[1] > expected[3]  # the schedule peaks early
    assert task.best_val == {"name": "val/acc", "value": pytest.approx(expected[1]), "epoch": 1}
    # every validation metric of that epoch is kept beside it (for choices other than the monitor's)
    assert task.best_val_metrics["val/acc"] == pytest.approx(expected[1]) and "val/f1" in task.best_val_metrics
    assert task.tested_offset == pytest.approx(OFFSETS[1])  # not the last epoch's 1.6
    assert task.test_results["test/clean/acc"] == pytest.approx(_accuracy(test, OFFSETS[1]))
    assert task.test_results["test/clean/acc"] != pytest.approx(_accuracy(test, OFFSETS[-1]))


def test_select_best_false_tests_the_last_epoch_and_mode_min_picks_the_worst():
    task, _ = _fit_test(select_best=False)
    assert task.tested_offset == pytest.approx(OFFSETS[-1]) and task.best_val["epoch"] == 1
    task, dm = _fit_test(mode="min")
    worst = min(range(len(OFFSETS)), key=lambda e: (_accuracy(dm.split("val"), OFFSETS[e]), e))
    assert task.best_val["epoch"] == worst and task.tested_offset == pytest.approx(OFFSETS[worst])


def test_val_interval_validates_every_nth_epoch_and_the_last():
    task, _ = _fit_test(val_interval=3)
    # whole-split metrics at epochs 2 (the third) and 3 (the last): epoch 1's peak is not seen
    assert task.best_val["epoch"] == 2 and task.tested_offset == pytest.approx(OFFSETS[2])
    assert task.history[0] is None and task.history[2] is not None


def test_a_monitor_validation_did_not_compute_is_named_with_the_choices():
    with pytest.raises(ValueError, match=r"monitors 'val/zsl_acc'.*\['val/acc', 'val/f1', 'val/loss'\]"):
        _fit_test(monitor="val/zsl_acc")
    with pytest.raises(ValueError, match="name a validation metric"):
        Scheduled(Threshold(), num_classes=2, monitor="test/clean/acc")


def test_a_method_fitted_once_is_validated_once():
    class Nearest:
        """1-nearest-centroid on the single view."""

        def fit(self, Xs, y):
            self.c = [Xs[0][y == k].mean(0) for k in (0, 1)]
            return self

        def predict_proba(self, Xs):
            d = torch.tensor([[abs(float(x[0] - c[0])) for c in self.c] for x in Xs[0]])
            return (-d).softmax(1).numpy()

    dm = Line(cache=False)
    task = EstimatorTask(Nearest(), num_classes=2)
    trainer = pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(task, datamodule=dm)
    val, train = dm.split("val"), dm.split("train")
    mid = float((train["x"][train["label"] == 0].mean() + train["x"][train["label"] == 1].mean()) / 2)  # its boundary
    assert task.best_val == {"name": "val/acc", "value": pytest.approx(_accuracy(val, mid)), "epoch": None}
    assert task.val_results["val/acc"] == task.best_val["value"]


def test_metric_directions():
    assert [metric_mode(f"val/{m}") for m in ("wer", "boundary_mae_ms", "image2audio_medr", "loss", "mel_dtw")] == \
        ["min"] * 5
    assert [metric_mode(f"val/{m}") for m in ("acc", "image2audio_R@1", "probe_all", "zsl_acc", "within_20ms")] == \
        ["max"] * 5


def test_default_monitors_are_the_challenges_headlines_on_validation():
    """Each task's default monitor is its challenge report's HEADLINE with ``test/clean/`` replaced by ``val/``."""
    from mmml.alignment.report import HEADLINE as ALIGNMENT
    from mmml.alignment.task import AlignmentTask
    from mmml.alignment.unsupervised import UniformAligner
    from mmml.colearning.report import HEADLINE as COLEARNING
    from mmml.colearning.tasks import BridgeTask, SemiSupervisedTask, ZeroShotTask
    from mmml.fusion.report import HEADLINE as FUSION
    from mmml.representation.report import HEADLINE as REPRESENTATION
    from mmml.representation.task import RepresentationTask
    from mmml.translation.report import HEADLINE as TRANSLATION
    from mmml.translation.task import TranslationTask

    def val(headline):
        assert headline.startswith("test/clean/")
        return "val/" + headline.removeprefix("test/clean/")

    class Rep(nn.Module):
        def __init__(self, family):
            super().__init__()
            self.family, self.modalities, self.lin = family, ["image", "audio"], nn.Linear(1, 1)

        def embed(self, batch):
            return {}

        def fuse(self, batch):
            return None

        def loss(self, batch):
            return self.lin.weight.sum()

    class Translator(Threshold):
        direction = "recognition"

        def translate(self, batch):
            return {}

        def loss(self, batch):
            return self.b

    class Bridge(Threshold):
        source, target = "image", "text"

        def loss(self, batch):
            return self.b

    assert ClassificationTask(Threshold(), num_classes=2).monitor == val(FUSION)
    assert AlignmentTask(UniformAligner()).monitor == val(ALIGNMENT)
    assert TranslationTask(Translator()).monitor == val(TRANSLATION)
    for family in ("joint", "coordinated"):
        assert RepresentationTask(Rep(family), num_classes=2).monitor == val(REPRESENTATION[family])
    assert SemiSupervisedTask(Threshold(), num_classes=2).monitor == val(COLEARNING["parallel"])
    # zero-shot selects on the seen classes: the unseen classes' labels never choose the epoch
    assert COLEARNING["non_parallel"] == "test/clean/zsl_acc"
    assert ZeroShotTask(Threshold(), num_classes=4, unseen=[1]).monitor == "val/seen_acc"
    assert BridgeTask(Bridge()).monitor == val(COLEARNING["hybrid"])


def test_train_loss_is_the_epochs_example_weighted_mean():
    """train/loss, summed per step and logged once per epoch, is the last epoch's mean loss over every
    training example (batches of unequal size weighted by their examples), as scikit-learn's log loss."""
    from sklearn.metrics import log_loss

    task, dm = _fit_test()
    train = dm.split("train")
    z = train["x"][:, 0] - OFFSETS[-1]
    probs = torch.softmax(torch.stack([torch.zeros_like(z), z], 1), 1).numpy()
    expected = log_loss(train["label"].numpy(), probs, labels=[0, 1])
    assert task.last_train_loss == pytest.approx(expected, rel=1e-5)
