"""The in-memory multimodal datamodule every data set builds on.

Each split is a dict of tensors held on the training device; batches are served by index slicing
(:class:`mmml.data.loader.TensorBatches`). Splits are seeded and stratified; extracted features are
cached on disk keyed by the preprocessing parameters; the test loaders apply the configured
test-time corruptions (:mod:`mmml.data.corruptions`), one loader per condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor

from mmml.data.cache import FeatureCache
from mmml.data.contract import SUFFIXES, check_finite
from mmml.data.corruptions import Condition, apply_condition
from mmml.data.labels import LABEL_PRESENT, check_fraction, labelled_mask
from mmml.data.loader import Batch, TensorBatches
from mmml.data.sequences import lengths_of, valid_mask
from mmml.data.spec import ModalitySpec
from mmml.data.targets import check_labels, stratify_key

SPLITS = ("train", "val", "test")


class MultimodalDataModule(pl.LightningDataModule):
    """Base class: a subclass implements :meth:`build` (all examples as tensors) and :meth:`describe`.

    Args:
        modalities: which modalities to serve (default: all the data set has).
        batch_size: examples per training batch.
        eval_batch_size: examples per validation/test batch (default: whole split up to 4096).
        seed: seed of the split and of the shuffling.
        val_fraction, test_fraction: stratified split sizes (a data set with an official test split
            uses it and ignores ``test_fraction``).
        test_conditions: condition strings, e.g. ``["clean", "audio:drop", "image:noise@0.5"]``.
        standardize: modalities to standardise with train-split statistics (``True`` = all floats).
        labelled_fraction: share of the training labels observed, class-stratified and seeded by ``seed``
            (:mod:`mmml.data.labels`); below 1 the train split gets a ``label_present`` mask.
        cache: cache built features on disk; ``cache_dir`` overrides ``$MMML_CACHE``.
        device: where the splits live (default: the trainer's root device, else CPU).
    """

    name = "base"
    #: what ``"label"`` holds: ``"classification"``, ``"regression"`` or ``"multilabel"`` (mmml.data.targets)
    target_type = "classification"

    def __init__(
        self,
        modalities: Sequence[str] | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        test_conditions: Sequence[str] = ("clean",),
        standardize: bool | Sequence[str] = False,
        cache: bool = True,
        cache_dir: str | None = None,
        device: str | None = None,
        labelled_fraction: float = 1.0,
    ) -> None:
        super().__init__()
        if int(batch_size) <= 0:
            raise ValueError(f"data.batch_size={batch_size}; use a positive number")
        for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 <= float(frac) < 1.0:
                raise ValueError(f"data.{name}={frac}; use a fraction in [0, 1)")
        self.requested = list(modalities) if modalities is not None else None
        self.batch_size = int(batch_size)
        self.eval_batch_size = eval_batch_size
        self.seed = int(seed)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.conditions = [Condition.parse(c) for c in test_conditions]
        self.standardize = standardize
        self.cache = FeatureCache(cache_dir, enabled=cache)
        self.device = device
        self.labelled_fraction = check_fraction(labelled_fraction)
        self.splits: dict[str, Batch] = {}
        self.stats: dict[str, Tensor] = {}
        self._specs: dict[str, ModalitySpec] | None = None
        self.class_names: tuple[str, ...] = ()
        self._given_split: bool | None = None  # whether build() fixed a split (known after setup)

    # ---- what a subclass provides -------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        """Return every example: ``{modality: Tensor, "label": LongTensor, ...}``.

        May add ``"split"`` (0 train, 1 val, 2 test; -1 to draw) for an official split. Called once
        per set of :meth:`params` and cached on disk.
        """
        raise NotImplementedError

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        """Return the specs of every modality the data set has, and the class names."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """Preprocessing parameters that key the feature cache (override to add yours)."""
        return {}

    @property
    def protocol(self) -> dict[str, Any]:
        """How the splits are made, as recorded in a result (``record["protocol"]``); data sets with a
        protocol of their own (:mod:`mmml.data.protocols`) override it."""
        out: dict[str, Any] = {"data_set": self.name, "seed": self.seed, "val_fraction": self.val_fraction}
        if self._given_split:
            return {**out, "split": "official", "test": "the data set's own test split"}
        if self._given_split is None:
            return {**out, "split": "unknown until setup"}
        return {**out, "split": "random", "test_fraction": self.test_fraction,
                "test": "stratified draw by seed (a seed redraws test)"}

    # ---- public API ----------------------------------------------------------------------------
    @property
    def specs(self) -> dict[str, ModalitySpec]:
        """Specs of the served modalities, in order."""
        if self._specs is None:
            every, self.class_names = self.describe()
            wanted = self.requested if self.requested is not None else list(every)
            unknown = [m for m in wanted if m not in every]
            if unknown:
                raise ValueError(f"data.modalities asks for {unknown}, which {self.name!r} does not have; "
                                 f"choose from {list(every)}")
            if not wanted:
                raise ValueError(f"data.modalities is empty; choose from {list(every)}")
            self._specs = {m: every[m] for m in wanted}
        return self._specs

    @property
    def modalities(self) -> list[str]:
        return list(self.specs)

    @property
    def num_classes(self) -> int:
        self.specs  # noqa: B018 - fills class_names
        return len(self.class_names)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            self._to_device()
            return
        specs = self.specs
        data = self.cache.get_or_build(self.name, {"params": self.params(), "v": 1}, self.build)
        keep = {"label"} | {m + suffix for m in specs for suffix in ("", *SUFFIXES)}
        data = {k: v for k, v in data.items() if k in keep or k == "split"}
        labels = data["label"]
        check_labels(labels, self.target_type, self.class_names, self.name)
        check_finite(data, f"data set {self.name!r}")
        self._given_split = "split" in data
        split = self._assign_splits(labels, data.pop("split", None))
        for i, name in enumerate(SPLITS):
            idx = torch.nonzero(split == i).flatten()
            if len(idx) == 0:
                raise ValueError(f"split {name!r} of {self.name!r} is empty ({len(labels)} examples in all); "
                                 "lower data.val_fraction/test_fraction or provide more data")
            self.splits[name] = {k: v[idx] for k, v in data.items()}
        self._standardize()
        if self.labelled_fraction < 1.0:
            train = self.splits["train"]
            train[LABEL_PRESENT] = labelled_mask(train["label"], self.labelled_fraction, self.seed)
        self.stats = {m: self.splits["train"][m].float().std(dim=0) for m in specs if specs[m].kind != "tokens"}
        self._to_device()

    def split(self, name: str) -> Batch:
        """The tensors of one split (``"train"``, ``"val"`` or ``"test"``), after :meth:`setup`."""
        if not self.splits:
            self.setup()
        if name not in self.splits:
            raise KeyError(f"split {name!r}; use one of {list(SPLITS)}")
        return self.splits[name]

    def train_dataloader(self) -> TensorBatches:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> TensorBatches:
        return self._loader("val")

    def test_dataloader(self) -> list[TensorBatches]:
        return [self._loader("test", condition=c, index=i) for i, c in enumerate(self.conditions)]

    def corrupt(self, batch: Batch, condition: Condition | str, seed: int = 0) -> Batch:
        """Apply a test condition to a batch (seeded), e.g. for estimators outside Lightning."""
        if isinstance(condition, str):
            condition = Condition.parse(condition)
        dev = next(iter(batch.values())).device
        g = torch.Generator(device=dev if dev.type == "cuda" else "cpu").manual_seed(self.seed * 7919 + seed)
        return apply_condition(batch, condition, self.specs, g, self.stats)

    # ---- internals -----------------------------------------------------------------------------
    def _assign_splits(self, labels: Tensor, official: Tensor | None) -> Tensor:
        n = len(labels)
        split = torch.full((n,), -1, dtype=torch.long) if official is None else official.clone().long()
        y = stratify_key(labels, self.target_type)
        free = np.flatnonzero(split.numpy() == -1)
        if (split == 2).sum() == 0 and len(free):
            rest, test = _stratified(free, y[free], self.test_fraction, self.seed)
            split[torch.as_tensor(test, dtype=torch.long)] = 2
            free = rest
        if (split == 1).sum() == 0:
            pool = np.flatnonzero(split.numpy() == 0) if official is not None and len(free) == 0 else free
            rest, val = _stratified(pool, y[pool], self.val_fraction, self.seed + 1)
            split[torch.as_tensor(val, dtype=torch.long)] = 1
            free = np.setdiff1d(free, val)
        split[torch.as_tensor(free, dtype=torch.long)] = 0
        return split

    def _standardize(self) -> None:
        if not self.standardize:
            return
        names = self.standardize if not isinstance(self.standardize, bool) else [
            m for m, s in self.specs.items() if s.kind != "tokens"]
        for m in names:
            train = self.splits["train"][m].float()
            if self.specs[m].kind == "sequence":  # per feature, over valid frames; padding becomes 0
                valid = _valid_frames(self.splits["train"], m)
                mean, std = train[valid].mean(dim=0), train[valid].std(dim=0).clamp_min(1e-6)
            else:
                mean, std = train.mean(dim=0), train.std(dim=0).clamp_min(1e-6)
            for s in SPLITS:
                x = (self.splits[s][m].float() - mean) / std
                if self.specs[m].kind == "sequence":
                    x = x * _valid_frames(self.splits[s], m)[..., None]
                self.splits[s][m] = x

    def _target_device(self) -> torch.device:
        if self.device is not None:
            return torch.device(self.device)
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return trainer.strategy.root_device
        return torch.device("cpu")

    def _to_device(self) -> None:
        dev = self._target_device()
        for s in self.splits:
            self.splits[s] = {k: v.to(dev) for k, v in self.splits[s].items()}
        self.stats = {k: v.to(dev) for k, v in self.stats.items()}

    def _loader(self, split: str, shuffle: bool = False, condition: Condition | None = None, index: int = 0):
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        size = self.batch_size if split == "train" else (self.eval_batch_size or 4096)
        transform = None
        if condition is not None and condition.corruptions:
            transform = _Corrupter(self, condition, index)
        epoch = (lambda: trainer.current_epoch) if trainer is not None else None
        return TensorBatches(self.split(split), size, shuffle=shuffle, seed=self.seed, epoch=epoch,
                             transform=transform, rank=rank, world_size=world)


class _Corrupter:
    """Applies one condition to each batch, seeded by the condition and the batch's position."""

    def __init__(self, dm: MultimodalDataModule, condition: Condition, index: int) -> None:
        self.dm, self.condition, self.index = dm, condition, index

    def __call__(self, batch: Batch, position: int) -> Batch:
        return self.dm.corrupt(batch, self.condition, seed=self.index * 100_003 + position)


def _valid_frames(split: Batch, modality: str) -> Tensor:
    return valid_mask(lengths_of(split, modality), split[modality].shape[1])


def _stratified(idx: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if fraction <= 0 or len(idx) < 2:
        return idx, idx[:0]
    counts = np.bincount(y)
    strat = y if counts[counts > 0].min() >= 2 else None
    try:
        rest, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    except ValueError:  # too few examples for every class in the held-out part: an unstratified split
        rest, held = train_test_split(idx, test_size=fraction, random_state=seed)
    return np.sort(rest), np.sort(held)
