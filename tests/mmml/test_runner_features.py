"""Lightning features by config: loggers, callbacks, precision and the trainer keys; what result.json records."""

import csv
import importlib.util
import json
import platform
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger

from mmml.checkpoint import AtomicLastCheckpoint, monitored
from mmml.results import setting_of
from mmml.runner import SCHEMA_VERSION, make_callbacks, make_trainer, run, trainer_config

TRAINERS = sorted(p.stem for p in (Path(__file__).parents[2] / "experiments" / "trainer").glob("*.yaml"))


def config(*overrides):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=list(overrides))


class Task:  # what make_callbacks reads of a task
    monitor, mode = "val/acc", "max"


@pytest.mark.parametrize("trainer", TRAINERS)
def test_every_trainer_config_takes_precision_clipping_and_accumulation(trainer):
    cfg = config(f"trainer={trainer}", "trainer.precision=bf16-mixed", "trainer.gradient_clip_val=0.5",
                 "trainer.accumulate_grad_batches=2")
    node = trainer_config(cfg, overrides=["trainer.gradient_clip_val=0.5"])
    assert (node.precision, node.gradient_clip_val, node.accumulate_grad_batches) == ("bf16-mixed", 0.5, 2)


def test_a_typed_trainer_key_wins_over_the_methods_own():
    # model=alignment/ctc sets model.trainer.gradient_clip_val: 1.0 (NonFiniteLossError recommends the trainer key)
    cfg = config("model=alignment/ctc", "data=digit_sequences", "trainer.gradient_clip_val=0.25")
    assert cfg.model.trainer.gradient_clip_val == 1.0
    assert trainer_config(cfg, overrides=[]).gradient_clip_val == 1.0
    assert trainer_config(cfg, overrides=["trainer.gradient_clip_val=0.25"]).gradient_clip_val == 0.25


def test_callbacks_take_the_tasks_monitor_and_write_under_the_run_folder(tmp_path):
    cfg = config("callbacks=[checkpoint,early_stopping,progress_bar]")
    callbacks = make_callbacks(cfg, tmp_path, Task())
    assert [type(c) for c in callbacks] == [AtomicLastCheckpoint, ModelCheckpoint, EarlyStopping, TQDMProgressBar]
    best, stop = callbacks[1], callbacks[2]
    assert (best.monitor, best.mode, Path(best.dirpath), best.filename) == ("val/acc", "max", tmp_path / "checkpoints",
                                                                            "best")
    assert (stop.monitor, stop.mode, stop.patience) == ("val/acc", "max", 3)
    assert monitored(None) == ("val/loss", "min")  # a task that names no monitor
    explicit = make_callbacks(config("callbacks=early_stopping", "callbacks.early_stopping.monitor=val/f1",
                                     "callbacks.early_stopping.mode=max"), tmp_path, Task())
    assert (explicit[1].monitor, explicit[1].mode) == ("val/f1", "max")
    assert make_callbacks(config(), tmp_path)[1:] == []  # callbacks=none: only last.ckpt


def test_the_progress_bar_is_turned_on_and_lr_monitor_needs_a_logger(tmp_path):
    trainer = make_trainer(config("callbacks=progress_bar"), tmp_path)
    assert isinstance(trainer.progress_bar_callback, TQDMProgressBar)
    with pytest.raises(ValueError, match="has none; add one, e.g. logger=csv"):
        make_trainer(config("callbacks=lr_monitor"), tmp_path)
    trainer = make_trainer(config("callbacks=lr_monitor", "logger=csv"), tmp_path)
    assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    assert isinstance(trainer.logger, CSVLogger) and Path(trainer.logger.log_dir).parent == tmp_path / "logs"


def test_tensorboard_logger_builds_or_names_the_package(tmp_path):
    cfg = config("logger=[csv,tensorboard]")
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        trainer = make_trainer(cfg, tmp_path)
        assert [type(lg).__name__ for lg in trainer.loggers] == ["CSVLogger", "TensorBoardLogger"]
    else:
        with pytest.raises(ModuleNotFoundError, match="logger.tensorboard .* needs a package that is not installed"):
            make_trainer(cfg, tmp_path)


def test_logger_callback_and_plumbing_keys_are_not_table_settings():
    overrides = ["logger=csv", "callbacks=[checkpoint,early_stopping]", "callbacks.early_stopping.patience=5",
                 "logger.csv.name=x", "trainer.enable_progress_bar=true", "trainer.log_every_n_steps=1",
                 "trainer.precision=bf16-mixed", "trainer.gradient_clip_val=0.5", "seed=1"]
    assert setting_of(overrides) == "trainer.gradient_clip_val=0.5,trainer.precision=bf16-mixed"


@pytest.mark.slow
def test_bf16_with_a_csv_logger_and_early_stopping_runs_and_records_its_provenance(tmp_path):
    torch.set_float32_matmul_precision("highest")
    rec = run(config("model=fusion/early", "trainer.precision=bf16-mixed", "logger=csv", "callbacks=early_stopping",
                     "trainer.max_epochs=2", "threads=1", f"run_dir={tmp_path}"))
    assert rec["status"] == "ok", rec.get("traceback")
    assert torch.get_float32_matmul_precision() == "high"  # set by run(), so launcher workers get it too
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION == 2
    assert saved["versions"]["python"] == platform.python_version()
    assert saved["versions"]["cuda"] == torch.version.cuda and "cudnn" in saved["versions"]
    assert saved["config"]["trainer"]["precision"] == "bf16-mixed"
    assert "best_val" in saved and "protocol" in saved
    with open(next((tmp_path / "logs").rglob("metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    epochs = {r["epoch"] for r in rows if r.get("val/loss")}
    assert epochs == {"0", "1"}  # the logger saw both validation epochs
