"""End to end through the runner: configs compose, every kind of translator trains and is scored, records
and translations are written, the report builds its table and plot, and a seed fixes every number."""

from __future__ import annotations

import json
import math

import pytest
from hydra import compose, initialize_config_module
from mmml.translation.report import notes, plots

from mmml.results import find_records
from mmml.runner import run

SMALL = ["data.n_sequences=100", "data.standardize=[audio]", "trainer.max_epochs=1"]


def _run(tmp_path, name: str, *extra: str) -> dict:
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=[f"model=translation/{name}", "data=digit_sequences", *SMALL,
                                           f"run_dir={tmp_path / name.replace('/', '_')}", *extra])
    return run(cfg)


@pytest.mark.slow
def test_translators_run_end_to_end_and_report(tmp_path):
    records = [
        _run(tmp_path, "captioning/nearest"),
        _run(tmp_path, "mmt/topk"),
        _run(tmp_path, "recognition/attention", "model.net.hidden=8", "model.net.beam=2"),
        _run(tmp_path, "synthesis/template", "model.net.hidden=8", "++model.task.judge_epochs=1"),
    ]
    for rec in records:
        assert rec["status"] == "ok", rec["error"]
        assert rec["challenge"] == "translation" and rec["family"] in ("example_based", "model_based")
        for metric in ("bleu", "chrf", "wer", "cer", "exact"):
            assert math.isfinite(rec["metrics"][f"test/clean/{metric}"])
    assert "test/clean/truncated" in records[0]["metrics"]
    assert {"test/clean/mel_dtw", "test/clean/judge_exact"} <= set(records[3]["metrics"])
    shown = json.loads((tmp_path / "captioning_nearest" / "translations.json").read_text())["clean"]
    assert len(shown) == 4 and shown[0]["reference"]
    found = find_records([tmp_path])
    text = notes(found)
    assert "| digit_sequences | captioning | nearest |" in text and "evaluation dilemma" in text
    assert plots(found, tmp_path)[0].is_file()


@pytest.mark.slow
def test_a_seed_fixes_every_number(tmp_path):
    a = _run(tmp_path / "a", "captioning/crossmodal")
    b = _run(tmp_path / "b", "captioning/crossmodal")
    assert a["status"] == b["status"] == "ok" and a["metrics"] == b["metrics"]


def test_table_experiments_compose():
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        for name, n in (("translation_table", 20), ("translation_table_fsdd", 10)):
            cfg = compose("config", overrides=[f"experiment={name}"], return_hydra_config=True)
            models = cfg.hydra.sweeper.params.model.split(",")
            assert len(models) == n and all(m.startswith("translation/") for m in models)
            for model in models:
                m = compose("config", overrides=[f"experiment={name}", f"model={model}"]).model
                assert m.net.direction in model and m.challenge == "translation"
