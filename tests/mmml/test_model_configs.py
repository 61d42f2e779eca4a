"""Every model config builds on every data set it declares (``requires``), and fails at once, naming the data
set and what it lacks, on the others; a model config never sets data or global keys."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import mmml.experiments
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mmml.model_config import UnsupportedDataError, check_requires, row_keys
from mmml.runner import build, check_data, run

CONFIGS = Path(mmml.experiments.__file__).parent
MODELS = sorted(str(p.relative_to(CONFIGS / "model").with_suffix("")) for p in (CONFIGS / "model").rglob("*.yaml"))
DATASETS = sorted(p.stem for p in (CONFIGS / "data").glob("*.yaml"))
REAL = {d for d in DATASETS if "root" in OmegaConf.load(CONFIGS / "data" / f"{d}.yaml")}
# data=files needs the user's manifest (???): its models are built on written data sets in tests/mmml/test_files_data.py
NEEDS_MANIFEST = {d for d in DATASETS
                  if OmegaConf.is_missing(OmegaConf.load(CONFIGS / "data" / f"{d}.yaml"), "manifest")}


def compose_job(*overrides: str):
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=list(overrides))


@cache
def declared(model: str) -> dict:
    return OmegaConf.to_container(compose_job(f"model={model}").model.requires)


def pairs() -> list[tuple[str, str]]:
    return [(m, d) for m in MODELS for d in declared(m)["datasets"]]


@pytest.mark.parametrize("model", MODELS)
def test_a_model_config_declares_its_data_and_sets_no_global_key(model):
    text = (CONFIGS / "model" / f"{model}.yaml").read_text()
    assert "@package" not in text, f"{model} must stay in the model package"
    requires = declared(model)
    assert requires["datasets"] and set(requires["datasets"]) <= set(DATASETS), requires
    plain = compose_job()  # the same keys as without the model config, apart from model itself
    assert {k for k in compose_job(f"model={model}") if k != "model"} == {k for k in plain if k != "model"}


@pytest.mark.parametrize("model, data", pairs())
def test_every_model_config_builds_on_every_data_set_it_declares(model, data):
    if data in REAL and not os.environ.get("MMML_DATA"):
        pytest.skip(f"{data} needs MMML_DATA")
    if data in NEEDS_MANIFEST:
        pytest.skip(f"data={data} needs data.manifest; tests/mmml/test_files_data.py builds these models on one")
    requires = declared(model)
    extra = [f"data.modalities=[{','.join(requires['modalities'])}]"] if requires.get("modalities") else []
    cfg = compose_job(f"model={model}", f"data={data}", *extra)
    dm = instantiate(cfg.data, _convert_="all")
    check_data(cfg, dm)
    assert "${" not in str(cfg.model.method) and cfg.model.challenge == model.split("/")[0]
    net = build(cfg.model.net, dm)
    task = build(cfg.model.task, dm, net=net)
    assert task is not None


@pytest.mark.parametrize("model", MODELS)
def test_other_data_sets_fail_at_once_naming_the_data_set(model):
    requires = declared(model)
    node = compose_job(f"model={model}").model
    for data in sorted(set(DATASETS) - set(requires["datasets"]) - NEEDS_MANIFEST):
        name, served, every = served_by(data)
        with pytest.raises(UnsupportedDataError, match=f"data set '{data}'.*requires.datasets"):
            check_requires(node, name, served, every, model)


@cache
def served_by(data: str) -> tuple[str, list[str], list[str]]:
    """(name, served modalities, every modality) of a data config, without its files."""
    dm = instantiate(compose_job(f"data={data}").data, _convert_="all")
    return dm.name, dm.modalities, list(dm.describe()[0])


def test_a_new_users_mismatch_writes_a_failed_record_that_says_why(tmp_path):
    """``mmml-run model=fusion/unimodal_second data=fsdd`` used to die in an InterpolationKeyError, no record."""
    cfg = compose_job("model=fusion/unimodal_second", "data=fsdd", f"run_dir={tmp_path}")
    record = run(cfg)
    assert record["status"] == "failed" and record["dataset"] == "fsdd"
    assert "UnsupportedDataError" in record["error"] and "'fsdd'" in record["error"]
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "failed"
    cfg = compose_job("model=colearning/helper_coordinated", "data=mfeat", f"run_dir={tmp_path / 'b'}")
    assert "does not run on data set 'mfeat'" in run(cfg)["error"]


def test_missing_modalities_name_the_fix():
    model = compose_job("model=colearning/pivot_bridge").model
    with pytest.raises(UnsupportedDataError, match=r"add \['text'\]: data.modalities=\[image,audio,text\]"):
        check_requires(model, "avdigits", ["image", "audio"], ["image", "audio", "text"])
    with pytest.raises(UnsupportedDataError, match="has no \\['text'\\]"):
        check_requires(model, "avdigits", ["image", "audio"], ["image", "audio"])
    fusion = compose_job("model=fusion/early").model
    with pytest.raises(UnsupportedDataError, match="at least 2 modalities"):
        check_requires(fusion, "avdigits", ["image"], ["image", "audio", "text"])
    check_requires(fusion, "avdigits", ["image", "audio"], ["image", "audio", "text"])  # passes


def test_scarce_labels_need_a_task_that_reads_the_mask(tmp_path):
    cfg = compose_job("model=fusion/early", "labelled_fraction=0.1")
    with pytest.raises(ValueError, match="labelled_fraction=0.1, but mmml.tasks.ClassificationTask"):
        check_data(cfg, instantiate(cfg.data, _convert_="all"))
    cfg = compose_job("model=colearning/cotrain", "data.modalities=[image,audio]", "labelled_fraction=0.1")
    check_data(cfg, instantiate(cfg.data, _convert_="all"))


def test_row_names_come_from_the_variant_keys():
    late = compose_job("model=fusion/late", "model.net.combine=product")
    assert late.model.method == "late_product" and late.model.paper.endswith("(late fusion, product of decisions)")
    assert row_keys(late) == {"model.net.combine"}
    mkl = compose_job("model=fusion/mkl", "model.net.weights=uniform", "data=mfeat")
    assert (mkl.model.method, mkl.model.paper) == ("mkl_uniform", "average of the kernels + SVM (MKL baseline)")
    co = compose_job("model=colearning/cotrain", "data=mfeat", "data.modalities=[fou,fac]")
    assert co.model.method == "co-training (fou+fac)" and co.model.paper.startswith("Blum & Mitchell 1998")
    assert row_keys(co) == {"model.learner", "model.net.max_iter", "data.modalities"}
    sup = compose_job("model=colearning/cotrain", "data=mfeat", "model.net.max_iter=0")
    assert sup.model.method == "supervised (6 views)"
