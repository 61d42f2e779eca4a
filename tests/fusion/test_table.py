"""Every fusion config builds on each data set's specs; the fusion table runs end to end and reports."""

from pathlib import Path

import mmml.experiments
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from mmml.fusion import report

from mmml.runner import build, run

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


def test_table_sweep_lists_every_model():
    cfg = compose_table(hydra=True)
    swept = {m.strip().removeprefix("fusion/") for m in cfg.hydra.sweeper.params.model.split(",")}
    assert swept == set(MODELS) - {"image_only", "audio_only"}
    assert cfg.hydra.sweeper.params.data == "avdigits,avdigits_fsdd,mfeat"


@pytest.mark.slow
def test_fusion_table_end_to_end(tmp_path):
    records = []
    for model, seeds, extra in (("late_mean", (0, 1), []), ("tensor", (0,), []),
                                ("hmm_decision", (0,), ["model.net.n_iter=2"]),
                                ("mkl_easymkl", (0,), ["model.net.max_train=200"])):
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
