"""Extras of the representation table (called by ``mmml-table``): a 2-D picture of each space, and notes
that test the survey's claims against the numbers (Baltrusaitis et al. 2017, Sec. 3.3: coordinated
spaces suit retrieval and translation, joint spaces suit fused prediction).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from mmml.representation.task import PROJECTION_FILE

MARKERS = ("o", "^", "s", "D", "v", "P")
#: the survey overview's metric: probing for joint spaces, retrieval for coordinated ones (DESIGN)
HEADLINE = {"joint": "test/clean/probe_all", "coordinated": "test/clean/image2audio_R@1"}


def _first_runs(records: list[dict[str, Any]]) -> dict[tuple[str, str], Path]:
    """The projection file of the lowest-seed ok run of each (family/method, dataset)."""
    chosen: dict[tuple[str, str], tuple[Any, Path]] = {}
    for rec in records:
        if rec.get("status") != "ok" or not rec.get("path"):
            continue
        path = Path(rec["path"]).parent / PROJECTION_FILE
        if not path.is_file():
            continue
        key = (f"{rec.get('family')}/{rec.get('method')}", str(rec.get("dataset")))
        seed = rec.get("seed") if rec.get("seed") is not None else math.inf
        if key not in chosen or seed < chosen[key][0]:
            chosen[key] = (seed, path)
    return {k: v[1] for k, v in chosen.items()}


def plots(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """``representation_spaces.png``: test embeddings of each method (columns) and data set (rows), in 2-D.

    Colour is the class, the marker the modality; the projection is a PCA fitted on every modality
    together, so coordinated modalities that overlap share a region.
    """
    runs = _first_runs(records)
    if not runs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({m for m, _ in runs})
    datasets = sorted({d for _, d in runs})
    fig, axes = plt.subplots(len(datasets), len(methods), figsize=(2.4 * len(methods), 2.4 * len(datasets)),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    for i, d in enumerate(datasets):
        for j, m in enumerate(methods):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(m, fontsize=8)
            if j == 0:
                ax.set_ylabel(d, fontsize=8)
            if (m, d) not in runs:
                continue
            data = np.load(runs[(m, d)])
            for k, name in enumerate(data["modalities"]):
                xy = data["coords"][k]
                ax.scatter(xy[:, 0], xy[:, 1], c=[cmap(int(y) % 10) for y in data["labels"]], s=5, alpha=0.6,
                           marker=MARKERS[k % len(MARKERS)], label=str(name), linewidths=0)
            if i == 0 and j == 0:
                ax.legend(fontsize=6, markerscale=2, loc="best")
    fig.suptitle("Test embeddings (2-D PCA): colour = class, marker = modality", fontsize=9)
    fig.tight_layout()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "representation_spaces.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def family_means(records: list[dict[str, Any]], condition: str = "clean") -> dict[str, dict[str, float]]:
    """Per family, the mean over methods, data sets and seeds of: ``R@1`` (retrieval, both directions),
    ``probe_all``, ``probe_unimodal`` (best single modality), ``missing`` and ``arith``."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    prefix = f"test/{condition}/"
    for rec in records:
        if rec.get("status") != "ok":
            continue
        met = {k[len(prefix):]: v for k, v in (rec.get("metrics") or {}).items() if k.startswith(prefix)}
        fam = values[str(rec.get("family"))]
        r1 = [v for k, v in met.items() if k.endswith("_R@1")]
        if r1:
            fam["R@1"].append(float(np.mean(r1)))
        uni = [v for k, v in met.items() if k.startswith("probe_") and k != "probe_all"]
        if uni:
            fam["probe_unimodal"].append(max(uni))
        miss = [v for k, v in met.items() if k.startswith("missing_")]
        if miss:
            fam["missing"].append(float(np.mean(miss)))
        for k in ("probe_all", "arith"):
            if k in met:
                fam[k].append(met[k])
    return {f: {k: float(np.mean(v)) for k, v in d.items()} for f, d in values.items()}


def best_methods(records: list[dict[str, Any]], metric: str = "probe_all",
                 condition: str = "clean") -> dict[str, tuple[str, float]]:
    """Per family, the method with the highest mean ``metric`` (over data sets and seeds) and that mean."""
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rec in records:
        value = (rec.get("metrics") or {}).get(f"test/{condition}/{metric}")
        if rec.get("status") == "ok" and value is not None:
            values[(str(rec.get("family")), str(rec.get("method")))].append(float(value))
    best: dict[str, tuple[str, float]] = {}
    for (family, method), v in values.items():
        if family not in best or np.mean(v) > best[family][1]:
            best[family] = (method, float(np.mean(v)))
    return best


def notes(records: list[dict[str, Any]]) -> str:
    """A paragraph per survey claim, saying from the numbers whether it holds here."""
    means = family_means(records)
    if "joint" not in means or "coordinated" not in means:
        return ""
    j, c = means["joint"], means["coordinated"]
    lines = ["### Do the survey's claims hold here?", ""]

    def claim(text: str, key: str, winner: str) -> None:
        if key not in j or key not in c:
            return
        better = "coordinated" if c[key] > j[key] else "joint"
        verdict = "holds" if better == winner else "does not hold"
        lines.append(f"- {text}: {verdict} here (mean {key}: coordinated {c[key]:.3f}, joint {j[key]:.3f}).")

    claim("Coordinated spaces suit cross-modal retrieval", "R@1", "coordinated")
    claim("Joint spaces suit fused prediction (probe on all modalities)", "probe_all", "joint")
    claim("Coordinated spaces support embedding arithmetic", "arith", "coordinated")
    if "missing" in j and "missing" in c:
        lines.append(f"- With a modality missing at test, the fused probe keeps {j['missing']:.3f} (joint) and "
                     f"{c['missing']:.3f} (coordinated, the missing embedding replaced by the present one).")
    lines.append("")
    lines.append("Means over every method of the family, data set and seed of the clean condition.")
    best = best_methods(records, "probe_all")
    if best:
        lines.append("Best fused probe per family (a family mean can hide one strong method): " + "; ".join(
            f"{fam} {m} ({v:.3f})" for fam, (m, v) in sorted(best.items())) + ".")
    return "\n".join(lines)
