"""``mmml-table``: result records -> survey-style comparison tables (Markdown, CSV, LaTeX, PNG).

Rows are grouped challenge -> family -> method -> dataset (-> any other swept setting), each
metric as mean ± std over seeds, plus parameters and fit time; a failed run shows as a failed row.
A challenge registers a report module in :mod:`mmml.reports` with ``plots(records, out_dir)`` and
``notes(records)``, called here for that challenge's records, and ``HEADLINE`` (one metric name, or a
dict family -> metric name): the metric the survey's overview shows for that challenge's methods.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmml.io import atomic_write
from mmml.reports import report_module
from mmml.results import find_records

log = logging.getLogger(__name__)
KEY = ("challenge", "family", "method", "dataset", "setting")
COSTS = ("n_params", "fit_seconds", "test_seconds", "peak_memory_mb")


@dataclass
class Row:
    """One table row: a method on a data set in one setting, aggregated over seeds."""

    key: tuple[str, ...]
    seeds: list[Any] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    costs: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

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
        return f"ok ({len(self.seeds)} seeds, {len(self.failed)} failed)" if self.failed else "ok"


def short_metric(name: str) -> str:
    """``test/clean/acc`` -> ``clean acc``."""
    return name.removeprefix("test/").replace("/", " ")


def aggregate(records: Sequence[dict[str, Any]]) -> list[Row]:
    """Group records into rows, in challenge/family/method/dataset/setting order."""
    rows: dict[tuple, Row] = {}
    for rec in records:
        if rec.get("status") == "skipped":  # listed apart by to_markdown, not a row
            continue
        key = tuple(str(rec.get(k) or "") for k in KEY)
        row = rows.setdefault(key, Row(key))
        if rec.get("status") != "ok":
            row.failed.append(str(rec.get("error") or rec.get("status")))
            continue
        row.seeds.append(rec.get("seed"))
        for k, v in (rec.get("metrics") or {}).items():
            if isinstance(v, (int, float)):
                row.values[k].append(float(v))
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


def fmt(mean: float, std: float, n: int, digits: int = 3) -> str:
    if n == 0 or math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def _cost(row: Row, name: str) -> str:
    mean, _, n = row.stat(name, costs=True)
    if n == 0:
        return "–"
    return f"{int(mean):,}" if name == "n_params" else f"{mean:.1f}"


def skipped_note(records: Sequence[dict[str, Any]]) -> str:
    """One line per method and data set whose runs were skipped (their data set was absent)."""
    seen = dict.fromkeys(f"- {r.get('method')} on {r.get('dataset')}: {r.get('error')}" for r in records
                         if r.get("status") == "skipped")
    return ("\nSkipped (data set not available here):\n\n" + "\n".join(seen) + "\n") if seen else ""


def to_markdown(rows: Sequence[Row], columns: Sequence[str], title: str = "") -> str:
    head = ["challenge", "family", "method", "dataset", "setting", "seeds", *map(short_metric, columns),
            "params", "fit s"]
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    previous: tuple = ()
    for r in rows:
        shown = [("" if previous[: i + 1] == r.key[: i + 1] else r.key[i]) for i in range(3)] if previous else \
            list(r.key[:3])
        previous = r.key
        cells = [*shown, r.key[3], r.key[4] or "–", r.status]
        if r.status == "failed":
            cells += ["failed"] * len(columns) + ["–", "–"]
        else:
            cells += [fmt(*r.stat(c)) for c in columns] + [_cost(r, "n_params"), _cost(r, "fit_seconds")]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [(r.key, e) for r in rows for e in r.failed]
    if errors:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {'/'.join(k[:4])} {k[4]}: {e[:300]}" for k, e in errors]
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Row], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*KEY, "status", "n_seeds", *(f"{c}{s}" for c in columns for s in ("_mean", "_std")),
                *(f"{c}_mean" for c in COSTS)])
    for r in rows:
        vals = []
        for c in columns:
            m, s, n = r.stat(c)
            vals += ["" if n == 0 else f"{m:.6g}", "" if n == 0 else f"{s:.6g}"]
        costs = ["" if r.stat(c, True)[2] == 0 else f"{r.stat(c, True)[0]:.6g}" for c in COSTS]
        w.writerow([*r.key, "failed" if r.status == "failed" else "ok", len(r.seeds), *vals, *costs])
    return buf.getvalue()


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("–", "--")):
        s = s.replace(a, b)
    return s


def to_latex(rows: Sequence[Row], columns: Sequence[str]) -> str:
    head = ["family", "method", "dataset", "setting", *map(short_metric, columns)]
    lines = [r"\begin{tabular}{" + "l" * 4 + "c" * len(columns) + "}", r"\toprule",
             " & ".join(_tex(h) for h in head) + r" \\", r"\midrule"]
    for r in rows:
        vals = ["failed"] * len(columns) if r.status == "failed" else [fmt(*r.stat(c)) for c in columns]
        lines.append(" & ".join(_tex(x) for x in [r.key[1], r.key[2], r.key[3], r.key[4] or "–", *vals]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[Row], column: str | None, path: Path, title: str = "") -> Path:
    """Horizontal bars of one metric per row, with the seeds' std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, means, stds = [], [], []
    for r in rows:
        m, s, n = r.stat(column) if column else (math.nan, 0.0, 0)
        labels.append(" / ".join(x for x in (r.key[2], r.key[3], r.key[4]) if x) + (" (failed)" if n == 0 else ""))
        means.append(0.0 if n == 0 else m)
        stds.append(0.0 if n == 0 else s)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    ax.barh(range(len(rows)), means, xerr=stds, color="tab:blue", alpha=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(short_metric(column) if column else "no metric")
    ax.set_title(title or "mmml comparison")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120), mode="wb")
    plt.close(fig)
    return path


def headline_metric(challenge: str, family: str, available: Sequence[str]) -> str | None:
    """The metric that the challenge's report (:mod:`mmml.reports`) names in ``HEADLINE`` for ``family``, if
    ``available`` has it; otherwise the first of ``available`` (``None`` if empty)."""
    module = report_module(challenge)
    named = getattr(module, "HEADLINE", None) if module is not None else None
    if isinstance(named, dict):
        named = named.get(family)
    if named in available:
        return named
    return available[0] if available else None


def challenge_extras(records: Sequence[dict[str, Any]], out: Path) -> tuple[list[Path], list[str]]:
    """Plots and notes from each challenge's registered report module (:mod:`mmml.reports`)."""
    plots, notes = [], []
    for challenge in sorted({r.get("challenge") for r in records if r.get("challenge")}):
        module = report_module(challenge)
        if module is None:
            continue
        mine = [r for r in records if r.get("challenge") == challenge]
        try:
            if hasattr(module, "plots"):
                plots += list(module.plots(mine, out))
            if hasattr(module, "notes"):
                text = module.notes(mine)
                if text:
                    notes.append(text)
        except Exception as err:  # a broken plot must not lose the table
            log.warning("%s.report failed: %s", challenge, err)
            notes.append(f"({challenge} report extras failed: {type(err).__name__}: {err})")
    return plots, notes


def build_table(folders: Sequence[str | Path], out: str | Path, metrics: str | None = None,
                title: str = "") -> dict[str, Path]:
    """Read every record under ``folders`` and write ``table.{md,csv,tex,png}`` into ``out``."""
    out = Path(out)
    records = find_records(folders)
    if not records:
        raise FileNotFoundError(f"no result.json under {list(map(str, folders))}; run mmml-run -m ... first")
    rows = aggregate(records)
    columns = metric_columns(rows, metrics)
    headline = columns[0] if columns else None
    extra_plots, notes = challenge_extras(records, out)
    md = to_markdown(rows, columns, title) + skipped_note(records)
    paths = {"png": plot(rows, headline, out / "table.png", title)}
    if extra_plots or notes:
        md += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in extra_plots) + "\n"
        md += "\n" + "\n\n".join(notes) + "\n" if notes else ""
    paths["md"] = atomic_write(out / "table.md", lambda f: f.write(md))
    paths["csv"] = atomic_write(out / "table.csv", lambda f: f.write(to_csv(rows, columns)))
    paths["tex"] = atomic_write(out / "table.tex", lambda f: f.write(to_latex(rows, columns)))
    for i, p in enumerate(extra_plots):
        paths[f"plot{i}"] = p
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``mmml-table DIR... --out OUT``."""
    parser = argparse.ArgumentParser(prog="mmml-table", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="sweep or run folders holding result.json files")
    parser.add_argument("--out", required=True, help="folder for table.md, table.csv, table.tex, table.png")
    parser.add_argument("--metrics", default=None, help="regex selecting metric columns (default: all)")
    parser.add_argument("--title", default="", help="heading of the Markdown table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = build_table(args.folders, args.out, args.metrics, args.title)
    except FileNotFoundError as err:
        parser.exit(2, f"mmml-table: {err}\n")
    print("\n".join(f"wrote {p}" for p in paths.values()))


if __name__ == "__main__":
    main()
