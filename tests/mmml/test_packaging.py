"""Packaging: torch and torchaudio installed as a matching pair, and the pins in pyproject.toml.

torchaudio's compatibility matrix (docs.pytorch.org/audio/2.11.0/installation.html): torchaudio 2.11 is built
against PyTorch's stable ABI and supports torch 2.11 and every later torch; a torchaudio before 2.11 links one
torch release and needs that torch minor.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[2]


def _minor(v: str) -> tuple[int, int]:
    release = Version(v).release
    return release[0], release[1]


def matching_pair(torch_version: str, torchaudio_version: str) -> bool:
    """True where torchaudio's compatibility matrix pairs these releases."""
    ta, t = _minor(torchaudio_version), _minor(torch_version)
    return t >= ta if ta >= (2, 11) else t == ta


def test_matching_pair_rule():
    assert matching_pair("2.14.1+cu130", "2.11.1+cu132")  # stable-ABI torchaudio, newer torch
    assert matching_pair("2.11.0", "2.11.1")
    assert not matching_pair("2.10.0", "2.11.1")  # torchaudio newer than torch
    assert matching_pair("2.9.1", "2.9.1")
    assert not matching_pair("2.14.1", "2.9.1")  # pre-stable-ABI torchaudio links one torch release


def test_installed_torch_and_torchaudio_match():
    t, ta = version("torch"), version("torchaudio")
    assert matching_pair(t, ta), f"torch {t} with torchaudio {ta} is not a pair of torchaudio's matrix"


def test_torchaudio_compiled_op_runs_against_installed_torch():
    """forced_align is a compiled torchaudio op: a hand-worked Viterbi path through blank, 1, blank, 2."""
    import torchaudio.functional as AF

    # frames favour: blank, 1, 1, blank, 2 (log-probabilities of the favoured class are log 0.9)
    favoured = [0, 1, 1, 0, 2]
    probs = torch.full((5, 3), 0.05)
    probs[torch.arange(5), torch.tensor(favoured)] = 0.9
    emission = probs.log().unsqueeze(0)
    path, scores = AF.forced_align(emission, torch.tensor([[1, 2]], dtype=torch.int32), blank=0)
    assert path[0].tolist() == favoured
    torch.testing.assert_close(scores[0], torch.full((5,), torch.tensor(0.9).log().item()))


def _requirements() -> dict[str, Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name: Requirement(r) for r in meta["dependencies"]}


def test_pins_admit_only_matching_pairs_and_bound_lightning():
    reqs = _requirements()
    # every torchaudio the pin admits is a stable-ABI release, so any admitted torch >= it pairs with it
    assert not reqs["torchaudio"].specifier.contains("2.10.0")
    assert reqs["torchaudio"].specifier.contains("2.11.1")
    assert not reqs["torch"].specifier.contains("2.10.0")
    assert reqs["torch"].specifier.contains(version("torch").split("+")[0])
    # mmml/checkpoint.py overrides ModelCheckpoint._save_checkpoint (private): bounded above
    lightning = reqs["pytorch-lightning"].specifier
    assert lightning.contains(version("pytorch-lightning"))
    assert not lightning.contains("2.7.0")
    source = (ROOT / "mmml" / "checkpoint.py").read_text()
    assert re.search(r"def _save_checkpoint\(", source), "the bound can go once the override is gone"


@pytest.mark.parametrize("extra,package", [("launchers", "hydra-joblib-launcher"),
                                           ("launchers", "hydra-submitit-launcher"),
                                           ("ray", "hydra-ray-launcher"), ("hpo", "optuna"),
                                           ("dev", "hydra-joblib-launcher"), ("dev", "optuna")])
def test_extras(extra, package):
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert package in {Requirement(r).name for r in extras[extra]}
