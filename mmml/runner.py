"""``mmml-run``'s jobs: one job = seed, build data, method and task, fit, test, write a record.

``run(cfg)`` is a plain importable function; the console script (:func:`mmml.cli.main`) checks the config
choices before this module (and torch) is imported, and hands each Hydra job to it. A job that raises is
recorded with ``status: failed`` and its error, and does not stop a multirun; ``mmml-run`` then exits
non-zero. A job started with ``resume=true`` in the run folder of before (``run_dir=...``, or
``hydra.sweep.dir=...`` for a multirun) whose folder already holds an ``ok`` record with the same overrides
is skipped, and an unfinished one resumes from its last checkpoint.

Methods plug in through configs only: ``model.net`` builds the method and ``model.task`` the
LightningModule that trains it. Both receive, among ``specs``, ``num_classes``, ``class_names``,
``datamodule`` and ``target_type``, whichever their constructor accepts, so no config repeats a dimension.
Loggers (``logger=csv``) and callbacks (``callbacks=[checkpoint,early_stopping]``) are config groups too.
"""

from __future__ import annotations

import inspect
import logging
import os
import platform
import resource
import time
import traceback
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from mmml.checkpoint import AtomicLastCheckpoint, monitored
from mmml.cli import GROUPS, available, choice_errors  # noqa: F401 - kept importable from here
from mmml.data.labels import check_fraction
from mmml.data.roots import MissingDataError
from mmml.data.targets import check_supported
from mmml.model_config import check_requires, row_keys
from mmml.results import RECORD, cpu_name, git_revision, package_versions, read_record, setting_of, write_record
from mmml.tasks.base import MMMLTask

log = logging.getLogger("mmml.run")
SCHEMA_VERSION = 2  # result.json: 2 adds schema_version, best_val, protocol, python/CUDA/cuDNN versions
INJECTABLE = ("specs", "num_classes", "class_names", "datamodule", "target_type")


def build(node: DictConfig, datamodule: Any, **extra: Any) -> Any:
    """Instantiate ``node`` passing whatever of :data:`INJECTABLE` its target's constructor accepts."""
    target = node.get("_target_")
    if target is None:
        raise ValueError(f"config node {OmegaConf.to_container(node)} has no _target_; name the class to build")
    try:
        cls = get_class(target)
    except Exception as err:
        raise ValueError(f"cannot import {target!r} named by _target_: {err}; check the spelling in the config") \
            from err
    params = inspect.signature(cls).parameters
    values = {"specs": lambda: datamodule.specs, "num_classes": lambda: datamodule.num_classes,
              "class_names": lambda: datamodule.class_names, "datamodule": lambda: datamodule,
              "target_type": lambda: getattr(datamodule, "target_type", "classification")}
    kwargs = {k: values[k]() for k in INJECTABLE if k in params and k not in node}
    kwargs.update(extra)
    # objects go through the partial, not through instantiate (which would turn them into configs)
    return instantiate(node, _partial_=True, _convert_="all")(**kwargs)


def check_config(cfg: DictConfig) -> None:
    """Errors that name the config key and the fix, before anything is built."""
    for key in ("trainer.max_epochs", "model.trainer.max_epochs"):
        value = OmegaConf.select(cfg, key)
        if value is not None and int(value) <= 0:
            raise ValueError(f"{key}={value}; use a positive number of epochs")
    _check_moved_task_keys(cfg)
    for key in ("batch_size", "eval_batch_size"):
        value = OmegaConf.select(cfg, f"data.{key}")
        if value is not None and int(value) <= 0:
            raise ValueError(f"data.{key}={value}; use a positive batch size")
    for key in ("model.net", "model.task", "data", "trainer"):
        if OmegaConf.select(cfg, key) is None:
            raise ValueError(f"config has no {key}; choose one, e.g. model=fusion/early data=avdigits trainer=cpu")
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator") or "")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"trainer.accelerator={accelerator} (trainer=gpu or ddp), but torch {torch.__version__} "
                           "sees no CUDA GPU here; use trainer=cpu, or run on a GPU machine with a CUDA build of torch")


MOVED_TASK_KEYS = {"max_epochs": "max_epochs", "clip_grad_norm": "gradient_clip_val"}


def _check_moved_task_keys(cfg: DictConfig) -> None:
    """A clear error for the task arguments that became trainer settings (``model.trainer``)."""
    target = OmegaConf.select(cfg, "model.task._target_")
    for old, new in MOVED_TASK_KEYS.items():
        if OmegaConf.select(cfg, f"model.task.{old}") is None:
            continue
        try:
            accepted = old in inspect.signature(get_class(target)).parameters
        except Exception:  # an unknown target is reported when it is built
            accepted = False
        if not accepted:
            raise ValueError(f"model.task.{old} is not an argument of {target}: a method's epoch budget and "
                             f"gradient clipping are trainer settings; set model.trainer.{new} in the model "
                             "config (see docs/new-method.md)")


def trainer_config(cfg: DictConfig, task: Any = None, overrides: list[str] | None = None) -> DictConfig:
    """``cfg.trainer`` (without ``callbacks``) with the method's own ``model.trainer`` settings over it.

    A model config may set trainer keys for its method, ``model.trainer: {max_epochs: 15, gradient_clip_val:
    1.0}``, so that a sweep over several methods keeps each one's budget. ``max_epochs`` is the smaller of
    the two: ``trainer.max_epochs`` stays the ceiling of the run, so ``trainer.max_epochs=1`` still makes every
    method quick. Any other trainer key set on the command line (``overrides``, by default the Hydra job's:
    ``trainer.gradient_clip_val=0.5``) wins over the method's. Gradient clipping is left out for a task that
    does not train by gradient (``task``'s ``training_mode``), which Lightning would refuse under manual
    optimisation.

    Examples:
        >>> cfg = OmegaConf.create({"trainer": {"max_epochs": 30, "accelerator": "cpu"},
        ...                         "model": {"trainer": {"max_epochs": 15, "gradient_clip_val": 1.0}}})
        >>> dict(trainer_config(cfg))
        {'max_epochs': 15, 'accelerator': 'cpu', 'gradient_clip_val': 1.0}
        >>> trainer_config(OmegaConf.merge(cfg, {"trainer": {"max_epochs": 2}})).max_epochs
        2
        >>> trainer_config(OmegaConf.merge(cfg, {"trainer": {"gradient_clip_val": 0.5}}),
        ...                overrides=["trainer.gradient_clip_val=0.5"]).gradient_clip_val
        0.5
    """
    node = OmegaConf.masked_copy(cfg.trainer, [k for k in cfg.trainer if k != "callbacks"])
    own = OmegaConf.select(cfg, "model.trainer")
    typed = {o.lstrip("+~").split("=", 1)[0] for o in (_overrides() if overrides is None else overrides)}
    with open_dict(node):
        for key, value in (own or {}).items():
            if key == "callbacks":
                raise ValueError("model.trainer sets callbacks; callbacks are the run's, choose them with "
                                 "callbacks=... (experiments/callbacks/)")
            if key == "max_epochs" and value is not None and node.get("max_epochs") is not None:
                value = min(int(value), int(node.max_epochs))
            elif f"trainer.{key}" in typed:
                continue
            node[key] = value
        mode = getattr(task, "training_mode", None)
        if mode is not None and not mode.gradient and node.get("gradient_clip_val"):
            log.info("%s does not train by gradient: gradient_clip_val=%s is not used", type(task.net).__name__,
                     node.gradient_clip_val)
            node["gradient_clip_val"] = None
    return node


def _nodes(group: Any, name: str) -> list[tuple[str, DictConfig]]:
    """``(name, node)`` of each item of a ``logger``/``callbacks`` group: a dict of named nodes (the config
    groups), a list of nodes (``trainer.callbacks``), or nothing."""
    if group is None or group is False:
        return []
    items = list(group.items()) if isinstance(group, DictConfig) else list(enumerate(group))
    out = []
    for key, node in items:
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ValueError(f"{name}.{key} is not a config with a _target_; choose from "
                             f"experiments/{name.split('.')[-1]}/ ({name}=...)")
        out.append((f"{name}.{key}", node))
    return out


def _build_with(node: DictConfig, **defaults: Any) -> Any:
    """Instantiate ``node``, filling each of ``defaults`` that its constructor accepts and the node leaves null."""
    params = inspect.signature(get_class(node._target_)).parameters
    fill = {k: v for k, v in defaults.items() if k in params and node.get(k) is None}
    return instantiate(node, _convert_="all", **fill)


def make_loggers(cfg: DictConfig, run_dir: Path) -> list[Any]:
    """The loggers of the ``logger`` group (``logger=csv``, ``logger=[csv,tensorboard]``), writing under ``run_dir``."""
    loggers = []
    for key, node in _nodes(cfg.get("logger"), "logger"):
        try:
            loggers.append(_build_with(node, save_dir=str(run_dir)))
        except Exception as err:  # Hydra wraps the logger's own ImportError
            cause = err if isinstance(err, ImportError) else err.__cause__
            if not isinstance(cause, ImportError):
                raise
            raise ModuleNotFoundError(f"{key} ({node._target_}) needs a package that is not installed: {cause}; "
                                      "install it, or choose another logger (experiments/logger/)") from err
    return loggers


def make_callbacks(cfg: DictConfig, run_dir: Path, task: Any = None) -> list[Any]:
    """The run's callbacks: ``checkpoints/last.ckpt`` (always, for ``resume=true``), then those of the ``callbacks``
    group and of ``trainer.callbacks``. A null ``monitor``/``mode`` is the task's own (:func:`monitored`)."""
    monitor, mode = monitored(task)
    callbacks = [AtomicLastCheckpoint(run_dir / "checkpoints")]
    nodes = _nodes(cfg.get("callbacks"), "callbacks") + _nodes(cfg.trainer.get("callbacks"), "trainer.callbacks")
    for _, node in nodes:
        callbacks.append(_build_with(node, monitor=monitor, mode=mode, dirpath=str(run_dir / "checkpoints")))
    return callbacks


def make_trainer(cfg: DictConfig, run_dir: Path, task: Any = None) -> pl.Trainer:
    """The Lightning trainer of :func:`trainer_config`, with the run's loggers and callbacks, writing checkpoints
    (``last.ckpt``) and logs under ``run_dir``."""
    from pytorch_lightning.callbacks import LearningRateMonitor, ProgressBar

    callbacks = make_callbacks(cfg, run_dir, task)
    loggers = make_loggers(cfg, run_dir)
    node = trainer_config(cfg, task)
    extra: dict[str, Any] = {}
    if loggers:
        extra["logger"] = loggers
    if any(isinstance(c, LearningRateMonitor) for c in callbacks) and not (loggers or node.get("logger")):
        raise ValueError("callbacks=lr_monitor logs the learning rate to a logger, and the run has none; "
                         "add one, e.g. logger=csv")
    if any(isinstance(c, ProgressBar) for c in callbacks):
        extra["enable_progress_bar"] = True
    return instantiate(node, default_root_dir=str(run_dir), callbacks=callbacks, _convert_="all", **extra)


def _choices() -> dict[str, str]:
    if HydraConfig.initialized():
        return {k: v for k, v in HydraConfig.get().runtime.choices.items() if v is not None and "hydra" not in k}
    return {}


def _grid_keys() -> set[str]:
    """Keys that the sweep's grid (``hydra.sweeper.grid``, the mmml sweeper) names rows by."""
    if not HydraConfig.initialized():
        return set()
    grid = OmegaConf.select(HydraConfig.get(), "sweeper.grid", default=None) or []
    return {str(k).lstrip("+~") for sub in grid for k in sub}


def _safe(node: Any, key: str) -> Any:
    """``node[key]``, or its unresolved text where it cannot be resolved yet (e.g. no data set chosen)."""
    try:
        return node.get(key)
    except Exception:  # an interpolation the checks below will explain
        return OmegaConf.to_container(node, resolve=False).get(key)


def check_data(cfg: DictConfig, datamodule: Any) -> None:
    """The model config's ``requires`` (data sets, modalities, targets) against the data set, and a scarce-label
    run against its task."""
    every = list(datamodule.describe()[0]) if hasattr(datamodule, "describe") else list(datamodule.specs)
    # a data set read from a manifest (data=files) is named by it, and matched as "files" against requires.datasets
    name = getattr(datamodule, "config_name", datamodule.name)
    check_requires(cfg.model, name, datamodule.modalities, every, _choices().get("model"))
    target_type = getattr(datamodule, "target_type", "classification")
    check_supported(OmegaConf.select(cfg, "model.requires.targets"), target_type,
                    f"model={_choices().get('model') or cfg.model.get('method')}")
    fraction = check_fraction(getattr(datamodule, "labelled_fraction", 1.0))
    target = OmegaConf.select(cfg, "model.task._target_")
    if fraction < 1.0 and target and not getattr(get_class(target), "uses_label_mask", False):
        raise ValueError(f"labelled_fraction={fraction}, but {target} trains on every label (it does not read the "
                         "datamodule's label_present mask); use a co-learning task (e.g. model=colearning/cotrain) "
                         "or labelled_fraction=1.0")


def _overrides() -> list[str]:
    if HydraConfig.initialized():
        return list(HydraConfig.get().overrides.task)
    return []


def _identity(overrides: list[str]) -> list[str]:
    """The overrides that define a job (``resume`` does not)."""
    return sorted(o for o in overrides if o.lstrip("+~").split("=", 1)[0] != "resume")


def _run_dir(cfg: DictConfig) -> Path:
    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(os.getcwd())


def _device_name(trainer: pl.Trainer | None) -> str:
    if trainer is None:
        return "unknown"
    dev = trainer.strategy.root_device
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"cpu ({cpu_name()}, {os.cpu_count()} cores)"


def _peak_memory_mb(trainer: pl.Trainer | None) -> float:
    if trainer is not None and trainer.strategy.root_device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


def versions() -> dict[str, Any]:
    """Package versions (:func:`mmml.results.package_versions`) with Python's, and the CUDA and cuDNN that torch
    was built with (None on a CPU build)."""
    out: dict[str, Any] = package_versions()
    out["python"] = platform.python_version()
    out["cuda"] = torch.version.cuda
    out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return out


def set_process_options(cfg: DictConfig) -> None:
    """Per-process settings: CPU threads (``threads``) for torch and for the BLAS / OpenMP pools that numpy,
    scipy and scikit-learn use (threadpoolctl), and float32 matmul precision (TF32 on GPUs).

    Without the BLAS limit every numpy SVD or kernel product of a job started OpenBLAS's threads beside the
    survey's other sweeps: an SVD of avdigits' 1,078 x 64 training images took 40-120 ms of CPU instead of 3 ms,
    and up to 2.9 s of wall time on a busy machine, in every avdigits job."""
    if cfg.get("threads"):
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(int(cfg.threads))
        threadpool_limits(limits=int(cfg.threads))  # for the rest of the process (launcher workers included)
    torch.set_float32_matmul_precision("high")


def n_parameters(task: Any) -> int:
    """Trainable parameters of a torch method; an estimator reports its own ``n_params_`` if it has one."""
    est = getattr(task, "estimator", None)
    if est is not None:
        return int(getattr(est, "n_params_", 0))
    return sum(p.numel() for p in task.parameters() if p.requires_grad)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one job and return its record (also written to ``<run dir>/result.json``)."""
    run_dir = _run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = _overrides()
    model = cfg.get("model") or {}
    named_by = _grid_keys() | (row_keys(cfg) if cfg.get("model") else set())  # not settings: they name the row
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "challenge": model.get("challenge"), "family": model.get("family"), "method": _safe(model, "method"),
        "paper": _safe(model, "paper"), "dataset": _choices().get("data"), "config_name": _choices().get("model"),
        "seed": cfg.get("seed"),
        "setting": setting_of(overrides, named_by), "overrides": overrides, "status": "running", "error": None,
        "metrics": {}, "n_params": None, "fit_seconds": None, "test_seconds": None,
        "cpu_seconds": None, "peak_memory_mb": None,
        "best_val": None, "val_metrics": None, "protocol": None,
        "device": None, "versions": versions(), "git_revision": git_revision(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    previous = read_record(run_dir / RECORD) if (run_dir / RECORD).exists() else None
    same_job = previous is None or _identity(previous.get("overrides") or []) == _identity(overrides)
    if cfg.get("resume") and previous and previous.get("status") == "ok" and same_job:
        log.info("resume: %s already holds an ok record; skipped", run_dir)
        return previous
    trainer = None
    cpu_start = time.process_time()  # this process's CPU time (all its threads): the job's cost, whatever the load
    try:
        set_process_options(cfg)  # here, not in the entry point, so that launcher workers get them too
        record["config"] = OmegaConf.to_container(cfg, resolve=False)
        check_config(cfg)
        pl.seed_everything(int(cfg.seed), workers=True)
        datamodule = instantiate(cfg.data, _convert_="all")
        record["dataset"] = datamodule.name
        record["protocol"] = getattr(datamodule, "protocol", None)
        check_data(cfg, datamodule)  # before anything of the model is resolved or built
        record["config"] = OmegaConf.to_container(cfg, resolve=True)
        record["method"], record["paper"] = model.get("method"), model.get("paper")
        record["target_type"] = getattr(datamodule, "target_type", "classification")
        net = build(cfg.model.net, datamodule)
        task = build(cfg.model.task, datamodule, net=net)
        if not isinstance(task, MMMLTask):  # its constructor checked the method's training contract
            raise TypeError(f"model.task builds {type(task).__name__}, which is not an mmml.tasks.MMMLTask; "
                            "derive the task from MMMLTask (see docs/new-method.md)")
        trainer = make_trainer(cfg, run_dir, task)
        last = run_dir / "checkpoints" / "last.ckpt"
        ckpt_path = str(last) if cfg.get("resume") and last.exists() and same_job else None
        if cfg.get("resume") and last.exists() and not same_job:
            log.warning("resume: %s holds another job's checkpoint (its record's overrides differ); starting afresh",
                        run_dir)
        start = time.perf_counter()
        # checkpoints are read back without unpickling arbitrary objects
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        record["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        trainer.test(task, datamodule=datamodule, verbose=False)
        record["test_seconds"] = time.perf_counter() - start
        record["test_examples"] = len(datamodule.split("test")["label"]) * len(datamodule.conditions)
        record["metrics"] = dict(task.test_results)
        record["best_val"] = getattr(task, "best_val", None)
        record["val_metrics"] = getattr(task, "best_val_metrics", None)  # the tested epoch's every val/ figure
        record["protocol"] = getattr(datamodule, "protocol", record["protocol"])  # complete once set up
        record["n_params"] = n_parameters(task)
        record["status"] = "ok"
    except MissingDataError as err:
        record["status"] = "skipped" if cfg.get("skip_missing_data") else "failed"
        record["error"] = f"{type(err).__name__}: {err}"
        log.warning("job %s: %s", record["status"], record["error"])
        if not cfg.get("catch_errors", True):
            raise
    except Exception as err:  # recorded, not fatal to a sweep
        record["status"] = "failed"
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()
        log.error("job failed: %s", record["error"])
        if not cfg.get("catch_errors", True):
            raise
    finally:
        record["cpu_seconds"] = time.process_time() - cpu_start
        record["device"] = _device_name(trainer)
        record["peak_memory_mb"] = _peak_memory_mb(trainer)
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        if trainer is None or trainer.is_global_zero:  # under DDP only rank 0 writes the record
            write_record(run_dir, record)
    log.info("%s/%s/%s on %s seed %s: %s %s", record["challenge"], record["family"], record["method"],
             record["dataset"], record["seed"], record["status"], _headline(record))
    return record


def _headline(record: dict[str, Any]) -> str:
    items = [f"{k}={v:.4f}" for k, v in record["metrics"].items() if k.startswith("test/clean/")]
    return " ".join(items[:4])


def main() -> None:
    """``python -m mmml.runner``: the same as the console script ``mmml-run`` (:func:`mmml.cli.main`)."""
    from mmml.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
