"""mmml.claims: verdict words from synthetic records with a significant and a non-significant difference."""

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from mmml.claims import CLAIMS, NOT_TESTABLE, evaluate_claims, is_single_view, to_markdown

SEEDS = range(5)
NOISE = np.random.default_rng(0).normal(0, 1, (20, 5))


def rec(challenge, family, method, dataset, seed, metrics, setting="", config=None, **extra):
    return {"challenge": challenge, "family": family, "method": method, "dataset": dataset, "seed": seed,
            "setting": setting, "status": "ok", "metrics": metrics, "config": config or {}, **extra}


def _rows(records, claim):
    return [r for r in evaluate_claims(records, only=(claim,))]


def _alignment(explicit_ms, implicit_ms, spread):
    out = []
    for s in SEEDS:
        out.append(rec("alignment", "explicit", "dtw", "d", s, {"test/clean/boundary_mae_ms": explicit_ms + spread
                                                                 * NOISE[0, s]}))
        out.append(rec("alignment", "implicit", "attention", "d", s,
                       {"test/clean/boundary_mae_ms": implicit_ms + spread * NOISE[1, s]}))
        out.append(rec("alignment", "baseline", "uniform", "d", s, {"test/clean/boundary_mae_ms": 5.0}))
    return out


def test_alignment_claim_words_follow_the_paired_test():
    records = _alignment(40.0, 60.0, 2.0)
    (row,) = _rows(records, "explicit_alignment")
    assert row.verdict == "holds" and row.a == "explicit dtw" and row.b == "implicit attention"
    x = [r["metrics"]["test/clean/boundary_mae_ms"] for r in records if r["method"] == "dtw"]
    y = [r["metrics"]["test/clean/boundary_mae_ms"] for r in records if r["method"] == "attention"]
    assert row.test.p == pytest.approx(sps.ttest_rel(x, y).pvalue) and row.test.n == 5
    assert row.test.diff == pytest.approx(np.mean(np.subtract(x, y)))
    assert "uniform" not in row.numbers()  # the baseline (5 ms here) is neither explicit nor implicit
    (row,) = _rows(_alignment(60.0, 40.0, 2.0), "explicit_alignment")
    assert row.verdict == "does not hold"
    (row,) = _rows(_alignment(50.0, 50.5, 5.0), "explicit_alignment")  # 0.5 ms apart, 5 ms spread
    assert row.verdict == "no significant difference" and row.test.p > 0.05


def _fusion(with_val=True, mkl_best=0.97):
    out = []
    for s in SEEDS:
        def m(test, val, s=s):
            return {"test/clean/acc": test + 0.01 * NOISE[2, s], **({"val/acc": 0.0} if with_val else {}),
                    "test/image_drop/acc": test - 0.3, "test/audio_drop/acc": test - 0.1}

        def best(val):  # the runner's record of the tested epoch's validation value (wins over a last val/acc)
            return {"best_val": {"name": "val/acc", "value": val, "epoch": 3}} if with_val else {}
        out += [rec("fusion", "neural", "tensor", "av", s, m(0.90, 0.95), **best(0.95)),  # best on validation
                rec("fusion", "neural", "gated", "av", s, m(0.93, 0.90), **best(0.90)),  # best on test
                rec("fusion", "unimodal", "image_only", "av", s, m(0.80, 0.80), **best(0.80)),
                rec("fusion", "kernel", "mkl_best", "av", s, m(mkl_best, 0.85), **best(0.85))]
    return out


def test_fusion_claim_selects_on_validation_and_counts_single_view_methods_as_single():
    (row,) = _rows(_fusion(), "fusion_vs_single")
    assert row.a == "fused tensor" and row.b == "single mkl_best"  # mkl_best's val 0.85 > image_only's 0.80
    assert row.selection == "best chosen on validation"
    assert row.verdict == "does not hold"  # tensor 0.90 against mkl_best 0.97 on test
    (row,) = _rows(_fusion(with_val=False, mkl_best=0.5), "fusion_vs_single")
    assert row.a == "fused gated" and row.b == "single image_only" and "chosen on test" in row.selection
    assert row.verdict == "holds"
    assert is_single_view({"method": "mkl_best"}) and is_single_view({"config": {"model": {"single_view": True}}})
    assert not is_single_view({"config": {"model": {"single_view": "${model.single_views.best}"}}})  # unresolved
    assert not is_single_view({"method": "mkl_easymkl", "family": "kernel"})


def test_late_fusion_degradation_claim():
    records = []
    for s in SEEDS:
        records.append(rec("fusion", "model_agnostic", "late_mean", "av", s,
                           {"test/clean/acc": 0.9, "test/image_drop/acc": 0.8 + 0.01 * NOISE[3, s],
                            "test/audio_drop/acc": 0.7}))
        records.append(rec("fusion", "model_agnostic", "early", "av", s,
                           {"test/clean/acc": 0.9, "test/image_drop/acc": 0.5 + 0.01 * NOISE[4, s],
                            "test/audio_drop/acc": 0.3}))
    (row,) = _rows(records, "late_vs_early_missing")
    assert row.verdict == "holds" and row.test.mean_a == pytest.approx(0.9 - np.mean(
        [0.8 + 0.01 * NOISE[3, s] for s in SEEDS]) / 2 - 0.35)


def _colearning(scarce_gain, full_gain, spread=0.01):
    out = []
    for s in SEEDS:
        for f, gain in ((0.01, scarce_gain), (1.0, full_gain)):
            cfg = {"labelled_fraction": f}
            base = 0.5 + 0.4 * f
            out.append(rec("colearning", "parallel", "supervised (image)", "av", s, {"test/clean/acc": base},
                           setting=f"labelled_fraction={f}", config=cfg))
            out.append(rec("colearning", "parallel", "co-training (image+audio)", "av", s,
                           {"test/clean/acc": base + gain + spread * NOISE[5 + int(f), s]},
                           setting=f"labelled_fraction={f}", config=cfg))
    return out


def test_colearning_claim_compares_gains_at_the_scarcest_and_largest_fractions():
    (row,) = _rows(_colearning(0.10, 0.0), "colearning_scarce")
    assert row.verdict == "holds" and row.a == "gain at 0.01" and row.b == "gain at 1"
    assert row.test.diff == pytest.approx(0.10, abs=0.02)
    (row,) = _rows(_colearning(0.005, 0.0, spread=0.02), "colearning_scarce")
    assert row.verdict == "no significant difference"


def _synthesis(order_same: bool, spread=0.002):
    out = []
    for s in SEEDS:
        # same: template < nearest < topk in mel DTW, template > nearest > topk in exact match; else template
        # has the lowest mel DTW and the lowest exact match (two pairs ranked oppositely)
        for i, (method, mel, exact) in enumerate((("nearest", 2.0, 0.5), ("template", 1.0, 0.8 if order_same else 0.1),
                                                  ("topk", 3.0, 0.2))):
            out.append(rec("translation", "x", f"{method} (synthesis)", "seq", s,
                           {"test/clean/mel_dtw": mel + spread * NOISE[8 + i, s],
                            "test/clean/exact": exact + spread * NOISE[12 + i, s]},
                           config={"model": {"net": {"direction": "synthesis"}}}))
            out.append(rec("translation", "x", f"{method} (captioning)", "seq", s, {"test/clean/exact": 0.9},
                           config={"model": {"net": {"direction": "captioning"}}}))
    return out


def test_translation_dilemma_counts_pairs_ranked_oppositely():
    (row,) = _rows(_synthesis(order_same=False), "translation_dilemma")
    assert row.verdict == "holds" and (row.extra["opposite"], row.extra["same"], row.extra["pairs"]) == (2, 1, 3)
    (row,) = _rows(_synthesis(order_same=True), "translation_dilemma")
    assert row.verdict == "does not hold" and row.extra == {"pairs": 3, "opposite": 0, "same": 3,
                                                            "rho": pytest.approx(1.0)}
    (row,) = _rows(_synthesis(order_same=False, spread=5.0), "translation_dilemma")
    assert row.verdict == "no significant difference"


def test_holm_runs_over_a_claims_data_sets_and_missing_challenges_are_not_testable():
    records = _alignment(40.0, 45.0, 3.0) + [{**r, "dataset": "e"} for r in _alignment(40.0, 42.0, 3.0)]
    rows = _rows(records, "explicit_alignment")
    assert [r.dataset for r in rows] == ["d", "e"]
    assert [r.p_holm for r in rows] == pytest.approx(multipletests([r.test.p for r in rows], method="holm")[1])
    rows = evaluate_claims(records)
    assert len({r.claim for r in rows}) == len(CLAIMS)
    assert {r.verdict for r in rows if r.claim == "fusion_vs_single"} == {NOT_TESTABLE}
    md = to_markdown(rows)
    assert md.startswith("## Claims")
    assert "| Explicit alignment places boundaries better than implicit attention | d |" in md
    assert "no records of this challenge" in md
    with pytest.raises(ValueError, match="choose from"):
        evaluate_claims(records, only=("nope",))


def test_one_seed_never_gets_a_verdict_word():
    records = [r for r in _alignment(40.0, 60.0, 2.0) if r["seed"] == 0]
    (row,) = _rows(records, "explicit_alignment")
    assert row.verdict == "no significant difference" and row.test.n == 1
    assert "fewer than 3 seeds (here 1) get no verdict word" in to_markdown([row])


def test_retrieval_claim_chooses_each_side_on_the_val_metrics_of_the_tested_epoch():
    """record['val_metrics'] (every val/ figure of the tested epoch) lets R@1 choose its rows on validation."""
    def r1(v):
        return {"test/clean/image2audio_R@1": v, "test/clean/audio2image_R@1": v}

    def val(v):
        return {"val_metrics": {"val/image2audio_R@1": v, "val/audio2image_R@1": v, "val/probe_all": 0.5}}

    records = []
    for s in SEEDS:
        e = 0.01 * NOISE[0, s]
        records += [rec("representation", "coordinated", "contrastive", "av", s, r1(0.60 + e), **val(0.70)),
                    rec("representation", "coordinated", "ranking", "av", s, r1(0.65 + e), **val(0.50)),  # best on test
                    rec("representation", "joint", "concat", "av", s, r1(0.30 - e), **val(0.30))]
    (row,) = _rows(records, "coordinated_retrieval")
    assert row.selection == "best chosen on validation"
    assert row.a == "coordinated contrastive" and row.verdict == "holds"  # chosen by val 0.70, not test 0.65
    for r in records:
        del r["val_metrics"]
    (row,) = _rows(records, "coordinated_retrieval")
    assert "chosen on test" in row.selection and row.a == "coordinated ranking"


def test_a_difference_without_spread_over_seeds_says_so():
    """Deterministic rows on a fixed split differ by the same amount for every seed: the row says its p is the
    t-test's limit, not a test over data."""
    recs = []
    for s in SEEDS:
        recs += [rec("alignment", "explicit", "dtw", "d", s, {"test/clean/boundary_mae_ms": 20.0}),
                 rec("alignment", "implicit", "attention", "d", s, {"test/clean/boundary_mae_ms": 30.0})]
    (row,) = _rows(recs, "explicit_alignment")
    assert row.verdict == "holds" and "no spread over seeds" in row.numbers()
    (row,) = _rows(_alignment(20.0, 30.0, 1.0), "explicit_alignment")
    assert "no spread" not in row.numbers()
