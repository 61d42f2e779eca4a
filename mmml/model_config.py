"""What a model config declares beside its method: the data it runs on, and the keys that name its row.

A model config (``experiments/model/<challenge>/<method>.yaml``) never chooses the data set; it declares
what it needs under ``requires``, and ``mmml-run`` checks it before building anything, so that a model
on a data set it cannot use fails at once, with a record, naming the data set and what it lacks::

    requires:
      datasets: [avdigits, avdigits_fsdd, mfeat]  # the data sets it is built and tested with
      modalities: [image, audio]                  # data.modalities must serve these (optional)
      min_modalities: 2                           # at least this many served (optional)

A method's variants are one config plus an override (``model.net.combine=product``) and its row name
follows by interpolation (``method: late_${model.net.combine}``); :func:`row_keys` lists the keys such a
name reads, which are then not a table *setting* (the name already tells the rows apart).

Example:
    >>> from omegaconf import OmegaConf
    >>> cfg = OmegaConf.create({"model": {"method": "late_${model.net.combine}", "net": {"combine": "mean"}}})
    >>> sorted(row_keys(cfg))
    ['model.net.combine']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


class UnsupportedDataError(ValueError):
    """A model config's ``requires`` does not hold for the chosen data set."""


def check_requires(model: DictConfig | dict, name: str, served: Sequence[str], every: Sequence[str],
                   config_name: str | None = None) -> None:
    """Raise :class:`UnsupportedDataError` unless the data set ``name`` (serving ``served`` of its modalities
    ``every``) meets the model config's ``requires``; a config without ``requires`` is not checked."""
    raw = OmegaConf.to_container(model, resolve=False) if isinstance(model, DictConfig) else dict(model or {})
    requires = raw.get("requires") or {}  # read unresolved: the row name may need what is missing
    what = f"model={config_name}" if config_name else f"model {raw.get('method')!r}"
    datasets = list(requires.get("datasets") or [])
    if datasets and name not in datasets:
        raise UnsupportedDataError(f"{what} does not run on data set {name!r} (modalities {list(every)}); it declares "
                                   f"requires.datasets={datasets}: choose one of them, e.g. data={datasets[0]}")
    needed = [str(m) for m in requires.get("modalities") or []]
    lacking = [m for m in needed if m not in every]
    if lacking:
        raise UnsupportedDataError(f"{what} reads modalities {needed}, but data set {name!r} has no {lacking} "
                                   f"(it has {list(every)}); choose one of requires.datasets={datasets}")
    missing = [m for m in needed if m not in served]
    if missing:
        want = list(served) + missing
        raise UnsupportedDataError(f"{what} reads modalities {needed}, but data set {name!r} serves {list(served)} "
                                   f"(data.modalities); add {missing}: data.modalities=[{','.join(want)}]")
    least = int(requires.get("min_modalities") or 0)
    if len(served) < least:
        raise UnsupportedDataError(f"{what} needs at least {least} modalities, but data set {name!r} serves "
                                   f"{list(served)} (it has {list(every)}); serve more with data.modalities=[...] "
                                   f"or choose another data set of requires.datasets={datasets}")


def _raw(container: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(container, dict) or part not in container:
            return None
        container = container[part]
    return container


def row_keys(cfg: DictConfig, key: str = "model.method", depth: int = 5) -> set[str]:
    """The config keys that the (unresolved) row name ``key`` reads, following interpolations ``depth`` deep."""
    raw = OmegaConf.to_container(cfg, resolve=False)
    found: set[str] = set()
    todo = [key]
    for _ in range(depth):
        nxt = []
        for path in todo:
            value = _raw(raw, path)
            for ref in _REFERENCE.findall(value if isinstance(value, str) else ""):
                if ref not in found:
                    found.add(ref)
                    nxt.append(ref)
        todo = nxt
    return found
