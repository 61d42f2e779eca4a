"""The survey's claims, computed from result records with paired tests across seeds.

Each claim of Baltrusaitis, Ahuja & Morency (2017) that the survey's tables can test is turned into paired
comparisons (:mod:`mmml.stats`: paired t-test over seeds, the mean difference with its t-based 95%
confidence interval, Holm's correction over the claim's comparisons) and gets a verdict: **holds**,
**does not hold** (significantly the other way) or **no significant difference**; "not testable here"
when the records lack what the claim compares; fewer than 3 seeds never get a verdict word. Claims and the
records they read:

1. *Coordinated spaces beat joint ones at cross-modal retrieval* (Sec. 3.3): representation records,
   mean R@1 over both retrieval directions, the best coordinated method against the best joint one.
2. *Joint spaces beat coordinated ones at fused prediction* (Sec. 3.3): ``probe_all``, best joint
   against best coordinated.
3. *Fusion beats the best single modality* (Sec. 6): fusion records, clean accuracy, the best fused
   method against the best single-view one (family ``unimodal`` and methods that end up using one
   view, :data:`SINGLE_VIEW`).
4. *Late fusion degrades less than early fusion when a modality is missing* (Sec. 6.1): the drop from
   clean accuracy to the mean accuracy with one modality missing, ``late_mean`` against ``early``.
5. *Co-learning helps most when labels are scarce* (Sec. 7): the gain of each co-learning method over
   its supervised baseline at the smallest labelled fraction against its gain at the largest.
6. *Automatic translation metrics disagree with a recognition-based judgement* (Sec. 4.3, the evaluation
   dilemma): synthesis methods compared pairwise by mel distance under DTW (automatic) and by the exact
   match of the recogniser's transcript (judgement); it holds where some pair is ranked oppositely by the
   two with both differences significant.
7. *Explicit alignment places boundaries better than implicit attention* (Sec. 5): boundary error (ms),
   the best explicit aligner against the best implicit one (the uniform baseline is neither).

"Best" is chosen on the validation split (``val/`` metrics of the records) when every candidate has
them, and the row says "chosen on test" otherwise: choosing on test favours the side with more
candidates. Seeds pair records of the same data set (one split per seed, every method sees it).

Example:
    >>> recs = [{"challenge": "alignment", "status": "ok", "dataset": "d", "seed": s, "method": m,
    ...          "family": f, "setting": "", "metrics": {"test/clean/boundary_mae_ms": v + s}}
    ...         for s in range(5) for m, f, v in (("dtw", "explicit", 40.0), ("attention", "implicit", 60.0))]
    >>> row = evaluate_claims(recs, only=("explicit_alignment",))[0]
    >>> row.verdict, row.a, row.b, row.test.diff
    ('holds', 'explicit dtw', 'implicit attention', -20.0)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from mmml.stats import MIN_SEEDS, Paired, claim_verdict, fmt_p, holm, pair_by_seed, paired_test, significant

#: methods that end up using one view: single-view baselines, not fusion (issue 14)
SINGLE_VIEW = ("mkl_best",)
NOT_TESTABLE = "not testable here"
Spec = Callable[[Mapping[str, float]], "float | None"]


NO_SPREAD = ("no spread over seeds: the rows do not vary with the seed (deterministic on a fixed split), so p is "
             "the t-test's limit for a constant difference, not evidence beyond this split")


def no_spread(test: Paired) -> bool:
    """Whether a paired difference is the same for every seed (its interval has no width)."""
    return test.n >= 2 and math.isfinite(test.ci_low) and test.ci_high - test.ci_low <= 1e-12 * max(1.0, abs(test.diff))


@dataclass
class ClaimRow:
    """One comparison behind a claim, on one data set (or one method pair), with its verdict."""

    claim: str
    statement: str
    dataset: str
    a: str
    b: str
    metric: str
    higher_is_better: bool = True
    test: Paired | None = None
    selection: str = ""
    note: str = ""
    p_holm: float = math.nan
    verdict: str = NOT_TESTABLE
    corrected: bool = False  # the claim set p_holm and verdict itself (claim 6)
    extra: dict[str, Any] = field(default_factory=dict)

    def numbers(self, digits: int = 3) -> str:
        """The numbers behind the verdict, in one line."""
        if self.test is None:
            return self.note or "–"
        t, d = self.test, digits
        ci = "–" if not math.isfinite(t.ci_low) else f"[{t.ci_low:+.{d}f}, {t.ci_high:+.{d}f}]"
        text = (f"{self.a} {t.mean_a:.{d}f} vs {self.b} {t.mean_b:.{d}f}; difference {t.diff:+.{d}f} {ci}; "
                f"{fmt_p(t.p, 'p')} ({fmt_p(self.p_holm, 'Holm p')}); n = {t.n} seeds")
        extras = [s for s in (self.selection, self.note, NO_SPREAD if no_spread(t) else "") if s]
        return text + ("; " + "; ".join(extras) if extras else "")


# ---- reading records ---------------------------------------------------------------------------------
def split_metrics(rec: Mapping[str, Any], split: str) -> dict[str, float]:
    """The clean-condition metrics of one split, names without prefix: ``test/clean/acc`` -> ``acc``;
    validation from the record's ``best_val`` (the monitored metric at the tested epoch) first, then
    ``val/clean/<name>`` or ``val/<name>`` (in ``metrics`` or a ``val_metrics`` dict)."""
    out: dict[str, float] = {}
    best = rec.get("best_val")
    best = {best["name"]: best["value"]} if isinstance(best, dict) and "name" in best and "value" in best else {}
    sources = [best, rec.get("metrics") or {}] + ([rec["val_metrics"]] if isinstance(rec.get("val_metrics"), dict)
                                                  else [])
    prefixes = ("test/clean/",) if split == "test" else ("val/clean/", "val/")
    for source in sources:
        for key, value in source.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            for prefix in prefixes:
                if key.startswith(prefix) and "/" not in key[len(prefix):]:
                    out.setdefault(key[len(prefix):], float(value))
    return out


def metric(name: str) -> Spec:
    """A spec reading one metric by name."""
    return lambda m: m.get(name)


def mean_of(suffix: str, exclude: str = "_class") -> Spec:
    """A spec: the mean of every metric whose name ends with ``suffix`` (e.g. R@1 over both directions)."""
    def spec(m: Mapping[str, float]) -> float | None:
        vals = [v for k, v in m.items() if k.endswith(suffix) and exclude not in k]
        return float(np.mean(vals)) if vals else None
    return spec


def _ok(records: Sequence[Mapping[str, Any]], challenge: str) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("challenge") == challenge and r.get("status") == "ok"]


def _groups(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[Mapping[str, Any]]]:
    """``{(dataset, method, setting): records}``."""
    out: dict[tuple[str, str, str], list] = defaultdict(list)
    for r in records:
        out[(str(r.get("dataset") or ""), str(r.get("method") or ""), str(r.get("setting") or ""))].append(r)
    return out


def seed_values(records: Sequence[Mapping[str, Any]], spec: Spec, split: str = "test") -> dict[Any, float]:
    """``{seed: value}`` of one group's records; a seed twice is an error (it would not pair)."""
    out: dict[Any, float] = {}
    for r in records:
        v = spec(split_metrics(r, split))
        if v is None or not math.isfinite(v):
            continue
        if r.get("seed") in out:
            raise ValueError(f"{r.get('method')} on {r.get('dataset')} has two ok records with seed {r.get('seed')}")
        out[r.get("seed")] = float(v)
    return out


def _name(key: tuple[str, str, str], others: Sequence[tuple[str, str, str]] = ()) -> str:
    """A row's method, with its setting where another row of ``others`` has the same method."""
    twin = any(o[1] == key[1] and o != key for o in others)
    return key[1] + (f" [{key[2]}]" if key[2] and twin else "")


def select_best(groups: Mapping[tuple, Sequence[Mapping[str, Any]]], spec: Spec,
                higher_is_better: bool = True) -> tuple[tuple | None, str]:
    """The group with the best mean over seeds, on validation when every group has validation values of
    ``spec`` (else on test), and which split chose it."""
    if not groups:
        return None, ""
    val = {k: seed_values(v, spec, "val") for k, v in groups.items()}
    split = "val" if all(val.values()) else "test"
    scores = val if split == "val" else {k: seed_values(v, spec, "test") for k, v in groups.items()}
    scored = {k: float(np.mean(list(s.values()))) for k, s in scores.items() if s}
    if not scored:
        return None, ""
    best = (max if higher_is_better else min)(scored, key=lambda k: (scored[k], str(k)))
    return best, "best chosen on validation" if split == "val" else "best chosen on test (no val/ metrics)"


# ---- the claims ------------------------------------------------------------------------------------------
STATEMENTS = {
    "coordinated_retrieval": "Coordinated spaces beat joint ones at cross-modal retrieval",
    "joint_prediction": "Joint spaces beat coordinated ones at fused prediction",
    "fusion_vs_single": "Fusion beats the best single modality",
    "late_vs_early_missing": "Late fusion degrades less than early fusion when a modality is missing",
    "colearning_scarce": "Co-learning helps most when labels are scarce",
    "translation_dilemma": "Automatic translation metrics disagree with a recognition-based judgement",
    "explicit_alignment": "Explicit alignment places boundaries better than implicit attention",
}


def _best_against_best(claim: str, statement: str, records: Sequence[Mapping[str, Any]], challenge: str,
                       is_a: Callable, is_b: Callable, spec: Spec, metric_name: str, a_label: str, b_label: str,
                       higher_is_better: bool = True) -> list[ClaimRow]:
    ok = _ok(records, challenge)
    rows = []
    for dataset in sorted({str(r.get("dataset")) for r in ok}):
        groups = {k: v for k, v in _groups(ok).items() if k[0] == dataset}
        ga = {k: v for k, v in groups.items() if is_a(v[0])}
        gb = {k: v for k, v in groups.items() if is_b(v[0])}
        row = ClaimRow(claim, statement, dataset, a_label, b_label, metric_name, higher_is_better)
        try:
            ka, sa = select_best(ga, spec, higher_is_better)
            kb, sb = select_best(gb, spec, higher_is_better)
            if ka is None or kb is None:
                row.note = f"no {a_label if ka is None else b_label} rows with {metric_name}"
                rows.append(row)
                continue
            seeds, x, y = pair_by_seed(seed_values(ga[ka], spec), seed_values(gb[kb], spec))
        except ValueError as err:
            row.note = str(err)
            rows.append(row)
            continue
        row.a, row.b = f"{a_label} {_name(ka, list(groups))}", f"{b_label} {_name(kb, list(groups))}"
        row.selection = sa if sa == sb else f"{a_label}: {sa}; {b_label}: {sb}"
        if not seeds:
            row.note = "no seed in common"
        else:
            row.test = paired_test(x, y)
        rows.append(row)
    return rows


def coordinated_retrieval(records: Sequence[Mapping[str, Any]]) -> list[ClaimRow]:
    return _best_against_best("coordinated_retrieval", STATEMENTS["coordinated_retrieval"],
                              records, "representation", lambda r: r.get("family") == "coordinated",
                              lambda r: r.get("family") == "joint", mean_of("_R@1"), "R@1 (mean of both directions) ↑",
                              "coordinated", "joint")


def joint_prediction(records: Sequence[Mapping[str, Any]]) -> list[ClaimRow]:
    return _best_against_best("joint_prediction", STATEMENTS["joint_prediction"],
                              records, "representation", lambda r: r.get("family") == "joint",
                              lambda r: r.get("family") == "coordinated", metric("probe_all"),
                              "linear probe on all modalities (accuracy) ↑", "joint", "coordinated")


def is_single_view(rec: Mapping[str, Any]) -> bool:
    """A single-view row: family ``unimodal``, a method of :data:`SINGLE_VIEW`, or ``single_view: true`` in the
    record or its model config."""
    from mmml.reports import report_module

    model = ((rec.get("config") or {}).get("model") or {}) if isinstance(rec.get("config"), dict) else {}
    fusion = report_module("fusion") if rec.get("challenge") == "fusion" else None
    named = (*SINGLE_VIEW, *getattr(fusion, "SINGLE_VIEW", ()))
    return (rec.get("family") == "unimodal" or rec.get("method") in named or rec.get("single_view") is True
            or model.get("single_view") is True)


def fusion_beats_single(records: Sequence[Mapping[str, Any]]) -> list[ClaimRow]:
    return _best_against_best("fusion_vs_single", STATEMENTS["fusion_vs_single"], records, "fusion",
                              lambda r: not is_single_view(r), is_single_view, metric("acc"), "clean accuracy ↑",
                              "fused", "single")


def _degradation(m: Mapping[str, float], metrics_all: Mapping[str, Any]) -> float | None:
    clean = m.get("acc")
    drops = [v for k, v in metrics_all.items() if k.startswith("test/") and k.endswith("_drop/acc")
             and isinstance(v, (int, float))]
    return None if clean is None or not drops else float(clean - np.mean(drops))


def late_degrades_less(records: Sequence[Mapping[str, Any]], late: str = "late_mean",
                       early: str = "early") -> list[ClaimRow]:
    statement = STATEMENTS["late_vs_early_missing"]
    ok = _ok(records, "fusion")
    rows = []
    for dataset in sorted({str(r.get("dataset")) for r in ok}):
        row = ClaimRow("late_vs_early_missing", statement, dataset, late, early,
                       "clean accuracy − mean accuracy with one modality missing ↓", higher_is_better=False)

        def drop(group: str, dataset: str = dataset) -> dict[Any, float]:
            out = {}
            for r in ok:
                if r.get("dataset") == dataset and r.get("method") == group:
                    v = _degradation(split_metrics(r, "test"), r.get("metrics") or {})
                    if v is not None:
                        out[r.get("seed")] = v
            return out

        a, b = drop(late), drop(early)
        if not a or not b:
            row.note = f"needs {late} and {early} with *_drop conditions"
        else:
            seeds, x, y = pair_by_seed(a, b)
            row.test = paired_test(x, y) if seeds else None
            row.note = "" if seeds else "no seed in common"
        rows.append(row)
    return rows


def colearning_scarce(records: Sequence[Mapping[str, Any]]) -> list[ClaimRow]:
    """Gain over the supervised baseline at the smallest labelled fraction against the gain at the largest."""
    from mmml.reports import report_module

    statement = STATEMENTS["colearning_scarce"]
    module = report_module("colearning")
    ok = _ok(records, "colearning")
    if module is None or not ok:
        return []
    comparisons = [(m, b) for m, b in module.COMPARISONS if b.startswith("supervised (")]
    values: dict[tuple[str, str, float], dict[Any, float]] = defaultdict(dict)
    for r in ok:
        name = module.HEADLINE.get(r.get("family") or "") if isinstance(module.HEADLINE, dict) else module.HEADLINE
        v = (r.get("metrics") or {}).get(name)
        if isinstance(v, (int, float)):
            values[(str(r.get("method")), str(r.get("dataset")), module.fraction_of(r))][r.get("seed")] = float(v)
    rows = []
    for method, baseline in comparisons:
        for dataset in sorted({d for m, d, _ in values if m == method} & {d for m, d, _ in values if m == baseline}):
            fractions = sorted({f for m, d, f in values if m == method and d == dataset
                                and (baseline, dataset, f) in values})
            row = ClaimRow("colearning_scarce", statement, dataset, f"{method} − {baseline}", "",
                           "gain in accuracy over the baseline ↑")
            if len(fractions) < 2:
                row.note = f"{method} against {baseline} needs two labelled fractions"
                rows.append(row)
                continue
            lo, hi = fractions[0], fractions[-1]
            gains = {}
            for f in (lo, hi):
                seeds, x, y = pair_by_seed(values[(method, dataset, f)], values[(baseline, dataset, f)])
                gains[f] = dict(zip(seeds, np.subtract(x, y), strict=True))
            row.a, row.b = f"gain at {lo:g}", f"gain at {hi:g}"
            row.note = f"{method} against {baseline}"
            seeds, x, y = pair_by_seed(gains[lo], gains[hi])
            if seeds:
                row.test = paired_test(x, y)
            rows.append(row)
    return rows


def _direction(rec: Mapping[str, Any]) -> str:
    net = (((rec.get("config") or {}).get("model") or {}).get("net") or {})
    direction = net.get("direction")
    if direction:
        return str(direction)
    method = str(rec.get("method") or "")
    return method[method.find("(") + 1: method.rfind(")")] if "(" in method else "?"


def translation_dilemma(records: Sequence[Mapping[str, Any]], alpha: float = 0.05, automatic: str = "mel_dtw",
                        judgement: str = "exact", direction: str = "synthesis") -> list[ClaimRow]:
    """Pairs of synthesis methods ranked oppositely by mel DTW (lower is better) and by the recogniser's exact
    match, both differences significant after Holm's correction over every test of the claim."""
    statement = STATEMENTS["translation_dilemma"]
    ok = [r for r in _ok(records, "translation") if _direction(r) == direction]
    tests: list[tuple[str, str, str, Paired, Paired]] = []
    rhos: dict[str, float] = {}
    datasets = sorted({str(r.get("dataset")) for r in ok})
    for dataset in datasets:
        groups = {k: v for k, v in _groups(ok).items() if k[0] == dataset}
        auto = {k: seed_values(v, metric(automatic)) for k, v in groups.items()}
        judge = {k: seed_values(v, metric(judgement)) for k, v in groups.items()}
        keys = sorted(k for k in groups if auto[k] and judge[k])
        if len(keys) >= 3:
            rhos[dataset] = float(spearmanr([-np.mean(list(auto[k].values())) for k in keys],
                                            [np.mean(list(judge[k].values())) for k in keys]).statistic)
        for ka, kb in combinations(keys, 2):
            s1, x1, y1 = pair_by_seed(auto[ka], auto[kb])
            s2, x2, y2 = pair_by_seed(judge[ka], judge[kb])
            if len(s1) >= 2 and len(s2) >= 2:
                tests.append((dataset, _name(ka, keys), _name(kb, keys), paired_test(x1, y1), paired_test(x2, y2)))
    corrected = holm([p for *_, t1, t2 in tests for p in (t1.p, t2.p)], alpha)
    rows = []
    for dataset in datasets:
        row = ClaimRow("translation_dilemma", statement, dataset, f"{automatic} ↓", f"judged {judgement} ↑",
                       f"{direction} methods, pairwise", corrected=True)
        mine = [(t, corrected[2 * i], corrected[2 * i + 1]) for i, t in enumerate(tests) if t[0] == dataset]
        if not mine:
            row.note = f"needs 2+ {direction} methods with {automatic} and {judgement} over 2+ seeds"
            rows.append(row)
            continue
        resolved = [(t, pa, pj) for t, pa, pj in mine if significant(pa, alpha) and significant(pj, alpha)
                    and min(t[3].n, t[4].n) >= MIN_SEEDS]
        # automatic says a better when its difference is negative (lower is better); judgement when positive
        opposite = [x for x in resolved if (x[0][3].diff < 0) != (x[0][4].diff > 0)]
        same = [x for x in resolved if x not in opposite]
        row.verdict = "holds" if opposite else ("does not hold" if same else "no significant difference")
        shown = min(opposite or same or mine, key=lambda x: max(x[1], x[2]))
        (_, ma, mb, ta, tj), pa, pj = shown
        rho = rhos.get(dataset, math.nan)
        row.p_holm = max(pa, pj)
        row.test = None
        row.extra = {"pairs": len(mine), "opposite": len(opposite), "same": len(same), "rho": rho}
        constant = sum(no_spread(t[3]) and no_spread(t[4]) for t, _, _ in resolved)
        row.note = (f"{len(mine)} method pairs over {ta.n} seeds: {len(opposite)} ranked oppositely and {len(same)} "
                    f"the same way with both differences significant (Holm over {len(corrected)} tests"
                    + (f"; {constant} of these between rows that do not vary with the seed, whose p is the t-test's "
                       "limit for a constant difference" if constant else "") + "); "
                    f"e.g. {ma} − {mb}: {automatic} {ta.diff:+.3f} [{ta.ci_low:+.3f}, {ta.ci_high:+.3f}] "
                    f"({fmt_p(pa, 'Holm p')}), {judgement} {tj.diff:+.3f} [{tj.ci_low:+.3f}, {tj.ci_high:+.3f}] "
                    f"({fmt_p(pj, 'Holm p')}); Spearman ρ of the method means (−{automatic} vs {judgement}) = "
                    + ("–" if not math.isfinite(rho) else f"{rho:.2f}"))
        rows.append(row)
    return rows


def explicit_alignment(records: Sequence[Mapping[str, Any]]) -> list[ClaimRow]:
    return _best_against_best("explicit_alignment", STATEMENTS["explicit_alignment"], records, "alignment",
                              lambda r: r.get("family") == "explicit",
                              lambda r: r.get("family") == "implicit", metric("boundary_mae_ms"),
                              "boundary error (ms) ↓", "explicit", "implicit", higher_is_better=False)


CLAIMS: dict[str, Callable[[Sequence[Mapping[str, Any]]], list[ClaimRow]]] = {
    "coordinated_retrieval": coordinated_retrieval,
    "joint_prediction": joint_prediction,
    "fusion_vs_single": fusion_beats_single,
    "late_vs_early_missing": late_degrades_less,
    "colearning_scarce": colearning_scarce,
    "translation_dilemma": translation_dilemma,
    "explicit_alignment": explicit_alignment,
}


def evaluate_claims(records: Sequence[Mapping[str, Any]], alpha: float = 0.05,
                    only: Sequence[str] | None = None) -> list[ClaimRow]:
    """Every claim's rows with Holm-corrected p-values (over each claim's comparisons) and verdicts; a claim
    without the records it needs gets one "not testable here" row."""
    unknown = [c for c in (only or ()) if c not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claims {unknown}; choose from {list(CLAIMS)}")
    out = []
    for key, fn in CLAIMS.items():
        if only and key not in only:
            continue
        rows = fn(records)
        if not rows:
            rows = [ClaimRow(key, STATEMENTS[key], "–", "", "", "", note="no records of this challenge")]
        plain = [r for r in rows if not r.corrected]
        for r, p in zip(plain, holm([r.test.p if r.test else math.nan for r in plain], alpha), strict=True):
            r.p_holm = p
            if r.test is not None:
                r.verdict = claim_verdict(r.test.diff, p, alpha, r.higher_is_better, n=r.test.n)
        out += rows
    return out


def to_markdown(rows: Sequence[ClaimRow], alpha: float = 0.05, digits: int = 3) -> str:
    """The report's "Claims" section."""
    lines = ["## Claims", "",
             "Each claim of the survey that these tables can test, from paired t-tests over seeds (scipy "
             "`ttest_rel`; a seed gives every method of a data set the same split), the mean difference with its "
             f"95% t-interval, and Holm's correction over each claim's comparisons (statsmodels); the verdict is "
             f"*holds* / *does not hold* only where the corrected p < {alpha}, else *no significant difference*.",
             "", "| claim | data set | compared (metric) | numbers | verdict |", "|---|---|---|---|---|"]
    for r in rows:
        compared = f"{r.a} vs {r.b} ({r.metric})" if r.a else "–"
        lines.append(f"| {r.statement} | {r.dataset} | {compared} | {r.numbers(digits)} | **{r.verdict}** |")
    few = sorted({r.test.n for r in rows if r.test is not None and r.test.n < MIN_SEEDS})
    if few:
        lines += ["", f"Rows over fewer than {MIN_SEEDS} seeds (here {', '.join(map(str, few))}) get no verdict word: "
                  "run the full survey (5 seeds) rather than --quick (seed 0 only)."]
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        tally[r.statement][r.verdict] += 1
    lines += ["", "In short:", ""]
    lines += [f"- {s}: " + ", ".join(f"{v} ({n} of {sum(t.values())})" for v, n in sorted(t.items()))
              for s, t in tally.items()]
    return "\n".join(lines) + "\n"
