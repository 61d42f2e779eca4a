"""mmml's sweeper: common params x a union of sub-grids (mmml.sweeps), shipped as a Hydra plugin."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import pytest

from mmml.sweeps import count, expand


def product(**axes: str) -> list[list[str]]:
    """The basic sweeper's cartesian product, written out independently."""
    return [[f"{k}={v}" for k, v in zip(axes, values, strict=True)]
            for values in itertools.product(*(a.split(",") for a in axes.values()))]


def test_without_a_grid_it_is_the_basic_sweepers_product():
    assert expand({"a": "1,2", "b": "x,y,z"}, None, []) == product(a="1,2", b="x,y,z")
    assert expand({"a": "1,2"}, [], ["a=3", "c=5,6"]) == product(a="3", c="5,6")  # the command line replaces


def test_a_grid_is_the_union_of_its_sub_grids_each_with_the_common_params():
    grid = [{"model": "fusion/early,fusion/tensor"}, {"model": "fusion/late", "model.net.combine": "mean,product"}]
    jobs = expand({"seed": "0,1"}, grid, [])
    assert jobs == product(seed="0,1", model="fusion/early,fusion/tensor") + \
        product(seed="0,1", model="fusion/late", **{"model.net.combine": "mean,product"})
    assert count({"seed": "0,1"}, grid) == 2 * 2 + 2 * 2


def test_the_command_line_selects_rows_by_the_grids_keys_and_replaces_the_others():
    grid = [{"model": "m/a,m/b", "data": "d1"}, {"model": "m/c", "data": "d2", "x": "1,2"}]
    assert expand({"seed": "0,1"}, grid, ["model=m/c", "seed=5"]) == product(seed="5", model="m/c", data="d2", x="1,2")
    assert expand({"seed": "0"}, grid, ["data=d1"]) == product(seed="0", model="m/a,m/b", data="d1")
    assert expand({"seed": "0"}, grid, ["x=2"]) == product(seed="0", model="m/c", data="d2", x="2")  # rows with x
    with pytest.raises(ValueError, match=r"selects none of the sweep's rows.*'model': \['m/a', 'm/b', 'm/c'\]"):
        expand({"seed": "0"}, grid, ["model=m/z"])


def test_list_values_and_duplicates():
    grid = [{"data.modalities": "[fou],[fou,fac]"}, {"data.modalities": "[fou]"}]
    assert expand(None, grid, []) == [["data.modalities=[fou]"], ["data.modalities=[fou,fac]"]]  # run once


def test_the_tables_keep_their_job_counts():
    from mmml.survey import count_jobs

    # fusion: 16 rows on avdigits, mfeat and avdigits_fsdd under 2 split protocols, the mfeat views kar/pix/zer/mor
    # alone, per-view SVMs (2 views on avdigits and on avdigits_fsdd under both protocols, 6 on mfeat)
    assert count_jobs("fusion_table", []) == (4 * 16 + 4 + 2 * 3 + 6) * 5
    assert count_jobs("colearning_table", []) == 15 * 4 * 5
    assert count_jobs("fusion_table", ["model=fusion/late", "seed=0"]) == 4 * 3  # late_mean, _product, _learned
    assert count_jobs("colearning_table", ["data=avdigits", "seed=0", "labelled_fraction=0.1"]) == 10


@pytest.mark.slow
def test_the_plugin_runs_a_grid_as_one_multirun(tmp_path):
    """A Hydra app selecting ``hydra/sweeper: mmml`` runs the grid's jobs, each with its overrides."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(textwrap.dedent("""\
        defaults:
          - override hydra/sweeper: mmml
          - _self_
        seed: 0
        model: early
        combine: none
        hydra:
          sweeper:
            params: {seed: "0,1"}
            grid:
              - {model: early}
              - {model: late, combine: "mean,product"}
    """))
    (tmp_path / "app.py").write_text(textwrap.dedent("""\
        import json, sys
        import hydra
        import mmml.experiments  # registers mmml's sweeper, as every mmml-run does

        @hydra.main(version_base="1.3", config_path="conf", config_name="config")
        def main(cfg):
            with open(sys.argv[-1].split("=", 1)[1] + "/jobs.jsonl", "a") as f:
                f.write(json.dumps([cfg.seed, cfg.model, cfg.combine]) + "\\n")

        main()
    """))
    out = subprocess.run([sys.executable, str(tmp_path / "app.py"), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                          f"hydra.run.dir={tmp_path}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = sorted(tuple(json.loads(line)) for line in (tmp_path / "jobs.jsonl").read_text().splitlines())
    assert jobs == sorted([(s, "early", "none") for s in (0, 1)] +
                          [(s, "late", c) for s in (0, 1) for c in ("mean", "product")])
    assert (tmp_path / "sweep" / "multirun.yaml").exists()


def test_legality_is_checked_on_one_job_of_each_kind():
    """Jobs that differ only in plain values compose alike: one stands for them; a group choice, a package, an
    added key or a ``hydra.`` key (typed by Hydra's schemas) makes another kind."""
    from types import SimpleNamespace

    from hydra_plugins.mmml_sweeper.mmml_sweeper import MMMLSweeper

    class Loader:
        def get_group_options(self, name: str) -> list[str]:
            return {"model": ["a", "b"], "data": ["x"]}.get(name, [])

    sweeper = MMMLSweeper()
    sweeper.hydra_context = SimpleNamespace(config_loader=Loader())
    batch = [["seed=0", "model=a"], ["seed=1", "model=a"], ["seed=0", "model=b"], ["seed=2", "model=b"],
             ["seed=0", "model=a", "+extra=1"], ["seed=1", "model=a", "+extra=2"],
             ["seed=0", "model=a", "hydra.job.chdir=true"], ["seed=0", "model=a", "hydra.job.chdir=maybe"],
             ["seed=0", "model=a", "model.net.width=3"], ["seed=0", "model=a", "model.net.width=4"],
             ["seed=0", "model@m2=a"], ["seed=0", "model@m2=b"]]
    assert sweeper.representatives(batch) == [batch[i] for i in (0, 2, 4, 6, 7, 8, 10, 11)]
