"""The Hydra runner: records, reproducibility, failures recorded not fatal, configs found from a wheel."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from mmml.runner import run

EXPERIMENTS = sorted(p.stem for p in (Path(__file__).parents[2] / "experiments" / "experiment").glob("*.yaml"))


def config(*overrides):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_smoke_writes_an_ok_record(tmp_path):
    rec = run(config("experiment=smoke", f"run_dir={tmp_path}"))
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["status"] == "ok", saved.get("traceback")
    assert (saved["challenge"], saved["family"], saved["method"]) == ("fusion", "model_agnostic", "early")
    assert set(saved["metrics"]) == {f"test/{c}/{m}" for c in ("clean", "audio_drop", "image_noise0.5")
                                     for m in ("acc", "f1")}
    assert saved["metrics"]["test/clean/acc"] > 0.4  # well above chance (0.1) after 3 epochs
    assert saved["n_params"] > 0 and saved["fit_seconds"] > 0 and saved["versions"]["torch"]
    assert 0 < saved["cpu_seconds"] < 600  # the job's own CPU time (process_time), robust to other load
    assert rec["metrics"] == saved["metrics"]
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_same_seed_gives_identical_metrics(tmp_path):
    args = ("experiment=smoke", "trainer.max_epochs=1", "model=fusion/late", "model.net.combine=learned")
    a = run(config(*args, f"run_dir={tmp_path / 'a'}"))
    b = run(config(*args, f"run_dir={tmp_path / 'b'}"))
    c = run(config(*args, "seed=1", f"run_dir={tmp_path / 'c'}"))
    assert a["status"] == b["status"] == "ok"
    assert a["metrics"] == b["metrics"]
    assert a["metrics"] != c["metrics"]


@pytest.mark.parametrize(
    ("override", "match"),
    [("trainer.max_epochs=0", "trainer.max_epochs=0; use a positive"),
     ("data.batch_size=-4", "data.batch_size=-4; use a positive"),
     ("model.net.modalities=[image,video]", "video")],
)
def test_a_failing_job_is_recorded_as_failed(tmp_path, override, match):
    rec = run(config("experiment=smoke", override, f"run_dir={tmp_path}"))
    saved = json.loads((tmp_path / "result.json").read_text())
    assert rec["status"] == saved["status"] == "failed"
    assert match in saved["error"]


@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_gpu_trainer_without_a_gpu_fails_with_the_fix(tmp_path, monkeypatch, trainer):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    rec = run(config("experiment=smoke", f"trainer={trainer}", f"run_dir={tmp_path}"))
    assert rec["status"] == "failed"
    assert "sees no CUDA GPU here; use trainer=cpu" in rec["error"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = config(f"experiment={experiment}")
    assert cfg.model.net._target_ and cfg.model.task._target_ and cfg.data._target_


def _cli(tmp_path, *args):
    exe = Path(sys.executable).with_name("mmml-run")
    return subprocess.run([str(exe), *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_multirun_survives_a_failing_job_and_the_table_shows_it(tmp_path):
    sweep = tmp_path / "sweep"
    out = _cli(tmp_path, "-m", "experiment=smoke", "trainer.max_epochs=1,0", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 1, out.stderr[-2000:]  # every job ran; one failed
    records = [json.loads(p.read_text()) for p in sorted(sweep.rglob("result.json"))]
    assert sorted(r["status"] for r in records) == ["failed", "ok"]
    exe = str(Path(sys.executable).with_name("mmml-table"))
    table = subprocess.run([exe, str(sweep), "--out", str(tmp_path / "t")], capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    md = (tmp_path / "t" / "table.md").read_text()
    assert "failed" in md and "trainer.max_epochs=0" in md
    for ext in ("md", "csv", "tex", "png"):
        assert (tmp_path / "t" / f"table.{ext}").stat().st_size > 0


def test_unknown_method_data_or_trainer_is_named_with_the_closest_choices(tmp_path):
    for override, near in (("model=fusion/erly", "fusion/early"), ("data=mfet", "mfeat"), ("trainer=cpus", "cpu")):
        out = _cli(tmp_path, override, "trainer.max_epochs=1")
        assert out.returncode == 2
        assert f"{override} does not exist; closest: {near}" in out.stderr


def test_absent_real_data_is_failed_or_skipped_on_request(tmp_path):
    args = ("model=fusion/early", "data=mfeat", f"data.root={tmp_path / 'none'}", "trainer.max_epochs=1")
    failed = run(config(*args, f"run_dir={tmp_path / 'a'}"))
    skipped = run(config(*args, "skip_missing_data=true", f"run_dir={tmp_path / 'b'}"))
    assert failed["status"] == "failed" and skipped["status"] == "skipped"
    assert "MissingDataError" in skipped["error"] and "data.root" in skipped["error"]


def test_threads_limits_torch_and_the_blas_pools():
    """threads=1 holds for numpy/scipy/scikit-learn's BLAS too (oversubscribed BLAS threads: 10-40x slower SVDs)."""
    import torch
    from omegaconf import OmegaConf
    from threadpoolctl import threadpool_info, threadpool_limits

    from mmml.runner import set_process_options

    before = torch.get_num_threads()
    with threadpool_limits():  # restores the BLAS pools afterwards
        set_process_options(OmegaConf.create({"threads": 1}))
        pools = threadpool_info()
        assert torch.get_num_threads() == 1
        assert pools and all(p["num_threads"] == 1 for p in pools), pools
    torch.set_num_threads(before)
