"""``mmml-run``'s entry point (mmml.cli): choices checked before torch is imported, exit codes, resume=true."""

import difflib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmml.cli import available, choice_errors, closest

EXE = str(Path(sys.executable).with_name("mmml-run"))


def _cli(cwd, *args, timeout=600):
    return subprocess.run([EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_a_misspelt_choice_names_the_closest_not_every_choice():
    [message] = choice_errors(["model=fusion/tensr"])
    assert "model=fusion/tensr does not exist; closest: fusion/tensor " in message
    assert "representation/cca" not in message and "fusion/early" not in message
    # the first suggestion is difflib's best match over every model choice
    assert difflib.get_close_matches("fusion/tensr", available("model"), n=1)[0] == "fusion/tensor"


@pytest.mark.parametrize(("arg", "expected"), [
    ("model=tensor", "fusion/tensor"), ("data=avdigit", "avdigits"), ("trainer=gpu2", "gpu"),
    ("callbacks=[checkpoint,early_stoping]", "early_stopping"), ("model=fusion/early,fusion/lat", "fusion/late"),
    ("experiment=choice(smoke,smok)", "smoke"), ("+logger=cvs", "csv"),
])
def test_every_group_and_sweep_form_is_checked(arg, expected):
    [message] = choice_errors([arg])
    assert f"closest: {expected}" in message, message


def test_valid_choices_and_other_overrides_pass():
    assert choice_errors(["model=fusion/early,fusion/late", "data=glob(avd*)", "~experiment", "experiment=null",
                          "seed=0,1", "trainer.max_epochs=1", "-m", "--cfg", "job", "logger=[csv,tensorboard]",
                          "hydra/launcher=basic", "callbacks=none"]) == []


def test_a_folder_lists_its_choices_and_nonsense_lists_the_folders():
    assert closest("fusion", available("model")) == [c for c in available("model") if c.startswith("fusion/")]
    [message] = choice_errors(["model=zzzzzzzz"])
    folders = sorted({c.split("/")[0] + "/" for c in available("model")})
    assert {"alignment/", "fusion/", "translation/"} <= set(folders)
    assert f"choices start with {', '.join(folders)} (" in message


def _imported(*code_or_args, module=False):
    """Modules imported by a fresh interpreter (``python -X importtime``), and its result."""
    args = [sys.executable, "-X", "importtime", *(["-m", "mmml.cli"] if module else ["-c"]), *code_or_args]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    names = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    return names, out


def test_importing_mmml_cli_imports_neither_torch_nor_lightning():
    names, out = _imported("import mmml, mmml.cli")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "mmml.cli" in names
    assert not {"torch", "pytorch_lightning", "sklearn", "numpy"} & names


@pytest.mark.parametrize(("args", "says"), [
    (["model=fusion/tensr"], "closest: fusion/tensor"),
    (["trainer.precison=bf16-mixed"], "Key 'precison' is not in struct"),  # Hydra's own error, still before torch
])
def test_config_errors_exit_non_zero_before_torch_is_imported(tmp_path, args, says):
    names, out = _imported(*args, "hydra.run.dir=" + str(tmp_path), module=True)
    assert out.returncode != 0 and says in out.stderr
    assert "torch" not in names and "pytorch_lightning" not in names
    assert "mmml.runner" not in names


def test_a_failed_single_run_exits_non_zero(tmp_path):
    out = _cli(tmp_path, "experiment=smoke", "trainer.max_epochs=0", f"run_dir={tmp_path / 'run'}")
    assert out.returncode == 1, out.stderr[-2000:]
    assert "trainer.max_epochs=0; use a positive" in out.stderr
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_a_multirun_goes_on_past_a_failed_job_and_exits_non_zero(tmp_path):
    sweep = tmp_path / "sweep"
    out = _cli(tmp_path, "-m", "experiment=smoke", "trainer.max_epochs=0,1", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 1, out.stderr[-2000:]
    records = {p.parent.name: json.loads(p.read_text()) for p in sweep.rglob("result.json")}
    assert records["0"]["status"] == "failed" and records["1"]["status"] == "ok"  # the job after the failure ran
    assert f"1 job(s) of the multirun in {sweep} failed" in out.stderr


@pytest.mark.slow
def test_resume_true_skips_a_job_that_is_already_ok(tmp_path):
    run_dir = tmp_path / "run"
    args = ("experiment=smoke", "trainer.max_epochs=1", f"run_dir={run_dir}")
    first = _cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr[-2000:]
    before = json.loads((run_dir / "result.json").read_text())
    again = _cli(tmp_path, *args, "resume=true")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already holds an ok record; skipped" in again.stdout + again.stderr
    assert json.loads((run_dir / "result.json").read_text()) == before  # not rerun
    other = _cli(tmp_path, *args, "seed=1", "resume=true")  # other overrides: not the same job, so it runs
    assert other.returncode == 0, other.stderr[-2000:]
    after = json.loads((run_dir / "result.json").read_text())
    assert after["seed"] == 1 and after["started"] >= before["started"]


def test_adding_a_key_the_config_has_says_to_drop_the_plus():
    # Hydra would answer "Could not append to config. An item is already at 'resume'"
    [message] = choice_errors(["+resume=true", "+quick=true", "seed=1"])
    assert message.endswith("set it without the plus: resume=true")
