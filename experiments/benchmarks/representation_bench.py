"""Benchmark: our linear CCA and deep CCA beside cca-zoo's, held-out canonical correlation and fit time.

Linear CCA: ``mmml.representation.CCA`` (Cholesky whitening, float64 torch) against ``cca_zoo.linear.CCA``,
both unregularised, on pairs of UCI mfeat views (standardised, a seeded 70/30 split) and on avdigits
(image pixels against the per-band mean and std of the log-mel audio, its own train/test split). The
held-out score is the mean correlation of the ``k`` canonical variate pairs on the test rows; the fit
time is the best of ``--repeat`` fits.

Deep CCA: the same two MLPs, optimiser, batches and seed, trained with our objective
(``mmml.representation.dcca_correlation``: sum of canonical correlations, Cholesky + ``svdvals``) or with
cca-zoo's (``cca_zoo.deep.objectives.CCALoss``: eigendecomposition whitening; its ``DCCA`` Lightning
class needs the ``lightning`` package, so its objective is driven by our loop). Held-out score: a
linear CCA of the train outputs applied to the test outputs. A second run uses mini-batches smaller
than the latent size, where an inverse square root by eigendecomposition has no finite gradient.

    python experiments/benchmarks/representation_bench.py --out docs/benchmarks

Needs cca-zoo (the ``bench`` extra) and ``$MMML_DATA`` holding ``mfeat/`` for the mfeat rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import mmml.representation as rep
import numpy as np
import torch
from torch import nn

from mmml.coordinated import correlations


def mfeat_pairs(pairs: list[tuple[str, str]], seed: int = 0) -> dict[str, tuple[np.ndarray, ...]]:
    from mmml.data.mfeat import read_mfeat
    from mmml.data.roots import data_root

    folder = data_root(None) / "mfeat"
    if not folder.is_dir():
        print(f"(skipping mfeat: {folder} not found; set MMML_DATA)")
        return {}
    views, _ = read_mfeat(folder, sorted({v for p in pairs for v in p}))
    order = np.random.default_rng(seed).permutation(len(next(iter(views.values()))))
    cut = int(0.7 * len(order))
    out = {}
    for a, b in pairs:
        parts = []
        for v in (a, b):
            x = views[v].astype(np.float64)[order]
            mean, std = x[:cut].mean(0), x[:cut].std(0) + 1e-8
            parts += [(x[:cut] - mean) / std, (x[cut:] - mean) / std]
        out[f"mfeat {a}-{b}"] = (parts[0], parts[2], parts[1], parts[3])  # xtr, ytr, xte, yte
    return out


def avdigits_views() -> dict[str, tuple[np.ndarray, ...]]:
    from mmml.data.avdigits import AVDigits

    dm = AVDigits(modalities=["image", "audio"], standardize=True)
    dm.setup()
    out = []
    for split in ("train", "test"):
        b = dm.split(split)
        out += [rep.views.vector_view(b, dm.specs[m]).double().numpy() for m in ("image", "audio")]
    return {"avdigits image-audio": (out[0], out[1], out[2], out[3])}


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def held_out(transform, xte: np.ndarray, yte: np.ndarray) -> float:
    a, b = transform([xte, yte])
    return float(correlations(np.asarray(a), np.asarray(b)).mean())


def linear_rows(data: dict, k: int, repeat: int) -> list[dict]:
    from cca_zoo.linear import CCA as ZooCCA

    rows = []
    for name, (xtr, ytr, xte, yte) in data.items():
        views = [xtr, ytr]
        t_ours, ours = best_time(lambda v=views: rep.CCA(k, reg=0.0).fit(v), repeat)
        t_zoo, zoo = best_time(lambda v=views: ZooCCA(n_components=k).fit(v), repeat)
        rows.append({"data": name, "n_train": len(xtr), "dims": f"{xtr.shape[1]}x{ytr.shape[1]}", "k": k,
                     "ours_corr": held_out(ours.transform, xte, yte), "zoo_corr": held_out(zoo.transform, xte, yte),
                     "ours_s": t_ours, "zoo_s": t_zoo})
    return rows


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, d_out))


def train_deep(objective, xtr, ytr, k: int, epochs: int, batch: int, seed: int, lr: float = 1e-3):
    """Train two MLPs by ``objective(a, b) -> loss``; returns (nets, seconds, first non-finite step or None)."""
    torch.manual_seed(seed)
    nets = (mlp(xtr.shape[1], 128, k).double(), mlp(ytr.shape[1], 128, k).double())
    opt = torch.optim.Adam([p for n in nets for p in n.parameters()], lr=lr)
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(seed)
    step, bad = 0, None
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch + 1, batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = objective(nets[0](x[idx]), nets[1](y[idx]))
            loss.backward()
            finite = torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for n in nets for p in n.parameters())
            if not finite:
                bad = step
                return nets, time.perf_counter() - start, bad
            opt.step()
            step += 1
    return nets, time.perf_counter() - start, bad


def deep_score(nets, xtr, ytr, xte, yte, k: int) -> float:
    with torch.no_grad():
        h = [n(torch.from_numpy(v)).numpy() for n, v in zip(nets * 2, (xtr, ytr, xte, yte), strict=True)]
    cca = rep.CCA(k, reg=1e-6).fit([h[0], h[1]])
    return held_out(cca.transform, h[2], h[3])


def deep_rows(data: dict, k: int, epochs: int, batch: int, seeds: list[int]) -> list[dict]:
    """One row per data set: held-out correlation (mean and std over ``seeds``) and seconds of each objective."""
    from cca_zoo.deep.objectives import CCALoss

    zoo = CCALoss(reg_covar=1e-3)
    objectives = {"ours": lambda a, b: -rep.dcca_correlation(a, b, reg=1e-3), "zoo": lambda a, b: zoo([a, b])}
    rows = []
    for name, (xtr, ytr, xte, yte) in data.items():
        row = {"data": name, "k": k, "batch": batch, "epochs": epochs, "seeds": len(seeds)}
        for who, obj in objectives.items():
            corr, secs, bad = [], [], None
            for seed in seeds:
                nets, s, b = train_deep(obj, xtr, ytr, k, epochs, batch, seed)
                secs.append(s)
                bad = b if b is not None else bad
                corr.append(deep_score(nets, xtr, ytr, xte, yte, k) if b is None else float("nan"))
            row[f"{who}_corr"], row[f"{who}_corr_std"] = float(np.mean(corr)), float(np.std(corr))
            row[f"{who}_s"], row[f"{who}_nonfinite_at"] = float(np.mean(secs)), bad
        rows.append(row)
    return rows


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def figure(linear: list[dict], deep: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, rows, key, title in ((axes[0], linear, "corr", "linear CCA: held-out mean corr."),
                                 (axes[1], linear, "s", "linear CCA: fit seconds (log)"),
                                 (axes[2], deep, "corr", "deep CCA: held-out mean corr.")):
        names = [r["data"] + (f" b={r['batch']}" if "batch" in r else "") for r in rows]
        pos = np.arange(len(rows))
        for off, who, colour in ((-0.2, "ours", "tab:blue"), (0.2, "zoo", "tab:orange")):
            vals = [r[f"{who}_{key}"] for r in rows]
            ax.barh(pos + off, [0 if math.isnan(v) else v for v in vals], 0.4, color=colour,
                    label="mmml" if who == "ours" else "cca-zoo")
        ax.set_yticks(pos, names, fontsize=7)
        ax.set_title(title, fontsize=9)
        if key == "s":
            ax.set_xscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for representation_bench.{md,json,png}")
    parser.add_argument("--k", type=int, default=5, help="canonical pairs (linear and deep)")
    parser.add_argument("--repeat", type=int, default=5, help="fits per linear timing (best counts)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--small-batch", type=int, default=4, help="a mini-batch smaller than --k")
    parser.add_argument("--seeds", type=int, default=3, help="deep CCA runs per objective (seeds 0..n-1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data = {**mfeat_pairs([("fou", "kar"), ("fou", "zer"), ("kar", "zer")]), **avdigits_views()}
    linear = linear_rows(data, args.k, args.repeat)
    deep = deep_rows(data, args.k, args.epochs, args.batch, list(range(args.seeds)))
    first = next(iter(data))
    deep += deep_rows({first: data[first]}, args.k, 2, args.small_batch, [0])
    header = (f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 torch thread; "
              f"torch {torch.__version__}; command: python experiments/benchmarks/representation_bench.py "
              f"{' '.join(argv if argv is not None else sys.argv[1:])}")
    md = "\n\n".join([header, "### Linear CCA", table(linear, ["data", "n_train", "dims", "k", "ours_corr",
                                                                 "zoo_corr", "ours_s", "zoo_s"]),
                      "### Deep CCA (same MLPs, loop and seed; objective differs)",
                      table(deep, ["data", "k", "batch", "epochs", "seeds", "ours_corr", "ours_corr_std", "zoo_corr",
                                   "zoo_corr_std", "ours_s", "zoo_s", "ours_nonfinite_at", "zoo_nonfinite_at"])])
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "representation_bench.md").write_text(md + "\n")
    (out / "representation_bench.json").write_text(json.dumps({"linear": linear, "deep": deep}, indent=1))
    figure(linear, deep, out / "representation_bench.png")
    print(f"wrote {out / 'representation_bench.md'}, .json, .png")


if __name__ == "__main__":
    main()
