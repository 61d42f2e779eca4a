"""Every fusion config builds on each data set's specs; the fusion table runs end to end and reports."""

from pathlib import Path

import mmml.experiments
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from mmml.fusion import report
from omegaconf import OmegaConf

from mmml.runner import build, run
from mmml.sweeps import expand

MODELS = sorted(p.stem for p in (Path(mmml.experiments.__file__).parent / "model" / "fusion").glob("*.yaml"))


class FakeMFeat:
    """mfeat's specs without its files: enough to size every model."""

    name = "mfeat"

    def __init__(self):
        from mmml.data.mfeat import MFeat

        self.specs = MFeat(modalities=None, cache=False).describe()[0]
        self.num_classes, self.class_names = 10, tuple(str(i) for i in range(10))


def compose_table(*overrides, hydra=False):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=["experiment=fusion_table", *overrides], return_hydra_config=hydra)


@pytest.mark.parametrize("model", [m for m in MODELS if m not in ("image_only", "audio_only")])
def test_every_table_model_builds_on_every_data_set(model):
    for data in ("avdigits", "mfeat"):
        cfg = compose_table(f"model=fusion/{model}", f"data={data}")
        dm = instantiate(cfg.data, _convert_="all") if data == "avdigits" else FakeMFeat()
        if data == "avdigits":
            assert len(dm.conditions) == 23
        net = build(cfg.model.net, dm)
        assert net is not None
        assert cfg.model.family in report.FAMILIES
    if model.startswith("unimodal"):
        assert compose_table(f"model=fusion/{model}", "data=mfeat").model.method in ("only_fou", "only_fac")


#: the table's rows before its variants became one config and a sweep value (the names must not change)
ROWS = {"only_image", "only_audio", "early", "late_mean", "late_product", "late_learned", "late_stacking", "hybrid",
        "tensor", "low_rank", "gated", "mkl_easymkl", "mkl_uniform", "mkl_best", "hmm_feature", "hmm_decision"}
#: single-view baselines (issue 14): every mfeat view alone, and a per-view SVM on every view of every data set
VIEWS = {"avdigits": ("image", "audio"), "avdigits_fsdd": ("image", "audio"),
         "mfeat": ("fou", "fac", "kar", "pix", "zer", "mor")}
BASELINES = {f"only_{v}" for v in VIEWS["mfeat"][2:]} | {f"svm_{v}" for vs in VIEWS.values() for v in vs}


def test_table_sweep_runs_every_model_and_keeps_its_row_names():
    cfg = compose_table(hydra=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper.params.data == "avdigits,mfeat" and sweeper.params.seed == "0,1,2,3,4"
    jobs = expand(OmegaConf.to_container(sweeper.params), OmegaConf.to_container(sweeper.grid), [])
    n_baselines = 4 + sum(len(v) for v in VIEWS.values())  # kar, pix, zer, mor alone + one SVM per view
    # 5 seeds x the 16 former rows on avdigits, mfeat and avdigits_fsdd under 2 protocols, then the baselines
    # (avdigits_fsdd's two SVMs under both protocols)
    assert len(jobs) == 5 * 16 * 4 + (n_baselines + 2) * 5
    splits = {}  # issue 14: every avdigits_fsdd row under the official and the speakers protocol, no other
    for job in jobs:
        data = next(o for o in job if o.startswith("data="))
        splits.setdefault(data, set()).add(next((o for o in job if o.startswith("data.split=")), None))
    assert splits == {"data=avdigits": {None}, "data=mfeat": {None},
                      "data=avdigits_fsdd": {"data.split=official", "data.split=speakers"}}
    per_data = {}
    for job in jobs:
        data = next(o.split("=", 1)[1] for o in job if o.startswith("data="))
        model = next(o for o in job if o.startswith("model="))
        if model in ("model=fusion/svm_view", "model=fusion/unimodal_view"):
            view = next(o.split("=", 1)[1] for o in job if o.startswith(("model.view=", "model.net.modality=")))
            per_data.setdefault(data, set()).add(view)
    assert {d: sorted(v) for d, v in per_data.items()} == {d: sorted(v) for d, v in VIEWS.items()}
    swept = {o.removeprefix("model=fusion/") for job in jobs for o in job if o.startswith("model=")}
    assert swept == set(MODELS) - {"image_only", "audio_only"}
    rows = {tuple(o for o in job if not o.startswith(("seed=", "data=", "data.split="))) for job in jobs}
    names = {compose_table(*row, "data=avdigits").model.method for row in rows}
    assert names == ROWS | BASELINES


@pytest.mark.slow
def test_fusion_table_end_to_end(tmp_path):
    records = []
    for model, seeds, extra in (("late", (0, 1), ["model.net.combine=mean"]), ("tensor", (0,), []),
                                ("hmm", (0,), ["model.net.fusion=decision", "model.net.n_iter=2"]),
                                ("mkl", (0,), ["model.net.weights=easymkl", "model.net.max_train=200"])):
        for seed in seeds:
            cfg = compose_table(f"model=fusion/{model}", f"seed={seed}", "trainer.max_epochs=2", "robustness.steps=2",
                                f"run_dir={tmp_path / model / str(seed)}", "catch_errors=false", *extra)
            records.append(run(cfg))
    assert all(r["status"] == "ok" for r in records)
    assert "test/audio_noise0.5/acc" in records[0]["metrics"] and "test/image_drop/f1" in records[0]["metrics"]
    for r in records:  # the records come from different models: the fusion report reads them as a sweep
        r["dataset"] = "avdigits"
    text = report.notes(records)
    assert "rel. robustness" in text and "tensor" in text and "hmm_decision" in text
    paths = report.plots(records, tmp_path)
    assert [p.name for p in paths] == ["fusion_robustness_avdigits.png"] and paths[0].stat().st_size > 0
