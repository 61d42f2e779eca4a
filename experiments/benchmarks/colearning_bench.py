"""Benchmark: mmml's co-training beside mvlearn's CTClassifier on mvlearn's own tutorial setting.

Setting (mvlearn's "2-View Semi-Supervised Classification" example): UCI mfeat digits 0 and 1, the
first two views (``fou``, ``fac``), a 67/33 train/test split, 98% of the training labels removed,
Gaussian naive Bayes per view. mmml's :class:`mmml.colearning.CoTraining` runs once with mvlearn's
settings (one pseudo-label per class and view each round, confidence above 0.5, a pool of 75, 50
rounds) and once with its defaults; a 10-class, 6-view run (which mvlearn cannot do: two views and
two classes only) is added. Repeated over ``--repeats`` draws of the split and of the labels.

Run: ``python -m mmml.experiments.benchmarks.colearning_bench --out docs/benchmarks`` (needs ``MMML_DATA`` with
``mfeat/``, and ``pip install --no-deps mvlearn`` plus ``seaborn``, which mvlearn imports).
Prints a Markdown table, writes ``colearning_benchmark.{md,png}`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from mmml.colearning import CoTraining
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from mmml.data.mfeat import VIEWS, read_mfeat


def hide_labels(y: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """mvlearn's example: remove each label with probability ``rate``, keeping at least one per class."""
    keep = rng.random(len(y)) >= rate
    for c in np.unique(y):
        if not keep[y == c].any():
            keep[rng.choice(np.flatnonzero(y == c))] = True
    return np.where(keep, y, -1)


def timed(fit_predict) -> tuple[float, float]:
    start = time.perf_counter()
    acc = fit_predict()
    return acc, time.perf_counter() - start


def one_repeat(views: list[np.ndarray], y: np.ndarray, seed: int, rate: float) -> dict[str, tuple[float, float]]:
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.33, random_state=seed, stratify=y)
    train, test = [v[idx_train] for v in views], [v[idx_test] for v in views]
    y_obs = hide_labels(y[idx_train], rate, np.random.default_rng(seed))
    y_test = y[idx_test]
    lab = y_obs != -1
    out = {}
    for i in range(len(views)):
        out[f"supervised GaussianNB, view {i}"] = timed(
            lambda i=i: GaussianNB().fit(train[i][lab], y_obs[lab]).score(test[i], y_test))
    mmml_like_mvlearn = CoTraining(GaussianNB(), threshold=0.5, n_per_round=2, class_balanced=True, pool_size=75,
                                   max_iter=50, random_state=seed)
    out["mmml CoTraining (mvlearn's settings)"] = timed(lambda: mmml_like_mvlearn.fit(train, y_obs).score(test, y_test))
    out["mmml CoTraining (defaults)"] = timed(
        lambda: CoTraining(random_state=seed).fit(train, y_obs).score(test, y_test))
    try:
        from mvlearn.semi_supervised import CTClassifier
    except ImportError as err:
        print(f"mvlearn unavailable ({err}); pip install --no-deps mvlearn seaborn")
        return out
    y_nan = np.where(y_obs == -1, np.nan, y_obs).astype(float)
    ct = CTClassifier(GaussianNB(), GaussianNB(), random_state=seed)
    out["mvlearn CTClassifier"] = timed(lambda: float((ct.fit(train, y_nan).predict(test) == y_test).mean()))
    return out


def ten_class_repeat(views: list[np.ndarray], y: np.ndarray, seed: int, rate: float) -> dict[str, tuple[float, float]]:
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.33, random_state=seed, stratify=y)
    train, test, y_test = [v[idx_train] for v in views], [v[idx_test] for v in views], y[idx_test]
    y_obs = hide_labels(y[idx_train], rate, np.random.default_rng(seed))
    lab = y_obs != -1
    return {
        "supervised GaussianNB, fou only": timed(
            lambda: GaussianNB().fit(train[0][lab], y_obs[lab]).score(test[0], y_test)),
        "supervised GaussianNB, 6 views (product)": timed(
            lambda: CoTraining(max_iter=0).fit(train, y_obs).score(test, y_test)),
        "mmml CoTraining, 6 views (defaults)": timed(
            lambda: CoTraining(random_state=seed).fit(train, y_obs).score(test, y_test)),
    }


def summarise(results: list[dict[str, tuple[float, float]]]) -> list[tuple[str, float, float, float]]:
    names = list(dict.fromkeys(k for r in results for k in r))
    rows = []
    for name in names:
        accs = np.array([r[name][0] for r in results if name in r])
        secs = np.array([r[name][1] for r in results if name in r])
        rows.append((name, accs.mean(), accs.std(ddof=1) if len(accs) > 1 else 0.0, secs.mean()))
    return rows


def table(rows, title: str) -> str:
    lines = [f"### {title}", "", "| method | accuracy (mean ± std) | fit+predict s |", "|---|---|---|"]
    lines += [f"| {n} | {m:.3f} ± {s:.3f} | {t:.3f} |" for n, m, s, t in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("MMML_DATA", "~/.cache/mmml"), help="data root with mfeat/")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.98, help="share of training labels removed")
    parser.add_argument("--out", default="docs/benchmarks")
    args = parser.parse_args()
    data, labels = read_mfeat(Path(args.root).expanduser() / "mfeat")
    binary = np.isin(labels, [0, 1])
    two = [data["fou"][binary].astype(np.float64), data["fac"][binary].astype(np.float64)]
    results = [one_repeat(two, labels[binary], seed, args.rate) for seed in range(args.repeats)]
    text = table(summarise(results), f"mfeat 0 vs 1, views fou + fac, {args.rate:.0%} of labels removed, "
                                     f"{args.repeats} repeats")
    six = [data[v].astype(np.float64) for v in VIEWS]
    ten = [ten_class_repeat(six, labels, seed, args.rate) for seed in range(args.repeats)]
    text += "\n" + table(summarise(ten), f"mfeat 10 classes, 6 views, {args.rate:.0%} of labels removed "
                                         "(beyond mvlearn: 2 views, 2 classes)")
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "colearning_benchmark.md").write_text(text)
    plot(summarise(results), summarise(ten), out / "colearning_benchmark.png")
    print(f"wrote {out / 'colearning_benchmark.md'} and {out / 'colearning_benchmark.png'}")


def plot(binary_rows, ten_rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, rows, title in ((axes[0], binary_rows, "0 vs 1, fou + fac (mvlearn's setting)"),
                            (axes[1], ten_rows, "10 classes, 6 views")):
        ax.barh(range(len(rows)), [r[1] for r in rows], xerr=[r[2] for r in rows], color="tab:blue", alpha=0.8)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("test accuracy")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
