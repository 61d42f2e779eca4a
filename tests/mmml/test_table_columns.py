"""Per-table columns: a table experiment's ``table.columns`` names what its paper table shows (Markdown, LaTeX,
the bar plot), read by mmml-table from the records' configs and by mmml-survey from the yaml; the CSV keeps
every metric. Checked on CLIP-like records with every metric under every shift (as clip_table writes them)."""

import csv
import io
import itertools

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from mmml.columns import metric_label, select_columns
from mmml.results import write_record
from mmml.survey import table_columns
from mmml.tables import build_table, main

CONDITIONS = ("clean", "image_noise0.2", "image_noise0.4", "image_noise0.6", "image_rotate15", "image_rotate30")
CLIP_METRICS = ("chance", "fewshot1_C", "fewshot1_acc", "fewshot4_C", "fewshot4_acc", "fewshot16_C", "fewshot16_acc",
                "probe_C", "probe_acc", "text2image_R@1", "text2image_R@5", "text2image_R@10", "text2image_class_R@1",
                "text2image_medr", "zeroshot_acc", "zeroshot_ci_low", "zeroshot_ci_high", "zeroshot_single_acc")
SUPERVISED_METRICS = ("acc", "f1")
#: the validation figure of each seed, as the record's best_val holds it
VAL = {0: 0.61, 1: 0.65, 2: 0.66}


def clip_records(root, columns):
    """Two rows x three seeds of CLIP-like records whose configs carry ``table.columns``, as clip_table's jobs do."""
    rng = np.random.default_rng(0)
    for (method, family, names, monitor), seed in itertools.product(
            (("clip_transformer", "contrastive", CLIP_METRICS, "val/zeroshot_acc"),
             ("supervised", "supervised", SUPERVISED_METRICS, "val/acc")), VAL):
        metrics = {f"test/{c}/{m}": float(rng.random()) for c in CONDITIONS for m in names}
        if family == "contrastive":
            metrics["test/clean/chance"] = 0.1
        write_record(root / f"{method}{seed}", {
            "challenge": "clip", "family": family, "method": method, "dataset": "captioned_digits", "seed": seed,
            "setting": "", "status": "ok", "metrics": metrics, "n_params": 1000, "fit_seconds": 2.0 + seed,
            "best_val": {"name": monitor, "value": VAL[seed] - (0.1 if family == "supervised" else 0), "epoch": 3},
            "config": {"seed": seed, **({"table": {"columns": columns}} if columns is not None else {})}})
    return root


def header(md):
    """The Markdown table's column headers after the row's name and its seeds."""
    line = next(line for line in md.splitlines() if line.startswith("| challenge |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    return cells[cells.index("seeds") + 1:]


@pytest.fixture
def clip_sweep(tmp_path):
    return clip_records(tmp_path / "runs", table_columns("clip_table"))


def test_clip_table_shows_its_columns_and_the_csv_keeps_every_metric(clip_sweep, tmp_path):
    paths = build_table([clip_sweep], tmp_path / "t", title="clip")
    md, tex = paths["md"].read_text(), paths["tex"].read_text()
    shown = ["test/clean/zeroshot_acc", "test/clean/probe_acc", "test/clean/acc", "test/clean/text2image_R@1",
             "test/clean/chance", "val/zeroshot_acc", "val/acc"]
    assert header(md) == [*map(metric_label, shown), "fit s"]
    assert "image noise" not in md.split("Columns:")[0] and "probe (C)" not in md
    assert "7 of 122 metrics" in md and "table.csv has every one" in md
    assert "fit s" in tex and "image noise" not in tex and "val zero-shot accuracy" in tex
    head = next(csv.reader(io.StringIO(paths["csv"].read_text())))
    means = [c.removesuffix("_mean") for c in head if c.endswith("_mean")]
    every = {f"test/{c}/{m}" for c in CONDITIONS for m in CLIP_METRICS + SUPERVISED_METRICS} | {"val/zeroshot_acc",
                                                                                                  "val/acc"}
    assert set(means) == every | {"n_params", "fit_seconds", "test_seconds", "peak_memory_mb"}
    assert len(every) == 122  # 18 CLIP metrics + 2 supervised under 6 conditions, 2 val figures
    # the val column is the records' best_val, mean ± std over seeds
    row = next(line for line in md.splitlines() if "| clip_transformer |" in line)
    vals = list(VAL.values())
    assert f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f}" in row.replace("**", "")


def test_columns_given_to_build_table_win_and_an_empty_list_shows_every_column(clip_sweep, tmp_path):
    md = build_table([clip_sweep], tmp_path / "a", columns=["n_params", "test/clean/f1"])["md"].read_text()
    assert header(md) == ["macro-F1 ↑", "params"]
    md = build_table([clip_sweep], tmp_path / "b", columns=[])["md"].read_text()
    assert len(header(md)) == 122 + 2 and header(md)[-2:] == ["params", "fit s"]
    with pytest.raises(ValueError, match=r"'test/clean/\(acc' is neither a metric key nor a regular expression"):
        build_table([clip_sweep], tmp_path / "c", columns=["test/clean/(acc"])


def test_records_without_a_column_list_keep_every_column(tmp_path):
    md = build_table([clip_records(tmp_path / "runs", None)], tmp_path / "t")["md"].read_text()
    assert len(header(md)) == 122 + 2 and "Paper columns" not in md


def test_cli_columns_and_all(clip_sweep, tmp_path):
    main([str(clip_sweep), "--out", str(tmp_path / "a"), "--columns", "test/clean/zeroshot_acc",
          "--columns", r"test/clean/fewshot\d+_acc"])
    shown = header((tmp_path / "a" / "table.md").read_text())  # a regex's keys in the records' order
    assert shown[0] == "zero-shot accuracy ↑" and sorted(shown[1:]) == ["fewshot1 acc ↑", "fewshot16 acc ↑",
                                                                         "fewshot4 acc ↑"]
    main([str(clip_sweep), "--out", str(tmp_path / "b"), "--columns", "all"])
    assert len(header((tmp_path / "b" / "table.md").read_text())) == 122 + 2


def test_clip_table_jobs_carry_the_columns_the_survey_reads():
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=clip_table"])
    assert list(cfg.table.columns) == table_columns("clip_table") and "fit_seconds" in cfg.table.columns
    assert table_columns("fusion_table") is None
    keys = [f"test/{c}/{m}" for c in CONDITIONS for m in CLIP_METRICS]
    metrics, costs = select_columns(keys, table_columns("clip_table"))
    assert metrics == ["test/clean/zeroshot_acc", "test/clean/probe_acc", "test/clean/text2image_R@1",
                       "test/clean/chance"] and costs == ["fit_seconds"]
