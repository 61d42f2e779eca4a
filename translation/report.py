"""Translation extras for ``mmml-table``: a directions x methods table, the evaluation dilemma, example outputs.

``notes(records)`` returns Markdown: per data set, one row per (direction, method) with every metric as
mean ± std over seeds; then, across methods, the Spearman rank correlation of each automatic metric with
exact match (:func:`mmml.translation.evaluation.metric_agreement`), per direction and over all rows; then a
few translations per method (read from each run's ``translations.json``). ``plots(records, out)`` draws
BLEU, chrF and WER against exact match, one point per (direction, method, data set).

Examples:
    >>> rec = {"status": "ok", "dataset": "digit_sequences", "method": "nearest (captioning)", "seed": 0,
    ...        "config": {"model": {"net": {"direction": "captioning"}}},
    ...        "metrics": {"test/clean/exact": 0.5, "test/clean/wer": 0.25}}
    >>> table = notes([rec, {**rec, "seed": 1, "metrics": {"test/clean/exact": 0.7, "test/clean/wer": 0.15}}])
    >>> print(table.splitlines()[4])
    | digit_sequences | captioning | nearest | 0.600 ± 0.141 | – | – | 0.200 ± 0.071 | – | – | – | – | – |

    ``notes(mmml.results.find_records(["multirun/..."]))`` reads the records of a sweep.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from mmml.translation.evaluation import metric_agreement

from mmml.io import atomic_write

METRICS = ("exact", "bleu", "chrf", "wer", "cer", "cider", "mel_dtw", "judge_exact", "truncated")
#: the survey overview's metric (lower is better; it agrees best with exact match, see the notes)
HEADLINE = "test/clean/wer"


def _direction(rec: dict[str, Any]) -> str:
    net = ((rec.get("config") or {}).get("model") or {}).get("net") or {}
    return str(net.get("direction", "?"))


def _method(rec: dict[str, Any]) -> str:
    return str(rec.get("method") or "?").split(" (")[0]


def summarise(records: list[dict[str, Any]], condition: str = "clean") -> dict[tuple[str, str, str], dict]:
    """``{(dataset, direction, method): {metric: [values over seeds]}}`` of the ok records."""
    rows: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        if rec.get("status") != "ok":
            continue
        key = (str(rec.get("dataset")), _direction(rec), _method(rec))
        for name in METRICS:
            value = (rec.get("metrics") or {}).get(f"test/{condition}/{name}")
            if isinstance(value, (int, float)) and math.isfinite(value):
                rows[key][name].append(float(value))
    return rows


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    arr = np.asarray(values)
    return f"{arr.mean():.3f} ± {arr.std(ddof=1):.3f}" if len(arr) > 1 else f"{arr.mean():.3f}"


def _examples(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, str]]]:
    out = {}
    for rec in sorted(records, key=lambda r: str(r.get("seed"))):
        key = (str(rec.get("dataset")), _direction(rec), _method(rec))
        path = Path(str(rec.get("path", ""))).parent / "translations.json"
        if key not in out and rec.get("status") == "ok" and path.is_file():
            out[key] = json.loads(path.read_text()).get("clean", [])
    return out


def notes(records: list[dict[str, Any]]) -> str:
    """Markdown: the directions x methods table, the metric/exact-match agreement, example translations."""
    rows = summarise(records)
    if not rows:
        return ""
    lines = ["### Translation: directions × methods (clean test split, mean ± std over seeds)", ""]
    head = ["data set", "direction", "method", *METRICS]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in sorted(rows):
        lines.append("| " + " | ".join([*key, *(_cell(rows[key].get(m, [])) for m in METRICS)]) + " |")
    lines += ["", "### The evaluation dilemma: Spearman rank correlation with exact match across methods", "",
              "Lower-is-better metrics (WER, CER, mel DTW) are negated first, so 1 means the metric ranks the "
              "methods exactly as exact match does; `–` where fewer than 3 methods or a constant column.", ""]
    groups: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (dataset, direction, method), vals in rows.items():
        means = {m: float(np.mean(v)) for m, v in vals.items() if v}
        groups[f"{direction} ({dataset})"][method] = means
        groups["all rows"][f"{dataset}/{direction}/{method}"] = means
    names = [m for m in METRICS if m not in ("exact", "truncated", "judge_exact")]  # judge_exact: the judge's
    lines += ["| rows | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for group in sorted(groups, key=lambda g: (g == "all rows", g)):
        rho = metric_agreement(groups[group])
        cells = ["–" if not math.isfinite(rho.get(n, math.nan)) else f"{rho[n]:.2f}" for n in names]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    examples = _examples(records)
    if examples:
        lines += ["", "### Example translations (seed 0, first test strings)", ""]
        for key in sorted(examples):
            shown = "; ".join(f"`{e['translation'] or '∅'}` (ref `{e['reference']}`)" for e in examples[key][:3])
            lines.append(f"- {key[1]} / {key[2]} ({key[0]}): {shown}")
    return "\n".join(lines) + "\n"


def plots(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """``translation_dilemma.png``: BLEU, chrF and WER against exact match, one point per row."""
    rows = summarise(records)
    if not rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    directions = sorted({k[1] for k in rows})
    colours = {d: plt.cm.tab10(i) for i, d in enumerate(directions)}
    for ax, metric in zip(axes, ("bleu", "chrf", "wer"), strict=True):
        for key, vals in rows.items():
            if vals.get(metric) and vals.get("exact"):
                ax.scatter(np.mean(vals["exact"]), np.mean(vals[metric]), color=colours[key[1]],
                           marker="o" if "fsdd" not in key[0] else "^", label=key[1])
        ax.set_xlabel("exact match")
        ax.set_ylabel(metric)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), loc="upper center", ncol=len(unique), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    path = Path(out_dir) / "translation_dilemma.png"
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), mode="wb")
    plt.close(fig)
    return [path]
