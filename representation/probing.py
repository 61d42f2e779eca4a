"""Judging a representation of a regression or multi-label data set (the classification case is the task's own).

Same protocol as for classes (Baltrusaitis et al. 2017, Sec. 3; :mod:`mmml.representation.task`),
with the probe and the metrics of the target (:mod:`mmml.tasks.probes`, :mod:`mmml.tasks.targets`):

- ``probe_all_<metric>``, ``probe_<m>_<metric>``: a linear probe fitted on the train split's fused
  (or one modality's) features, scored on the test split (``mae``, ``corr``, ``acc2``, ``acc7`` for
  regression; ``f1_micro``, ``f1_macro`` for multi-label);
- ``missing_<m>_<metric>``: the ``probe_all`` probe on features inferred with ``m`` missing;
- ``<a>2<b>_R@K``, ``<a>2<b>_medr``: retrieval of the paired item (``match="instance"``: there are
  no classes to match).

Embedding arithmetic needs classes and is left out.
"""

from __future__ import annotations

import itertools

from torch import Tensor

from mmml.metrics.retrieval import retrieval_metrics
from mmml.tasks.probes import fit_probe, probe_scores


def target_evaluation(train: dict[str, Tensor], test: dict[str, Tensor], modalities: list[str], target_type: str,
                      C: float = 1.0) -> dict[str, float]:
    """Probe and retrieval metrics of frozen features for a regression or multi-label ``target_type``.

    Args:
        train, test: ``fused``, ``emb_<m>``, (test) ``missing_<m>`` features and ``label`` of each split.
        modalities: the modalities whose embeddings ``test`` holds. C: inverse regularisation of the probes.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(30, 4, generator=g)
        >>> split = {"fused": x, "emb_a": x, "emb_b": x, "label": x[:, 0]}
        >>> out = target_evaluation(split, split, ["a", "b"], "regression")
        >>> round(out["probe_all_corr"], 2), out["a2b_R@1"]
        (1.0, 1.0)
    """
    results: dict[str, float] = {}
    probe_all = fit_probe(target_type, train["fused"], train["label"], C)
    results.update({f"probe_all_{k}": v for k, v in probe_scores(target_type, probe_all, test["fused"],
                                                                test["label"]).items()})
    for m in modalities:
        probe = fit_probe(target_type, train[f"emb_{m}"], train["label"], C)
        results.update({f"probe_{m}_{k}": v for k, v in probe_scores(target_type, probe, test[f"emb_{m}"],
                                                                    test["label"]).items()})
        if f"missing_{m}" in test:
            results.update({f"missing_{m}_{k}": v for k, v in probe_scores(target_type, probe_all,
                                                                          test[f"missing_{m}"], test["label"]).items()})
    for a, b in itertools.permutations(modalities, 2):
        if test[f"emb_{a}"].shape[1] == test[f"emb_{b}"].shape[1]:
            ret = retrieval_metrics(test[f"emb_{a}"], test[f"emb_{b}"], match="instance")
            results.update({f"{a}2{b}_{k}": v for k, v in ret.items()})
    return results
