"""The alignment task and its runs: whole-split scores equal the metrics', the example is written, configs compose,
and one aligner runs end to end through the runner with its report (table notes and the path plot)."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from mmml.alignment import AlignmentTask, UniformAligner
from mmml.alignment.metrics import alignment_scores
from mmml.alignment.report import notes, plots
from mmml.alignment.task import EXAMPLE_FILE

from mmml.io import load_tensors, save_tensors
from mmml.results import find_records
from mmml.runner import build, run

METHODS = ("uniform", "dtw_template", "soft_dtw_template", "ctw", "hmm", "ctc", "attention", "attention_gmm",
           "attention_ctc", "frame_attention")


def test_task_scores_the_whole_split_and_writes_an_example(digit_data, tmp_path):
    task = AlignmentTask(UniformAligner())
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0, default_root_dir=str(tmp_path))
    trainer.fit(task, datamodule=digit_data)
    trainer.test(task, datamodule=digit_data, verbose=False)
    test = digit_data.split("test")
    pred = UniformAligner().align(test)
    expected = alignment_scores(pred, test["audio_boundaries"], 62.5, n_frames=test["audio_lengths"].tolist())
    for name, value in expected.items():
        assert task.test_results[f"test/clean/{name}"] == pytest.approx(value)
    assert task.test_results["test/clean/ms_per_pair"] > 0
    example = load_tensors(tmp_path / EXAMPLE_FILE)
    n = int(test["audio_lengths"][0])
    assert example["frames"].shape == (n, 40) and example["pred"].tolist() == pred[0].tolist()
    assert example["true"].tolist() == test["audio_boundaries"][0].tolist() and example["frame_rate"] == 62.5


def test_task_refuses_a_net_that_cannot_align():
    with pytest.raises(TypeError, match=r"AlignmentTask cannot use Linear: it has no align\(\)"):
        AlignmentTask(torch.nn.Linear(2, 2))


def test_alignment_configs_compose_and_build(digit_data):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=alignment_table"], return_hydra_config=True)
        params = cfg.hydra.sweeper.params
        models = [m.strip() for m in params.model.split(",")]
        assert models == [f"alignment/{m}" for m in METHODS] and params.seed == "0,1,2,3,4"
        assert params.data == "digit_sequences"  # and real speech under both protocols (issue 14):
        assert list(cfg.hydra.sweeper.grid) == [{}, {"data": "digit_sequences_fsdd", "data.split": "official,speakers"}]
        for model in models:
            m = compose("config", overrides=["experiment=alignment_table", f"model={model}"]).model
            assert m.challenge == "alignment" and m.family in ("baseline", "explicit", "implicit") and m.supervision
            net = build(m.net, digit_data)
            task = build(m.task, digit_data, net=net)
            assert isinstance(task, AlignmentTask)


@pytest.mark.slow
def test_an_aligner_runs_end_to_end_and_reports(tmp_path):
    records = []
    for name in ("dtw_template", "uniform"):
        with initialize_config_module("mmml.experiments", version_base="1.3"):
            cfg = compose("config", overrides=["experiment=alignment_table", f"model=alignment/{name}",
                                               "data=digit_sequences", "data.n_sequences=100",
                                               f"run_dir={tmp_path / name}"])
        records.append(run(cfg))
    for rec in records:
        assert rec["status"] == "ok", rec["error"]
        for metric in ("boundary_mae_ms", "within_20ms", "within_50ms", "frame_accuracy", "ms_per_pair"):
            assert math.isfinite(rec["metrics"][f"test/clean/{metric}"])
    assert records[0]["metrics"]["test/clean/boundary_mae_ms"] < records[1]["metrics"]["test/clean/boundary_mae_ms"]
    found = find_records([tmp_path])
    text = notes(found)
    assert "| explicit | dtw_template | isolated words |" in text and "Best: **dtw_template**" in text
    assert [p.name for p in plots(found, tmp_path)] == ["alignment_paths_digit_sequences.png"]


def _record(tmp_path, dataset, method, mae, example=False):
    """An ok alignment record whose run folder holds ``result.json`` (and, if ``example``, the aligner's example)."""
    run_dir = tmp_path / dataset / method
    run_dir.mkdir(parents=True)
    if example:
        save_tensors(run_dir / EXAMPLE_FILE, {"frames": torch.rand(40, 8), "frame_rate": 62.5,
                                              "words": torch.tensor([0, 1]), "vocab": ["one", "two"],
                                              "true": torch.tensor([[2, 10], [15, 30]]),
                                              "pred": torch.tensor([[3, 11], [14, 31]])})
    return {"challenge": "alignment", "status": "ok", "dataset": dataset, "method": method, "family": "explicit",
            "seed": 0, "path": str(run_dir / "result.json"), "metrics": {"test/clean/boundary_mae_ms": mae}}


def test_report_without_example_files_leaves_out_the_path_figure_and_says_so(tmp_path):
    records = [_record(tmp_path, "digit_sequences", m, ms) for m, ms in (("uniform", 80.0), ("dtw_template", 40.0))]
    assert plots(records, tmp_path) == []
    text = notes(records)
    assert "Best: **dtw_template**" in text
    said = [line for line in text.splitlines() if EXAMPLE_FILE in line]
    assert len(said) == 1 and "digit_sequences" in said[0] and "No path figure" in said[0]
    # a data set with an example still gets its figure; only the one without is named
    records.append(_record(tmp_path, "digit_sequences_fsdd", "dtw_template", 50.0, example=True))
    assert [p.name for p in plots(records, tmp_path)] == ["alignment_paths_digit_sequences_fsdd.png"]
    said = [line for line in notes(records).splitlines() if EXAMPLE_FILE in line]
    assert len(said) == 1 and "digit_sequences:" in said[0] and "fsdd" not in said[0]
