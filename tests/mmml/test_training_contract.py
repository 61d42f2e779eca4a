"""The training contract (mmml.tasks.contract) as MMMLTask runs it: protocol errors, fit once on the whole train
split, both orders of fitting and gradient training, per-method epoch budgets and the trainer's gradient clipping."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from torch import Tensor, nn

from mmml.data.datamodule import MultimodalDataModule
from mmml.data.spec import ModalitySpec
from mmml.runner import run, trainer_config
from mmml.tasks import EstimatorTask, MMMLTask, TrainingMode
from mmml.tasks.contract import check_method, training_mode


class Blobs(MultimodalDataModule):
    """120 examples of 3 classes, one view ``x`` (4 floats): prototype + noise."""

    name = "blobs"

    def describe(self):
        return {"x": ModalitySpec("x", "vector", (4,))}, ("a", "b", "c")

    def build(self):
        g = torch.Generator().manual_seed(0)
        labels = torch.arange(120) % 3
        return {"x": 3 * torch.randn(3, 4, generator=g)[labels] + torch.randn(120, 4, generator=g), "label": labels}


class RegressionTask(MMMLTask):
    """The smallest task: the method's loss in training, nothing measured at test."""

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor | None, None]:
        return (self.net.loss(batch) if self.training_mode.gradient else None), None


class Recorder(nn.Module):
    """A method that records what the contract calls: ``fit``, ``loss`` and ``finalize``, in order."""

    def __init__(self, fit: bool = True, loss: bool = False, finalize: bool = False) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1) if loss else None
        self.events: list[str] = []
        self.splits: list[dict[str, Tensor]] = []
        self.eval_at_finalize: list[bool] = []
        for name, on in (("fit", fit), ("loss", loss), ("finalize", finalize)):
            if not on:
                setattr(self, name, None)

    def fit(self, train_split: dict[str, Tensor]) -> Recorder:
        self.events.append("fit")
        self.splits.append({k: v.clone() for k, v in train_split.items()})
        return self

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        self.events.append("loss")
        return ((self.lin(batch["x"]).squeeze(1) - batch["label"].float()) ** 2).mean()

    def finalize(self, train_split: dict[str, Tensor]) -> None:
        self.events.append("finalize")
        self.splits.append({k: v.clone() for k, v in train_split.items()})
        self.eval_at_finalize.append(not self.training)


def _trainer(epochs: int = 3, **kwargs) -> pl.Trainer:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, **kwargs)


# ---- protocol checks ---------------------------------------------------------------------------------------------
class Aligning(RegressionTask):
    method_needs = ("align",)


class Learning(RegressionTask):
    method_learns = True


class Frozen(nn.Module):
    def loss(self, batch):
        return torch.zeros(())


@pytest.mark.parametrize("build, message", [
    (lambda: Aligning(nn.Linear(2, 2)), r"Aligning cannot use Linear: it has no align\(\); define align"),
    (lambda: Learning(nn.Linear(2, 2)), r"Learning trains its method, but Linear has neither loss\(batch\) nor "
                                        r"fit\(train_split\)"),
    (lambda: Learning(Frozen()), r"Frozen has loss\(batch\) but no trainable parameter"),
    (lambda: EstimatorTask(object(), num_classes=2), r"EstimatorTask cannot use object: it has no fit\(\), "
                                                     r"predict_proba\(\)"),
])
def test_protocol_errors_name_the_class_and_the_missing_method(build, message):
    with pytest.raises(TypeError, match=message):
        build()


def test_training_mode_is_read_from_the_method():
    assert training_mode(Recorder()) == TrainingMode(fit=True, gradient=False, finalize=False)
    assert training_mode(Recorder(fit=False, loss=True, finalize=True)) == TrainingMode(False, True, True)
    assert training_mode(nn.Linear(2, 2)) == TrainingMode(False, False, False)
    assert training_mode(nn.Linear(2, 2), task_loss=True).gradient  # classification: the task's cross-entropy
    assert str(check_method(Recorder(fit=True, loss=True), "T")) == "fit then gradient"


def test_the_runner_reports_a_broken_contract(tmp_path):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=smoke", "model.task._target_=mmml.tasks.EstimatorTask",
                                           f"run_dir={tmp_path}"])
    record = run(cfg)
    assert record["status"] == "failed"
    assert "EstimatorTask cannot use" in record["error"] and "predict_proba()" in record["error"]


# ---- fit once on the whole split; both orders ----------------------------------------------------------------------
def test_a_fitted_method_is_fitted_once_on_the_whole_train_split_in_order():
    dm = Blobs(cache=False, batch_size=16)
    net = Recorder()
    task = RegressionTask(net)
    trainer = _trainer(epochs=3)
    trainer.fit(task, datamodule=dm)
    train = dm.split("train")
    assert net.events == ["fit"] and trainer.global_step == 0  # no gradient epoch for a fitted method
    seen = net.splits[0]
    assert len(seen["label"]) == len(train["label"]) > 16  # more than one batch: not a collected batch
    assert torch.equal(seen["x"], train["x"]) and torch.equal(seen["label"], train["label"])  # split order


def test_an_estimator_is_fitted_once_on_the_whole_train_split():
    calls = []

    class Centroids:  # nearest class mean, in numpy: fit(Xs, y) / predict_proba(Xs)
        def fit(self, Xs, y):
            calls.append((Xs[0].copy(), np.asarray(y).copy()))
            self.means_ = np.stack([Xs[0][y == c].mean(0) for c in range(3)])
            return self

        def predict_proba(self, Xs):
            d = ((Xs[0][:, None] - self.means_[None]) ** 2).sum(-1)
            return np.exp(-d) / np.exp(-d).sum(1, keepdims=True)

    dm = Blobs(cache=False, batch_size=16)
    task = EstimatorTask(Centroids(), num_classes=3)
    _trainer().fit(task, datamodule=dm)
    train = dm.split("train")
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0][0], train["x"].double().numpy())
    np.testing.assert_array_equal(calls[0][1], train["label"].numpy())


def test_fit_then_gradient_training():
    dm = Blobs(cache=False, batch_size=16)
    net = Recorder(fit=True, loss=True)
    _trainer(epochs=2).fit(RegressionTask(net, lr=0.01), datamodule=dm)
    batches = -(-len(dm.split("train")["label"]) // 16)
    assert net.events[0] == "fit" and net.events.count("fit") == 1
    assert net.events[1:].count("loss") >= 2 * batches  # train steps (and validation) after the fit


def test_gradient_training_then_finalize():
    dm = Blobs(cache=False, batch_size=16)
    net = Recorder(fit=False, loss=True, finalize=True)
    _trainer(epochs=2).fit(RegressionTask(net, lr=0.01), datamodule=dm)
    assert net.events[-1] == "finalize" and net.events.count("finalize") == 1 and net.events[0] == "loss"
    assert net.eval_at_finalize == [True]
    assert torch.equal(net.splits[0]["x"], dm.split("train")["x"])


# ---- epoch budgets and gradient clipping: the trainer's --------------------------------------------------------------
def test_a_method_budget_overrides_the_trainer_within_a_sweep():
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        budgets = {m: trainer_config(compose("config", overrides=["experiment=translation_table", f"model={m}"]))
                   .max_epochs for m in ("translation/recognition/attention", "translation/captioning/attention",
                                         "translation/recognition/nearest")}
        quick = compose("config", overrides=["experiment=translation_table", "trainer.max_epochs=2",
                                             "model=translation/recognition/attention"])
    # the sweep's trainer.max_epochs is 30: each method keeps its own, one without a budget gets the trainer's
    assert budgets == {"translation/recognition/attention": 15, "translation/captioning/attention": 30,
                       "translation/recognition/nearest": 30}
    assert trainer_config(quick).max_epochs == 2  # the trainer's max_epochs stays the ceiling


def test_a_method_budget_stops_training_through_the_runner(tmp_path):
    epochs = {}
    for name, extra in (("own", ["+model.trainer.max_epochs=1"]), ("trainer", [])):
        with initialize_config_module("mmml.experiments", version_base="1.3"):
            cfg = compose("config", overrides=["experiment=smoke", "trainer.max_epochs=2",
                                               "data.test_conditions=[clean]", f"run_dir={tmp_path / name}", *extra])
        assert run(cfg)["status"] == "ok"
        ckpt = torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
        epochs[name] = ckpt["epoch"] + 1
    assert epochs == {"own": 1, "trainer": 2}


def test_moved_task_keys_get_a_clear_error(tmp_path):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=smoke", "+model.task.clip_grad_norm=1.0", f"run_dir={tmp_path}"])
    record = run(cfg)
    assert record["status"] == "failed" and "set model.trainer.gradient_clip_val" in record["error"]


class ClipRecorder(RegressionTask):
    """Keeps each step's gradients before the trainer clips them."""

    def on_before_optimizer_step(self, optimizer) -> None:
        self.raw = [p.grad.clone() for p in self.parameters() if p.grad is not None]


class RecordingSGD(torch.optim.SGD):
    """SGD that keeps the gradients it steps with (after the closure's backward and the trainer's clipping)."""

    def __init__(self, params, task: ClipRecorder, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.task, self.stepped = task, []

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        self.stepped.append(([p.grad.clone() for group in self.param_groups for p in group["params"]
                              if p.grad is not None], self.task.raw))
        super().step()
        return loss


def _total_norm(grads: list[Tensor]) -> Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


@pytest.mark.parametrize("clip", [0.05, None])
def test_gradient_clip_val_clips_the_total_norm_like_clip_grad_norm(clip):
    dm = Blobs(cache=False, batch_size=16)
    torch.manual_seed(0)
    task = ClipRecorder(Recorder(fit=False, loss=True))
    holder = {}

    def make(params):
        holder["opt"] = RecordingSGD(params, task, lr=1e-3)
        return holder["opt"]

    task.optimizer_factory = partial(make)
    _trainer(epochs=1, gradient_clip_val=clip).fit(task, datamodule=dm)
    stepped = holder["opt"].stepped
    assert len(stepped) == -(-len(dm.split("train")["label"]) // 16)
    norms = [_total_norm(grads) for grads, _ in stepped]
    raw_norms = [_total_norm(raw) for _, raw in stepped]
    assert max(raw_norms) > 0.05  # the test can fail: unclipped gradients are larger than the clip value
    if clip is None:
        assert all(torch.equal(a, b) for a, b in zip(norms, raw_norms, strict=True))
        return
    assert max(norms) <= clip * (1 + 1e-5)
    for grads, raw in stepped:  # bit-identical to torch's clip_grad_norm_ over the same parameters
        params = [nn.Parameter(torch.zeros_like(g)) for g in raw]
        for p, g in zip(params, raw, strict=True):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(params, clip)
        assert all(torch.equal(p.grad, g) for p, g in zip(params, grads, strict=True))


def test_fitted_tasks_drop_gradient_clipping_that_lightning_would_refuse(tmp_path):
    cfg = OmegaConf.create({"trainer": {"_target_": "pytorch_lightning.Trainer", "max_epochs": 3, "logger": False,
                                        "accelerator": "cpu", "enable_progress_bar": False},
                            "model": {"trainer": {"gradient_clip_val": 1.0}}})
    fitted, trained = RegressionTask(Recorder()), RegressionTask(Recorder(fit=False, loss=True))
    assert trainer_config(cfg, trained).gradient_clip_val == 1.0
    assert trainer_config(cfg, fitted).gradient_clip_val is None
    from hydra.utils import instantiate

    trainer = instantiate(trainer_config(cfg, fitted), default_root_dir=str(tmp_path), enable_checkpointing=False)
    trainer.fit(fitted, datamodule=Blobs(cache=False, batch_size=16))
    assert fitted.net.events == ["fit"]
    assert Path(tmp_path).is_dir()
