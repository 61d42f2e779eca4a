"""Reproducible to the bit on CPU: the same config and seed give identical metrics, one method per challenge."""

import pytest
from hydra import compose, initialize_config_module

from mmml.runner import run

CASES = {
    "fusion": ["experiment=smoke", "trainer.max_epochs=1", "model=fusion/early"],
    "representation": ["model=representation/contrastive", "trainer.max_epochs=1",
                       "data.modalities=[image,audio]"],
    "translation": ["model=translation/recognition/attention", "data=digit_sequences", "data.n_sequences=120",
                    "trainer.max_epochs=1"],
    "colearning": ["model=colearning/helper_coordinated", "trainer.max_epochs=1"],
}


@pytest.mark.parametrize("challenge", sorted(CASES))
def test_same_config_and_seed_give_identical_metrics(challenge, tmp_path):
    records = []
    for i in range(2):
        with initialize_config_module("mmml.experiments", version_base="1.3"):
            cfg = compose("config", overrides=[*CASES[challenge], "seed=1", f"run_dir={tmp_path / str(i)}"])
        records.append(run(cfg))
    assert [r["status"] for r in records] == ["ok", "ok"], records[0].get("error")
    assert records[0]["challenge"] == challenge
    assert records[0]["metrics"] and records[0]["metrics"] == records[1]["metrics"]
