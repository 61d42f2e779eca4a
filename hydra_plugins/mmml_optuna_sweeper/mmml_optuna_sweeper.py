"""The ``mmml_optuna`` sweeper: hyper-parameter search with Optuna's ask-and-tell API over mmml's jobs.

Akiba et al. 2019, "Optuna: A Next-generation Hyperparameter Optimization Framework" (KDD); the default
sampler is TPE (Bergstra et al. 2011, "Algorithms for Hyper-Parameter Optimization"). Hydra's own
``hydra-optuna-sweeper`` 1.3.0 pins ``optuna<3`` (pip resolves it to optuna 2.10.1 of 2021, before Optuna's
``IntDistribution``/``FloatDistribution``), so mmml ships this small sweeper on optuna>=4 instead; its search
space uses the same override grammar::

    hydra:
      sweeper:
        metric: val/acc                           # the validation headline the trials maximise
        n_trials: 20
        params:
          model.task.lr: tag(log, interval(1e-4, 3e-2))   # float, log scale
          model.net.dropout: interval(0.0, 0.5)           # float
          model.net.hidden: choice(16, 32, 64)            # categorical
          model.net.location: tag(int, interval(4, 16))   # integer
          model.net.layers: range(1, 4)                   # integer 1..3 (range excludes its end)

The objective of a trial is read from its job's record (``result.json``, or the record the task function
returns): the record's ``best_val`` (the monitored validation metric at the tested epoch) when it names
``metric``, else ``metrics[metric]``. Only where neither exists (a fitted estimator with no validation pass)
does it fall back to the test headline ``test/clean/<name>``, with a warning, and the trial says so
(``objective_source: test`` in ``optimization_results.yaml``). A failed job is a failed trial. The direction
is that of the metric's name (``val/wer`` is minimised, ``val/acc`` maximised) unless ``direction`` is given.
Trials are handed to the configured launcher ``n_jobs`` at a time (joblib, submitit, Ray run them in parallel).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf

from hydra_plugins.mmml_sweeper.mmml_sweeper import LaunchingSweeper

log = logging.getLogger(__name__)

RECORD = "result.json"
SAMPLERS = ("tpe", "random")


def _optuna() -> Any:
    """optuna, or an ImportError that says how to install it."""
    try:
        import optuna
    except ImportError as err:
        raise ImportError("hydra/sweeper=mmml_optuna needs optuna>=4: pip install -e '.[hpo]' "
                          "(or pip install 'optuna>=4')") from err
    return optuna


def distribution(override: Override) -> Any:
    """The Optuna distribution of one sweep override, or ``None`` for a fixed value.

    ``choice(a, b)`` / ``a,b`` -> categorical; ``interval(lo, hi)`` -> float (``tag(log, ...)``: log scale,
    ``tag(int, ...)``: integer); ``range(start, stop[, step])`` -> integer ``start .. stop - step``.

    Examples:
        >>> p = OverridesParser.create()
        >>> distribution(p.parse_overrides(["x=tag(log, interval(1e-4, 1e-2))"])[0])
        FloatDistribution(high=0.01, log=True, low=0.0001, step=None)
        >>> distribution(p.parse_overrides(["x=range(1, 4)"])[0])
        IntDistribution(high=3, log=False, low=1, step=1)
        >>> distribution(p.parse_overrides(["x=3"])[0]) is None
        True
    """
    distributions = _optuna().distributions
    CategoricalDistribution, FloatDistribution, IntDistribution = (  # noqa: N806
        distributions.CategoricalDistribution, distributions.FloatDistribution, distributions.IntDistribution)
    if not override.is_sweep_override():
        return None
    value = override.value()
    key = override.get_key_element()
    if isinstance(value, ChoiceSweep):
        choices = [v for v in value.list]
        if any(isinstance(v, (dict, list)) for v in choices):
            raise ValueError(f"hydra.sweeper.params.{key}: choice() of lists or dicts is not a search space; "
                             "give scalar choices")
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if all(float(v).is_integer() for v in (start, stop, step)):
            start, stop, step = int(start), int(stop), int(step)
            if step <= 0 or stop - step < start:
                raise ValueError(f"hydra.sweeper.params.{key}=range({start}, {stop}, {step}) is empty; "
                                 "give range(start, stop) with stop > start")
            return IntDistribution(start, stop - step, step=step)
        n = int(math.floor((stop - start) / step + 1e-9))
        return CategoricalDistribution([start + i * step for i in range(n)])
    if isinstance(value, IntervalSweep):
        lo, hi, tags = value.start, value.end, set(value.tags)
        if not lo < hi:
            raise ValueError(f"hydra.sweeper.params.{key}=interval({lo}, {hi}); the low end must be below the high")
        log_scale = "log" in tags
        if log_scale and lo <= 0:
            raise ValueError(f"hydra.sweeper.params.{key}: a log interval needs a positive low end, not {lo}")
        if "int" in tags:
            return IntDistribution(int(math.ceil(lo)), int(math.floor(hi)), log=log_scale)
        return FloatDistribution(float(lo), float(hi), log=log_scale)
    raise ValueError(f"hydra.sweeper.params.{key}: {override.input_line!r} is no search space of this sweeper; "
                     "use choice(...), interval(lo, hi), tag(log, interval(lo, hi)) or range(start, stop)")


def search_space(params: Mapping[str, Any], arguments: Sequence[str],
                 parser: OverridesParser | None = None) -> tuple[dict[str, Any], list[str]]:
    """``{key: distribution}`` and the fixed overrides, from the config's ``params`` and the command line
    (a command-line sweep joins the space; a fixed command-line value replaces a param of the same key)."""
    parser = parser or OverridesParser.create()
    lines = {str(k): f"{k}={v}" for k, v in (params or {}).items()}
    for arg in arguments:
        lines[arg.split("=", 1)[0]] = arg
    space: dict[str, Any] = {}
    fixed: list[str] = []
    for line in lines.values():
        override = parser.parse_overrides([line])[0]
        dist = distribution(override)
        if dist is None:
            fixed.append(line)
        else:
            space[override.get_key_element()] = dist
    return space, fixed


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def read_record(ret: Any) -> dict[str, Any] | None:
    """A job's record: the dict its task function returned, else ``<run dir>/result.json``."""
    from hydra.core.utils import JobStatus

    if getattr(ret, "status", None) == JobStatus.FAILED:
        return None
    value = getattr(ret, "_return_value", None)
    if isinstance(value, Mapping) and "metrics" in value:
        return dict(value)
    cfg = getattr(ret, "cfg", None)
    run_dir = cfg.get("run_dir") if cfg is not None else None
    if not run_dir and getattr(ret, "hydra_cfg", None) is not None:
        run_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir")
    path = Path(str(run_dir)) / RECORD if run_dir else None
    if path is None or not path.exists():
        return None
    return json.loads(path.read_text())


def objective(record: Mapping[str, Any] | None, metric: str) -> tuple[float | None, str]:
    """``(value, source)`` of a trial: ``best_val`` naming ``metric``, ``metrics[metric]``, else the test
    headline ``test/clean/<name>`` (source ``"test"``); ``(None, reason)`` for a failed or empty job.

    Examples:
        >>> objective({"status": "ok", "best_val": {"name": "val/acc", "value": 0.5, "epoch": 2}}, "val/acc")
        (0.5, 'val')
        >>> objective({"status": "ok", "best_val": None, "metrics": {"test/clean/acc": 0.4}}, "val/acc")
        (0.4, 'test')
    """
    if record is None:
        return None, "no record (the job raised)"
    if record.get("status") != "ok":
        return None, f"job {record.get('status')}: {record.get('error')}"
    best = record.get("best_val")
    if isinstance(best, Mapping) and best.get("name") == metric and _finite(best.get("value")):
        return float(best["value"]), "val"
    metrics = record.get("metrics") or {}
    if _finite(metrics.get(metric)):
        return float(metrics[metric]), "val"
    name = metric.split("/", 1)[-1]
    for key in (f"test/clean/{name}", f"test/{name}"):
        if _finite(metrics.get(key)):
            return float(metrics[key]), "test"
    seen = best.get("name") if isinstance(best, Mapping) else None
    return None, (f"the record has no {metric} (best_val names {seen!r}) and no test/clean/{name}; set "
                  "hydra.sweeper.metric to the task's monitored metric")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_direction(metric: str) -> str:
    """``"minimize"`` for an error metric (``val/wer``, ``val/boundary_mae_ms``, ``val/loss``), else
    ``"maximize"``: :func:`mmml.tasks.base.metric_mode`, the rule that picks the tested epoch."""
    from mmml.tasks.base import metric_mode

    return "minimize" if metric_mode(metric) == "min" else "maximize"


class MMMLOptunaSweeper(LaunchingSweeper):
    """Optuna search over Hydra overrides; each trial is one mmml job, scored by its validation headline.

    Args:
        metric: the record's validation metric to optimise (``val/acc``, ``val/wer``...).
        direction: ``maximize``/``minimize``; ``None``: from the metric's name.
        n_trials: trials in all.
        n_jobs: trials handed to the launcher at once.
        sampler: ``tpe`` (Optuna's default) or ``random``.
        seed: the sampler's seed (a seed fixes every proposal).
        study_name, storage: an Optuna storage URL (``sqlite:///hpo.db``) resumes or shares a study.
        params: ``{key: search space}`` in Hydra's override grammar (module docstring).
    """

    def __init__(self, metric: str = "val/acc", direction: str | None = None, n_trials: int = 20, n_jobs: int = 1,
                 sampler: str = "tpe", seed: int | None = 0, study_name: str | None = None,
                 storage: str | None = None, params: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if int(n_trials) <= 0 or int(n_jobs) <= 0:
            raise ValueError(f"hydra.sweeper.n_trials={n_trials}, n_jobs={n_jobs}; both must be positive")
        if direction not in (None, "maximize", "minimize"):
            raise ValueError(f"hydra.sweeper.direction={direction!r}; use maximize, minimize or null (from the metric)")
        if sampler not in SAMPLERS:
            raise ValueError(f"hydra.sweeper.sampler={sampler!r}; use one of {', '.join(SAMPLERS)}")
        if not str(metric).startswith("val/"):
            log.warning("hydra.sweeper.metric=%s is not a validation metric (val/...): the search would select "
                        "on the split it reports", metric)
        self.metric, self.direction = str(metric), direction
        self.n_trials, self.n_jobs = int(n_trials), int(n_jobs)
        self.sampler_name, self.seed = sampler, seed
        self.study_name, self.storage = study_name, storage
        self.params = dict(params or {})

    def _sampler(self) -> Any:
        optuna = _optuna()

        if self.sampler_name == "random":
            return optuna.samplers.RandomSampler(seed=self.seed)
        return optuna.samplers.TPESampler(seed=self.seed)

    def sweep(self, arguments: list[str]) -> dict[str, Any]:
        """Run ``n_trials`` trials; writes ``optimization_results.yaml`` and ``trials.csv`` in the sweep folder
        and returns the best trial's ``{best_params, best_value, ...}``."""
        optuna = _optuna()

        space, fixed = search_space(self.params, arguments, self.parser())
        if not space:
            raise ValueError("hydra.sweeper.params holds no search space (choice, interval, range): nothing to "
                             "search; see hydra_plugins/mmml_optuna_sweeper")
        direction = self.direction or metric_direction(self.metric)
        sweep_dir = self.sweep_dir()
        study = optuna.create_study(study_name=self.study_name, storage=self.storage, sampler=self._sampler(),
                                    direction=direction, load_if_exists=self.study_name is not None)
        log.info("Optuna study %s: %s %s over %s, %d trials", study.study_name, direction, self.metric,
                 ", ".join(space), self.n_trials)
        rows: list[dict[str, Any]] = []
        done = 0
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [fixed + [f"{k}={_format(v)}" for k, v in t.params.items()] for t in trials]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=done)
            for trial, overrides, ret in zip(trials, batch, results, strict=True):
                value, source = objective(read_record(ret), self.metric)
                if source == "test":
                    log.warning("trial %d: no %s in its record; its objective is the test headline "
                                "test/clean/%s", trial.number, self.metric, self.metric.split("/", 1)[-1])
                trial.set_user_attr("objective_source", source if value is not None else "failed")
                trial.set_user_attr("overrides", overrides)
                if value is None:
                    log.warning("trial %d failed: %s", trial.number, source)
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, value)
                rows.append({"number": trial.number, "value": value, "objective_source":
                             source if value is not None else "failed", **trial.params})
            done += len(trials)
        return self._write(study, rows, direction, sweep_dir)

    def _write(self, study: Any, rows: list[dict[str, Any]], direction: str, sweep_dir: Path) -> dict[str, Any]:
        complete = [t for t in study.trials if t.value is not None]
        results: dict[str, Any] = {"name": "mmml_optuna", "metric": self.metric, "direction": direction,
                                   "sampler": self.sampler_name, "seed": self.seed, "n_trials": len(rows),
                                   "n_failed": sum(r["value"] is None for r in rows)}
        if complete:
            best = study.best_trial
            results.update(best_params=dict(best.params), best_value=float(best.value), best_trial=best.number,
                           best_objective_source=best.user_attrs.get("objective_source"))
        else:
            log.error("every trial of the study failed; see the records in %s", sweep_dir)
        results["trials"] = [{k: v for k, v in r.items()} for r in rows]
        OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("number", "value", "objective_source"), k))
        with (sweep_dir / "trials.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        if complete:
            log.info("best trial %d: %s=%.6g with %s", results["best_trial"], self.metric, results["best_value"],
                     results["best_params"])
        return results
