"""Co-learning's extras for ``mmml-table``: learning curves against the labelled fraction, and notes on the gains.

``plots(records, out_dir)`` draws one panel per kind of row (co-training on each data set, helper
transfer, zero-shot, bridging): the headline metric against the labelled fraction, mean ± std over
seeds. ``notes(records)`` states, from the numbers, where co-training and the helper help and where
they do not: the gain of each method over its baseline at each fraction, with the seeds' spread.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmml.io import atomic_write
from mmml.stats import MIN_SEEDS, fmt_p, holm, paired_test, verdict

HEADLINE = {"parallel": "test/clean/acc", "non_parallel": "test/clean/zsl_acc",
            "hybrid": "test/clean/image2text_R@1"}
#: (method, its baseline), by the ``method`` names of the model configs, compared on the same data set;
#: ``"chance"`` is the run's own ``test/clean/chance`` metric.
COMPARISONS = (
    ("co-training (fou+fac)", "supervised (fou+fac)"),
    ("co-training (fou+fac)", "supervised (fou)"),
    ("co-training (6 views)", "supervised (6 views)"),
    ("co-training (image+audio)", "supervised (image+audio)"),
    ("co-training (image+audio)", "supervised (image)"),
    ("helper transfer (coordinated)", "supervised (image net)"),
    ("helper transfer (distill)", "supervised (image net)"),
    ("DeViSE", "chance"),
    ("ConSE", "chance"),
    ("DeViSE", "supervised upper bound"),
    ("ConSE", "supervised upper bound"),
    ("pivot bridge (speech)", "directly paired upper bound"),
)


def fraction_of(record: dict[str, Any]) -> float:
    """The labelled fraction of a run (1.0 when the run did not set one)."""
    value = (record.get("config") or {}).get("labelled_fraction")
    return float(value) if value is not None else 1.0


def _curves(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, dict[float, list[float]]]]:
    """``{(family, dataset): {method: {fraction: [metric per seed]}}}`` of the ok runs."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in records:
        metric = HEADLINE.get(r.get("family") or "")
        value = (r.get("metrics") or {}).get(metric)
        if r.get("status") == "ok" and value is not None:
            neural = "helper" in str(r.get("method")) or "image net" in str(r.get("method"))
            family = "parallel (helper)" if r["family"] == "parallel" and neural else r["family"]
            out[(family, r.get("dataset") or "")][r.get("method") or "?"][fraction_of(r)].append(float(value))
    return out


def plots(records: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """``colearning_curves.png``: headline metric against the labelled fraction, one panel per kind of row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = _curves(records)
    if not curves:
        return []
    panels = sorted(curves)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        family, dataset = key
        for method, by_fraction in sorted(curves[key].items()):
            xs = sorted(by_fraction)
            means = [np.mean(by_fraction[x]) for x in xs]
            stds = [np.std(by_fraction[x], ddof=1) if len(by_fraction[x]) > 1 else 0.0 for x in xs]
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=method)
        chances = [r["metrics"]["test/clean/chance"] for r in records if r.get("family") == family
                   and r.get("status") == "ok" and "test/clean/chance" in (r.get("metrics") or {})]
        if chances:
            ax.axhline(float(np.mean(chances)), color="grey", linestyle="--", linewidth=1, label="chance")
        ax.set_xscale("log")
        ax.set_xlabel("labelled fraction" if family != "hybrid" else "fraction of examples used as pairs")
        ax.set_ylabel(HEADLINE[family.split(" ")[0]].removeprefix("test/clean/"))
        ax.set_title(f"{family} on {dataset}", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = atomic_write(Path(out_dir) / "colearning_curves.png",
                        lambda f: fig.savefig(f, format="png", dpi=120), mode="wb")
    plt.close(fig)
    return [path]


def _by_method(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, float], dict[Any, float]]:
    out: dict = defaultdict(dict)
    for r in records:
        metric = HEADLINE.get(r.get("family") or "")
        value = (r.get("metrics") or {}).get(metric)
        if r.get("status") == "ok" and value is not None:
            out[(str(r.get("method")), str(r.get("dataset")), fraction_of(r))][r.get("seed")] = float(value)
            chance = r["metrics"].get("test/clean/chance")
            if chance is not None:
                out[("chance", str(r.get("dataset")), fraction_of(r))][r.get("seed")] = float(chance)
    return out


def gains(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per comparison and fraction: mean and std over seeds of (method - baseline), seeds paired, with the paired
    t-test's interval and p, Holm's p over every comparison returned, and the verdict word it supports."""
    table = _by_method(records)
    rows = []
    for method, baseline in COMPARISONS:
        for dataset, fraction in sorted({(d, f) for (m, d, f) in table if m == method}):
            a, b = table.get((method, dataset, fraction), {}), table.get((baseline, dataset, fraction), {})
            seeds = sorted(set(a) & set(b), key=str)
            if not seeds:
                continue
            diff = np.array([a[s] - b[s] for s in seeds])
            test = paired_test([a[s] for s in seeds], [b[s] for s in seeds])
            rows.append({"method": method, "baseline": baseline, "dataset": dataset, "fraction": fraction,
                         "n": len(seeds),
                         "method_mean": float(np.mean([a[s] for s in seeds])),
                         "baseline_mean": float(np.mean([b[s] for s in seeds])),
                         "gain": float(diff.mean()), "std": float(diff.std(ddof=1)) if len(diff) > 1 else math.nan,
                         "ci": (test.ci_low, test.ci_high), "p": test.p})
    for row, p_holm in zip(rows, holm([r["p"] for r in rows]), strict=True):  # over the table's comparisons
        row["p_holm"] = p_holm
        row["verdict"] = verdict(row["gain"], p_holm, word="helps", opposite="hurts", n=row["n"])
    return rows


def notes(records: Sequence[dict[str, Any]]) -> str:
    """Markdown: each method's gain over its baseline at each fraction (paired over seeds), with its 95% interval
    and the verdict of a Holm-corrected paired t-test."""
    rows = gains(records)
    if not rows:
        return ""
    lines = ["### Co-learning: gain over the baseline (paired over seeds)", "",
             "| method | baseline | dataset | fraction | method | baseline | gain [95% CI] | Holm p | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["ci"]
        ci = "–" if not math.isfinite(lo) else f"[{lo:+.3f}, {hi:+.3f}]"
        lines.append(f"| {r['method']} | {r['baseline']} | {r['dataset']} | {r['fraction']:g} | "
                     f"{r['method_mean']:.3f} | {r['baseline_mean']:.3f} | {r['gain']:+.3f} {ci} | "
                     f"{fmt_p(r['p_holm'])} | {r['verdict']} |")
    lines += ["", "Verdict: 'helps' / 'hurts' only where a paired t-test over seeds (scipy `ttest_rel`), "
              f"Holm-corrected over the {len(rows)} comparisons of this table, gives p < 0.05 (and at least "
              f"{MIN_SEEDS} seeds); else 'no significant difference'. Headline metrics: " +
              ", ".join(f"{k}: {v.removeprefix('test/clean/')}" for k, v in HEADLINE.items()) + "."]
    return "\n".join(lines)
