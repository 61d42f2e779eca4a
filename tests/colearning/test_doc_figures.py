"""docs/colearning.md quotes the avdigits degradation that the co-learning table runs with (its SNR and the
share of PCA energy removed from the images), as set in experiments/data/avdigits.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def test_colearning_doc_figures_equal_the_config():
    cfg = yaml.safe_load((ROOT / "experiments/data/avdigits.yaml").read_text())
    table = (ROOT / "experiments/experiment/colearning_table.yaml").read_text()
    assert "snr_db" not in table and "image_energy_removed" not in table  # the table keeps the defaults
    doc = (ROOT / "docs/colearning.md").read_text()
    snrs = {float(x.replace("−", "-")) for x in re.findall(r"([−-]?\d+(?:\.\d+)?) dB SNR", doc)}
    energies = {float(x) / 100 for x in re.findall(r"(\d+)% of (?:its|their) PCA energy removed", doc)}
    assert snrs == {float(cfg["snr_db"])}
    assert energies == {float(cfg["image_energy_removed"])}
