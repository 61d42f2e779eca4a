"""Reliability: resumable after SIGKILL, sweeps that survive failing jobs, non-finite losses stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from mmml.runner import run

RUN = str(Path(sys.executable).with_name("mmml-run"))
FAST = ["experiment=smoke", "data.test_conditions=[clean]"]


def config(*overrides):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_non_finite_loss_stops_records_failed_and_keeps_the_last_good_checkpoint(tmp_path):
    rec = run(config(*FAST, "trainer.max_epochs=4", "+model.net.steps=40", "model.net._target_=faulty.DivergesAfter",
                     f"run_dir={tmp_path}"))
    assert rec["status"] == "failed" and "NonFiniteLossError" in rec["error"] and "lr" in rec["error"]
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] >= 1  # saved at the end of a good epoch (19 steps each), before the loss diverged
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_gives_the_same_metrics(tmp_path):
    args = [*FAST, "trainer.max_epochs=4", "data.batch_size=16"]
    # both runs through the CLI, so both use the same number of threads (results depend on it on CPU)
    done = subprocess.run([RUN, *args, f"run_dir={tmp_path / 'straight'}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    straight = json.loads((tmp_path / "straight" / "result.json").read_text())
    assert straight["status"] == "ok"
    victim = tmp_path / "victim"
    proc = subprocess.Popen([RUN, *args, f"run_dir={victim}"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    last = victim / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last.exists() and not (victim / "result.json").exists(), "the run was not killed mid-training"
    epoch = torch.load(last, weights_only=True)["epoch"]
    assert epoch < 3
    out = subprocess.run([RUN, *args, f"run_dir={victim}", "resume=true"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    resumed = json.loads((victim / "result.json").read_text())
    assert resumed["status"] == "ok"
    assert resumed["metrics"] == straight["metrics"]


@pytest.mark.slow
def test_sweep_of_ten_with_one_failure_then_resume_fills_only_missing_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    common = [*FAST, "trainer.max_epochs=1", "data.batch_size=256", f"hydra.sweep.dir={sweep}"]
    nine = [RUN, "-m", *common, "seed=0,1,2,3,4,5,6,7,8"]
    out = subprocess.run(nine, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    # a tenth job that raises, in the same sweep folder
    out = subprocess.run([RUN, "-m", *common, "seed=9", "model.net._target_=faulty.Raises",
                          "hydra.sweep.subdir=9"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "helpers")})
    assert out.returncode == 1, out.stderr[-2000:]  # mmml-run exits non-zero when a job failed
    records = {p.parent.name: json.loads(p.read_text()) for p in sweep.rglob("result.json")}
    assert len(records) == 10
    assert sorted(r["status"] for r in records.values()).count("ok") == 9
    assert records["9"]["status"] == "failed" and "RuntimeError: boom" in records["9"]["error"]
    # interrupted sweep: lose two jobs, re-run with resume=true, only those two run again
    for lost in ("3", "7"):
        (sweep / lost / "result.json").unlink()
    stamps = {k: (sweep / k / "result.json").stat().st_mtime_ns for k in records if k not in ("3", "7", "9")}
    out = subprocess.run([*nine, "resume=true"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert all((sweep / k / "result.json").stat().st_mtime_ns == t for k, t in stamps.items())
    assert all(json.loads((sweep / k / "result.json").read_text())["status"] == "ok" for k in ("3", "7"))
