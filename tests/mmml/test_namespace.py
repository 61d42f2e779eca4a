"""mmml installs one import namespace: a user's own experiments/, fusion/ or alignment/ never shadows it."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHALLENGES = ("representation", "translation", "alignment", "fusion", "colearning", "experiments")


def _python_files() -> list[Path]:
    folders = ["mmml", *CHALLENGES, "tests"]
    return [p for f in folders for p in (ROOT / f).rglob("*.py")]


def test_no_module_imports_a_challenge_as_a_top_level_name():
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                          if n.split(".")[0] in CHALLENGES]
    assert offenders == []


def test_challenges_are_subpackages_of_mmml():
    import mmml.alignment
    import mmml.experiments
    import mmml.fusion

    assert mmml.fusion.__name__ == "mmml.fusion" and hasattr(mmml.fusion, "TensorFusion")
    assert hasattr(mmml.alignment, "dtw")
    assert (Path(mmml.experiments.__file__).parent / "config.yaml").is_file()


@pytest.fixture
def shadowing_folder(tmp_path: Path) -> Path:
    """A research project's working directory with its own experiments/, fusion/ and alignment/ packages."""
    for name in ("experiments", "fusion", "alignment"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the user\\'s own {name} was imported')\n")
    (tmp_path / "experiments" / "experiment").mkdir()
    (tmp_path / "experiments" / "experiment" / "smoke.yaml").write_text("this: is the user's, not mmml's\n")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "module"])
def test_runner_ignores_a_users_packages_of_the_same_names(shadowing_folder: Path, how: str):
    script = Path(sys.executable).with_name("mmml-run")
    if how == "script" and not script.exists():
        pytest.skip("no mmml-run script beside the interpreter (project not installed with pip)")
    command = [str(script)] if how == "script" else [sys.executable, "-m", "mmml.runner"]
    run_dir = shadowing_folder / "run"
    env = {**os.environ, "PYTHONPATH": str(shadowing_folder)}
    done = subprocess.run([*command, "experiment=smoke", "trainer.max_epochs=1", f"run_dir={run_dir}"],
                          cwd=shadowing_folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "ok", record.get("error")
    assert record["challenge"] == "fusion" and record["metrics"]["test/clean/acc"] > 0.1
    shutil.rmtree(run_dir)
