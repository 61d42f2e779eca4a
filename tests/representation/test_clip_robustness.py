"""Effective robustness (Taori et al. 2020) and the CLIP report's statistics, against hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from mmml.representation.clip_report import holm, notes, plots, points, robustness
from mmml.representation.robustness_fit import effective_robustness, logit_fit, predicted_shift
from scipy.special import expit


def test_effective_robustness_equals_a_hand_worked_case():
    # baselines at logits (0, 0) and (2, 1): the line logit(shift) = 0.5 logit(id) + 0
    line = logit_fit([0.5, expit(2.0)], [0.5, expit(1.0)])
    assert line == pytest.approx((0.5, 0.0), abs=1e-9)
    # a model with clean accuracy sigmoid(1) = 0.731059 is predicted sigmoid(0.5) = 0.622459 under shift;
    # at 0.7 it is 0.7 - 0.622459 = 0.077541 above the line
    assert predicted_shift(expit(1.0), line) == pytest.approx(0.622459, abs=1e-6)
    assert effective_robustness(expit(1.0), 0.7, line) == pytest.approx(0.077541, abs=1e-6)
    with pytest.raises(ValueError, match="two baseline models"):
        logit_fit([0.5], [0.4])


def test_holm_matches_a_hand_worked_case():
    # sorted p: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> kept monotone at 0.06)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # a NaN (no test) stays NaN and is not counted: the two tests are corrected as a family of two
    assert holm([0.01, float("nan"), 0.04]) == pytest.approx([0.02, float("nan"), 0.04], nan_ok=True)


def _record(family, method, seed, metrics):
    return {"challenge": "clip", "family": family, "method": method, "dataset": "captioned_digits", "seed": seed,
            "status": "ok", "metrics": metrics}


def _records():
    out = []
    for seed in range(5):
        wobble = 0.01 * seed
        out.append(_record("supervised", "supervised", seed, {"test/clean/acc": 0.95, "test/noise/acc": 0.5 + wobble}))
        m = {"test/clean/zeroshot_acc": 0.8 + wobble, "test/noise/zeroshot_acc": 0.7, "test/clean/chance": 0.1}
        for i, p in enumerate(("probe", "fewshot1", "fewshot4", "fewshot16")):
            m[f"test/clean/{p}_acc"] = 0.9 - 0.1 * i
            m[f"test/noise/{p}_acc"] = 0.45 - 0.05 * i + wobble
        out.append(_record("contrastive", "clip_transformer", seed, m))
    return out


def test_the_report_fits_each_seed_and_states_verdicts_from_paired_tests(tmp_path):
    recs = _records()
    pts = points(recs)["captioned_digits"]
    assert pts[0]["supervised"] == (0.95, 0.5) and pts[0]["clip_transformer:zeroshot"] == (0.8, 0.7)
    er = robustness(pts)["clip_transformer:zeroshot"]
    base = [v for k, v in pts[2].items() if not k.endswith("zeroshot")]
    line = logit_fit([b[0] for b in base], [b[1] for b in base])
    assert er[2][0] == pytest.approx(0.7 - predicted_shift(0.82, line))
    text = notes(recs)
    assert "more effectively robust" in text and "below the supervised model" in text
    assert "above chance by 0.720" in text
    # mean ± sd over seeds by hand: zero-shot 0.80 + 0.01 * (0..4) -> 0.820 ± 0.0158;
    # the supervised model under noise 0.50 + 0.01 * (0..4) -> 0.520 ± 0.0158
    assert "| clip_transformer | 5 | 0.820 ± 0.016 |" in text
    assert "| supervised | 0.950 ± 0.000 | 0.520 ± 0.016 |" in text
    assert [p.name for p in plots(recs, tmp_path)] == ["clip_robustness_captioned_digits.png"]
    assert np.isfinite(er[0][0])


def test_one_seed_gives_no_verdict():
    recs = [r for r in _records() if r["seed"] == 0]
    text = notes(recs)
    assert "not tested (fewer than two seeds)" in text
    assert "more effectively robust" not in text and "below the supervised model" not in text
    assert "one seed: no interval over seeds" in text
