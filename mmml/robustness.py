"""The robustness protocol of fused models: noise rising on each modality, each modality missing.

One trained model is evaluated under every condition (the datamodule's ``test_conditions``), so the
protocol multiplies test passes, not training runs:

- ``clean``; for each modality ``m`` noise at levels 0.1 ... 1.0 (``"m:noise@0.1"`` ...; 0 is clean
  and 1 carries no information, see :mod:`mmml.data.corruptions`); ``"m:drop"`` (missing).
- **Relative robustness** of a model to noise on ``m``: the area under its accuracy-vs-noise curve
  over [0, 1] by the trapezoid rule, i.e. its mean accuracy across levels (Liang et al. 2021,
  "MultiBench", Sec. 3.3).
- **Effective robustness**: the area between the model's curve and a baseline's curve shifted to the
  model's clean accuracy, ``mean_l [acc(l) - (base(l) + acc(0) - base(0))]`` (Taori et al. 2020;
  MultiBench measures it against late fusion). The baseline's curve is read from records of the
  same sweep (same data set, same seed where it exists), never from numbers stored in code.

Examples:
    >>> robustness_conditions(["image", "audio"], steps=2)
    ['clean', 'image:noise@0.5', 'image:noise@1', 'image:drop', 'audio:noise@0.5', 'audio:noise@1', 'audio:drop']
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mmml.data.corruptions import Condition

BASELINE = "late_mean"


def noise_levels(steps: int = 10) -> list[float]:
    """The noise levels of the protocol: ``steps`` equal steps from 0 (excluded: clean) to 1."""
    if int(steps) < 1:
        raise ValueError(f"steps={steps}; use at least one noise level (the protocol uses 10)")
    return [round((i + 1) / int(steps), 6) for i in range(int(steps))]


def robustness_conditions(modalities: Sequence[str], steps: int = 10, missing: bool = True) -> list[str]:
    """Condition strings for ``data.test_conditions``: clean, noise 0..1 and missing, per modality.

    Usable from a config without code (Hydra instantiates it while building the datamodule)::

        test_conditions: {_target_: mmml.robustness.robustness_conditions, modalities: ${data.modalities}}
    """
    if modalities is None or isinstance(modalities, str) or len(modalities) == 0:
        raise ValueError(f"robustness_conditions needs the list of modalities, got {modalities!r}; set "
                         "data.modalities explicitly (e.g. [image, audio])")
    out = ["clean"]
    for m in modalities:
        out += [f"{m}:noise@{level:g}" for level in noise_levels(steps)]
        if missing:
            out.append(f"{m}:drop")
    for c in out:  # fail here, with the condition's text, rather than inside the datamodule
        Condition.parse(c)
    return out


def curve(metrics: Mapping[str, float], modality: str, metric: str = "acc") -> tuple[np.ndarray, np.ndarray]:
    """``(levels, values)`` of ``metric`` as noise on ``modality`` rises, level 0 being ``clean``.

    Reads ``test/clean/<metric>`` and ``test/<modality>_noise<level>/<metric>`` from a record's metrics;
    returns empty arrays when the record has no clean value or no noise level for ``modality``.
    """
    clean = metrics.get(f"test/clean/{metric}")
    prefix = f"test/{modality}_noise"
    points = {}
    for key, value in metrics.items():
        if key.startswith(prefix) and key.endswith(f"/{metric}"):
            level = key[len(prefix): -len(metric) - 1]
            try:
                points[float(level)] = float(value)
            except ValueError:
                continue
    if clean is None or not points:
        return np.zeros(0), np.zeros(0)
    points[0.0] = float(clean)
    levels = np.array(sorted(points))
    return levels, np.array([points[x] for x in levels])


def relative_robustness(levels: Sequence[float], values: Sequence[float]) -> float:
    """Area under the curve divided by the span of levels (the mean value over the noise range).

    Examples:
        >>> relative_robustness([0.0, 0.5, 1.0], [1.0, 0.5, 0.0])
        0.5
    """
    levels, values = np.asarray(levels, dtype=float), np.asarray(values, dtype=float)
    if levels.shape != values.shape or levels.ndim != 1 or len(levels) < 2:
        raise ValueError(f"a robustness curve needs >= 2 matching levels and values; got {len(levels)} levels "
                         f"and {len(values)} values")
    if np.any(np.diff(levels) <= 0):
        raise ValueError(f"noise levels {levels.tolist()} must increase strictly")
    return float(np.trapezoid(values, levels) / (levels[-1] - levels[0]))


def effective_robustness(levels: Sequence[float], values: Sequence[float], base_levels: Sequence[float],
                         base_values: Sequence[float]) -> float:
    """Mean gap between a curve and the baseline's curve shifted to the same clean value.

    Positive: the model loses less than the baseline as noise rises. Both curves need the same levels.

    Examples:
        >>> effective_robustness([0, 1], [0.9, 0.7], [0, 1], [0.8, 0.4])
        0.1
    """
    levels, base_levels = np.asarray(levels, dtype=float), np.asarray(base_levels, dtype=float)
    if levels.shape != base_levels.shape or not np.allclose(levels, base_levels):
        raise ValueError(f"the model's noise levels {levels.tolist()} differ from the baseline's "
                         f"{base_levels.tolist()}; run both with the same data.test_conditions")
    values, base_values = np.asarray(values, dtype=float), np.asarray(base_values, dtype=float)
    shifted = base_values + (values[0] - base_values[0])
    return round(relative_robustness(levels, values - shifted), 12)


def modalities_of_record(record: Mapping[str, Any]) -> list[str]:
    """Modalities with a noise curve or a missing condition in a record's metrics, in first-seen order."""
    seen: dict[str, None] = {}
    for key in record.get("metrics") or {}:
        parts = key.split("/")
        if len(parts) != 3 or "+" in parts[1]:
            continue
        cond = parts[1]
        for kind in ("_noise", "_drop"):
            if kind in cond:
                seen.setdefault(cond.rsplit(kind, 1)[0], None)
    return list(seen)


def robustness_rows(records: Iterable[Mapping[str, Any]], baseline: str = BASELINE,
                    metric: str = "acc") -> list[dict[str, Any]]:
    """One row per ok record and modality: relative and effective robustness, missing-modality value.

    The baseline curve for a record is the ``baseline`` method's curve on the same data set and seed,
    or the mean of its curves over the sweep's seeds when that seed is absent; ``nan`` without one.
    """
    records = [r for r in records if r.get("status") == "ok"]
    base: dict[tuple, dict[Any, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for r in records:
        if r.get("method") == baseline:
            for m in modalities_of_record(r):
                lv, vals = curve(r["metrics"], m, metric)
                if len(lv):
                    base[(r.get("dataset"), m)][r.get("seed")] = (lv, vals)
    rows = []
    for r in records:
        metrics = r.get("metrics") or {}
        for m in modalities_of_record(r):
            lv, vals = curve(metrics, m, metric)
            row = {k: r.get(k) for k in ("challenge", "family", "method", "dataset", "setting", "seed")}
            row.update(modality=m, clean=metrics.get(f"test/clean/{metric}", math.nan),
                       missing=metrics.get(f"test/{m}_drop/{metric}", math.nan), relative=math.nan,
                       effective=math.nan)
            if len(lv) >= 2:
                row["relative"] = relative_robustness(lv, vals)
                ref = _baseline_curve(base.get((r.get("dataset"), m), {}), r.get("seed"), lv)
                if ref is not None:
                    row["effective"] = effective_robustness(lv, vals, lv, ref)
            rows.append(row)
    return rows


def _baseline_curve(curves: dict[Any, tuple[np.ndarray, np.ndarray]], seed: Any,
                    levels: np.ndarray) -> np.ndarray | None:
    same = [c for c in curves.values() if c[0].shape == levels.shape and np.allclose(c[0], levels)]
    if seed in curves and curves[seed][0].shape == levels.shape and np.allclose(curves[seed][0], levels):
        return curves[seed][1]
    if not same:
        return None
    return np.mean([c[1] for c in same], axis=0)
