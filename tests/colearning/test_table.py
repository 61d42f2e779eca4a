"""Co-learning configs compose, run end to end through the runner, and feed the table's report."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from mmml.colearning import report
from omegaconf import OmegaConf

from mmml.model_config import row_keys
from mmml.results import setting_of
from mmml.runner import run
from mmml.sweeps import expand
from mmml.tables import build_table

CONFIGS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "experiments" / "model" / "colearning")
                 .glob("*.yaml"))


def compose_job(*overrides: str):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_colearning_config_composes_and_leaves_the_data_to_the_command_line(name):
    cfg = compose_job(f"model=colearning/{name}", "labelled_fraction=0.05")
    assert cfg.model.challenge == "colearning"
    assert cfg.model.family in ("parallel", "non_parallel", "hybrid")
    assert cfg.data.labelled_fraction == 0.05 and "labelled_fraction" not in cfg.model.task  # the datamodule's
    assert cfg.data._target_.endswith("AVDigits")  # the default data set: a model config does not choose one
    assert compose_job(f"model=colearning/{name}", "data=mfeat").data._target_.endswith("MFeat")


#: the table's rows before its variants became one config and a sweep value (the names must not change)
ROWS = {"supervised (fou)", "supervised (fou+fac)", "co-training (fou+fac)", "supervised (6 views)",
        "co-training (6 views)", "supervised (image)", "supervised (image+audio)", "co-training (image+audio)",
        "supervised (image net)", "helper transfer (coordinated)", "DeViSE", "ConSE", "supervised upper bound",
        "pivot bridge (speech)", "directly paired upper bound"}


def test_the_table_is_one_sweep_of_its_fifteen_rows_at_every_fraction_and_five_seeds():
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=colearning_table"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("MMMLSweeper")
    assert str(sweeper.params.labelled_fraction) == "0.01,0.05,0.1,1.0" and str(sweeper.params.seed) == "0,1,2,3,4"
    jobs = expand(OmegaConf.to_container(sweeper.params), OmegaConf.to_container(sweeper.grid), [])
    assert len(jobs) == 15 * 4 * 5  # rows x fractions x seeds
    rows = {tuple(o for o in job if not o.startswith(("seed=", "labelled_fraction="))) for job in jobs}
    names = {}
    for row in rows:
        job = compose_job("experiment=colearning_table", *row)
        names[job.model.method] = (job.data._target_.rsplit(".", 1)[1], list(job.data.modalities))
        assert setting_of([*row, "labelled_fraction=0.1", "seed=0"], row_keys(job) | grid_keys(sweeper)) == \
            "labelled_fraction=0.1"  # the row's keys name it; the fraction is its setting, as before
    assert set(names) == ROWS and len(rows) == 15
    assert names["co-training (fou+fac)"] == ("MFeat", ["fou", "fac"])
    assert names["pivot bridge (speech)"] == ("AVDigits", ["image", "audio", "text"])


def grid_keys(sweeper) -> set[str]:
    return {k for sub in sweeper.grid for k in sub}


@pytest.mark.parametrize("name, extra, metric", [
    ("cotrain", ["data.modalities=[image,audio]"], "test/clean/acc"),
    ("helper_coordinated", [], "test/clean/acc"),
    ("devise", ["data.modalities=[image]"], "test/clean/zsl_acc"),
    ("pivot_bridge", ["data.modalities=[image,audio,text]"], "test/clean/image2text_R@1"),
])
def test_runs_end_to_end_and_reports(name, extra, metric, tmp_path):
    cfg = compose_job(f"model=colearning/{name}", "labelled_fraction=0.1", f"run_dir={tmp_path / name}",
                      "trainer.max_epochs=1", "catch_errors=false", *extra)
    record = run(cfg)
    assert record["status"] == "ok", record["error"]
    assert 0.0 <= record["metrics"][metric] <= 1.0
    assert record["setting"] == ""  # overrides given to compose() are not Hydra's task overrides


def fake(config, method, family, seed, fraction, value, dataset="avdigits"):
    return {"challenge": "colearning", "family": family, "method": method, "config_name": config, "seed": seed,
            "dataset": dataset, "status": "ok", "setting": f"labelled_fraction={fraction}",
            "config": {"labelled_fraction": fraction}, "metrics": {report.HEADLINE[family]: value}}


def test_notes_pair_seeds_and_state_where_a_method_helps(tmp_path):
    records = []
    for seed, (co, sup) in enumerate([(0.80, 0.60), (0.82, 0.61), (0.79, 0.62)]):
        records.append(fake("colearning/cotrain", "co-training (image+audio)", "parallel", seed, 0.01, co))
        records.append(fake("colearning/cotrain", "supervised (image+audio)", "parallel", seed, 0.01, sup))
    for seed, (h, s) in enumerate([(0.5, 0.52), (0.51, 0.5), (0.49, 0.5)]):
        records.append(fake("colearning/helper_coordinated", "helper transfer (coordinated)", "parallel", seed, 0.1, h))
        records.append(fake("colearning/supervised_image", "supervised (image net)", "parallel", seed, 0.1, s))
    rows = {(r["method"], r["baseline"], r["fraction"]): r for r in report.gains(records)}
    co = rows[("co-training (image+audio)", "supervised (image+audio)", 0.01)]
    assert co["gain"] == pytest.approx((0.20 + 0.21 + 0.17) / 3)
    text = report.notes(records)
    assert "| co-training (image+audio) | supervised (image+audio) | avdigits | 0.01 |" in text
    assert co["verdict"] == "helps" and co["p_holm"] < 0.05  # +0.19 with a spread of 0.02 over 3 seeds
    helper = rows[("helper transfer (coordinated)", "supervised (image net)", 0.1)]
    assert helper["verdict"] == "no significant difference" and "no significant difference" in text
    assert "within noise" not in text and "twice its standard error" not in text
    for seed in range(3):
        rec = fake("colearning/devise", "DeViSE", "non_parallel", seed, 1.0, 0.40 + 0.01 * seed)
        rec["metrics"]["test/clean/chance"] = 1 / 3
        records.append(rec)
    rows = {(r["method"], r["baseline"], r["fraction"]): r for r in report.gains(records)}
    assert rows[("DeViSE", "chance", 1.0)]["gain"] == pytest.approx(0.41 - 1 / 3)
    paths = report.plots(records, tmp_path)
    assert paths and paths[0].stat().st_size > 0


def test_mmml_table_includes_the_learning_curves(tmp_path):
    import json

    for i, rec in enumerate([fake("colearning/devise", "DeViSE", "non_parallel", s, f, 0.4 + 0.1 * f)
                             for s in (0, 1) for f in (0.1, 1.0)]):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "result.json").write_text(json.dumps(rec))
    paths = build_table([tmp_path], tmp_path / "out")
    assert (tmp_path / "out" / "colearning_curves.png").exists()
    assert "colearning_curves" in paths["md"].read_text()
