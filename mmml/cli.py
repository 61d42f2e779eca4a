"""``mmml-run``'s console entry point: config choices checked before torch is imported, exit codes for schedulers.

:func:`main` checks every config-group choice on the command line (``model=fusion/tensr``) against the files in
``experiments/`` and answers a misspelt one with its closest choices (:mod:`difflib`), in well under a second,
before Hydra composes anything and before torch or Lightning are imported; :mod:`mmml.runner` is imported only
once a job starts. The exit status tells a scheduler (Slurm, a shell loop) what happened: 0 when every job
ended ``ok`` or ``skipped``, 1 when a single run failed or any job of a multirun failed (a multirun still runs
every job), 2 for a config choice that does not exist. Hydra's own errors (a key not in the config) exit 1.
This module imports only the standard library at import time.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

GROUPS = ("data", "model", "trainer", "experiment", "logger", "callbacks")
EXIT_FAILED = 1
EXIT_BAD_CHOICE = 2

# set by the job and by ExitStatus in this process (the basic launcher runs jobs here)
_state: dict[str, Any] = {"failed": [], "sweep_dir": None, "started": 0.0}


def experiments_dir() -> Path:
    """The folder of mmml's shipped configs (``mmml/experiments`` in a wheel, ``experiments/`` in a checkout)."""
    return Path(importlib.util.find_spec("mmml.experiments").origin).parent


def available(group: str) -> list[str]:
    """Config choices of a group shipped in ``experiments/`` (``model`` -> ``fusion/early``, ...)."""
    root = experiments_dir() / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def closest(value: str, choices: list[str], n: int = 3) -> list[str]:
    """The choices nearest ``value``: those of the folder it names (``fusion`` -> ``fusion/...``), else the best
    matches by the whole name (within 0.1 of the best :class:`difflib.SequenceMatcher` ratio) and by its last part
    (``tensr`` -> ``fusion/tensor``), at most ``n`` of each.

    Examples:
        >>> closest("fusion/tensr", ["fusion/early", "fusion/late", "fusion/tensor", "representation/cca"])
        ['fusion/tensor']
        >>> closest("tensor", ["fusion/early", "fusion/tensor"])
        ['fusion/tensor']
        >>> closest("fusion", ["fusion/early", "fusion/tensor", "representation/cca"])
        ['fusion/early', 'fusion/tensor']
    """
    inside = [c for c in choices if c.startswith(value.rstrip("/") + "/")]
    if inside:
        return inside

    def best(word: str, pool: list[str], cutoff: float) -> list[str]:
        ratios = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in pool), reverse=True)
        return [c for r, c in ratios[:n] if r >= max(cutoff, ratios[0][0] - 0.1)] if ratios else []

    found = best(value, choices, 0.6)
    for leaf in best(value.rsplit("/", 1)[-1], sorted({c.rsplit("/", 1)[-1] for c in choices}), 0.75):
        found += [c for c in choices if c.rsplit("/", 1)[-1] == leaf and c not in found]
    return found


def top_level_keys() -> set[str]:
    """The keys that ``experiments/config.yaml`` sets at its top level (``seed``, ``resume``...), read as text."""
    text = (experiments_dir() / "config.yaml").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z_]\w*):", text, flags=re.M)} - {"defaults", "hydra"}


def _values(override: Any) -> list[str] | None:
    """The choices an override names (a sweep's too), or None where it names none to check (glob, delete)."""
    from hydra.core.override_parser.types import ValueType

    if override.is_delete() or override.value_type in (ValueType.GLOB_CHOICE_SWEEP, ValueType.RANGE_SWEEP,
                                                        ValueType.INTERVAL_SWEEP):
        return None
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    value = override.value()
    if isinstance(value, list):
        return [str(v) for v in value]
    return None if value is None else [str(value)]


def choice_errors(argv: list[str]) -> list[str]:
    """One message for each config-group choice in ``argv`` that names no config, with the closest choices."""
    args = [a for a in argv if not a.startswith("-")]
    if not any(a.lstrip("+~").partition("=")[0] in GROUPS or a.startswith("+") for a in args):
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except Exception:  # Hydra reports a malformed override itself, with its position
        return []
    errors = []
    top = top_level_keys()
    for o in overrides:
        if o.is_add() and o.key_or_group in top:
            errors.append(f"mmml-run: +{o.key_or_group}=...: {o.key_or_group} is already in the config "
                          f"(experiments/config.yaml); set it without the plus: {o.input_line.lstrip('+')}")
            continue
        if o.key_or_group not in GROUPS or o.package:
            continue
        values = _values(o)
        if not values:
            continue
        choices = available(o.key_or_group)
        for value in values:
            if value in choices or value == "null":
                continue
            near = closest(value, choices)
            folders = sorted({c.split("/")[0] + ("/" if "/" in c else "") for c in choices})
            hint = (f"closest: {', '.join(near)}" if near else f"choices: {', '.join(choices)}"
                    if len(choices) <= 12 else f"choices start with {', '.join(folders)}")
            errors.append(f"mmml-run: {o.key_or_group}={value} does not exist; {hint} "
                          f"({len(choices)} {o.key_or_group} choices in all, in {experiments_dir() / o.key_or_group})")
    return errors


def _job(cfg: Any) -> str:
    """Hydra's task function: one job through :func:`mmml.runner.run`; remembers a failure for the exit status."""
    from mmml.runner import run

    record = run(cfg)
    if record.get("status") == "failed":
        _state["failed"].append(f"{record.get('config_name') or record.get('method')}: {record.get('error')}")
    return str(record.get("status"))


try:  # a Hydra callback (hydra.callbacks in experiments/config.yaml); Hydra is there whenever mmml-run is
    from hydra.experimental.callback import Callback as _Callback
except ImportError:  # pragma: no cover
    _Callback = object  # type: ignore[assignment,misc]


class ExitStatus(_Callback):  # type: ignore[misc,valid-type]
    """Notes the sweep folder of a multirun, so that :func:`main` can read back every job's record, whichever
    launcher ran it (in this process, in joblib workers, on Slurm with a shared file system)."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _state["sweep_dir"] = str(config.hydra.sweep.dir)
        _state["started"] = time.time()


def failed_records(sweep_dir: str | os.PathLike, since: float = 0.0) -> list[str]:
    """``path: error`` of every ``failed`` record under a sweep folder written at or after ``since`` (a time
    stamp: a failed record left by an earlier sweep in the same folder, of a job not rerun, is not this one's)."""
    out = []
    for path in sorted(Path(sweep_dir).rglob("result.json")):
        try:
            if path.stat().st_mtime < since:
                continue
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            out.append(f"{path}: unreadable record")
            continue
        if record.get("status") == "failed":
            out.append(f"{path.parent}: {record.get('error')}")
    return out


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``mmml-run`` (Hydra's command line: overrides, ``-m``, ``--cfg job``, ``--help``)."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    errors = choice_errors(sys.argv[1:])
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(EXIT_BAD_CHOICE)
    import hydra

    _state.update(failed=[], sweep_dir=None, started=0.0)
    hydra.main(version_base="1.3", config_path="pkg://mmml.experiments", config_name="config")(_job)()
    failed = list(_state["failed"])
    if _state["sweep_dir"]:  # the records say it, whichever process ran the jobs
        # (or, where the records went elsewhere, run_dir=..., what the jobs run in this process said)
        failed = failed_records(_state["sweep_dir"], _state.get("started", 0.0) - 1.0) or failed
        if failed:
            print(f"mmml-run: {len(failed)} job(s) of the multirun in {_state['sweep_dir']} failed:", file=sys.stderr)
    if failed:
        print("\n".join(f"  {f}" for f in failed), file=sys.stderr)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
