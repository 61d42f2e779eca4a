"""mmml-table: grouping, mean ± std over seeds, failed rows, truncated records skipped."""

import json

import numpy as np
import pytest

from mmml.results import setting_of, write_record
from mmml.tables import aggregate, build_table, headline_metric, main


def _record(run_dir, method, seed, acc, status="ok", family="neural", dataset="avdigits", setting=""):
    write_record(run_dir, {
        "challenge": "fusion", "family": family, "method": method, "dataset": dataset, "seed": seed,
        "setting": setting, "status": status, "error": None if status == "ok" else "RuntimeError: boom",
        "metrics": {"test/clean/acc": acc, "test/audio_drop/acc": acc / 2} if status == "ok" else {},
        "n_params": 1000, "fit_seconds": 2.0,
    })


@pytest.fixture
def sweep(tmp_path):
    accs = {"tensor": [0.8, 0.9, 0.85], "lowrank": [0.7, 0.72, 0.74]}
    for method, values in accs.items():
        for seed, acc in enumerate(values):
            _record(tmp_path / "sweep" / f"{method}{seed}", method, seed, acc)
    _record(tmp_path / "sweep" / "gated0", "gated", 0, None, status="failed")
    (tmp_path / "sweep" / "truncated").mkdir()
    (tmp_path / "sweep" / "truncated" / "result.json").write_text('{"challenge": "fusion", "met')
    return tmp_path / "sweep", accs


def test_mean_and_std_over_seeds_match_numpy(sweep):
    folder, accs = sweep
    with pytest.warns(UserWarning, match="skipping unreadable result record"):
        paths = build_table([folder], folder.parent / "t", title="fusion")
    md = paths["md"].read_text()
    for method, values in accs.items():
        row = next(line for line in md.splitlines() if f"| {method} |" in line)
        mean, std = np.mean(values), np.std(values, ddof=1)
        half = np.asarray(values) / 2
        assert f"| {mean:.3f} ± {std:.3f} | {half.mean():.3f} ± {half.std(ddof=1):.3f} |" in row
    assert "| gated |" in md and "failed" in md and "RuntimeError: boom" in md
    csv = paths["csv"].read_text().splitlines()
    assert csv[0].startswith("challenge,family,method,dataset,setting,status,n_seeds,test/clean/acc_mean")
    assert any(",gated," in line and ",failed," in line for line in csv)
    assert "\\pm" in paths["tex"].read_text() and "\\toprule" in paths["tex"].read_text()
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_rows_are_grouped_and_settings_separate_rows(tmp_path):
    for seed in range(2):
        _record(tmp_path / f"a{seed}", "cotrain", seed, 0.5, family="parallel", setting="labelled=0.01")
        _record(tmp_path / f"b{seed}", "cotrain", seed, 0.9, family="parallel", setting="labelled=1.0")
        _record(tmp_path / f"c{seed}", "early", seed, 0.8, family="model_agnostic")
    rows = aggregate([json.loads(p.read_text()) for p in sorted(tmp_path.rglob("result.json"))])
    keys = [(r.key[1], r.key[2], r.key[4]) for r in rows]
    assert keys == [("model_agnostic", "early", ""), ("parallel", "cotrain", "labelled=0.01"),
                    ("parallel", "cotrain", "labelled=1.0")]
    assert [len(r.seeds) for r in rows] == [2, 2, 2]


def test_setting_ignores_seed_model_data_and_hydra():
    assert setting_of(["seed=1", "model=fusion/early", "data=mfeat", "hydra.sweep.dir=x", "trainer=cpu",
                       "+resume=true", "model.task.labelled_fraction=0.05"]) == "model.task.labelled_fraction=0.05"


def test_cli_reports_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "t")])
    assert err.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_skipped_runs_are_listed_apart_not_as_rows(tmp_path):
    _record(tmp_path / "a", "early", 0, 0.8)
    write_record(tmp_path / "b", {"challenge": "fusion", "family": "model_agnostic", "method": "early",
                                  "dataset": "mfeat", "seed": 0, "status": "skipped",
                                  "error": "MissingDataError: mfeat folder x does not exist"})
    md = build_table([tmp_path], tmp_path / "t")["md"].read_text()
    assert "| mfeat |" not in md
    assert "Skipped (data set not available here)" in md and "early on mfeat: MissingDataError" in md


def test_headline_metric_is_the_one_each_challenge_names():
    have = ["test/clean/arith", "test/clean/probe_all", "test/clean/image2audio_R@1"]
    assert headline_metric("representation", "joint", have) == "test/clean/probe_all"
    assert headline_metric("representation", "coordinated", have) == "test/clean/image2audio_R@1"
    assert headline_metric("translation", "model_based", ["test/clean/exact", "test/clean/wer"]) == "test/clean/wer"
    # named but not measured, unknown family or challenge: the first metric there is
    assert headline_metric("translation", "model_based", ["test/clean/exact"]) == "test/clean/exact"
    assert headline_metric("representation", "hybrid", have) == "test/clean/arith"
    assert headline_metric("no_such_challenge", "x", have) == "test/clean/arith"
    assert headline_metric("fusion", "neural", []) is None


def test_keys_that_name_the_row_are_not_a_setting():
    """``late_${model.net.combine}`` already tells late_mean from late_product; the fraction still is a setting."""
    overrides = ["model=fusion/late", "model.net.combine=mean", "data.modalities=[fou]", "labelled_fraction=0.1"]
    assert setting_of(overrides) == "data.modalities=[fou],labelled_fraction=0.1,model.net.combine=mean"
    assert setting_of(overrides, {"model.net.combine", "data.modalities"}) == "labelled_fraction=0.1"
