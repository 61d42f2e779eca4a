"""The robustness protocol: condition lists the datamodule parses, areas checked against scipy, baselines
read from the records of the same sweep."""

import math

import numpy as np
import pytest
from scipy.integrate import trapezoid

from mmml.data.corruptions import Condition
from mmml.robustness import (
    curve,
    effective_robustness,
    noise_levels,
    relative_robustness,
    robustness_conditions,
    robustness_rows,
)


def test_conditions_cover_noise_and_missing():
    conds = robustness_conditions(["image", "audio"])
    assert len(conds) == 1 + 2 * (10 + 1)
    names = [Condition.parse(c).name for c in conds]
    assert names[0] == "clean" and "image_noise0.1" in names and "audio_noise1" in names and "audio_drop" in names
    assert noise_levels(10)[0] == pytest.approx(0.1) and noise_levels(10)[-1] == 1.0
    with pytest.raises(ValueError, match="data.modalities"):
        robustness_conditions(None)


def test_relative_robustness_is_normalised_trapezoid_area():
    rng = np.random.default_rng(0)
    levels = np.linspace(0, 1, 11)
    acc = np.sort(rng.random(11))[::-1]
    assert relative_robustness(levels, acc) == pytest.approx(trapezoid(acc, levels))
    assert relative_robustness([0, 0.5], [1.0, 0.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="increase"):
        relative_robustness([0, 0.5, 0.5], [1, 1, 1])


def test_effective_robustness_against_shifted_baseline():
    levels = np.linspace(0, 1, 11)
    base = 0.9 - 0.5 * levels
    assert effective_robustness(levels, base - 0.1, levels, base) == pytest.approx(0.0)  # same slope
    flat = np.full(11, 0.8)
    shifted = base + (0.8 - 0.9)
    assert effective_robustness(levels, flat, levels, base) == pytest.approx(trapezoid(flat - shifted, levels))
    with pytest.raises(ValueError, match="same data.test_conditions"):
        effective_robustness(levels, flat, levels[:5], base[:5])


def record(method, seed, clean, slope, dataset="avdigits"):
    metrics = {"test/clean/acc": clean, "test/audio_drop/acc": clean / 2}
    for lv in noise_levels(10):
        metrics[f"test/audio_noise{lv:g}/acc"] = clean - slope * lv
    return {"status": "ok", "challenge": "fusion", "family": "f", "method": method, "dataset": dataset,
            "setting": "", "seed": seed, "metrics": metrics}


def test_rows_use_the_same_sweeps_late_fusion():
    records = [record("late_mean", 0, 0.8, 0.4), record("late_mean", 1, 0.8, 0.2), record("tensor", 0, 0.9, 0.2),
               record("tensor", 5, 0.9, 0.2), record("early", 0, 0.7, 0.1, dataset="other")]
    rows = {(r["method"], r["seed"], r["dataset"]): r for r in robustness_rows(records)}
    levels, values = curve(records[2]["metrics"], "audio")
    assert levels[0] == 0 and len(levels) == 11
    assert rows[("tensor", 0, "avdigits")]["relative"] == pytest.approx(0.9 - 0.1)
    assert rows[("tensor", 0, "avdigits")]["effective"] == pytest.approx(0.1)  # slope 0.2 vs 0.4: 0.2 / 2
    assert rows[("tensor", 5, "avdigits")]["effective"] == pytest.approx(0.05)  # mean baseline slope 0.3
    assert math.isnan(rows[("early", 0, "other")]["effective"])  # no baseline on that data set
    assert rows[("late_mean", 0, "avdigits")]["effective"] == pytest.approx(0.0)
    assert rows[("tensor", 0, "avdigits")]["missing"] == pytest.approx(0.45)


def _without_noise(rec, keep=("clean",)):
    """``rec`` with only the metrics of the conditions in ``keep`` (e.g. a sweep run without the protocol)."""
    return {**rec, "metrics": {k: v for k, v in rec["metrics"].items() if k.split("/")[1] in keep}}


@pytest.mark.parametrize("keep", [("clean",), ("clean", "audio_drop")], ids=["clean_only", "missing_no_noise"])
def test_report_skips_the_robustness_figure_without_noise_curves(tmp_path, keep):
    from mmml.fusion import report

    from mmml.tables import challenge_extras

    clean = [_without_noise(record(m, s, 0.8, 0.2), keep) for m in ("late_mean", "tensor") for s in (0, 1)]
    assert report.plots(clean, tmp_path) == [] and not list(tmp_path.iterdir())
    plots, notes = challenge_extras(clean, tmp_path)
    assert plots == [] and "report extras failed" not in notes[0] and "| tensor | avdigits |" in notes[0]
    # a data set with noise curves still gets its figure, beside one without
    mixed = clean + [record(m, 0, 0.8, 0.2, dataset="noisy") for m in ("late_mean", "tensor")]
    assert [p.name for p in report.plots(mixed, tmp_path)] == ["fusion_robustness_noisy.png"]
