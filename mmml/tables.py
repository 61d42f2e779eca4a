"""``mmml-table``: result records -> survey-style comparison tables (Markdown, CSV, LaTeX, PNG).

Rows are grouped challenge -> family -> method -> dataset (-> any other swept setting), each
metric as mean ± std over distinct seeds (a seed run twice counts once, its runs averaged), plus parameters
and fit time; a failed run shows as a failed row. Columns have readable names (:data:`NAMES`) and the
metric's direction (↑ higher is better, ↓ lower, :func:`direction`); in Markdown and LaTeX the best value of
each comparable group of rows (same challenge, data set and setting; same direction for translation) is
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
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from contextlib import contextmanager
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


def _seed_key(seed: Any) -> Any:
    return seed if not isinstance(seed, list) else tuple(seed)


#: readable metric names (the last part of a metric key); keys not listed are shown with spaces for "_"
NAMES = {
    "acc": "accuracy", "f1": "macro-F1", "f1_micro": "micro-F1", "f1_macro": "macro-F1", "mae": "MAE",
    "corr": "Pearson r", "acc2": "binary accuracy", "acc7": "7-class accuracy", "probe_all": "probe (all modalities)",
    "arith": "embedding arithmetic", "exact": "exact match", "bleu": "BLEU", "chrf": "chrF", "wer": "WER",
    "cer": "CER", "cider": "CIDEr-D", "mel_dtw": "mel DTW distance", "judge_exact": "judge exact (real speech)",
    "truncated": "truncated", "boundary_mae_ms": "boundary error (ms)", "within_20ms": "within 20 ms",
    "within_50ms": "within 50 ms", "frame_accuracy": "frame accuracy", "ms_per_pair": "ms per pair",
    "zsl_acc": "zero-shot accuracy", "zeroshot_acc": "zero-shot accuracy", "chance": "chance",
    "zeroshot_single_acc": "zero-shot accuracy (one prompt)", "probe_acc": "linear-probe accuracy",
    "loss": "loss",
}
#: metric names (last part of a key) where lower is better; ``*_medr`` (median rank) too
LOWER_IS_BETTER = ("wer", "cer", "mel_dtw", "truncated", "boundary_mae_ms", "ms_per_pair", "mae", "loss", "medr")
#: names that are not a score (a chosen regularisation constant, chance, interval bounds): no arrow, never bold
NO_DIRECTION = re.compile(r"(^|_)C$|^chance$|_ci_(low|high)$")


def direction(metric: str) -> str:
    """``"↑"`` (higher is better), ``"↓"`` (lower) or ``""`` (not a score) for a metric key or name.

    Examples:
        >>> direction("test/clean/acc"), direction("test/clean/wer"), direction("test/clean/image2audio_medr")
        ('↑', '↓', '↓')
        >>> direction("test/clean/probe_C")
        ''
    """
    name = metric.rsplit("/", 1)[-1]
    if NO_DIRECTION.search(name):
        return ""
    return "↓" if name in LOWER_IS_BETTER or name.endswith("_medr") else "↑"


def _condition_label(condition: str) -> str:
    m = re.fullmatch(r"(.+)_noise([0-9.]+)", condition)
    if m:
        return f"{m[1]} noise {m[2]}"
    if condition.endswith("_drop"):
        return f"{condition.removesuffix('_drop')} missing"
    return condition.replace("_", " ")


def metric_label(metric: str, arrow: bool = True) -> str:
    """A readable column name for a metric key, with its direction.

    Examples:
        >>> metric_label("test/clean/acc"), metric_label("test/audio_drop/acc"), metric_label("test/clean/wer")
        ('accuracy ↑', 'audio missing: accuracy ↑', 'WER ↓')
        >>> metric_label("test/clean/image2audio_R@1"), metric_label("test/image_noise0.5/f1", arrow=False)
        ('image→audio R@1 ↑', 'image noise 0.5: macro-F1')
    """
    parts = metric.split("/")
    split = parts[0] if len(parts) > 1 and parts[0] in ("test", "val") else "test"
    rest = parts[1:] if parts[0] in ("test", "val") else parts
    condition, name = (rest[0], "/".join(rest[1:])) if len(rest) > 1 else ("clean", rest[0])
    text = NAMES.get(name)
    if text is None:
        retrieval = re.fullmatch(r"([a-z]+)2([a-z]+)_(R@\d+|medr|class_R@\d+)", name)
        if retrieval:
            what = retrieval[3].replace("medr", "median rank").replace("class_", "class ")
            text = f"{retrieval[1]}→{retrieval[2]} {what}"
        elif name.startswith("probe_"):
            text = f"probe ({name.removeprefix('probe_').replace('_', ' ')})"
        elif name.startswith("missing_"):
            text = f"probe, {name.removeprefix('missing_').replace('_', ' ')} missing"
        else:
            text = name.replace("_", " ")
    cond = _condition_label(condition) if condition != "clean" else ""
    text = (f"{cond}: {text}" if cond else text)
    text = ("val " + text) if split == "val" else text
    sign = direction(metric) if arrow else ""
    return f"{text} {sign}" if sign else text


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
        seed = _seed_key(rec.get("seed")) if rec.get("seed") is not None else ("record", len(row.seeds))
        row.seeds.append(seed)
        for k, v in (rec.get("metrics") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row.per_seed[k][seed].append(float(v))
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
    """The rows a best value is picked among: same challenge, data set and setting, and for translation the
    same direction (the ``(captioning)`` of its method names)."""
    challenge, _, method, dataset, setting = key
    within = re.search(r"\(([^()]*)\)$", method) if challenge == "translation" else None
    return challenge, dataset, setting, within[1] if within else ""


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


def legend(columns: Sequence[str]) -> str:
    """One line naming each column's metric key (as ``short_metric`` and in the CSV)."""
    return "Columns: " + "; ".join(f"{metric_label(c)} = {short_metric(c)} (`{c}`)" for c in columns) + "."


def to_markdown(rows: Sequence[Row], columns: Sequence[str], title: str = "", digits: int = 3,
                bold: set[tuple[int, str]] | None = None) -> str:
    head = ["challenge", "family", "method", "dataset", "setting", "seeds", *map(metric_label, columns),
            "params", "fit s"]
    bold = best_cells(rows, columns) if bold is None else bold
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    previous: tuple = ()
    for i, r in enumerate(rows):
        shown = [("" if previous[: j + 1] == r.key[: j + 1] else r.key[j]) for j in range(3)] if previous else \
            list(r.key[:3])
        previous = r.key
        cells = [*shown, r.key[3], r.key[4] or "–", r.seeds_cell]
        if r.status == "failed":
            cells += ["failed"] * len(columns) + ["–", "–"]
        else:
            vals = [fmt(*r.stat(c), digits=digits) for c in columns]
            cells += [_bold_md(v) if (i, c) in bold else v for v, c in zip(vals, columns, strict=True)]
            cells += [_cost(r, "n_params"), _cost(r, "fit_seconds")]
        lines.append("| " + " | ".join(cells) + " |")
    if columns:
        lines += ["", "Mean ± std over distinct seeds. ↑ higher is better, ↓ lower. **Bold**: the best of each data "
                  "set and setting, and the values not significantly different from it (paired t-test over shared "
                  "seeds, p ≥ 0.05). " + legend(columns)]
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
             bold: set[tuple[int, str]] | None = None) -> str:
    """A ``table`` float (booktabs) with caption and label; the best values bold as in :func:`best_cells`."""
    bold = best_cells(rows, columns) if bold is None else bold
    n_seeds = sorted({r.n_seeds for r in rows if r.status != "failed"})
    seeds = "--".join(map(str, (n_seeds[0], n_seeds[-1]) if len(n_seeds) > 1 else n_seeds)) or "0"
    caption = _tex(caption or "mmml comparison") + (f". Mean $\\pm$ std over {seeds} seeds; $\\uparrow$ higher is "
                                                 "better, $\\downarrow$ lower; bold: best per data set and those "
                                                 "not significantly different from it (paired $t$-test over "
                                                 "seeds, $p \\geq 0.05$).")
    head = ["family", "method", "dataset", "setting", "seeds", *map(metric_label, columns)]
    lines = [r"\begin{table}[t]", r"\centering", r"\caption{" + caption + "}", r"\label{" + (label or "tab:mmml") + "}",
             r"\begin{tabular}{" + "l" * 5 + "c" * len(columns) + "}", r"\toprule",
             " & ".join(_tex(h) for h in head) + r" \\", r"\midrule"]
    for i, r in enumerate(rows):
        cells = [_tex(x) for x in [r.key[1], r.key[2], r.key[3], r.key[4] or "–", r.seeds_cell]]
        for c in columns:
            v = "failed" if r.status == "failed" else fmt(*r.stat(c), digits=digits)
            cells.append(r"\textbf{" + _tex(v) + "}" if (i, c) in bold and v not in ("–", "failed") else _tex(v))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


#: formats every figure is saved in (PNG at :data:`DPI`)
FIGURE_FORMATS = ("png", "pdf", "svg")
DPI = 300


def save_figure(fig: Any, path: str | Path) -> list[Path]:
    """Save ``fig`` as ``path`` (PNG, :data:`DPI` dpi) and beside it as PDF and SVG, atomically."""
    path = Path(path)
    out = []
    for ext in FIGURE_FORMATS:
        target = path.with_suffix(f".{ext}")
        out.append(atomic_write(target, lambda f, ext=ext: _savefig(fig, f, format=ext, dpi=DPI), mode="wb"))
    return out


_ORIGINAL_SAVEFIG: list = []


def _savefig(fig: Any, *args: Any, **kwargs: Any) -> Any:
    from matplotlib.figure import Figure

    original = _ORIGINAL_SAVEFIG[0] if _ORIGINAL_SAVEFIG else Figure.savefig
    return original(fig, *args, **kwargs)


def _file_path(fileobj: Any) -> str | None:
    """The path of an open file (its ``name``, or on Linux the target of ``/proc/self/fd/<fd>``), if known."""
    name = getattr(fileobj, "name", None)
    if isinstance(name, str):
        return name
    try:
        return os.readlink(f"/proc/self/fd/{fileobj.fileno()}")
    except (OSError, AttributeError, ValueError):
        return None


@contextmanager
def paper_figures():
    """While active, every PNG a report saves with ``Figure.savefig`` is written at :data:`DPI` dpi and also as
    PDF and SVG beside it (the challenges' ``plots`` save PNGs of their own)."""
    from matplotlib.figure import Figure

    original = Figure.savefig

    def savefig(fig, fname, *args, **kwargs):
        fmt_ = kwargs.get("format") or (Path(str(fname)).suffix.lstrip(".") if isinstance(fname, (str, Path))
                                         else "png")
        if fmt_ != "png":
            return original(fig, fname, *args, **kwargs)
        kwargs["dpi"] = DPI
        result = original(fig, fname, *args, **kwargs)
        name = fname if isinstance(fname, (str, Path)) else _file_path(fname)
        if isinstance(name, (str, Path)):
            target = Path(name)
            m = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", target.name)  # mmml.io.atomic_write's temporary file
            target = target.with_name(m[1]) if m else target
            for ext in FIGURE_FORMATS[1:]:
                kw = {k: v for k, v in kwargs.items() if k != "format"}
                atomic_write(target.with_suffix(f".{ext}"),
                             lambda f, ext=ext, kw=kw: original(fig, f, *args, format=ext, **kw), mode="wb")
        return result

    _ORIGINAL_SAVEFIG.insert(0, original)
    Figure.savefig = savefig
    try:
        yield
    finally:
        Figure.savefig = original
        _ORIGINAL_SAVEFIG.pop(0)


def plot(rows: Sequence[Row], column: str | None, path: Path, title: str = "") -> Path:
    """Horizontal bars of one metric per row, with the seeds' std as error bars (PNG, PDF, SVG)."""
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
                title: str = "", digits: int = 3, caption: str = "", label: str = "") -> dict[str, Path]:
    """Read every record under ``folders`` and write ``table.{md,csv,tex}`` and ``table.{png,pdf,svg}`` into
    ``out``; ``digits`` after the decimal point; ``caption`` and ``label`` of the LaTeX table (default: the
    title, and ``tab:<title>``)."""
    if int(digits) < 0:
        raise ValueError(f"digits={digits}; give the number of decimals to show, e.g. 3")
    out = Path(out)
    records = find_records(folders)
    if not records:
        raise FileNotFoundError(f"no result.json under {list(map(str, folders))}; run mmml-run -m ... first")
    rows = aggregate(records)
    columns = metric_columns(rows, metrics)
    headline = columns[0] if columns else None
    with paper_figures():
        extra_plots, notes = challenge_extras(records, out)
    bold = best_cells(rows, columns)
    md = to_markdown(rows, columns, title, digits, bold) + skipped_note(records)
    paths = {"png": plot(rows, headline, out / "table.png", title)}
    paths["pdf"], paths["svg"] = out / "table.pdf", out / "table.svg"
    if extra_plots or notes:
        md += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in extra_plots) + "\n"
        md += "\n" + "\n\n".join(notes) + "\n" if notes else ""
    paths["md"] = atomic_write(out / "table.md", lambda f: f.write(md))
    paths["csv"] = atomic_write(out / "table.csv", lambda f: f.write(to_csv(rows, columns)))
    tex = to_latex(rows, columns, digits, caption or title, label or tex_label(title or "mmml"), bold)
    paths["tex"] = atomic_write(out / "table.tex", lambda f: f.write(tex))
    for i, p in enumerate(extra_plots):
        paths[f"plot{i}"] = p
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``mmml-table DIR... --out OUT``."""
    parser = argparse.ArgumentParser(prog="mmml-table", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="sweep or run folders holding result.json files")
    parser.add_argument("--out", required=True, help="folder for table.md/.csv/.tex and table.png/.pdf/.svg")
    parser.add_argument("--metrics", default=None, help="regex selecting metric columns (default: all)")
    parser.add_argument("--title", default="", help="heading of the Markdown table")
    parser.add_argument("--digits", type=int, default=3, help="decimals shown in the Markdown and LaTeX tables")
    parser.add_argument("--caption", default="", help="caption of the LaTeX table (default: the title)")
    parser.add_argument("--label", default="", help="label of the LaTeX table (default: tab:<title>)")
    args = parser.parse_args(argv)
    if args.digits < 0:
        parser.error(f"--digits {args.digits}: give the number of decimals to show, e.g. --digits 3")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = build_table(args.folders, args.out, args.metrics, args.title, args.digits, args.caption, args.label)
    except FileNotFoundError as err:
        parser.exit(2, f"mmml-table: {err}\n")
    print("\n".join(f"wrote {p}" for p in paths.values()))


if __name__ == "__main__":
    main()
