"""docs/data.md's worked example runs as written: its Python writes the data set, its shell lines check it,
train two methods on it and make the table."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.slow
def test_the_worked_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for code in blocks("python"):
        exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    bin_dir = Path(sys.executable).parent
    outputs = []
    for line in (ln for block in blocks("bash") for ln in block.splitlines() if ln.strip()):
        argv = shlex.split(line)
        out = subprocess.run([str(bin_dir / argv[0]), *argv[1:]], cwd=tmp_path, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, f"{line}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        outputs.append(out.stdout)
    assert "data set pets (target: classification)" in outputs[0] and "no problems found" in outputs[0]
    assert "splits: train 30, val 15, test 15" in outputs[0]
    table = (tmp_path / "table" / "table.md").read_text()
    assert "| early |" in table and "| concat |" in table and "| pets |" in table and "Failed runs" not in table
