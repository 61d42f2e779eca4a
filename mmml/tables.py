"""``mmml-table``: result records -> survey-style comparison tables (Markdown, CSV, LaTeX, PNG).

Rows are grouped challenge -> family -> method -> dataset -> split protocol (:func:`protocol_label`, from
the record's ``protocol``: FSDD's speaker-dependent ``official`` split and the speaker-independent ``speakers``
/ ``logo`` ones are separate rows, never averaged together) (-> any other swept setting), each
metric as mean ± std over distinct seeds (a seed run twice counts once, its runs averaged), plus parameters
and fit time; a failed run shows as a failed row. Columns have readable names (:data:`NAMES`) and the
metric's direction (↑ higher is better, ↓ lower, :func:`direction`); in Markdown and LaTeX the best value of
each comparable group of rows (same challenge, data set, protocol and setting; same direction for translation) is
bold, and so are the values not significantly different from it by a paired t-test over the seeds they
share (p ≥ 0.05, :mod:`mmml.stats`). Plots are written as PNG at 300 dpi, PDF and SVG.
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

from mmml.columns import COST_HEADS, NAMES, direction, metric_label, record_columns, select_columns  # noqa: F401
from mmml.figures import paper_figures, save_figure
from mmml.io import atomic_write
from mmml.reports import report_module
from mmml.results import find_records

log = logging.getLogger(__name__)
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


def _bold_md(text: str) -> str:
    return f"**{text}**" if text not in ("–", "failed") else text


def protocol_note(rows: Sequence[Row]) -> str:
    """A sentence on the speaker protocols among ``rows`` (empty when no row names its speakers)."""
    protocols = {r.key[4] for r in rows}
    if not any("speakers shared" in p or p.startswith(("speakers (", "logo (")) for p in protocols):
        return ""
    return (" Protocol: *official (speakers shared)* rows are speaker-dependent (every speaker in train and test); "
            "*speakers* / *logo* rows test on the named held-out speakers (speaker-independent, "
            "`mmml.data.protocols`); the two are separate rows, compared within their own protocol only.")


def legend(columns: Sequence[str]) -> str:
    """One line naming each column's metric key (as ``short_metric`` and in the CSV)."""
    return "Columns: " + "; ".join(f"{metric_label(c)} = {short_metric(c)} (`{c}`)" for c in columns) + "."


def to_markdown(rows: Sequence[Row], columns: Sequence[str], title: str = "", digits: int = 3,
                bold: set[tuple[int, str]] | None = None, costs: Sequence[str] = DEFAULT_COSTS) -> str:
    """The Markdown table: the rows' names and seeds, each metric of ``columns``, then each cost of ``costs``."""
    head = ["challenge", "family", "method", "dataset", "protocol", "setting", "seeds", *map(metric_label, columns),
            *(COST_HEADS[c] for c in costs)]
    bold = best_cells(rows, columns) if bold is None else bold
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    previous: tuple = ()
    for i, r in enumerate(rows):
        shown = [("" if previous[: j + 1] == r.key[: j + 1] else r.key[j]) for j in range(3)] if previous else \
            list(r.key[:3])
        previous = r.key
        cells = [*shown, r.key[3], r.key[4] or "–", r.key[5] or "–", r.seeds_cell]
        if r.status == "failed":
            cells += ["failed"] * len(columns) + ["–"] * len(costs)
        else:
            vals = [fmt(*r.stat(c), digits=digits) for c in columns]
            cells += [_bold_md(v) if (i, c) in bold else v for v, c in zip(vals, columns, strict=True)]
            cells += [_cost(r, c) for c in costs]
        lines.append("| " + " | ".join(cells) + " |")
    if columns:
        lines += ["", "Mean ± std over distinct seeds. ↑ higher is better, ↓ lower. **Bold**: the best of each data "
                  "set, protocol and setting, and the values not significantly different from it (paired t-test over "
                  "shared seeds, p ≥ 0.05). " + legend(columns) + protocol_note(rows)]
    errors = [(r.key, e) for r in rows for e in r.failed]
    if errors:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {'/'.join(k[:4])} {' '.join(x for x in k[4:] if x)}: {e[:300]}" for k, e in errors]
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
        w.writerow([*r.key, "failed" if r.status == "failed" else "ok", r.n_seeds, *vals, *costs])
    return buf.getvalue()


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("–", "--"), ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"), ("→", r"$\to$")):
        s = s.replace(a, b)
    return s


def tex_label(title: str) -> str:
    """A LaTeX label from a title: ``tab:`` and its words joined by ``-``."""
    return "tab:" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "mmml")


def to_latex(rows: Sequence[Row], columns: Sequence[str], digits: int = 3, caption: str = "", label: str = "",
             bold: set[tuple[int, str]] | None = None, costs: Sequence[str] = ()) -> str:
    """A ``table`` float (booktabs) with caption and label, a column per metric of ``columns`` and per cost of
    ``costs``; the best values bold as in :func:`best_cells`."""
    bold = best_cells(rows, columns) if bold is None else bold
    n_seeds = sorted({r.n_seeds for r in rows if r.status != "failed"})
    seeds = "--".join(map(str, (n_seeds[0], n_seeds[-1]) if len(n_seeds) > 1 else n_seeds)) or "0"
    caption = _tex(caption or "mmml comparison") + (f". Mean $\\pm$ std over {seeds} seeds; $\\uparrow$ higher is "
                                                 "better, $\\downarrow$ lower; bold: best per data set and those "
                                                 "not significantly different from it (paired $t$-test over "
                                                 "seeds, $p \\geq 0.05$).")
    head = ["family", "method", "dataset", "protocol", "setting", "seeds", *map(metric_label, columns),
            *(COST_HEADS[c] for c in costs)]
    lines = [r"\begin{table}[t]", r"\centering", r"\caption{" + caption + "}", r"\label{" + (label or "tab:mmml") + "}",
             r"\begin{tabular}{" + "l" * 6 + "c" * (len(columns) + len(costs)) + "}", r"\toprule",
             " & ".join(_tex(h) for h in head) + r" \\", r"\midrule"]
    for i, r in enumerate(rows):
        cells = [_tex(x) for x in [r.key[1], r.key[2], r.key[3], r.key[4] or "–", r.key[5] or "–", r.seeds_cell]]
        for c in columns:
            v = "failed" if r.status == "failed" else fmt(*r.stat(c), digits=digits)
            cells.append(r"\textbf{" + _tex(v) + "}" if (i, c) in bold and v not in ("–", "failed") else _tex(v))
        cells += [_tex("–" if r.status == "failed" else _cost(r, c)) for c in costs]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[Row], column: str | None, path: Path, title: str = "") -> Path:
    """Horizontal bars of one metric per row, with the seeds' std as error bars (PNG, PDF, SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, means, stds = [], [], []
    for r in rows:
        m, s, n = r.stat(column) if column else (math.nan, 0.0, 0)
        labels.append(" / ".join(x for x in (r.key[2], r.key[3], r.key[4].split(" (")[0], r.key[5]) if x)
                      + (" (failed)" if n == 0 else ""))
        means.append(0.0 if n == 0 else m)
        stds.append(0.0 if n == 0 else s)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    ax.barh(range(len(rows)), means, xerr=stds, color="tab:blue", alpha=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(metric_label(column) if column else "no metric")
    ax.set_title(title or "mmml comparison")
    fig.tight_layout()
    save_figure(fig, path)
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


def challenge_extras(records: Sequence[dict[str, Any]], out: Path,
                     owners: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Plots and notes from each challenge's registered report module (:mod:`mmml.reports`), each held-out-speaker
    protocol as a data set of its own (:func:`tag_protocols`); ``owners``, if given, receives the challenge of
    each note."""
    records = tag_protocols(records)
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
                    if owners is not None:
                        owners.append(challenge)
        except Exception as err:  # a broken plot must not lose the table
            log.warning("%s.report failed: %s", challenge, err)
            notes.append(f"({challenge} report extras failed: {type(err).__name__}: {err})")
            if owners is not None:
                owners.append(challenge)
    return plots, notes


def markdown_tables(text: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """The Markdown tables in ``text`` as ``(caption, header, rows)``; the caption is the heading above the
    table, and the bold line under that heading, if any (e.g. a data set's name).

    Examples:
        >>> markdown_tables("### Robustness\\n\\n| a | b |\\n|---|---:|\\n| 1 | **2** |\\n")
        [('Robustness', ['a', 'b'], [['1', '**2**']])]
    """
    out, section, sub, lines, i = [], "", "", text.splitlines(), 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            section, sub = line.lstrip("#").strip(), ""
        elif line.startswith("**") and line.count("**") >= 2:
            sub = line.split("**")[1].strip()
        caption = " — ".join(x for x in (section, sub) if x)
        is_table = line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?",
                                                                               lines[i + 1].strip())
        if not is_table:
            i += 1
            continue
        header = [c.strip() for c in line.strip("|").split("|")]
        rows, i = [], i + 2
        while i < len(lines) and lines[i].strip().startswith("|"):
            rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
            i += 1
        out.append((caption, header, rows))
    return out


def export_notes_tables(notes: Sequence[str], out: Path, challenges: Sequence[str]) -> dict[str, Path]:
    """Each challenge report's curated Markdown tables as ``<challenge>_table<k>.csv`` and ``.tex`` (captioned,
    labelled ``tab:<challenge>-<k>``); ``**bold**`` becomes ``\\textbf``."""
    paths: dict[str, Path] = {}
    for challenge, text in zip(challenges, notes, strict=True):
        for k, (caption, header, rows) in enumerate(markdown_tables(text), 1):
            stem = f"{challenge}_table{k}"
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(header)
            w.writerows([[c.replace("**", "") for c in r] for r in rows])
            paths[f"{stem}.csv"] = atomic_write(out / f"{stem}.csv", lambda f, b=buf: f.write(b.getvalue()))

            def cell(c: str) -> str:
                return re.sub(r"\*\*(.+?)\*\*", lambda m: r"\textbf{" + m[1] + "}", _tex(c.replace("`", "")))
            tex = [r"\begin{table}[t]", r"\centering", r"\caption{" + _tex(caption or f"{challenge} table {k}") + "}",
                   r"\label{tab:" + f"{challenge}-{k}" + "}", r"\begin{tabular}{" + "l" * len(header) + "}",
                   r"\toprule", " & ".join(map(cell, header)) + r" \\", r"\midrule",
                   *(" & ".join(map(cell, r)) + r" \\" for r in rows), r"\bottomrule", r"\end{tabular}",
                   r"\end{table}"]
            paths[f"{stem}.tex"] = atomic_write(out / f"{stem}.tex", lambda f, t=tex: f.write("\n".join(t) + "\n"))
    return paths


def build_table(folders: Sequence[str | Path], out: str | Path, metrics: str | None = None,
                title: str = "", digits: int = 3, caption: str = "", label: str = "",
                columns: Sequence[str] | None = None) -> dict[str, Path]:
    """Read every record under ``folders`` and write ``table.{md,csv,tex}`` and ``table.{png,pdf,svg}`` into
    ``out``, and each challenge report's own tables as ``<challenge>_table<k>.{csv,tex}``; ``digits`` after the
    decimal point; ``caption`` and ``label`` of the LaTeX table (default: the title, and ``tab:<title>``).

    ``metrics`` (a regex) keeps the metrics whose key it matches, in every file. ``columns`` names the columns
    of the paper table (Markdown, LaTeX, plot; :func:`mmml.columns.select_columns`: metric keys, regexes over
    them, costs), while ``table.csv`` keeps every metric; ``None`` reads the table experiment's
    ``table.columns`` from the records' configs (:func:`mmml.columns.record_columns`), an empty list shows every
    column."""
    if int(digits) < 0:
        raise ValueError(f"digits={digits}; give the number of decimals to show, e.g. 3")
    out = Path(out)
    records = find_records(folders)
    if not records:
        raise FileNotFoundError(f"no result.json under {list(map(str, folders))}; run mmml-run -m ... first")
    rows = aggregate(records)
    every = metric_columns(rows, metrics)
    entries = record_columns(records) if columns is None else list(columns)
    columns, costs = select_columns(every, entries) if entries else (every, None)
    headline = columns[0] if columns else None
    owners: list[str] = []
    with paper_figures():
        extra_plots, notes = challenge_extras(records, out, owners)
    bold = best_cells(rows, columns)
    md = to_markdown(rows, columns, title, digits, bold, DEFAULT_COSTS if costs is None else costs)
    if costs is not None:
        md += (f"\nPaper columns: {len(columns)} of {len(every)} metrics (the table experiment's `table.columns`, or "
               "mmml-table --columns); table.csv has every one.\n")
    md += skipped_note(records)
    paths = {"png": plot(rows, headline, out / "table.png", title)}
    paths["pdf"], paths["svg"] = out / "table.pdf", out / "table.svg"
    if extra_plots or notes:
        md += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in extra_plots) + "\n"
        md += "\n" + "\n\n".join(notes) + "\n" if notes else ""
    paths["md"] = atomic_write(out / "table.md", lambda f: f.write(md))
    paths["csv"] = atomic_write(out / "table.csv", lambda f: f.write(to_csv(rows, every)))
    tex = to_latex(rows, columns, digits, caption or title, label or tex_label(title or "mmml"), bold, costs or ())
    paths["tex"] = atomic_write(out / "table.tex", lambda f: f.write(tex))
    paths.update(export_notes_tables(notes, out, owners))
    for i, p in enumerate(extra_plots):
        paths[f"plot{i}"] = p
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``mmml-table DIR... --out OUT``."""
    parser = argparse.ArgumentParser(prog="mmml-table", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="sweep or run folders holding result.json files")
    parser.add_argument("--out", required=True, help="folder for table.md/.csv/.tex and table.png/.pdf/.svg")
    parser.add_argument("--metrics", default=None, help="regex selecting metric columns (default: all)")
    parser.add_argument("--columns", action="append", default=None, metavar="ENTRY",
                        help="a column of the paper table (table.md/.tex/.png): a metric key, a regex matching "
                             "whole keys, or a cost (n_params, fit_seconds, ...); repeat for more, in order; 'all' "
                             "for every column (default: the table experiment's table.columns, read from the "
                             "records; table.csv keeps every metric)")
    parser.add_argument("--title", default="", help="heading of the Markdown table")
    parser.add_argument("--digits", type=int, default=3, help="decimals shown in the Markdown and LaTeX tables")
    parser.add_argument("--caption", default="", help="caption of the LaTeX table (default: the title)")
    parser.add_argument("--label", default="", help="label of the LaTeX table (default: tab:<title>)")
    args = parser.parse_args(argv)
    if args.digits < 0:
        parser.error(f"--digits {args.digits}: give the number of decimals to show, e.g. --digits 3")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    columns = [] if args.columns and "all" in args.columns else args.columns
    try:
        paths = build_table(args.folders, args.out, args.metrics, args.title, args.digits, args.caption, args.label,
                            columns)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"mmml-table: {err}\n")
    print("\n".join(f"wrote {p}" for p in paths.values()))


if __name__ == "__main__":
    main()
