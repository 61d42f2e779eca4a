"""The representation task: train a representation for its own objective, then judge it frozen.

Training follows the contract of :mod:`mmml.tasks.contract`, run by :class:`~mmml.tasks.MMMLTask`:
``net.loss(batch)`` by gradient descent, or ``net.fit(train_split)`` once for methods trained otherwise
(closed-form CCA, contrastive divergence); ``net.finalize(train_split)``, if defined, runs after
training (deep CCA's linear CCA of its outputs). Test metrics, per test condition
(``test/<condition>/<name>``), from the frozen ``embed``/``fuse`` of :mod:`mmml.representation.base`:

- ``probe_all``, ``probe_<m>``: linear-probe accuracy (logistic regression fitted on the train
  split's features) from the fused representation and from each modality alone;
- ``missing_<m>``: accuracy of the ``probe_all`` probe when ``m`` is missing at test and inferred by
  the model from the others;
- ``<a>2<b>_R@1``, ``.._R@5``, ``.._R@10``, ``.._medr``: retrieval of ``b`` items from ``a`` queries
  (:mod:`mmml.metrics.retrieval`);
- ``arith``: embedding-arithmetic accuracy of the first two modalities (or ``arithmetic``).

The same metrics are computed on the validation split (``val/<name>``, the probes refitted on the train
split's features of that epoch); the tested weights are the best epoch's by the family's headline
(``val/probe_all`` for joint spaces, ``val/image2audio_R@1`` for coordinated ones, see
:meth:`RepresentationTask.default_monitor`).

A 2-D PCA projection of each modality's test embeddings is saved as ``embedding_2d.npz`` in the run
folder (by rank 0), for :mod:`mmml.representation.report`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmml.representation.base import drop_modality
from mmml.representation.evaluation import arithmetic_accuracy, linear_probe, probe_accuracy
from mmml.representation.probing import target_evaluation
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from mmml.data.targets import check_target
from mmml.metrics.retrieval import retrieval_metrics
from mmml.tasks.base import MMMLTask

PROJECTION_FILE = "embedding_2d.npz"


class RepresentationTask(MMMLTask):
    """Train a representation method and evaluate it by probing, retrieval, missing modalities and arithmetic.

    Args:
        net: a representation method (``embed``, ``fuse``, and ``loss(batch)`` or ``fit(train_split)``).
        num_classes: classes of the data set (injected). match: retrieval relevance, ``"class"``
            (pairs share a label) or ``"instance"``. probe_C: inverse regularisation of the probes.
        arithmetic: the two modalities ``[x, y]`` of the arithmetic test (default: the first two).
        target_type: the data set's (injected); a regression or multi-label target is probed and scored
            as that target (:func:`mmml.representation.probing.target_evaluation`).
        eval_chunk: examples per forward pass when embedding a whole split.
        val_interval: validation metrics every this many epochs and at the last (5: refitting the probes
            each epoch took ~1.2 s, doubling concat's 15-epoch run on avdigits).
        save_projection: write ``embedding_2d.npz`` into the trainer's ``default_root_dir`` (the run
            folder under ``mmml-run``; the current directory for a bare ``Trainer()``).
        **kwargs: ``lr``, ``weight_decay``, ``optimizer`` (see :class:`mmml.tasks.MMMLTask`).

    Examples:
        >>> from mmml.data.spec import ModalitySpec
        >>> from mmml.representation import ContrastiveEmbedding
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> task = RepresentationTask(ContrastiveEmbedding(specs, dim=4, hidden=8), num_classes=2)
        >>> batch = {"a": torch.randn(4, 3), "b": torch.randn(4, 2), "label": torch.arange(4) % 2}
        >>> loss, _ = task.step(batch, "train")
        >>> loss.shape
        torch.Size([])
    """

    method_needs = ("embed", "fuse")
    method_learns = True

    def __init__(self, net: nn.Module, num_classes: int, match: str = "class", probe_C: float = 1.0,
                 arithmetic: list[str] | None = None, eval_chunk: int = 1024, save_projection: bool = True,
                 target_type: str = "classification", val_interval: int = 5, **kwargs: Any) -> None:
        super().__init__(net, val_interval=val_interval, **kwargs)
        self.num_classes, self.match, self.probe_C = int(num_classes), match, float(probe_C)
        self.target_type = check_target(target_type)
        self.arithmetic = list(arithmetic) if arithmetic is not None else None
        self.eval_chunk, self.save_projection = int(eval_chunk), bool(save_projection)
        self._train_features: dict[str, Tensor] | None = None

    # ---- training ------------------------------------------------------------------------------
    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor | None, None]:
        return (self.net.loss(batch) if self.training_mode.gradient else None), None

    # ---- evaluation ----------------------------------------------------------------------------

    @torch.no_grad()
    def features(self, batch: dict[str, Tensor], missing: bool = False) -> dict[str, Tensor]:
        """``emb_<m>``, ``fused`` and (``missing=True``) ``missing_<m>`` features of a batch, on CPU."""
        was = self.net.training
        self.net.eval()
        out: dict[str, list[Tensor]] = {}
        n = len(batch["label"])
        for start in range(0, n, self.eval_chunk):
            part = {k: v[start : start + self.eval_chunk] for k, v in batch.items()}
            feats = {f"emb_{m}": z for m, z in self.net.embed(part).items()}
            feats["fused"] = self.net.fuse(part)
            here = [m for m in self.net.modalities if m in part]
            if missing and len(here) > 1:
                for m in here:
                    feats[f"missing_{m}"] = self.net.fuse(drop_modality(part, m))
            for k, v in feats.items():
                out.setdefault(k, []).append(v.detach().float().cpu())
        self.net.train(was)
        return {k: torch.cat(v) for k, v in out.items()}

    def default_monitor(self) -> str:
        """The representation headline on validation: ``val/probe_all`` (joint), ``val/image2audio_R@1``
        (coordinated; the first two modalities' retrieval when there is no image and audio)."""
        if self.target_type != "classification":
            return "val/probe_all_" + {"regression": "mae", "multilabel": "f1_macro"}[self.target_type]
        if getattr(self.net, "family", "") != "coordinated":
            return "val/probe_all"
        mods = list(getattr(self.net, "modalities", []))
        a, b = ("image", "audio") if {"image", "audio"} <= set(mods) else (mods + ["", ""])[:2]
        return f"val/{a}2{b}_R@1"

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._train_features = None  # the probes are refitted on this epoch's features

    def on_test_start(self) -> None:
        super().on_test_start()
        self._train_features = None

    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        self.collect(condition, label=batch["label"], **self.features(batch, missing=True))

    def evaluate(self, condition: str, collected: dict[str, Tensor]) -> dict[str, float]:
        if self._train_features is None:
            train = self.train_split()
            self._train_features = {**self.features(train), "label": train["label"].cpu()}
        with threadpool_limits(1):  # BLAS threads oversubscribe a busy CPU: 10x slower probes
            return self._evaluate(condition, self._train_features, collected)

    def _evaluate(self, condition: str, tr: dict[str, Tensor], te: dict[str, Tensor]) -> dict[str, float]:
        if self.target_type != "classification":
            mods = [m for m in self.net.modalities if f"emb_{m}" in te]
            return target_evaluation(tr, te, mods, self.target_type, self.probe_C)
        results: dict[str, float] = {}
        results["probe_all"], probe_all = linear_probe(tr["fused"], tr["label"], te["fused"], te["label"],
                                                       self.probe_C)
        mods = [m for m in self.net.modalities if f"emb_{m}" in te]
        for m in mods:
            results[f"probe_{m}"] = linear_probe(tr[f"emb_{m}"], tr["label"], te[f"emb_{m}"], te["label"],
                                                 self.probe_C)[0]
        for m in mods:
            if f"missing_{m}" in te:
                results[f"missing_{m}"] = probe_accuracy(probe_all, te[f"missing_{m}"], te["label"])
        for a, b in itertools.permutations(mods, 2):
            ret = retrieval_metrics(te[f"emb_{a}"], te[f"emb_{b}"], te["label"], te["label"], self.match)
            results.update({f"{a}2{b}_{k}": v for k, v in ret.items()})
        pair = self.arithmetic or mods[:2]
        if len(pair) == 2 and all(f"emb_{m}" in te for m in pair):
            results["arith"] = arithmetic_accuracy(te[f"emb_{pair[0]}"], te[f"emb_{pair[1]}"], te["label"])
        if self.save_projection and condition == self.condition_names[0] and self.trainer.is_global_zero:
            self._save_projection({m: te[f"emb_{m}"] for m in mods}, te["label"])
        return results

    def _save_projection(self, emb: dict[str, Tensor], labels: Tensor, most: int = 300) -> Path | None:
        """2-D PCA (fitted on every modality's test embeddings together) into the run folder."""
        root = getattr(self.trainer, "default_root_dir", None) if self._trainer is not None else None
        if not root or not emb or len({z.shape[1] for z in emb.values()}) != 1:
            return None
        from sklearn.decomposition import PCA

        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:most]
        stacked = torch.cat([z[keep] for z in emb.values()]).double().numpy()
        coords = PCA(2, random_state=0).fit_transform(stacked).reshape(len(emb), len(keep), 2)
        path = Path(root) / PROJECTION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, modalities=np.array(list(emb)), coords=coords.astype(np.float32),
                 labels=labels[keep].numpy(), family=getattr(self.net, "family", ""))
        return path
