"""``data=files``: data sets written in each layout train with early fusion and the concat representation,
and end in ``mmml-table``; regression and multi-label targets too; specs are inferred and checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from file_layouts import (
    write_csv_wav,
    write_hdf5,
    write_multibench,
    write_multilabel,
    write_npz,
)
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mmml.data.files import FileDataset
from mmml.runner import build, check_data, run
from mmml.tables import build_table
from mmml.tables import main as table_main

LAYOUTS = {"npz": write_npz, "hdf5": write_hdf5, "csv_wav": write_csv_wav, "multibench": write_multibench}
CONFIGS = Path(__file__).parents[2] / "experiments" / "model"


def config(*overrides: str):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def run_files(manifest: Path, model: str, run_dir: Path, cache: Path, *extra: str) -> dict:
    return run(config(f"model={model}", "data=files", f"data.manifest={manifest}", "trainer.max_epochs=1",
                      f"data.cache_dir={cache}", f"run_dir={run_dir}", *extra))


@pytest.mark.slow
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_runs_early_fusion_and_concat_and_makes_a_table(tmp_path, layout):
    manifest = LAYOUTS[layout](tmp_path / "data")
    for model in ("fusion/early", "representation/concat"):
        rec = run_files(manifest, model, tmp_path / "runs" / model.replace("/", "_"), tmp_path / "cache")
        assert rec["status"] == "ok", rec.get("traceback")
        assert rec["metrics"] and all(np.isfinite(v) for k, v in rec["metrics"].items() if "medr" not in k)
    md = build_table([tmp_path / "runs"], tmp_path / "table")["md"].read_text()
    name = "affect" if layout == "multibench" else f"toy_{layout}"
    rows = [line for line in md.splitlines() if f"| {name} |" in line]
    assert any("| early |" in r for r in rows) and any("| concat |" in r for r in rows) and "Failed runs" not in md
    if layout == "multibench":  # a regression target: MAE, Pearson r and the affect accuracies
        assert all(f"clean {m}" in md for m in ("mae", "corr", "acc2", "acc7", "probe_all_mae"))
    else:
        assert "clean acc" in md and "clean probe_all" in md


@pytest.mark.slow
def test_the_command_line_runs_a_manifest_and_tabulates_it(tmp_path):
    manifest = write_npz(tmp_path / "data")
    bin_dir = Path(sys.executable).parent
    out = subprocess.run([str(bin_dir / "mmml-run"), "model=fusion/early", "data=files", f"data.manifest={manifest}",
                          "trainer.max_epochs=1", f"run_dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'c'}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    table_main([str(tmp_path / "run"), "--out", str(tmp_path / "t")])  # mmml-table, in this process
    assert "| toy_npz |" in (tmp_path / "t" / "table.md").read_text()


@pytest.mark.slow
def test_a_multilabel_run_reports_micro_and_macro_f1_in_the_table(tmp_path):
    manifest = write_multilabel(tmp_path / "data")
    rec = run_files(manifest, "fusion/early", tmp_path / "runs" / "early", tmp_path / "cache")
    assert rec["status"] == "ok", rec.get("traceback")
    assert rec["target_type"] == "multilabel"
    assert {"test/clean/f1_micro", "test/clean/f1_macro"} <= set(rec["metrics"])
    md = build_table([tmp_path / "runs"], tmp_path / "table")["md"].read_text()
    assert "clean f1_micro" in md and "clean f1_macro" in md and "| toy_multilabel |" in md


def test_a_classification_only_model_refuses_a_regression_data_set_naming_the_fix(tmp_path):
    manifest = write_multibench(tmp_path / "data")
    rec = run_files(manifest, "fusion/late", tmp_path / "run", tmp_path / "cache")
    assert rec["status"] == "failed"
    assert "supports targets ['classification'] but the data set has a regression target" in rec["error"]


def _declaring_files() -> list[str]:
    models = sorted(str(p.relative_to(CONFIGS).with_suffix("")) for p in CONFIGS.rglob("*.yaml"))
    return [m for m in models if "files" in (OmegaConf.load(CONFIGS / f"{m}.yaml").get("requires") or {}).get(
        "datasets", [])]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layouts")
    return {"classification": write_npz(root / "npz"), "regression": write_multibench(root / "mb"),
            "multilabel": write_multilabel(root / "ml")}


@pytest.mark.parametrize("model", _declaring_files())
def test_every_model_that_declares_files_builds_on_every_target_it_declares(model, written, tmp_path):
    requires = OmegaConf.load(CONFIGS / f"{model}.yaml").requires
    for target in requires.get("targets") or ["classification"]:
        cfg = config(f"model={model}", "data=files", f"data.manifest={written[target]}",
                     f"data.cache_dir={tmp_path}")
        dm = instantiate(cfg.data, _convert_="all")
        check_data(cfg, dm)
        task = build(cfg.model.task, dm, net=build(cfg.model.net, dm))
        assert getattr(task, "target_type", "classification") == target


def test_specs_are_inferred_from_each_layout(tmp_path):
    specs = {}
    for layout, write in LAYOUTS.items():
        dm = FileDataset(write(tmp_path / layout), cache=False)
        specs[layout] = {m: (s.kind, s.shape) for m, s in dm.specs.items()}
    assert specs["npz"] == {"image": ("image", (1, 8, 8)), "vec": ("vector", (12,)), "seq": ("sequence", (10, 4))}
    assert specs["hdf5"] == {"feat": ("vector", (5,)), "motion": ("sequence", (8, 3))}
    assert specs["csv_wav"]["table"] == ("vector", (4,)) and specs["csv_wav"]["speech"][0] == "sequence"
    assert specs["multibench"] == {m: ("sequence", (6, w)) for m, w in (("vision", 5), ("audio", 6), ("text", 7))}


def test_rows_are_matched_by_id_and_ragged_sequences_padded_with_lengths(tmp_path):
    import h5py

    manifest = write_hdf5(tmp_path)
    data = FileDataset(manifest, cache=False).read()
    with h5py.File(tmp_path / "data.h5", "r") as f:
        ids = [i.decode() for i in f["ids"][()]]
        for k in (0, 7, 30):
            frames = f["motion"][ids[k]][()]
            n = int(data["motion_lengths"][k])
            assert n == len(frames) and np.allclose(data["motion"][k, :n].numpy(), frames)
            assert not data["motion"][k, n:].any()
        assert data["label"].tolist() == f["label"][()].tolist()
        assert data["split"].tolist() == [{"train": 0, "val": 1, "test": 2}[s.decode()] for s in f["split"][()]]


def test_a_shuffled_table_and_a_wav_folder_line_up_with_the_labels(tmp_path):
    import pandas as pd

    manifest = write_csv_wav(tmp_path)
    dm = FileDataset(manifest, cache=False)
    data = dm.read()
    table = pd.read_csv(tmp_path / "meta.csv")  # shuffled rows: the labels' id order is the data set's
    assert np.allclose(data["table"].numpy(), table[[f"f{j}" for j in range(4)]].to_numpy(), atol=1e-6)
    assert [data["_classes"][k] for k in data["label"]] == table["label"].tolist()
    lengths = data["speech_lengths"]
    peak = torch.stack([data["speech"][i, : lengths[i]].mean(0).argmax() for i in range(len(lengths))])
    for low, high in ((0, 1), (1, 2)):  # tones of 300, 700, 1100 Hz: the wav of each id sits in its row
        assert peak[data["label"] == low].max() < peak[data["label"] == high].min()
    spec = dm.specs["speech"]
    assert spec.log_mel and spec.frame_rate == 100.0  # 8 kHz, 10 ms hop
    assert dm.specs["speech"].shape[1] == 16


def test_channels_last_images_grey_stacks_and_tokens_are_recognised(tmp_path):
    rng = np.random.default_rng(0)
    n = 12
    np.savez(tmp_path / "x.npz", rgb=rng.random((n, 5, 6, 3)), grey=rng.random((n, 5, 6)),
             words=np.array([[3, 1, 2, 0]] * n), label=np.arange(n) % 2)
    dm = FileDataset({"modalities": {"rgb": {"file": "x.npz"}, "grey": {"file": "x.npz", "kind": "image"},
                                     "words": {"file": "x.npz", "kind": "tokens", "vocab": ["<pad>", "a", "b", "c"]}},
                      "labels": {"file": "x.npz"}}, root=tmp_path, cache=False)
    assert {m: (s.kind, s.shape) for m, s in dm.specs.items()} == {
        "rgb": ("image", (3, 5, 6)), "grey": ("image", (1, 5, 6)), "words": ("tokens", (4,))}
    data = dm.read()
    assert data["words_lengths"].tolist() == [3] * n and data["words"].dtype == torch.long
    assert torch.allclose(data["rgb"][0, 2], torch.from_numpy(np.load(tmp_path / "x.npz")["rgb"][0, :, :, 2]).float())


def test_a_declared_kind_or_shape_is_checked(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros((8, 3)), label=np.arange(8) % 2)
    for decl, match in (({"kind": "sequence"}, "declared kind: sequence but the values"),
                        ({"shape": [4]}, r"declared shape \[4\] but each example is \[3\]")):
        with pytest.raises(ValueError, match=match):
            FileDataset({"modalities": {"a": {"file": "x.npz", **decl}}, "labels": {"file": "x.npz"}}, root=tmp_path,
                        cache=False).read()


def test_features_are_cached_and_rebuilt_when_a_file_changes(tmp_path):
    manifest = write_npz(tmp_path / "d", seed=0)
    first = FileDataset(manifest, cache_dir=tmp_path / "cache")
    first.setup()
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1
    before = first.params()
    write_npz(tmp_path / "d", seed=5)  # new values, edited later: a new key (the file's time changed)
    stamp = (tmp_path / "d" / "data.npz").stat().st_mtime_ns + 10**9
    os.utime(tmp_path / "d" / "data.npz", ns=(stamp, stamp))
    second = FileDataset(manifest, cache_dir=tmp_path / "cache")
    assert second.params() != before
    assert not torch.equal(second.build()["vec"], first.build()["vec"])
