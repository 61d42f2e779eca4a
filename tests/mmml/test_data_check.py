"""``mmml-data check`` and ``describe``: specs, splits and class balance; problems and errors with exit status 1."""

from __future__ import annotations

import numpy as np
import yaml
from file_layouts import write_csv_wav, write_multibench, write_multilabel

from mmml.data.check import main


def test_check_prints_specs_splits_and_class_balance(tmp_path, capsys):
    manifest = write_csv_wav(tmp_path)
    assert main(["check", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "data set toy_csv_wav (target: classification)" in out
    assert "table        vector    shape (4,) float32" in out
    assert "speech       sequence  shape (" in out and "100 frames/s, lengths" in out
    assert "splits: train " in out and "class balance (train / val / test):" in out
    assert "  high             " in out and out.rstrip().endswith("no problems found")


def test_check_describes_regression_and_multilabel_targets(tmp_path, capsys):
    assert main(["check", str(write_multibench(tmp_path / "mb"))]) == 0
    out = capsys.readouterr().out
    assert "(target: regression)" in out and "label range [" in out and "train 24, val 8, test 8" in out
    assert main(["check", str(write_multilabel(tmp_path / "ml"))]) == 0
    out = capsys.readouterr().out
    assert "(target: multilabel)" in out and "label frequency (train / val / test):" in out and "genre3" in out


def test_check_reports_problems_and_errors_with_status_1(tmp_path, capsys):
    n = 20
    np.savez(tmp_path / "x.npz", a=np.ones((n, 3)), label=np.arange(n) % 2)  # constant features
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({"modalities": {"a": {"file": "x.npz"}},
                                                     "labels": {"file": "x.npz"}}))
    assert main(["check", str(tmp_path / "m.yaml")]) == 1
    assert "problem: train/a: every feature is constant" in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"modalities": {"a": {"file": "missing.npz"}},
                                                       "labels": {"file": "x.npz"}}))
    assert main(["check", str(tmp_path / "bad.yaml")]) == 1
    err = capsys.readouterr().err
    assert "mmml-data check: FileNotFoundError:" in err and "missing.npz does not exist; fix 'file:'" in err
    assert main(["check", "no_such_data_set"]) == 1
    assert "neither a manifest/pickle file nor a built-in data set; built-in: [" in capsys.readouterr().err


def test_describe_a_built_in_data_set(capsys):
    assert main(["describe", "avdigits"]) == 0
    out = capsys.readouterr().out
    assert "data set avdigits (target: classification)" in out
    assert "image        image     shape (1, 8, 8)" in out and "audio        sequence" in out
    assert "class balance" in out and "zero" in out
