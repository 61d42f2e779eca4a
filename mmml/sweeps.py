"""Table sweeps as a union of cartesian products: common ``params`` plus a list of sub-grids.

Hydra's basic sweeper runs one cartesian product of its ``params``. A comparison table's rows are not
one product: ``fusion/late`` runs with ``model.net.combine=mean,product,learned`` while ``fusion/early``
has no ``combine``. :func:`expand` takes the common ``params`` (swept for every row, e.g. ``seed``),
a ``grid`` (a list of sub-grids, each a cartesian product of its own keys) and the command line's
overrides, and returns the jobs: for each sub-grid, the product of the common params and its keys. It is
the job list of the ``mmml`` Hydra sweeper (``hydra_plugins.mmml_sweeper``), and ``mmml-survey`` counts a
table's jobs with it.

Command-line overrides: a key that no sub-grid sets is swept for every row (it replaces a common param
of the same key), as with the basic sweeper. A key that a sub-grid sets *selects rows*: only the rows
whose value is among the command line's are kept (``model=fusion/late`` keeps late_mean, late_product
and late_learned; ``data=avdigits`` keeps the co-learning table's avdigits rows); naming a value no row
has is an error that lists the values the grid offers. Identical jobs run once.

Example:
    >>> expand({"seed": "0,1"}, [{"model": "fusion/early"}, {"model": "fusion/late", "model.net.combine": "mean,max"}],
    ...        ["seed=0"])
    [['seed=0', 'model=fusion/early'], ['seed=0', 'model=fusion/late', 'model.net.combine=mean'], \
['seed=0', 'model=fusion/late', 'model.net.combine=max']]
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser


def _bare(key: str) -> str:
    return key.lstrip("+~")


def _as_override(key: str, value: Any) -> str:
    if isinstance(value, bool):
        value = str(value).lower()
    return f"{key}={value}"


def choices(overrides: Sequence[str], parser: OverridesParser | None = None) -> dict[str, list[str]]:
    """``["a=1,2", "b=x"]`` -> ``{"a": ["a=1", "a=2"], "b": ["b=x"]}`` (Hydra's override grammar: lists,
    quoted strings, ``range``; the key keeps its ``+``/``~`` prefix)."""
    parser = parser or OverridesParser.create()
    out: dict[str, list[str]] = {}
    for o in parser.parse_overrides(list(overrides)):
        key = o.get_key_element()
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                raise ValueError(f"{o.input_line!r}: the mmml sweeper takes lists of values (a,b,c or range(...)), "
                                 "not interval sweeps")
            out[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            out[key] = [f"{key}={o.get_value_element_as_str()}"]
    return out


def expand(params: Mapping[str, Any] | None, grid: Sequence[Mapping[str, Any]] | None, arguments: Sequence[str],
           parser: OverridesParser | None = None) -> list[list[str]]:
    """The jobs (each a list of overrides) of common ``params`` x the union of ``grid``'s sub-grids, with the
    command line's ``arguments`` applied as the module docstring says."""
    parser = parser or OverridesParser.create()
    common = choices([_as_override(k, v) for k, v in (params or {}).items()], parser)
    cli = choices(arguments, parser)
    subgrids = [choices([_as_override(k, v) for k, v in sub.items()], parser) for sub in (grid or [])] or [{}]
    grid_keys = {_bare(k) for sub in subgrids for k in sub}
    jobs: list[list[str]] = []
    for sub in subgrids:
        axes = {_bare(k): v for k, v in common.items()}  # by bare key, in order; a later value replaces in place
        axes.update({_bare(k): v for k, v in sub.items()})
        kept = True
        for key, values in cli.items():
            if _bare(key) in grid_keys:  # selects rows
                wanted = {v.split("=", 1)[1] for v in values}
                axes[_bare(key)] = [v for v in axes.get(_bare(key), []) if v.split("=", 1)[1] in wanted]
                kept = kept and bool(axes[_bare(key)])
            else:
                axes[_bare(key)] = values
        if kept:
            jobs += [list(job) for job in itertools.product(*axes.values())]
    if not jobs:
        offered = {k: sorted({v.split("=", 1)[1] for sub in subgrids for kk, vs in sub.items() if _bare(kk) == k
                          for v in vs}) for k in sorted(grid_keys & {_bare(k) for k in cli})}
        raise ValueError(f"the command line {list(arguments)} selects none of the sweep's rows; its grid offers "
                         f"{offered}. To sweep other values, sweep them without the table experiment "
                         "(mmml-run -m model=... key=a,b)")
    return [list(job) for job in dict.fromkeys(tuple(j) for j in jobs)]


def count(params: Mapping[str, Any] | None, grid: Sequence[Mapping[str, Any]] | None,
          arguments: Sequence[str] = ()) -> int:
    """Number of jobs :func:`expand` gives."""
    return len(expand(params, grid, arguments))
