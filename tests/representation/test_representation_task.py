"""The representation task end to end (Lightning fit + test), its configs, and the table extras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from mmml.representation import CCAEmbedding, ContrastiveEmbedding, DeepCCA, MultimodalDBN, RepresentationTask
from mmml.representation.report import family_means, notes, plots
from mmml.representation.task import PROJECTION_FILE
from scipy.linalg import subspace_angles
from torch import nn

from mmml.data.datamodule import MultimodalDataModule
from mmml.data.spec import ModalitySpec
from mmml.runner import build, run
from mmml.tables import build_table

MODELS = sorted(p.stem for p in (Path(__file__).parents[2] / "experiments" / "model" / "representation").glob("*.yaml"))


class TwoViews(MultimodalDataModule):
    """400 examples of 4 classes: view ``a`` (8 floats) and view ``b`` (6 floats), each prototype + noise."""

    name = "two_views"

    def describe(self):
        return {"a": ModalitySpec("a", "vector", (8,)), "b": ModalitySpec("b", "vector", (6,))}, tuple("wxyz")

    def build(self):
        g = torch.Generator().manual_seed(0)
        labels = torch.arange(400) % 4
        return {"a": torch.randn(4, 8, generator=g)[labels] + 0.6 * torch.randn(400, 8, generator=g),
                "b": torch.randn(4, 6, generator=g)[labels] + 0.6 * torch.randn(400, 6, generator=g),
                "label": labels}


def fit_and_test(net: nn.Module, root: Path, epochs: int = 3) -> dict[str, float]:
    pl.seed_everything(0, verbose=False)
    dm = TwoViews(cache=False, batch_size=32)
    task = RepresentationTask(net, num_classes=4, lr=0.01)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(root),
                         num_sanity_val_steps=0)
    trainer.fit(task, datamodule=dm)
    trainer.test(task, datamodule=dm, verbose=False)
    return {k.removeprefix("test/clean/"): v for k, v in task.test_results.items()}


def specs() -> dict[str, ModalitySpec]:
    return TwoViews().describe()[0]


def test_gradient_method_end_to_end_reports_every_metric(tmp_path):
    torch.manual_seed(0)
    res = fit_and_test(ContrastiveEmbedding(specs(), dim=8, hidden=32), tmp_path)
    assert (tmp_path / PROJECTION_FILE).is_file()
    expected = {"probe_all", "probe_a", "probe_b", "missing_a", "missing_b", "arith"} | {
        f"{d}_{k}" for k in ("R@1", "R@5", "R@10", "medr") for d in ("a2b", "b2a")}
    assert set(res) == expected
    assert res["probe_all"] > 0.9 and res["a2b_R@1"] > 0.6 and res["arith"] > 0.5
    assert 1.0 <= res["a2b_medr"] <= 100
    saved = np.load(tmp_path / PROJECTION_FILE)
    assert saved["coords"].shape[0] == 2 and saved["coords"].shape[2] == 2 and str(saved["family"]) == "coordinated"


@pytest.mark.parametrize("make", [lambda s: CCAEmbedding(s, dim=3),
                                  lambda s: MultimodalDBN(s, hidden=(16,), joint=16, epochs=5)])
def test_closed_form_and_cd_methods_fit_once_and_evaluate(tmp_path, make):
    torch.manual_seed(0)
    res = fit_and_test(make(specs()), tmp_path, epochs=5)
    assert res["probe_all"] > 0.8 and res["probe_a"] > 0.5


def test_deep_cca_is_finalized_with_a_linear_cca_of_its_outputs(tmp_path):
    torch.manual_seed(0)
    net = DeepCCA(specs(), dim=4, hidden=16)
    res = fit_and_test(net, tmp_path)
    train = TwoViews(cache=False, seed=0).split("train")
    net.eval()
    with torch.no_grad():
        h = net.front(train)
    cosines = np.cos(subspace_angles(*(h[m].double().numpy() - h[m].double().numpy().mean(0) for m in "ab")))
    # equal up to the ridge (reg=1e-3) the projection adds to the covariances
    np.testing.assert_allclose(net.projection.correlations.numpy(), np.sort(cosines)[::-1], atol=0.01)
    assert net.projection.correlations[0] > 0.8 and res["a2b_R@1"] > 0.5


def test_same_seed_same_metrics(tmp_path):
    results = []
    for seed, folder in ((0, "a"), (0, "b"), (1, "c")):
        torch.manual_seed(seed)
        results.append(fit_and_test(ContrastiveEmbedding(specs(), dim=4, hidden=8), tmp_path / folder, epochs=1))
    assert results[0] == results[1] and results[0] != results[2]


def test_a_module_without_the_api_is_refused():
    with pytest.raises(TypeError, match=r"RepresentationTask cannot use Linear: it has no embed\(\), fuse\(\)"):
        RepresentationTask(nn.Linear(2, 2), num_classes=2)


def config(*overrides, hydra: bool = False):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


@pytest.mark.parametrize("model", MODELS)
def test_every_config_builds_its_method_from_the_data_sets_specs(model):
    cfg = config(f"model=representation/{model}", "data.modalities=[image,audio]")
    from mmml.data.avdigits import AVDigits

    dm = AVDigits(modalities=["image", "audio"], cache=False)
    net = build(cfg.model.net, dm)
    task = build(cfg.model.task, dm, net=net)
    assert cfg.model.challenge == "representation" and net.family == cfg.model.family
    assert isinstance(task, RepresentationTask) and net.modalities == ["image", "audio"]


def test_table_experiment_sweeps_every_method_on_both_data_sets():
    cfg = config("experiment=representation_table", hydra=True)
    params = cfg.hydra.sweeper.params
    assert sorted(m.split("/")[1] for m in params.model.split(",")) == MODELS
    assert params.data == "avdigits" and params.seed == "0,1,2,3,4"  # and real speech under both protocols:
    assert list(cfg.hydra.sweeper.grid) == [{}, {"data": "avdigits_fsdd", "data.split": "official,speakers"}]


def fake_record(root: Path, family: str, method: str, seed: int, r1: float, probe: float) -> dict:
    run_dir = root / f"{method}{seed}"
    run_dir.mkdir(parents=True)
    np.savez(run_dir / PROJECTION_FILE, modalities=np.array(["image", "audio"]), coords=np.random.rand(2, 20, 2),
             labels=np.arange(20) % 10, family=family)
    rec = {"status": "ok", "challenge": "representation", "family": family, "method": method, "dataset": "avdigits",
           "seed": seed, "metrics": {"test/clean/image2audio_R@1": r1, "test/clean/audio2image_R@1": r1,
                                     "test/clean/probe_all": probe, "test/clean/probe_image": probe - 0.1,
                                     "test/clean/missing_audio": probe - 0.2}}
    (run_dir / "result.json").write_text(json.dumps(rec))
    return {**rec, "path": str(run_dir / "result.json")}


def test_report_plots_each_space_and_judges_the_claims_from_the_numbers(tmp_path):
    recs = [fake_record(tmp_path, "joint", "autoencoder", s, r1=0.2, probe=0.9) for s in (0, 1)]
    recs += [fake_record(tmp_path, "coordinated", "contrastive", s, r1=0.5, probe=0.8) for s in (0, 1)]
    means = family_means(recs)
    assert means["joint"]["R@1"] == pytest.approx(0.2) and means["coordinated"]["probe_all"] == 0.8
    text = notes(recs)
    assert "Coordinated spaces suit cross-modal retrieval: holds" in text
    assert "Joint spaces suit fused prediction (probe on all modalities): holds" in text
    assert "Best fused probe per family" in text and "joint autoencoder (0.900)" in text
    flipped = [{**r, "family": {"joint": "coordinated", "coordinated": "joint"}[r["family"]]} for r in recs]
    assert "retrieval: does not hold" in notes(flipped)
    [png] = plots(recs, tmp_path / "out")
    assert png.stat().st_size > 1000


@pytest.mark.slow
def test_table_experiment_runs_end_to_end_and_tabulates(tmp_path):
    rec = run(config("experiment=representation_table", "model=representation/poe_vae", "trainer.max_epochs=1",
                     f"run_dir={tmp_path / 'run'}"))
    assert rec["status"] == "ok", rec.get("traceback")
    assert rec["metrics"]["test/clean/probe_all"] > 0.2 and "test/clean/image2audio_R@1" in rec["metrics"]
    paths = build_table([tmp_path / "run"], tmp_path / "table")
    md = paths["md"].read_text()
    assert "poe_vae" in md and "representation_spaces.png" in md and "clean probe_all" in md
