"""Paired comparisons across seeds: the test, the difference with its confidence interval, Holm's correction.

The same seed gives every method the same split and initialisation stream (a paired design), so two
methods are compared on the per-seed differences ``d_s = a_s - b_s``:

- the paired t-test (Student 1908; ``scipy.stats.ttest_rel``) or the Wilcoxon signed-rank test
  (Wilcoxon 1945; ``scipy.stats.wilcoxon``), two-sided;
- the mean difference with its t-based confidence interval ``mean(d) ± t_{1-α/2, n-1} · sd(d)/√n``;
- Holm's (1979) step-down correction over a table's comparisons
  (``statsmodels.stats.multitest.multipletests(method="holm")``);
- a verdict word only when the corrected p-value is below ``alpha``, else "no significant difference".

With n = 5 seeds the exact two-sided Wilcoxon p-value cannot go below 2/2^5 = 0.0625, so only the
t-test can reach p < 0.05 there; the t-test is the default.

Examples:
    >>> r = paired_test([0.9, 0.8, 0.85, 0.95, 0.9], [0.7, 0.72, 0.74, 0.75, 0.71])
    >>> round(r.diff, 3), r.n, r.p < 0.01
    (0.156, 5, True)
    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    >>> verdict(r.diff, 0.003, word="beats")
    'beats'
    >>> verdict(r.diff, 0.2, word="beats")
    'no significant difference'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

METHODS = ("t", "wilcoxon")
NO_DIFFERENCE = "no significant difference"
#: fewest seeds a verdict word needs
MIN_SEEDS = 3


@dataclass(frozen=True)
class Paired:
    """One paired comparison of ``a`` against ``b`` over ``n`` seeds (``diff`` = mean of ``a - b``)."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    statistic: float
    p: float
    method: str
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples need one value per seed on both sides; got {a.size} and {b.size} "
                         "values (pair them by seed with mmml.stats.pair_by_seed)")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired samples contain NaN or inf; drop the seeds whose metric is missing first")
    return a, b


def mean_ci(d: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``d`` and its two-sided t-based confidence interval (NaN bounds for fewer than 2 values)."""
    d = np.asarray(d, dtype=float)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}; give a level in (0, 1), e.g. 0.95")
    if d.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, math.nan
    half = float(sps.t.ppf(0.5 + confidence / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return mean, mean - half, mean + half


def paired_test(a: Sequence[float], b: Sequence[float], method: str = "t", confidence: float = 0.95) -> Paired:
    """Two-sided paired test of ``a`` against ``b`` (``a[i]`` and ``b[i]`` from the same seed).

    ``method``: ``"t"`` (``scipy.stats.ttest_rel``) or ``"wilcoxon"`` (``scipy.stats.wilcoxon``, exact
    for small n). Fewer than 2 pairs give ``p = NaN``; differences that are all zero give ``p = 1``; a
    constant non-zero difference (no spread) gives ``p = 0`` under the t-test (scipy's limit).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; choose one of {METHODS}")
    a, b = _check(a, b)
    d = a - b
    n = int(d.size)
    diff, lo, hi = mean_ci(d, confidence)
    stat, p = math.nan, math.nan
    if n >= 2:
        if np.allclose(d, 0, rtol=0, atol=1e-12):
            stat, p = 0.0, 1.0
        elif method == "t":
            if np.allclose(d, d[0], rtol=1e-12, atol=1e-12):  # no spread (up to rounding): t is infinite
                stat, p = math.copysign(math.inf, diff), 0.0
            else:
                res = sps.ttest_rel(a, b)
                stat, p = float(res.statistic), float(res.pvalue)
        else:
            res = sps.wilcoxon(a, b, alternative="two-sided")
            stat, p = float(res.statistic), float(res.pvalue)
    return Paired(n, float(a.mean()) if n else math.nan, float(b.mean()) if n else math.nan, diff, lo, hi,
                  stat, p, method, confidence)


def holm(pvalues: Iterable[float], alpha: float = 0.05) -> list[float]:
    """Holm-corrected p-values (``statsmodels`` ``multipletests(method="holm")``); NaN entries stay NaN and
    do not count in the family."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(list(pvalues), dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="holm")[1]
    return out.tolist()


def significant(p_corrected: float, alpha: float = 0.05) -> bool:
    """Whether a corrected p-value supports a verdict word (NaN, e.g. one seed, never does)."""
    return bool(math.isfinite(p_corrected) and p_corrected < alpha)


def verdict(diff: float, p_corrected: float, alpha: float = 0.05, higher_is_better: bool = True,
            word: str = "beats", opposite: str | None = None, n: int | None = None) -> str:
    """``word`` when ``a`` is significantly better than ``b`` (corrected p < ``alpha`` and the mean difference
    in the better direction), ``opposite`` (default ``"worse than"``) when significantly worse, else
    "no significant difference"; also that when ``n`` (seeds) is below :data:`MIN_SEEDS`, where a t-test on
    two differences that happen to be equal would give p = 0."""
    if not significant(p_corrected, alpha) or diff == 0 or not math.isfinite(diff) or \
            (n is not None and n < MIN_SEEDS):
        return NO_DIFFERENCE
    better = diff > 0 if higher_is_better else diff < 0
    return word if better else (opposite or "worse than")


def claim_verdict(diff: float, p_corrected: float, alpha: float = 0.05, higher_is_better: bool = True,
                  n: int | None = None) -> str:
    """A claim "a is better than b": "holds", "does not hold" (significantly the other way) or
    "no significant difference"."""
    return verdict(diff, p_corrected, alpha, higher_is_better, word="holds", opposite="does not hold", n=n)


def pair_by_seed(a: Mapping[Any, float], b: Mapping[Any, float]) -> tuple[list[Any], list[float], list[float]]:
    """The seeds both ``{seed: value}`` maps have (finite values), sorted, and the two value lists."""
    def ok(v: Any) -> bool:
        return isinstance(v, (int, float)) and math.isfinite(v)

    seeds = sorted((s for s in a if s in b and ok(a[s]) and ok(b[s])), key=lambda s: (str(type(s)), s))
    return seeds, [float(a[s]) for s in seeds], [float(b[s]) for s in seeds]


def by_seed(records: Iterable[Mapping[str, Any]], metric: str, **match: Any) -> dict[Any, float]:
    """``{seed: metric}`` of the ok records whose fields equal ``match`` (e.g. ``method="early",
    dataset="avdigits", setting=""``). Two ok records with the same seed are an error: they would not pair."""
    out: dict[Any, float] = {}
    for rec in records:
        if rec.get("status") != "ok" or any(rec.get(k) != v for k, v in match.items()):
            continue
        value = (rec.get("metrics") or {}).get(metric)
        if not isinstance(value, (int, float)):
            continue
        seed = rec.get("seed")
        if seed in out:
            raise ValueError(f"two ok records of {match} have seed {seed}; tell them apart with more fields in "
                             "match (setting=...) so that each seed pairs once")
        out[seed] = float(value)
    return out


def compare_records(records: Sequence[Mapping[str, Any]], metric: str, a: Mapping[str, Any],
                    b: Mapping[str, Any], method: str = "t") -> Paired:
    """Paired test of the records matching ``a`` against those matching ``b`` on ``metric``, paired by seed."""
    _, x, y = pair_by_seed(by_seed(records, metric, **a), by_seed(records, metric, **b))
    return paired_test(x, y, method)


def fmt_p(p: float, name: str = "") -> str:
    """A p-value for a table: ``–`` for NaN, ``<0.001`` below 0.001, else 3 decimals; with ``name``, a phrase
    (``p = 0.012``, ``p < 0.001``)."""
    if not math.isfinite(p):
        text = "–"
    else:
        text = "<0.001" if p < 0.001 else f"{p:.3f}"
    if not name:
        return text
    return f"{name} {text.replace('<', '< ')}" if text.startswith("<") else f"{name} = {text}"
