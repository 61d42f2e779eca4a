"""The ``mmml`` sweeper: Hydra's basic sweeper over a union of cartesian products.

A comparison table lists its rows as sub-grids, e.g. (``experiments/experiment/fusion_table.yaml``)::

    defaults:
      - override /hydra/sweeper: mmml
    hydra:
      sweeper:
        params: {data: "avdigits,mfeat", seed: "0,1,2"}      # every row
        grid:
          - {model: "fusion/early,fusion/tensor"}
          - {model: fusion/late, model.net.combine: "mean,product,learned"}

so that the whole table is one ``mmml-run -m experiment=fusion_table`` multirun. The jobs are those of
:func:`mmml.sweeps.expand` (command-line keys that the grid sets select rows), launched in batches of
``max_batch_size`` by the configured launcher, as Hydra's basic sweeper does; ``multirun.yaml`` is saved in
the sweep folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

from mmml.sweeps import expand


@dataclass
class MMMLSweeperConf:
    """Config of :class:`MMMLSweeper` (``hydra/sweeper=mmml``)."""

    _target_: str = "hydra_plugins.mmml_sweeper.mmml_sweeper.MMMLSweeper"
    max_batch_size: int | None = None
    params: dict[str, Any] | None = None
    grid: list[Any] | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="mmml", node=MMMLSweeperConf, provider="mmml")


class LaunchingSweeper(Sweeper):
    """What mmml's sweepers share: the launcher Hydra configures (built in :meth:`setup`) and the sweep folder
    with its ``multirun.yaml`` (:meth:`sweep_dir`). Abstract (no ``sweep``): Hydra does not list it as a plugin."""

    def __init__(self) -> None:
        super().__init__()
        self.hydra_context: Any = None
        self.config: Any = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        """Keep the context and build the configured launcher (Hydra calls this before ``sweep``)."""
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def parser(self) -> OverridesParser:
        """Hydra's override parser, with the config loader once :meth:`setup` has run."""
        loader = self.hydra_context.config_loader if self.hydra_context is not None else None
        return OverridesParser.create(config_loader=loader)

    def representatives(self, batch: list[list[str]]) -> list[list[str]]:
        """One job of each kind in ``batch``: jobs whose overrides differ only in the values of plain keys
        (``seed=0`` against ``seed=1``) compose the same config tree, so that one of them composing shows that
        all do. A config-group choice (``model=fusion/early``), a package override or a ``hydra.`` key (typed by
        Hydra's schemas) is part of the kind with its value; a plain key without it."""
        loader = self.hydra_context.config_loader
        parser = self.parser()
        groups: dict[str, bool] = {}

        def kind(o: Any) -> str:
            key = o.key_or_group
            if key not in groups:
                groups[key] = bool(o.package) or key.startswith("hydra") or bool(loader.get_group_options(key))
            return o.input_line if groups[key] else o.input_line.split("=", 1)[0]

        seen: set[tuple[str, ...]] = set()
        out = []
        for job in batch:
            shape = tuple(kind(o) for o in parser.parse_overrides(list(job)))
            if shape not in seen:
                seen.add(shape)
                out.append(job)
        return out

    def sweep_dir(self) -> Path:
        """The sweep folder (``hydra.sweep.dir``), made, with the sweep's config saved as ``multirun.yaml``."""
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        return sweep_dir


class MMMLSweeper(LaunchingSweeper):
    """A Hydra sweeper whose jobs are the common ``params`` x the union of ``grid``'s sub-grids.

    Args:
        max_batch_size: jobs handed to the launcher at once (``None``: all).
        params: ``{key: "a,b,c"}`` swept for every row.
        grid: list of sub-grids ``{key: "a,b"}``; each row of a sub-grid also takes ``params``.
    """

    def __init__(self, max_batch_size: int | None = None, params: dict[str, Any] | None = None,
                 grid: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        if max_batch_size is not None and int(max_batch_size) <= 0:
            raise ValueError(f"hydra.sweeper.max_batch_size={max_batch_size}; use a positive number or null")
        self.max_batch_size = max_batch_size
        self.common = dict(params or {})
        self.grid = [dict(sub) for sub in (grid or [])]

    def jobs(self, arguments: list[str]) -> list[list[str]]:
        """Every job's overrides: :func:`mmml.sweeps.expand` of the params, the grid and the command line."""
        return expand(self.common, self.grid, arguments, self.parser())

    def sweep(self, arguments: list[str]) -> Any:
        """Launch the jobs batch by batch; returns the launcher's results per batch."""
        jobs = self.jobs(arguments)
        self.sweep_dir()
        size = int(self.max_batch_size or len(jobs))
        returns = []
        for first in range(0, len(jobs), size):
            batch = jobs[first:first + size]
            # composition errors surface before anything runs (each kind of job composed once: a compose
            # costs 35 ms, and the launcher composes every job again)
            self.validate_batch_is_legal(self.representatives(batch))
            results = self.launcher.launch(batch, initial_job_idx=first)
            for result in results:
                _ = result.return_value  # re-raises a job's exception, as the basic sweeper does
            returns.append(results)
        return returns
