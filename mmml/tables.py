"""``mmml-table``: result records -> survey-style comparison tables (Markdown, CSV, LaTeX, PNG).

Reads the records of one or more sweep folders, groups them into rows (:mod:`mmml.table_rows`: challenge ->
family -> method -> dataset -> split protocol -> setting, each metric as mean ± std over distinct seeds, the
best cells and those not significantly different from them bold), renders them (:mod:`mmml.table_formats`:
Markdown, CSV with every metric, LaTeX, a bar plot of the headline, the paper columns of the table's
``table.columns``) and appends what each challenge's registered report module adds (:mod:`mmml.reports`:
``plots(records, out_dir)``, ``notes(records)``, and ``HEADLINE``, one metric name or a dict family -> metric
name: the metric the survey's overview shows for that challenge's methods). The names of the two modules it
uses are importable from here as before.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmml.columns import COST_HEADS, NAMES, direction, metric_label, record_columns, select_columns  # noqa: F401
from mmml.figures import paper_figures, save_figure  # noqa: F401
from mmml.io import atomic_write
from mmml.reports import report_module
from mmml.results import find_records
from mmml.table_formats import (  # noqa: F401 (the names mmml.tables has always offered)
    export_notes_tables,
    fmt,
    legend,
    markdown_tables,
    plot,
    protocol_note,
    tex_label,
    to_csv,
    to_latex,
    to_markdown,
)
from mmml.table_rows import (  # noqa: F401
    COSTS,
    DEFAULT_COSTS,
    KEY,
    PROTOCOL_KEYS,
    Row,
    aggregate,
    best_cells,
    comparable,
    metric_columns,
    protocol_label,
    row_key,
    short_metric,
    tag_protocols,
)

log = logging.getLogger(__name__)


def skipped_note(records: Sequence[dict[str, Any]]) -> str:
    """One line per method and data set whose runs were skipped (their data set was absent)."""
    seen = dict.fromkeys(f"- {r.get('method')} on {r.get('dataset')}: {r.get('error')}" for r in records
                         if r.get("status") == "skipped")
    return ("\nSkipped (data set not available here):\n\n" + "\n".join(seen) + "\n") if seen else ""

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
