"""Two-process DDP (CPU, gloo) gives the whole-split metrics of one process (issue 15).

One method of each challenge is fitted and tested by ``mmml.runner.run`` with ``trainer=ddp_cpu`` (two processes,
each seeing a padded shard of every split), all under one DDP launch (``tests/helpers/ddp_jobs.py``). The same
trained weights (the run's ``last.ckpt``: one epoch, so also the best) are then validated and tested in this
one process; whole-split metrics (accuracy, retrieval, probes, boundary errors, WER...) must be equal.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mmml.runner import build, set_process_options, trainer_config

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
sys.path.insert(0, str(HELPERS))
from ddp_jobs import JOBS  # noqa: E402

TIMING = ("ms_per_pair",)  # wall time: not a function of the weights


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(HELPERS / "ddp_jobs.py"), str(out), "--", "trainer=ddp_cpu"], cwd=out,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _one_process(run_dir: Path):
    """Validate and test the DDP run's trained weights in this process, with the run's own configuration."""
    record = json.loads((run_dir / "result.json").read_text())
    cfg = OmegaConf.create(record["config"])
    pl.seed_everything(int(cfg.seed))
    dm = instantiate(cfg.data, _convert_="all")
    task = build(cfg.model.task, dm, net=build(cfg.model.net, dm))
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    task.load_state_dict(state)
    set_process_options(cfg)  # threads, matmul precision: as in the DDP processes
    node = trainer_config(cfg, task)  # the run's trainer settings (deterministic...), on one device
    node.update(devices=1, strategy="auto", logger=False, enable_checkpointing=False)
    trainer = instantiate(node, default_root_dir=str(run_dir / "one"), _convert_="all")
    trainer.validate(task, datamodule=dm, verbose=False)
    trainer.test(task, datamodule=dm, verbose=False)
    return record, task, dm


def _same(ddp: dict[str, float], one: dict[str, float]) -> list[str]:
    assert set(ddp) == set(one)
    return [f"{k}: ddp {ddp[k]} != one process {one[k]}" for k in sorted(ddp)
            if not k.endswith(TIMING) and not (math.isnan(ddp[k]) and math.isnan(one[k]))
            and not math.isclose(ddp[k], one[k], rel_tol=1e-5, abs_tol=1e-6)]


@pytest.mark.parametrize("job", list(JOBS))
def test_ddp_whole_split_metrics_equal_one_process(ddp_runs, job):
    run_dir = ddp_runs / job
    record, task, dm = _one_process(run_dir)
    assert record["status"] == "ok", record.get("traceback")
    val = json.loads((run_dir / "val.json").read_text())
    assert val["world_size"] == 2 and record["metrics"] and val["val_results"]
    # a split with an odd number of examples: one rank's shard holds a padding duplicate, which must be dropped
    assert any(len(dm.split(s)["label"]) % 2 for s in ("val", "test")), {s: len(dm.split(s)["label"]) for s in
                                                                        ("val", "test")}
    assert _same(record["metrics"], task.test_results) == []
    assert _same(val["val_results"], task.val_results) == []
    assert record["best_val"]["name"] == task.monitor and record["best_val"]["epoch"] == 0
    assert record["best_val"]["value"] == pytest.approx(task.val_results[task.monitor], rel=1e-5, abs=1e-6)


def test_ddp_only_rank_zero_writes_the_side_files(ddp_runs):
    """Files written at test (the projection, the alignment example, translations) come from rank 0 only, once."""
    assert (ddp_runs / "representation" / "embedding_2d.npz").exists()
    assert (ddp_runs / "alignment" / "alignment_example.pt").exists()
    translations = json.loads((ddp_runs / "translation" / "translations.json").read_text())
    assert list(translations) == ["clean"]  # test conditions only: not the validation split
    assert sorted(p.name for p in ddp_runs.rglob("result.json")) == ["result.json"] * len(JOBS)
