"""A comparison table rendered: Markdown, CSV, LaTeX (booktabs) and a bar plot of one metric, and the Markdown
tables of a challenge report's notes exported as CSV and LaTeX.

Rows come from :mod:`mmml.table_rows`; the best cells (bold) from :func:`mmml.table_rows.best_cells`. Plots are
written as PNG at 300 dpi, PDF and SVG (:func:`mmml.figures.save_figure`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from pathlib import Path

from mmml.columns import COST_HEADS, metric_label
from mmml.figures import save_figure
from mmml.io import atomic_write
from mmml.table_rows import COSTS, DEFAULT_COSTS, KEY, Row, best_cells, short_metric


def fmt(mean: float, std: float, n: int, digits: int = 3) -> str:
    if n == 0 or math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"

def _cost(row: Row, name: str) -> str:
    mean, _, n = row.stat(name, costs=True)
    if n == 0:
        return "–"
    return f"{int(mean):,}" if name == "n_params" else f"{mean:.1f}"

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
