"""The CLIP task: contrastive pre-training on captions, then zero-shot, probes and retrieval under every shift.

Radford et al. 2021: training is :meth:`mmml.representation.CLIP.loss` on batches stripped of their
labels. Per test condition (``test/<condition>/<name>``), from the frozen model:

- ``zeroshot_acc``: the classifier from label text (:class:`mmml.representation.ZeroShotClassifier`,
  the data set's prompt templates, prompt-ensembled), with its 95% Wilson interval
  (``zeroshot_ci_low``, ``zeroshot_ci_high``, ``scipy.stats.binomtest``) and ``chance``;
  ``zeroshot_single_acc`` with the first template only (what ensembling adds);
- ``probe_acc``: a logistic-regression probe on the frozen input features of the whole train split
  (CLIP Sec. 3.2); ``fewshot<k>_acc``: the same from ``k`` seeded training examples per class
  (Sec. 3.1.5); each probe's inverse regularisation C is chosen on the clean validation split;
- ``text2<modality>_R@K``, ``..._medr``: retrieval of each caption's own example from its free
  text (instance relevance); ``text2<modality>_class_R@1``: the top example shows the same digit.

Each validation epoch logs ``val/zeroshot_acc`` (:meth:`CLIPTask.default_monitor`), zero-shot accuracy on
the whole validation split from the current weights, so that best-epoch selection reads the headline on
validation, never on test (the probes are fitted at test time only).

Probes are fitted on clean (in-distribution) features and scored on shifted ones, the protocol of
effective robustness (Taori et al. 2020; :mod:`mmml.representation.robustness_fit`). :meth:`evaluate`
works on whole collected splits, so it serves any split the base task collects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmml.representation.zero_shot import ZeroShotClassifier
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from mmml.metrics.retrieval import retrieval_metrics
from mmml.tasks.base import MMMLTask

UNLABELLED_DROP = ("label", "label_present")


def without_labels(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The batch without its labels: what contrastive pre-training sees."""
    return {k: v for k, v in batch.items() if k not in UNLABELLED_DROP}


def few_shot_indices(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` indices per class (all of a class with fewer), drawn by ``default_rng([seed, k])``, sorted."""
    rng = np.random.default_rng([seed, k])
    picks = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def choose_probe(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 Cs: Sequence[float]) -> tuple[LogisticRegression, float]:
    """The logistic-regression probe whose C scores best on validation (ties: the smaller C), and that C."""
    best, best_acc, best_C = None, -1.0, None
    for C in sorted(Cs):
        clf = LogisticRegression(C=float(C), max_iter=2000).fit(x, y)
        acc = float((clf.predict(x_val) == y_val).mean())
        if acc > best_acc:
            best, best_acc, best_C = clf, acc, float(C)
    return best, best_C


class CLIPTask(MMMLTask):
    """Pre-train a :class:`mmml.representation.CLIP` without labels; evaluate zero-shot, probes and retrieval.

    Args:
        net: a CLIP-style model (``loss``, ``embed_input``, ``embed_tokens``, ``encode_text``, ``scale``).
        class_names: the data set's class names (injected), put into the prompts.
        prompts: prompt templates with ``{}`` (default: the data set's ``grammar.prompts``).
        shots: examples per class of the few-shot probes. probe_Cs: the C grid the validation split chooses from.
        ks: the K of each retrieval R@K. eval_chunk: examples per forward pass when embedding a split.
        **kwargs: ``lr``, ``weight_decay``, ``optimizer`` (see :class:`mmml.tasks.MMMLTask`).
    """

    method_needs = ("embed_input", "embed_tokens", "encode_text")
    method_learns = True
    #: the headline, logged on validation as ``val/<VAL_HEADLINE>`` (higher is better)
    VAL_HEADLINE = "zeroshot_acc"

    def __init__(self, net: nn.Module, class_names: Sequence[str], prompts: Sequence[str] | None = None,
                 shots: Sequence[int] = (1, 4, 16), probe_Cs: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0),
                 ks: Sequence[int] = (1, 5, 10), eval_chunk: int = 1024, **kwargs: Any) -> None:
        super().__init__(net, **kwargs)
        self.class_names = list(class_names)
        self.prompts = list(prompts) if prompts is not None else None
        self.shots = tuple(int(k) for k in shots)
        if any(k <= 0 for k in self.shots):
            raise ValueError(f"model.task.shots={list(shots)}; use positive numbers of examples per class")
        self.probe_Cs, self.ks, self.eval_chunk = tuple(float(c) for c in probe_Cs), tuple(ks), int(eval_chunk)
        self._frozen: dict[str, Any] | None = None

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, None]:
        return self.net.loss(without_labels(batch)), None

    # ---- validation: the headline on the validation split ---------------------------------------
    def zero_shot_accuracy(self, split: dict[str, Tensor]) -> float:
        """Zero-shot accuracy (prompt-ensembled classifier from label text) of the current weights on ``split``."""
        prompts = self.prompts or list(self.trainer.datamodule.grammar.prompts)
        was = self.net.training
        self.net.eval()
        with torch.no_grad():
            clf = ZeroShotClassifier(self.net.encode_text, self.class_names, prompts)
            pred = clf(self._embed(split)).argmax(1)
        self.net.train(was)
        return float((pred == split["label"].to(pred.device)).double().mean())

    def default_monitor(self) -> str:
        """The validation metric that selects the tested weights: zero-shot accuracy, ``val/zeroshot_acc``."""
        return f"val/{self.VAL_HEADLINE}"

    def on_validation_epoch_end(self) -> None:
        if hasattr(MMMLTask, "default_monitor"):  # a base task that validates through test_condition_step/evaluate
            super().on_validation_epoch_end()
            return
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None or not hasattr(dm, "split"):
            return
        self.log(self.default_monitor(), self.zero_shot_accuracy(dm.split("val")), prog_bar=True, sync_dist=False)

    # ---- frozen-model pieces, built once per test (or validation) pass ---------------------------
    def on_test_start(self) -> None:
        super().on_test_start()
        self._frozen = None

    def _embed(self, split: dict[str, Tensor]) -> Tensor:
        n = len(split["label"])
        with torch.no_grad():
            parts = [self.net.embed_input({k: v[i:i + self.eval_chunk] for k, v in split.items()})
                     for i in range(0, n, self.eval_chunk)]
        return torch.cat(parts)

    def _embed_split(self, split: dict[str, Tensor]) -> np.ndarray:
        return self._embed(split).double().cpu().numpy()

    def frozen(self) -> dict[str, Any]:
        """The zero-shot classifiers and the probes (C chosen on validation) of the current weights."""
        if self._frozen is not None:
            return self._frozen
        dm = self.trainer.datamodule
        prompts = self.prompts or list(dm.grammar.prompts)
        was = self.net.training
        self.net.eval()
        with torch.no_grad():
            scale = float(self.net.scale())
            out: dict[str, Any] = {
                "zeroshot": ZeroShotClassifier(self.net.encode_text, self.class_names, prompts, scale),
                "zeroshot_single": ZeroShotClassifier(self.net.encode_text, self.class_names, prompts[:1], scale)}
        train, val = dm.split("train"), dm.split("val")
        x, x_val = self._embed_split(train), self._embed_split(val)
        y, y_val = train["label"].cpu().numpy(), val["label"].cpu().numpy()
        self.net.train(was)
        subsets = {"probe": np.arange(len(y)), **{f"fewshot{k}": few_shot_indices(y, k, dm.seed) for k in self.shots}}
        with threadpool_limits(1):
            for name, idx in subsets.items():
                out[name], out[f"{name}_C"] = choose_probe(x[idx], y[idx], x_val, y_val, self.probe_Cs)
        self._frozen = out
        return out

    # ---- test ------------------------------------------------------------------------------------
    def test_condition_step(self, batch: dict[str, Tensor], condition: str) -> None:
        clean = without_labels(batch)
        self.collect(condition, x=self.net.embed_input(clean),
                     text=self.net.embed_tokens(clean[self.net.text], clean.get(f"{self.net.text}_lengths")),
                     label=batch["label"])

    def evaluate(self, condition: str, collected: dict[str, Tensor]) -> dict[str, float]:
        x, text, y = collected["x"], collected["text"], collected["label"]
        if condition == "val":  # validation: the headline only, from the current weights (no probe is fitted)
            prompts = self.prompts or list(self.trainer.datamodule.grammar.prompts)
            was = self.net.training
            self.net.eval()
            with torch.no_grad():
                clf = ZeroShotClassifier(self.net.encode_text, self.class_names, prompts)
            self.net.train(was)
            return {self.VAL_HEADLINE: float((clf(x).argmax(1) == y).double().mean())}
        parts = self.frozen()
        out: dict[str, float] = {"chance": 1.0 / len(self.class_names)}
        for name in ("zeroshot", "zeroshot_single"):
            hits = int((parts[name](x).argmax(1) == y).sum())
            out[f"{name}_acc"] = hits / len(y)
        ci = binomtest(int(round(out["zeroshot_acc"] * len(y))), len(y)).proportion_ci(0.95, method="wilson")
        out["zeroshot_ci_low"], out["zeroshot_ci_high"] = float(ci.low), float(ci.high)
        feats, labels = x.double().numpy(), y.numpy()
        for name in ("probe", *(f"fewshot{k}" for k in self.shots)):
            out[f"{name}_acc"] = float((parts[name].predict(feats) == labels).mean())
            out[f"{name}_C"] = parts[f"{name}_C"]
        m = self.net.modality
        ret = retrieval_metrics(text, x, match="instance", ks=self.ks)
        out.update({f"text2{m}_{k}": v for k, v in ret.items()})
        out[f"text2{m}_class_R@1"] = retrieval_metrics(text, x, y, y, ks=(1,))["R@1"]
        return out
