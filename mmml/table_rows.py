"""Result records -> the rows of a comparison table, and which of their cells are the best.

A row is a method on a data set under one split protocol and setting (:data:`KEY`; the protocol from the record's
``protocol``, :func:`protocol_label`: FSDD's speaker-dependent ``official`` split and the speaker-independent
``speakers`` / ``logo`` ones are separate rows, never averaged together), its metrics kept per distinct seed
(a seed run twice counts once, its runs averaged). :func:`best_cells` picks, per comparable group of rows (same
challenge, data set, protocol and setting; same direction for translation), the best value of each column and
those not significantly different from it by a paired t-test over the seeds they share (:mod:`mmml.stats`).
Rendered by :mod:`mmml.table_formats`, written by :mod:`mmml.tables`.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmml.columns import COST_HEADS, direction

KEY = ("challenge", "family", "method", "dataset", "protocol", "setting")

#: the overrides that choose a split protocol: the ``protocol`` column names it (with the speakers it resolved
#: to), so they are left out of the row's setting
PROTOCOL_KEYS = re.compile(r"(^|,)data\.(split|test_speakers|val_speakers)=(\[[^\]]*\]|[^,]*)")

COSTS = tuple(COST_HEADS)

#: the cost columns of the Markdown table when no column list is given (LaTeX: none)
DEFAULT_COSTS = ("n_params", "fit_seconds")

@dataclass
class Row:
    """One table row: a method on a data set in one setting, aggregated over seeds.

    ``seeds`` lists the seed of each ok record; ``per_seed[metric][seed]`` the values of that seed's records
    (several when a seed ran twice), averaged into one value per distinct seed by :attr:`values`.
    """

    key: tuple[str, ...]
    seeds: list[Any] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    per_seed: dict[str, dict[Any, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    costs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def values(self) -> dict[str, list[float]]:
        """Per metric, one value per distinct seed (the mean of that seed's records)."""
        return {k: [float(np.mean(v)) for v in by.values()] for k, by in self.per_seed.items()}

    def seed_values(self, name: str) -> dict[Any, float]:
        """``{seed: value}`` of one metric (a seed's records averaged)."""
        return {s: float(np.mean(v)) for s, v in self.per_seed.get(name, {}).items()}

    @property
    def n_seeds(self) -> int:
        """Distinct seeds among the ok records."""
        return len(set(map(_seed_key, self.seeds)))

    def stat(self, name: str, costs: bool = False) -> tuple[float, float, int]:
        vals = [v for v in (self.costs if costs else self.values).get(name, []) if v is not None]
        if not vals:
            return math.nan, math.nan, 0
        arr = np.asarray(vals, dtype=float)
        return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, len(arr)

    @property
    def status(self) -> str:
        if self.failed and not self.seeds:
            return "failed"
        return f"ok ({self.n_seeds} seeds, {len(self.failed)} failed)" if self.failed else "ok"

    @property
    def seeds_cell(self) -> str:
        """The "seeds" column: the number of distinct seeds, and failed runs if any."""
        if self.failed and not self.seeds:
            return "failed"
        return f"{self.n_seeds}" + (f" (+{len(self.failed)} failed)" if self.failed else "")

def protocol_label(record: dict[str, Any]) -> str:
    """The split protocol of a record (``record["protocol"]``, :mod:`mmml.data.protocols`) in a few words:
    ``"official (speakers shared)"`` (speaker-dependent), ``"speakers (test theo; val yweweler)"``, ``"random"``,
    ...; ``""`` where the record names none.

    Examples:
        >>> protocol_label({"protocol": {"split": "speakers", "test_speakers": ["theo"], "val_speakers": ["yweweler"],
        ...                              "speakers_overlap": False}})
        'speakers (test theo; val yweweler)'
        >>> protocol_label({"protocol": {"split": "official", "speakers_overlap": True}}), protocol_label({})
        ('official (speakers shared)', '')
    """
    proto = record.get("protocol")
    if not isinstance(proto, dict) or not proto.get("split"):
        return ""
    split = str(proto["split"])
    if proto.get("speakers_overlap") is False:
        held = [f"{what} {', '.join(map(str, proto.get(f'{what}_speakers') or []))}" for what in ("test", "val")]
        return f"{split} ({'; '.join(held)})"
    return f"{split} (speakers shared)" if proto.get("speakers_overlap") else split

def tag_protocols(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records, each held-out-speaker one (``speakers``, ``logo``) with its data set renamed
    ``<dataset>@<split>-<test speakers>`` (copies; the others as they are), so that code grouping by data set
    (the challenge reports, :mod:`mmml.claims`) keeps an FSDD data set's protocols apart.

    Examples:
        >>> proto = {"split": "speakers", "test_speakers": ["theo"], "speakers_overlap": False}
        >>> [r["dataset"] for r in tag_protocols([{"dataset": "fsdd", "protocol": proto}, {"dataset": "fsdd"}])]
        ['fsdd@speakers-theo', 'fsdd']
    """
    out = []
    for rec in records:
        proto = rec.get("protocol")
        if isinstance(proto, dict) and proto.get("speakers_overlap") is False and rec.get("dataset"):
            held = "+".join(map(str, proto.get("test_speakers") or []))
            rec = {**rec, "dataset": f"{rec['dataset']}@{proto.get('split')}" + (f"-{held}" if held else "")}
        out.append(rec)
    return out

def row_key(record: dict[str, Any]) -> tuple[str, ...]:
    """A record's row (:data:`KEY`): its protocol from :func:`protocol_label`, and its setting without the
    protocol's overrides where the record names its protocol."""
    protocol = protocol_label(record)
    setting = str(record.get("setting") or "")
    if protocol:
        setting = PROTOCOL_KEYS.sub("", setting).strip(",")
    fields = {**record, "protocol": protocol, "setting": setting}
    return tuple(str(fields.get(k) or "") for k in KEY)

def _seed_key(seed: Any) -> Any:
    return seed if not isinstance(seed, list) else tuple(seed)

def short_metric(name: str) -> str:
    """``test/clean/acc`` -> ``clean acc``."""
    return name.removeprefix("test/").replace("/", " ")

def aggregate(records: Sequence[dict[str, Any]]) -> list[Row]:
    """Group records into rows, in challenge/family/method/dataset/protocol/setting order; a record's
    ``best_val`` (the validation figure of its tested epoch) becomes the metric ``val/<name>``."""
    rows: dict[tuple, Row] = {}
    for rec in records:
        if rec.get("status") == "skipped":  # listed apart by to_markdown, not a row
            continue
        key = row_key(rec)
        row = rows.setdefault(key, Row(key))
        if rec.get("status") != "ok":
            row.failed.append(str(rec.get("error") or rec.get("status")))
            continue
        seed = _seed_key(rec.get("seed")) if rec.get("seed") is not None else ("record", len(row.seeds))
        row.seeds.append(seed)
        metrics = rec.get("metrics") or {}
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row.per_seed[k][seed].append(float(v))
        best = rec.get("best_val")  # the monitored validation value of the tested epoch, a column ``val/<name>``
        if isinstance(best, dict) and str(best.get("name", "")).startswith("val/") and best["name"] not in metrics \
                and isinstance(best.get("value"), (int, float)) and math.isfinite(best["value"]):
            row.per_seed[best["name"]][seed].append(float(best["value"]))
        for k in COSTS:
            if isinstance(rec.get(k), (int, float)):
                row.costs[k].append(float(rec[k]))
    return [rows[k] for k in sorted(rows)]

def metric_columns(rows: Sequence[Row], pattern: str | None = None) -> list[str]:
    """Every metric seen, clean condition first, in first-seen order; filtered by a regex."""
    seen = list(dict.fromkeys(k for r in rows for k in r.values))
    if pattern:
        seen = [k for k in seen if re.search(pattern, k)]
    return sorted(seen, key=lambda k: (0 if "/clean/" in k else 1, seen.index(k)))

def comparable(key: tuple[str, ...]) -> tuple[str, ...]:
    """The rows a best value is picked among: same challenge, data set, protocol and setting, and for
    translation the same direction (the ``(captioning)`` of its method names)."""
    challenge, _, method, dataset, protocol, setting = key
    within = re.search(r"\(([^()]*)\)$", method) if challenge == "translation" else None
    return challenge, dataset, protocol, setting, within[1] if within else ""

def best_cells(rows: Sequence[Row], columns: Sequence[str], alpha: float = 0.05) -> set[tuple[int, str]]:
    """``(row index, column)`` of the values shown in bold: per :func:`comparable` group and column with a
    direction, the best mean, and every value not significantly different from it by a paired t-test over
    the seeds the two rows share (p ≥ ``alpha``; rows sharing fewer than 2 seeds only tie on an equal mean)."""
    from mmml.stats import pair_by_seed, paired_test

    bold: set[tuple[int, str]] = set()
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r.status != "failed":
            groups[comparable(r.key)].append(i)
    for members in groups.values():
        for c in columns:
            sign = direction(c)
            means = {i: rows[i].stat(c)[0] for i in members if rows[i].stat(c)[2]}
            if not sign or not means:
                continue
            best = (max if sign == "↑" else min)(means, key=means.get)
            for i, m in means.items():
                if i == best or m == means[best]:
                    bold.add((i, c))
                    continue
                seeds, x, y = pair_by_seed(rows[i].seed_values(c), rows[best].seed_values(c))
                if len(seeds) >= 2:
                    p = paired_test(x, y).p
                    if math.isfinite(p) and p >= alpha:
                        bold.add((i, c))
    return bold
