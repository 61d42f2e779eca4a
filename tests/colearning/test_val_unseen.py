"""The validation-unseen protocol of zero-shot (Xian et al. 2017's proposed splits): some seen classes are held
out of training and validation scores zero-shot on them, never reading a test class's label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.colearning import ConSE
from mmml.colearning.tasks import ZeroShotTask, zero_shot_metrics
from sklearn.metrics import accuracy_score

from mmml.data.spec import ModalitySpec

SPECS = {"image": ModalitySpec("image", "image", (1, 8, 8))}
TEST_UNSEEN, VAL_UNSEEN = [2, 5, 8], [0, 1]
TRAINED = [3, 4, 6, 7, 9]


def task(**kwargs) -> ZeroShotTask:
    return ZeroShotTask(ConSE(SPECS, 10, top=2), 10, unseen=TEST_UNSEEN, **kwargs)


def by_hand(scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """The validation-unseen metrics on the sliced problem: test-class rows dropped, columns re-indexed."""
    s, y = scores.numpy(), labels.numpy()
    keep = ~np.isin(y, TEST_UNSEEN)
    s, y = s[keep], y[keep]
    un = np.isin(y, VAL_UNSEEN)
    in_play = VAL_UNSEEN + TRAINED
    pick = lambda rows, cols: np.asarray(cols)[s[rows][:, cols].argmax(1)]  # noqa: E731
    gu = accuracy_score(y[un], pick(un, in_play))
    gs = accuracy_score(y[~un], pick(~un, in_play))
    return {"zsl_acc": accuracy_score(y[un], pick(un, VAL_UNSEEN)), "chance": 1 / len(VAL_UNSEEN),
            "seen_acc": accuracy_score(y[~un], pick(~un, TRAINED)), "gzsl_H": 2 * gu * gs / (gu + gs)}


def test_validation_scores_zero_shot_on_the_held_out_seen_classes_and_ignores_test_classes():
    torch.manual_seed(0)
    scores, labels = torch.randn(200, 10), torch.randint(0, 10, (200,))
    scores[labels == 2, 2] += 5.0  # test-class examples, easy only if the test class were a candidate
    t = task(val_unseen=VAL_UNSEEN)
    assert t.trainable.nonzero().flatten().tolist() == TRAINED
    assert t.default_monitor() == "val/zsl_acc"
    got = t.evaluate("val", {"scores": scores, "label": labels})
    assert got == pytest.approx(by_hand(scores, labels))
    # the same scores with a test class's label changed: validation does not move
    moved = labels.clone()
    moved[labels == 5] = 8
    assert t.evaluate("val", {"scores": scores, "label": moved}) == pytest.approx(got)
    # test is scored as ever, against the test's unseen classes
    assert t.evaluate("clean", {"scores": scores, "label": labels}) == zero_shot_metrics(scores, labels, t.seen)


def test_without_validation_unseen_classes_nothing_changes():
    t = task()
    assert t.default_monitor() == "val/seen_acc" and bool((t.trainable == t.seen).all())
    torch.manual_seed(1)
    scores, labels = torch.randn(50, 10), torch.randint(0, 10, (50,))
    assert t.evaluate("val", {"scores": scores, "label": labels}) == zero_shot_metrics(scores, labels, t.seen)


def test_training_never_draws_a_validation_unseen_class():
    t = task(val_unseen=VAL_UNSEEN)
    t._pool = {"image": torch.zeros(100, 1, 8, 8), "label": torch.arange(10).repeat(10)}
    t._generator = torch.Generator().manual_seed(0)
    drawn = torch.cat([t.labelled_batch(t.trainable)["label"] for _ in range(20)])
    assert set(drawn.tolist()) == set(TRAINED)


@pytest.mark.parametrize("kwargs, match", [
    ({"val_unseen": [2]}, r"val_unseen=\[2\]; give seen classes"),       # a test class
    ({"val_unseen": [0, 1, 3, 4, 6, 7]}, "at most 5"),                  # one class left to train
    ({"val_unseen": [0], "upper_bound": True}, "drop model.task.val_unseen"),
])
def test_bad_validation_unseen_classes_name_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        task(**kwargs)


def test_a_validation_unseen_run_selects_its_epoch_on_validation_zero_shot(tmp_path):
    from hydra import compose, initialize_config_module

    from mmml.runner import run

    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=["model=colearning/conse", "data.modalities=[image]",
                                           "model.task.val_unseen=[0,1]", "trainer.max_epochs=2",
                                           f"run_dir={tmp_path}", "catch_errors=false"])
    record = run(cfg)
    assert record["status"] == "ok", record["error"]
    assert record["best_val"]["name"] == "val/zsl_acc" and 0.0 <= record["best_val"]["value"] <= 1.0
