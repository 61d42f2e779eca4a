"""The fusion table's extras for ``mmml-table``: robustness curves and a robustness / cost table.

``notes(records)`` returns Markdown: per method and data set (mean ± std over seeds) clean accuracy and
macro-F1, accuracy with a modality missing (mean over modalities), relative and effective robustness
(:mod:`mmml.robustness`, against ``late_mean`` of the same records), parameters, fit time, inference
throughput and peak memory; then, per data set, the best fused method against the best single-view one.
Single-view rows are family ``unimodal`` (one network or one per-view SVM per view) and the methods of
:data:`SINGLE_VIEW`, which end up using one view (``mkl_best`` keeps one kernel): they are labelled
*[single view]* and never counted as fused.
``plots(records, out_dir)`` draws accuracy against noise level, one panel per modality, one line per method;
records without a noise condition (only clean, or a modality missing) get no figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmml.io import atomic_write
from mmml.robustness import BASELINE, curve, modalities_of_record, robustness_rows

FAMILIES = ("unimodal", "model_agnostic", "neural", "kernel", "graphical")
#: the survey overview's metric
HEADLINE = "test/clean/acc"
#: methods outside family ``unimodal`` that end up using one view: baselines, not fusion (issue 14)
SINGLE_VIEW = ("mkl_best",)


def is_single_view(family: str, method: str) -> bool:
    """Whether a row uses one view: family ``unimodal`` or a method of :data:`SINGLE_VIEW`."""
    return family == "unimodal" or method in SINGLE_VIEW


def _order(key: tuple) -> tuple:
    family = key[0]
    return (FAMILIES.index(family) if family in FAMILIES else len(FAMILIES), *key)


def _fmt(values: Sequence[float], digits: int = 3) -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"


def summary(records: Sequence[dict[str, Any]], baseline: str = BASELINE) -> dict[tuple, dict[str, list[float]]]:
    """Per ``(family, method, dataset)``: lists over seeds of every column of the notes table."""
    ok = [r for r in records if r.get("status") == "ok"]
    per_record: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in robustness_rows(ok, baseline):
        key = id(next(r for r in ok if all(r.get(k) == row[k] for k in ("method", "dataset", "seed", "setting"))))
        for col in ("missing", "relative", "effective"):
            per_record[key][col].append(row[col])
    out: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in ok:
        cols = out[(r.get("family") or "", r.get("method") or "", r.get("dataset") or "")]
        m = r.get("metrics") or {}
        cols["acc"].append(m.get("test/clean/acc", math.nan))
        cols["f1"].append(m.get("test/clean/f1", math.nan))
        for col, vals in per_record[id(r)].items():
            cols[col].append(float(np.nanmean(vals)) if not all(math.isnan(v) for v in vals) else math.nan)
        cols["params"].append(float(r.get("n_params") or 0))
        cols["fit_s"].append(float(r.get("fit_seconds") or math.nan))
        tests, secs = r.get("test_examples"), r.get("test_seconds")
        cols["throughput"].append(tests / secs if tests and secs else math.nan)
        cols["memory"].append(float(r.get("peak_memory_mb") or math.nan))
    return out


def notes(records: Sequence[dict[str, Any]]) -> str:
    """Markdown robustness / cost table and the best-fused-versus-best-unimodal check."""
    table = summary(records)
    if not table:
        return ""
    head = ["family", "method", "dataset", "clean acc", "clean F1", "missing acc", "rel. robustness",
            f"eff. robustness (vs {BASELINE})", "params", "fit s", "test samples/s", "peak MB"]
    lines = ["### Fusion: robustness and costs", "",
             "Mean ± std over seeds. *missing acc*: accuracy with one modality absent, averaged over modalities; "
             "*rel. robustness*: area under accuracy vs noise level 0–1 on one modality, averaged over "
             f"modalities; *eff. robustness*: the same area minus {BASELINE}'s curve shifted to the method's "
             "clean accuracy (same sweep, same seed); costs: parameters, fit time, inference throughput over "
             "every test condition, peak memory of the process (RSS on CPU, allocated on GPU).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in sorted(table, key=_order):
        c = table[key]
        params = f"{int(np.nanmean(c['params'])):,}"
        family, method, dataset = key
        label = f"{method} [single view]" if family != "unimodal" and is_single_view(family, method) else method
        cells = [family, label, dataset, _fmt(c["acc"]), _fmt(c["f1"]), _fmt(c["missing"]), _fmt(c["relative"]),
                 _fmt(c["effective"]), params, _fmt(c["fit_s"], 1), _fmt(c["throughput"], 0), _fmt(c["memory"], 0)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *best_versus_unimodal(table, records)]
    return "\n".join(lines) + "\n"


def best_versus_unimodal(table: dict[tuple, dict[str, list[float]]],
                         records: Sequence[dict[str, Any]] = ()) -> list[str]:
    """Per data set: the highest fused and single-view clean accuracies (single-view: :func:`is_single_view`, so
    ``mkl_best`` is on the single-view side), described without a verdict (both maxima are picked on test),
    then the verdict of the paired test of :mod:`mmml.claims` (each side's best chosen on validation, paired t
    over seeds, Holm-corrected) when ``records`` are given."""
    from mmml.claims import evaluate_claims

    out = []
    for dataset in sorted({k[2] for k in table}):
        rows = {k: v for k, v in table.items() if k[2] == dataset}
        uni, fused = _accuracies(rows, single=True), _accuracies(rows, single=False)
        if not uni or not fused:
            continue
        bu, bf = max(uni), max(fused)
        out.append(f"- {dataset}: highest fused {bf[2]} {bf[0]:.3f} ± {bf[1]:.3f} (max of {len(fused)} fused), highest "
                   f"single view {bu[2]} {bu[0]:.3f} ± {bu[1]:.3f} (max of {len(uni)} single-view): difference "
                   f"{bf[0] - bu[0]:+.3f} (both maxima picked on test: a description, not a verdict).")
    for row in evaluate_claims(records, only=("fusion_vs_single",)) if records else []:
        if row.test is not None and row.test.n < 2:
            out.append(f"- {row.dataset}: one seed, so no paired test (run more seeds for a verdict).")
        elif row.test is not None:
            out.append(f"- {row.dataset}, paired test (each side's best chosen as the claims choose it): "
                       f"{row.verdict} — {row.numbers()}.")
    return out


def _accuracies(rows: dict[tuple, dict[str, list[float]]], single: bool) -> list[tuple[float, float, str]]:
    """``(mean, std, method)`` of the clean accuracy of the single-view (or the fused) rows."""
    return [(float(np.mean(v["acc"])), float(np.std(v["acc"], ddof=1)) if len(v["acc"]) > 1 else 0.0, k[1])
            for k, v in rows.items() if is_single_view(k[0], k[1]) == single]


def _mean_curves(records: Sequence[dict[str, Any]], modality: str,
                 methods: Sequence[tuple[str, str]]) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(family, method, levels, mean accuracy)`` of each method whose records have the same noise levels on
    ``modality``; a method without a curve there (no noise condition, or levels differing by seed) is left out."""
    out = []
    for family, method in methods:
        curves = [curve(r.get("metrics") or {}, modality) for r in records if r.get("method") == method]
        curves = [c for c in curves if len(c[0])]
        if curves and all(c[0].shape == curves[0][0].shape and np.allclose(c[0], curves[0][0]) for c in curves):
            out.append((family, method, curves[0][0], np.mean([c[1] for c in curves], 0)))
    return out


def plots(records: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """``fusion_robustness_<dataset>.png``: accuracy vs noise level per modality, one line per method; a data
    set whose records have no noise condition (only clean, or only a modality missing) gets no figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    ok = [r for r in records if r.get("status") == "ok"]
    paths = []
    for dataset in sorted({r.get("dataset") for r in ok if r.get("dataset")}):
        mine = [r for r in ok if r.get("dataset") == dataset]
        methods = sorted({(r.get("family") or "", r.get("method") or "") for r in mine}, key=_order)
        panels = {m: _mean_curves(mine, m, methods) for m in dict.fromkeys(
            m for r in mine for m in modalities_of_record(r))}
        panels = {m: lines for m, lines in panels.items() if lines}
        if not panels:
            continue
        cols = min(3, len(panels))
        rows_n = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.2 * rows_n + 0.8), squeeze=False)
        cmap = plt.get_cmap("tab20")
        colour = {method: cmap(j % 20) for j, (_, method) in enumerate(methods)}
        legend: dict[str, Any] = {}
        for i, (m, lines) in enumerate(panels.items()):
            ax = axes[i // cols][i % cols]
            for family, method, levels, mean in lines:
                style = "--" if family == "unimodal" else ("-" if method != BASELINE else "-.")
                (line,) = ax.plot(levels, mean, style, color=colour[method], label=method, lw=1.3)
                legend.setdefault(method, line)
            ax.set_title(f"noise on {m}", fontsize=9)
            ax.set_xlabel("noise level")
            ax.set_ylabel("accuracy")
            ax.set_ylim(0, 1)
        for k in range(len(panels), rows_n * cols):
            axes[k // cols][k % cols].axis("off")
        fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(6, len(legend)), fontsize=7)
        fig.suptitle(f"fusion robustness on {dataset} (mean over seeds)", fontsize=10)
        fig.tight_layout(rect=(0, 0.12 if rows_n == 1 else 0.07, 1, 1))
        path = out_dir / f"fusion_robustness_{dataset}.png"
        atomic_write(path, lambda f, fig=fig: fig.savefig(f, format="png", dpi=110), mode="wb")
        plt.close(fig)
        paths.append(path)
    return paths
