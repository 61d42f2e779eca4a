"""The CLIP table's extras for ``mmml-table`` and ``mmml-survey`` (registered as challenge ``clip``).

``notes(records)``, per data set: zero-shot accuracy on the clean test set (mean over seeds and its 95%
t-interval; chance), each CLIP row against the supervised model (paired over seeds, ``scipy.stats.ttest_rel``
and ``wilcoxon``, Holm's correction over the CLIP rows), and effective robustness (Taori et al. 2020,
:mod:`mmml.representation.robustness_fit`): per seed, a logit-linear fit of the mean shifted accuracy on
the clean accuracy over the baseline models (the supervised model and every linear and few-shot probe of
that seed), and each zero-shot model's distance above it, tested against 0 (paired: its shifted accuracy
against the line's prediction). A verdict word appears only where the corrected test supports it.
``plots(records, out_dir)``: shifted against clean accuracy on logit axes, in the style of CLIP's Fig. 13.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mmml.representation.robustness_fit import effective_robustness, logit_fit, predicted_shift
from scipy import stats

from mmml.io import atomic_write

#: the survey overview's metric, per family
HEADLINE = {"contrastive": "test/clean/zeroshot_acc", "supervised": "test/clean/acc"}
PROBES = ("probe", "fewshot1", "fewshot4", "fewshot16")
ALPHA = 0.05


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input's order; a NaN (no test) stays NaN and
    does not count among the tests.

    Examples:
        >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    running = 0.0
    for rank, i in enumerate(tested[np.argsort(p[tested])]):
        running = max(running, min(1.0, (len(tested) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _shifts(metrics: dict[str, float]) -> list[str]:
    return sorted({k.split("/")[1] for k in metrics if k.startswith("test/")} - {"clean"})


def points(records: Sequence[dict[str, Any]]) -> dict[str, dict[int, dict[str, tuple[float, float]]]]:
    """``{dataset: {seed: {model: (clean acc, mean shifted acc)}}}``; models ``supervised``,
    ``<row>:<probe>`` and ``<row>:zeroshot`` (a CLIP row's zero-shot classifier)."""
    out: dict[str, dict[int, dict[str, tuple[float, float]]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if r.get("status") != "ok" or r.get("challenge") != "clip":
            continue
        m, seed, data = r.get("metrics") or {}, int(r.get("seed") or 0), r.get("dataset")
        shifts = _shifts(m)
        names = {"supervised": "acc"} if r.get("family") == "supervised" else {
            f"{r['method']}:{p}": f"{p}_acc" for p in ("zeroshot", *PROBES)}
        for model, metric in names.items():
            clean = m.get(f"test/clean/{metric}")
            shifted = [m.get(f"test/{s}/{metric}") for s in shifts]
            if clean is not None and shifted and None not in shifted:
                out[data][seed][model] = (float(clean), float(np.mean(shifted)))
    return out


def robustness(pts: dict[int, dict[str, tuple[float, float]]]) -> dict[str, dict[int, tuple[float, float]]]:
    """``{zero-shot model: {seed: (effective robustness, line's predicted shifted accuracy)}}`` of one data set."""
    out: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    for seed, models in pts.items():
        base = [v for k, v in models.items() if not k.endswith(":zeroshot")]
        if len(base) < 2:
            continue
        line = logit_fit([b[0] for b in base], [b[1] for b in base])
        for k, (clean, shifted) in models.items():
            if k.endswith(":zeroshot"):
                out[k][seed] = (effective_robustness(clean, shifted, line), float(predicted_shift(clean, line)))
    return out


def _paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(t-test p, Wilcoxon p) of paired samples ``a`` against ``b`` (two-sided)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2:
        return math.nan, math.nan  # one seed: no test
    d = a - b
    t = stats.ttest_rel(a, b).pvalue if np.ptp(d) > 0 else (0.0 if np.all(d != 0) else 1.0)
    w = stats.wilcoxon(a, b).pvalue if np.any(d != 0) else 1.0
    return float(t), float(w)


def _mean_ci(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), math.nan
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def _by_seed(records: Sequence[dict[str, Any]], dataset: str, method: str, metric: str) -> dict[int, float]:
    return {int(r["seed"]): float(r["metrics"][metric]) for r in records
            if r.get("status") == "ok" and r.get("dataset") == dataset and r.get("method") == method
            and metric in (r.get("metrics") or {})}


def _chance(records: Sequence[dict[str, Any]], dataset: str) -> float:
    """Chance accuracy (one over the number of classes) that the data set's CLIP records report."""
    values = {float(r["metrics"]["test/clean/chance"]) for r in records
              if r.get("dataset") == dataset and "test/clean/chance" in (r.get("metrics") or {})}
    if len(values) != 1:
        raise ValueError(f"the CLIP records of {dataset!r} report chance accuracies {sorted(values)}; expected one")
    return values.pop()


def _word(p: float, diff: float, more: str, less: str, reference: str) -> str:
    if math.isnan(p):
        return "not tested (fewer than two seeds)"
    return (more if diff > 0 else less) if p < ALPHA else f"not distinguishable from {reference}"


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "–"
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def _values(records: Sequence[dict[str, Any]], dataset: str, method: str, metric: str) -> list[float]:
    return list(_by_seed(records, dataset, method, metric).values())


def summary(records: Sequence[dict[str, Any]], dataset: str) -> list[str]:
    """Clean test accuracy of every classifier and text-to-input retrieval, mean ± sd over seeds (Markdown)."""
    methods = sorted({r["method"] for r in records if r.get("dataset") == dataset})
    modality = next((k.split("/")[2].split("_")[0].removeprefix("text2") for r in records
                     if r.get("dataset") == dataset for k in r["metrics"] if "/text2" in k), "input")
    cols = [("zero-shot", "zeroshot_acc"), ("zero-shot, one prompt", "zeroshot_single_acc"),
            ("linear probe", "probe_acc"), *((f"{k}-shot probe", f"fewshot{k}_acc") for k in (1, 4, 16)),
            ("supervised", "acc"), (f"text→{modality} R@1", f"text2{modality}_R@1"),
            ("R@5", f"text2{modality}_R@5"), ("R@10", f"text2{modality}_R@10"),
            ("class R@1", f"text2{modality}_class_R@1")]
    out = [f"Clean test set, mean ± sd over seeds (retrieval: each caption's own {modality} among the test "
           "split's; class R@1: the top one shows the caption's digit).", "",
           "| row | seeds | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for m in methods:
        n = len(_values(records, dataset, m, "test/clean/" + ("acc" if m == "supervised" else "zeroshot_acc")))
        out.append(f"| {m} | {n} | " + " | ".join(_cell(_values(records, dataset, m, f"test/clean/{k}"))
                                                 for _, k in cols) + " |")
    return out


def shifts_table(records: Sequence[dict[str, Any]], dataset: str) -> list[str]:
    """Accuracy under each test condition of zero-shot, the linear probe and the supervised model (Markdown)."""
    metrics = {k for r in records if r.get("dataset") == dataset for k in r["metrics"]}
    conditions = ["clean", *sorted({k.split("/")[1] for k in metrics if k.startswith("test/")} - {"clean"})]
    methods = sorted({r["method"] for r in records if r.get("dataset") == dataset})
    models = [(m, k, label) for m in methods for k, label in
              ((("acc", "supervised"),) if m == "supervised" else (("zeroshot_acc", "zero-shot"),
                                                                   ("probe_acc", "linear probe")))]
    out = ["Accuracy under each test condition (mean ± sd over seeds):", "",
           "| model | " + " | ".join(conditions) + " |", "|---" * (len(conditions) + 1) + "|"]
    for m, k, label in models:
        name = m if m == "supervised" else f"{m} {label}"
        out.append(f"| {name} | " + " | ".join(_cell(_values(records, dataset, m, f"test/{c}/{k}"))
                                              for c in conditions) + " |")
    return out


def notes(records: Sequence[dict[str, Any]]) -> str:
    mine = [r for r in records if r.get("challenge") == "clip" and r.get("status") == "ok"]
    lines: list[str] = []
    for data in sorted({r.get("dataset") for r in mine}):
        rows = sorted({r["method"] for r in mine if r.get("dataset") == data and r.get("family") == "contrastive"})
        sup = _by_seed(mine, data, "supervised", "test/clean/acc")
        lines += [f"### CLIP on {data}", "", *summary(mine, data), "", *shifts_table(mine, data), "",
                  "| row | zero-shot (clean) | 95% CI (seeds) | chance | supervised | "
                  "difference | t-test p (Holm) | Wilcoxon p (Holm) | verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        tests = []
        for row in rows:
            zs = _by_seed(mine, data, row, "test/clean/zeroshot_acc")
            seeds = sorted(set(zs) & set(sup))
            mean, half = _mean_ci(list(zs.values()))
            pt, pw = _paired([zs[s] for s in seeds], [sup[s] for s in seeds]) if seeds else (math.nan, math.nan)
            diff = float(np.mean([zs[s] - sup[s] for s in seeds])) if seeds else math.nan
            tests.append((row, mean, half, diff, pt, pw, len(zs)))
        adj_t, adj_w = holm([t[4] for t in tests]) if tests else [], holm([t[5] for t in tests]) if tests else []
        chance = _chance(mine, data)
        for (row, mean, half, diff, _, _, n), pt, pw in zip(tests, adj_t, adj_w, strict=True):
            verdict = _word(pt, diff, "above the supervised model", "below the supervised model",
                            "the supervised model")
            lines.append(f"| {row} | {mean:.3f} (n={n}) | ± {half:.3f} | {chance:.3f} | "
                         f"{np.mean(list(sup.values())):.3f} | {diff:+.3f} | {pt:.3g} | {pw:.3g} | {verdict} |")
        for row, mean, half, *_ in tests:
            margin = mean - chance
            if math.isnan(half):
                lines.append(f"\n{row}: zero-shot is above chance by {margin:.3f} (one seed: no interval over seeds).")
            else:
                lines.append(f"\n{row}: zero-shot is above chance by {margin:.3f}, "
                             f"{'more' if margin > half else 'not more'} than its 95% interval half-width {half:.3f}.")
        lines += ["", *robustness_notes(points(mine).get(data, {})), ""]
    return "\n".join(lines)


def robustness_notes(pts: dict[int, dict[str, tuple[float, float]]]) -> list[str]:
    """The effective-robustness table of one data set (Markdown lines)."""
    er = robustness(pts)
    if not er:
        return ["(no effective robustness: it needs shifted test conditions and at least two baseline models)"]
    out = ["Effective robustness (Taori et al. 2020): per seed, logit-linear fit of the mean shifted accuracy on "
           "the clean accuracy over the supervised model and every probe; zero-shot's distance above the line.", "",
           "| zero-shot of | clean | mean shifted | line predicts | effective robustness | t-test p (Holm) | "
           "Wilcoxon p (Holm) | verdict |", "|---|---|---|---|---|---|---|---|"]
    keys = sorted(er)
    raw = [_paired([pts[s][k][1] for s in er[k]], [er[k][s][1] for s in er[k]]) for k in keys]
    adj_t, adj_w = holm([r[0] for r in raw]), holm([r[1] for r in raw])
    for k, pt, pw in zip(keys, adj_t, adj_w, strict=True):
        seeds = sorted(er[k])
        eff = [er[k][s][0] for s in seeds]
        clean = np.mean([pts[s][k][0] for s in seeds])
        shifted = np.mean([pts[s][k][1] for s in seeds])
        pred = np.mean([er[k][s][1] for s in seeds])
        verdict = _word(pt, float(np.mean(eff)), "more effectively robust", "less effectively robust",
                        "the baselines' line")
        out.append(f"| {k.split(':')[0]} | {clean:.3f} | {shifted:.3f} | {pred:.3f} | {np.mean(eff):+.3f} ± "
                   f"{np.std(eff, ddof=1) if len(eff) > 1 else 0:.3f} | {pt:.3g} | {pw:.3g} | {verdict} |")
    return out


def plots(records: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """``clip_robustness_<dataset>.png``: mean shifted against clean accuracy, logit axes (CLIP Fig. 13 style).

    One point per model and seed; the line is the logit-linear fit over every seed's baseline models, the
    dashed one ``y = x`` (a model that loses nothing under shift). Axes span the points, ticks in percent.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    written = []
    for data, pts in sorted(points(records).items()):
        base = [(c, s) for models in pts.values() for k, (c, s) in models.items() if not k.endswith(":zeroshot")]
        if len(base) < 2:
            continue
        line = logit_fit([b[0] for b in base], [b[1] for b in base])
        every = [v for models in pts.values() for v in models.values()]
        lo = float(np.clip(min(min(v) for v in every) - 0.05, 0.01, 0.9))
        hi = float(np.clip(max(max(v) for v in every) + 0.01, lo + 0.05, 0.995))
        fig, ax = plt.subplots(figsize=(5, 4.5))
        grid = np.linspace(lo, hi, 200)
        ax.plot(grid, grid, ls="--", c="grey", lw=1, label="ideal robust model (y = x)")
        ax.plot(grid, predicted_shift(grid, line), c="C0", lw=1.5,
                label="baselines' logit-linear fit (supervised and probes)")
        kinds = (("supervised", "s", "C0", "supervised"), (":probe", "o", "C2", "linear probe (frozen CLIP)"),
                 (":fewshot", "^", "C1", "few-shot probes (1, 4, 16)"))
        zero_shot = sorted({k for models in pts.values() for k in models if k.endswith(":zeroshot")})
        kinds += tuple((k, "*", f"C{3 + i}", f"zero-shot {k.split(':')[0]}") for i, k in enumerate(zero_shot))
        for k, marker, colour, label in kinds:
            xs = [v for models in pts.values() for name, v in models.items()
                  if (name == k if k.endswith(":zeroshot") or k == "supervised" else k in name)]
            if xs:
                ax.scatter([x[0] for x in xs], [x[1] for x in xs], marker=marker, c=colour,
                           s=80 if marker == "*" else 25, label=label, alpha=0.85)
        ticks = [t for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99) if lo <= t <= hi]
        ax.set(xscale="logit", yscale="logit", xlim=(lo, hi), ylim=(lo, hi), xlabel="clean test accuracy (%)",
               ylabel="mean accuracy over the shifted test sets (%)",
               title=f"effective robustness (Taori et al. 2020), {data}")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(FixedLocator(ticks))
            axis.set_minor_locator(NullLocator())
            axis.set_major_formatter(lambda v, _: f"{100 * v:g}")
        ax.legend(fontsize=7, loc="upper left")
        path = Path(out_dir) / f"clip_robustness_{data}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f, fig=fig: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"), mode="wb")
        plt.close(fig)
        written.append(path)
    return written
