"""Hydra launchers: a 2-job sweep of the smoke experiment through each launcher ends with two ok records and
a table (docs/cluster.md).

``mmml-run -m experiment=smoke hydra/launcher=<launcher> seed=0,1`` with one epoch, then ``mmml-table`` on the
sweep folder; the table's mean must be the mean of the two records. joblib and submitit's local executor come
with the ``dev`` extra; Ray (a local cluster of 2 CPUs) with the ``ray`` extra, and is skipped without it.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LAUNCHERS = {
    # launcher: (its module, extra overrides, a line of its own in the output or a folder it makes)
    "joblib": ("hydra_plugins.hydra_joblib_launcher", ["hydra.launcher.n_jobs=2"], "Joblib.Parallel(n_jobs=2"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", [], ".submitit"),
    "ray": ("hydra_plugins.hydra_ray_launcher", ["+hydra.launcher.ray.init.num_cpus=2",
                                                 "+hydra.launcher.ray.init.include_dashboard=false"],
            "Ray Launcher is launching 2 jobs"),
}


def _script(name: str) -> Path:
    exe = Path(sys.executable).with_name(name)
    if not exe.exists():
        pytest.skip(f"no {name} script beside the interpreter (install the project with pip install -e .)")
    return exe


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_two_job_sweep_writes_two_ok_records_and_a_table(launcher, tmp_path, fsdd_dir, mfeat_dir):
    module, extra, mark = LAUNCHERS[launcher]
    if importlib.util.find_spec(module) is None:
        extra_name = "ray" if launcher == "ray" else "launchers"
        pytest.skip(f"{module} not installed (pip install -e '.[{extra_name}]')")
    sweep = tmp_path / "sweep"
    done = subprocess.run([str(_script("mmml-run")), "-m", "experiment=smoke", f"hydra/launcher={launcher}",
                           "seed=0,1", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}", *extra],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert mark in output or (sweep / mark).is_dir(), f"{launcher} did not run the jobs:\n{output[-3000:]}"

    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/result.json"))]
    assert [r["status"] for r in records] == ["ok", "ok"], [r.get("error") for r in records]
    assert sorted(r["seed"] for r in records) == [0, 1]
    accs = [r["metrics"]["test/clean/acc"] for r in records]
    assert all(0.0 <= a <= 1.0 for a in accs)

    out = tmp_path / "table"
    table = subprocess.run([str(_script("mmml-table")), str(sweep), "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr[-3000:]
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["method"], row["status"], int(row["n_seeds"])) == ("early", "ok", 2)
    assert float(row["test/clean/acc_mean"]) == pytest.approx(sum(accs) / 2, abs=1e-5)
    assert (out / "table.md").read_text().count("| fusion |") == 1
