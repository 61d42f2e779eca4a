"""The in-memory datamodule: splits, batches by slicing, caching, standardising, bad input."""

import os
import warnings

import numpy as np
import pytest
import torch

from mmml.data.cache import FeatureCache
from mmml.data.datamodule import MultimodalDataModule
from mmml.data.loader import TensorBatches
from mmml.data.spec import ModalitySpec


class Toy(MultimodalDataModule):
    name = "toy"

    def __init__(self, n=200, labels=None, nan=False, **kw):
        super().__init__(**kw)
        self.n, self.labels, self.nan = n, labels, nan
        self.builds = 0

    def describe(self):
        return {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "sequence", (6, 2))}, ("x", "y", "z",
                                                                                                       "w")

    def params(self):
        return {"n": self.n, "nan": self.nan}

    def build(self):
        self.builds += 1
        g = torch.Generator().manual_seed(0)
        a = torch.randn(self.n, 3, generator=g) * 5 + 3
        if self.nan:
            a[3, 1] = float("nan")
        labels = self.labels if self.labels is not None else torch.arange(self.n) % 4
        return {"a": a, "b": torch.randn(self.n, 6, 2, generator=g), "b_lengths": torch.randint(1, 7, (self.n,),
                                                                                                generator=g),
                "label": labels}


def test_splits_are_disjoint_stratified_and_seeded(tmp_path):
    dm = Toy(cache_dir=str(tmp_path), seed=3)
    dm.setup()
    sizes = {s: len(dm.split(s)["label"]) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == 200 and sizes["test"] == 40
    for s in ("train", "val", "test"):  # stratified: each class holds a quarter of every split
        counts = torch.bincount(dm.split(s)["label"], minlength=4)
        assert counts.max() - counts.min() <= 1
    other = Toy(cache_dir=str(tmp_path), seed=3)
    other.setup()
    assert torch.equal(dm.split("test")["a"], other.split("test")["a"])
    third = Toy(cache_dir=str(tmp_path), seed=4)
    third.setup()
    assert not torch.equal(dm.split("test")["a"], third.split("test")["a"])
    all_a = torch.cat([dm.split(s)["a"] for s in ("train", "val", "test")])
    assert len(torch.unique(all_a[:, 0])) == 200  # disjoint


def test_batches_by_slicing_cover_the_split_once_per_epoch(tmp_path):
    dm = Toy(cache_dir=str(tmp_path), batch_size=32)
    dm.setup()
    loader = dm.train_dataloader()
    seen = torch.cat([b["a"][:, 0] for b in loader])
    assert len(loader) == -(-len(dm.split("train")["label"]) // 32)
    assert torch.equal(seen.sort().values, dm.split("train")["a"][:, 0].sort().values)
    first = next(iter(loader))
    assert set(first) == {"a", "b", "b_lengths", "label", "index"} and first["a"].shape == (32, 3)
    assert torch.equal(first["a"], dm.split("train")["a"][first["index"]])  # index: positions in the split


def test_shuffle_depends_on_seed_and_epoch_only():
    t = {"x": torch.arange(10)}
    epoch = [0]
    a = [b["x"].tolist() for b in TensorBatches(t, 4, shuffle=True, seed=1, epoch=lambda: epoch[0])]
    b = [b["x"].tolist() for b in TensorBatches(t, 4, shuffle=True, seed=1, epoch=lambda: epoch[0])]
    epoch[0] = 1
    c = [b["x"].tolist() for b in TensorBatches(t, 4, shuffle=True, seed=1, epoch=lambda: epoch[0])]
    assert a == b and a != c
    shards = [torch.cat([b["x"] for b in TensorBatches(t, 4, rank=r, world_size=2)]) for r in (0, 1)]
    assert sorted(torch.cat(shards).tolist()) == list(range(10))


def test_standardize_uses_train_statistics_and_zeroes_padding(tmp_path):
    dm = Toy(cache_dir=str(tmp_path), standardize=True)
    dm.setup()
    train = dm.split("train")
    assert torch.allclose(train["a"].mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(train["a"].std(0), torch.ones(3), atol=1e-5)
    pad = torch.arange(6)[None, :] >= train["b_lengths"][:, None]
    assert train["b"][pad].abs().sum() == 0


def test_feature_cache_builds_once_and_rebuilds_corrupt_entries(tmp_path):
    dm = Toy(cache_dir=str(tmp_path))
    dm.setup()
    assert dm.builds == 1
    again = Toy(cache_dir=str(tmp_path))
    again.setup()
    assert again.builds == 0  # read from the cache
    path = FeatureCache(tmp_path).path("toy", {"params": again.params(), "v": 1})
    path.write_bytes(b"not a torch file")
    broken = Toy(cache_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="unreadable.*rebuilding") as caught:
        broken.setup()
    assert broken.builds == 1
    assert sum("unreadable" in str(w.message) for w in caught) == 1  # read and reported once, not again
    fresh = Toy(cache_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.setup()  # the rebuilt entry is good again


def test_different_params_use_different_cache_entries(tmp_path):
    FeatureCache(tmp_path)
    assert FeatureCache(tmp_path).path("toy", {"n": 1}) != FeatureCache(tmp_path).path("toy", {"n": 2})


def test_test_loaders_one_per_condition_and_seeded(tmp_path):
    dm = Toy(cache_dir=str(tmp_path), test_conditions=["clean", "a:noise@0.5", "b:drop"])
    dm.setup()
    loaders = dm.test_dataloader()
    assert [c.name for c in dm.conditions] == ["clean", "a_noise0.5", "b_drop"]
    clean, noisy, dropped = (next(iter(x)) for x in loaders)
    assert torch.equal(clean["a"], dm.split("test")["a"][: len(clean["a"])])
    assert not torch.equal(noisy["a"], clean["a"])
    assert torch.equal(noisy["a"], next(iter(dm.test_dataloader()[1]))["a"])
    assert "b" not in dropped and "b_present" in dropped


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"labels": torch.arange(200) % 5}, ValueError, "outside the 4 declared classes"),
        ({"nan": True}, ValueError, "'a' holds 1 NaN/Inf"),
        ({"n": 2}, ValueError, "is empty"),
        ({"modalities": ["a", "video"]}, ValueError, r"asks for \['video'\].*choose from"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"test_conditions": ["a:blur@1"]}, ValueError, "kind 'blur'"),
    ],
)
def test_bad_input_names_the_input_and_fix(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        dm = Toy(cache_dir=str(tmp_path), **kwargs)
        dm.setup()


def test_official_split_is_kept(tmp_path):
    class Official(Toy):
        def build(self):
            out = super().build()
            out["split"] = torch.where(torch.arange(self.n) < 50, 2, 0)
            return out

    dm = Official(cache_dir=str(tmp_path))
    dm.setup()
    test_a = dm.split("test")["a"]
    assert len(test_a) == 50
    full = Official(cache=False).build()["a"][:50]
    assert np.allclose(np.sort(test_a[:, 0].numpy()), np.sort(full[:, 0].numpy()))
    assert len(dm.split("val")["label"]) > 0


def test_a_modality_keeps_its_companions_only(tmp_path):
    class Prefixed(Toy):
        def describe(self):
            specs, names = super().describe()
            return {**specs, "a_b": ModalitySpec("a_b", "vector", (2,))}, names

        def build(self):
            return {**super().build(), "a_b": torch.zeros(self.n, 2)}

    dm = Prefixed(cache_dir=str(tmp_path), modalities=["a"])
    dm.setup()
    assert set(dm.split("train")) == {"a", "label"}


def test_small_held_out_parts_fall_back_to_an_unstratified_split(tmp_path):
    dm = Toy(n=24, labels=torch.arange(24) % 4, cache_dir=str(tmp_path), val_fraction=0.1, test_fraction=0.1)
    dm.setup()  # 3 held-out examples cannot hold all 4 classes
    assert sum(len(dm.split(s)["label"]) for s in ("train", "val", "test")) == 24


def test_the_datamodule_owns_the_label_mask_of_scarce_supervision(tmp_path):
    """``data.labelled_fraction``: a seeded, class-stratified share of the train labels, marked ``label_present``
    (the selection co-learning tasks made before the datamodule owned it: :func:`mmml.data.labels.labelled_mask`)."""
    from mmml.data.labels import LABEL_PRESENT, labelled_mask

    dm = Toy(cache_dir=str(tmp_path), seed=3, labelled_fraction=0.1)
    dm.setup()
    train = dm.split("train")
    mask = train[LABEL_PRESENT]
    counts = torch.bincount(train["label"], minlength=4)
    kept = torch.bincount(train["label"][mask], minlength=4)
    assert kept.tolist() == [max(1, int(round(0.1 * int(c)))) for c in counts]  # per class, hand-worked
    assert torch.equal(mask, labelled_mask(train["label"], 0.1, seed=3))
    assert LABEL_PRESENT not in dm.split("val") and LABEL_PRESENT not in dm.split("test")
    other = Toy(cache_dir=str(tmp_path), seed=4, labelled_fraction=0.1)
    other.setup()
    assert not torch.equal(other.split("train")[LABEL_PRESENT], mask) or not torch.equal(
        other.split("train")["label"], train["label"])  # another seed, another draw
    full = Toy(cache_dir=str(tmp_path), seed=3)
    full.setup()
    assert LABEL_PRESENT not in full.split("train")  # every label observed: no mask
    with pytest.raises(ValueError, match="data.labelled_fraction=0.0"):
        Toy(labelled_fraction=0.0)


def _build_slowly(root: str, counter: str) -> list[int]:
    """A process's get_or_build of one entry whose build takes 0.5 s and appends to ``counter``."""
    import time

    import torch

    def build() -> dict:
        with open(counter, "a") as f:
            f.write("built\n")
        time.sleep(0.5)
        return {"x": torch.arange(4)}

    return FeatureCache(root).get_or_build("shared", {"n": 4}, build)["x"].tolist()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the build lock is POSIX (fcntl)")
def test_feature_cache_parallel_processes_build_an_entry_once(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    counter = tmp_path / "builds.txt"
    with ProcessPoolExecutor(3) as pool:
        got = list(pool.map(_build_slowly, [str(tmp_path / "c")] * 3, [str(counter)] * 3))
    assert got == [[0, 1, 2, 3]] * 3
    assert counter.read_text().count("built") == 1  # the others waited on the lock and loaded its entry
