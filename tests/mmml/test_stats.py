"""mmml.stats: paired tests against scipy, Holm against statsmodels, a hand-worked case, verdict words."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from mmml.stats import (
    NO_DIFFERENCE,
    by_seed,
    claim_verdict,
    compare_records,
    fmt_p,
    holm,
    mean_ci,
    pair_by_seed,
    paired_test,
    verdict,
)


def test_hand_worked_paired_t():
    """d = (2, 3, 2, 3): mean 2.5, sd = sqrt(1/3), se = sd / 2, t = 2.5 / se = 5 sqrt(3), df = 3."""
    r = paired_test([3, 5, 4, 6], [1, 2, 2, 3])
    assert r.n == 4 and r.diff == pytest.approx(2.5) and r.mean_a == 4.5 and r.mean_b == 2.0
    assert r.statistic == pytest.approx(5 * math.sqrt(3))
    assert r.p == pytest.approx(2 * (1 - sps.t.cdf(5 * math.sqrt(3), 3)))
    assert 0.003 < r.p < 0.0035  # t = 8.66 on 3 degrees of freedom
    half = 3.182446 * math.sqrt(1 / 3) / 2  # t_{0.975, 3} from a printed table
    assert (r.ci_low, r.ci_high) == (pytest.approx(2.5 - half, abs=1e-5), pytest.approx(2.5 + half, abs=1e-5))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_tests_match_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.8, 0.05, 7)
    b = a - rng.normal(0.02, 0.03, 7)
    t = paired_test(a, b, "t")
    ref = sps.ttest_rel(a, b)
    assert t.statistic == pytest.approx(ref.statistic) and t.p == pytest.approx(ref.pvalue)
    w = paired_test(a, b, "wilcoxon")
    ref = sps.wilcoxon(a, b)
    assert w.statistic == pytest.approx(ref.statistic) and w.p == pytest.approx(ref.pvalue)
    lo, hi = sps.t.interval(0.9, 6, loc=np.mean(a - b), scale=sps.sem(a - b))
    assert mean_ci(a - b, 0.9)[1:] == (pytest.approx(lo), pytest.approx(hi))


def test_edge_cases_of_the_paired_test():
    assert math.isnan(paired_test([0.5], [0.4]).p)  # one seed: no test
    assert paired_test([0.5, 0.6], [0.5, 0.6]).p == 1.0  # identical
    assert paired_test([0.6, 0.7, 0.8], [0.5, 0.6, 0.7]).p == pytest.approx(0.0, abs=1e-9)  # constant +0.1
    assert paired_test([0.6, 0.7, 0.8], [0.5, 0.6, 0.7], "wilcoxon").p == pytest.approx(0.25)  # exact, n = 3
    with pytest.raises(ValueError, match="one value per seed"):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        paired_test([1, math.nan], [1, 2])
    with pytest.raises(ValueError, match="choose one of"):
        paired_test([1, 2], [1, 2], "welch")


def test_holm_matches_statsmodels_and_a_hand_worked_case():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])  # 3*0.01, max(2*0.03, 0.04)
    p = np.random.default_rng(0).uniform(0, 0.2, 9)
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    out = holm([0.01, math.nan, 0.02])  # NaN is not a member of the family
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_verdict_words_only_when_significant():
    assert verdict(0.1, 0.01, word="beats") == "beats"
    assert verdict(-0.1, 0.01, word="beats") == "worse than"
    assert verdict(0.1, 0.06, word="beats") == NO_DIFFERENCE
    assert verdict(0.1, math.nan) == NO_DIFFERENCE
    assert verdict(-5.0, 0.001, higher_is_better=False, word="better") == "better"  # lower error
    assert claim_verdict(0.1, 0.01) == "holds" and claim_verdict(-0.1, 0.01) == "does not hold"
    assert claim_verdict(0.1, 0.2) == NO_DIFFERENCE
    assert claim_verdict(0.1, 0.0, n=2) == NO_DIFFERENCE and claim_verdict(0.1, 0.0, n=3) == "holds"


def test_records_pair_by_seed():
    recs = [{"status": "ok", "method": m, "dataset": "d", "seed": s, "metrics": {"acc": v}}
            for m, vals in (("x", [0.9, 0.8, 0.85]), ("y", [0.7, 0.72])) for s, v in enumerate(vals)]
    recs.append({"status": "failed", "method": "y", "dataset": "d", "seed": 2, "metrics": {}})
    assert by_seed(recs, "acc", method="y") == {0: 0.7, 1: 0.72}
    seeds, a, b = pair_by_seed(by_seed(recs, "acc", method="x"), by_seed(recs, "acc", method="y"))
    assert seeds == [0, 1] and a == [0.9, 0.8] and b == [0.7, 0.72]
    r = compare_records(recs, "acc", {"method": "x"}, {"method": "y"})
    assert r.n == 2 and r.p == pytest.approx(sps.ttest_rel([0.9, 0.8], [0.7, 0.72]).pvalue)
    with pytest.raises(ValueError, match="seed 0"):
        by_seed(recs + [recs[0]], "acc", method="x")


def test_p_values_print_as_phrases():
    assert (fmt_p(0.0123), fmt_p(1e-5), fmt_p(math.nan)) == ("0.012", "<0.001", "–")
    assert (fmt_p(0.0123, "p"), fmt_p(1e-5, "Holm p")) == ("p = 0.012", "Holm p < 0.001")
