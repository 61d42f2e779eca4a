"""Benchmark: batched DTW (mmml.alignment.dtw) beside tslearn and dtaidistance, time per pair.

Runs DTW on ``--pairs`` random pairs of ``--length`` frames (``--features`` per frame, float64, seed
0): ours batches all pairs into one call; the peers loop over pairs, as their per-pair APIs ask. Every
method is timed ``--repeat`` times after a warm-up call (which also triggers tslearn's numba
compilation); the best run counts. The costs are checked against ours (tslearn and dtaidistance
return the square root of our summed squared distances). On a CUDA machine it adds the GPU and,
unless ``--no-long``, ``--long-pairs`` pairs of ``--long-length`` frames, the peers timed on a
``--peer-pairs`` subset for those. Prints a Markdown table, writes it to ``--out`` and draws the time
per pair of each method beside it (``--out`` with ``.png``).

    python experiments/benchmarks/alignment_bench.py --out alignment_bench.md
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from mmml.alignment.dynamic_time_warping import dtw

from mmml.results import cpu_name


def best_time(fn: Callable[[], object], repeat: int, sync: bool = False) -> tuple[float, object]:
    out = fn()  # warm-up (JIT compilation, allocator, CUDA context)
    if sync:
        torch.cuda.synchronize()
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        if sync:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def ours(x: np.ndarray, y: np.ndarray, device: str, dtype: torch.dtype, path: bool):
    xt = torch.as_tensor(x, dtype=dtype, device=device)
    yt = torch.as_tensor(y, dtype=dtype, device=device)


    def run():
        out = dtw(xt, yt, return_path=path)
        return out[0] if path else out

    return run


def peers(x: np.ndarray, y: np.ndarray) -> dict[str, tuple[str, str, Callable[[], object]]]:
    """Per-pair loops of the peers that import: name -> (what it computes, how, function)."""
    out: dict[str, tuple[str, str, Callable[[], object]]] = {}
    n = x.shape[0]
    try:
        import tslearn
        from tslearn.metrics import dtw as ts_dtw
        from tslearn.metrics import dtw_path as ts_path

        v = f"tslearn {tslearn.__version__}"
        out[f"{v} `dtw`"] = ("cost", "numba, loop over pairs", lambda: [ts_dtw(x[i], y[i]) for i in range(n)])
        out[f"{v} `dtw_path`"] = ("cost + path", "numba, loop over pairs",
                                  lambda: [ts_path(x[i], y[i])[1] for i in range(n)])
    except ImportError:
        pass
    try:
        import dtaidistance
        from dtaidistance import dtw as dd
        from dtaidistance import dtw_ndim as ddn

        v = f"dtaidistance {dtaidistance.__version__}"
        if x.shape[2] == 1:
            xs = [np.ascontiguousarray(x[i, :, 0]) for i in range(n)]
            ys = [np.ascontiguousarray(y[i, :, 0]) for i in range(n)]
            out[f"{v} `distance_fast`"] = ("cost", "C, loop over pairs",
                                           lambda: [dd.distance_fast(a, b) for a, b in zip(xs, ys, strict=True)])
            out[f"{v} `warping_path_fast`"] = (
                "cost + path", "C, loop over pairs",
                lambda: [dd.warping_path_fast(a, b, include_distance=True)[1] for a, b in zip(xs, ys, strict=True)])
        else:
            xs = [np.ascontiguousarray(x[i]) for i in range(n)]
            ys = [np.ascontiguousarray(y[i]) for i in range(n)]
            out[f"{v} `dtw_ndim.distance_fast`"] = (
                "cost", "C, loop over pairs", lambda: [ddn.distance_fast(a, b) for a, b in zip(xs, ys, strict=True)])
    except ImportError:
        pass
    return out


def to_sqrt(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.double().cpu().clamp(min=0).sqrt().numpy()
    return np.asarray([float(v) for v in values])


def bench(n_pairs: int, length: int, features: int, repeat: int, device_list: list[str], peer_pairs: int | None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_pairs, length, features))
    y = rng.standard_normal((n_pairs, length, features))
    rows, reference = [], None
    for device in device_list:
        for dtype in (torch.float64, torch.float32):
            for path in (False, True):
                t, out = best_time(ours(x, y, device, dtype, path), repeat, sync=device == "cuda")
                values = to_sqrt(out)
                if reference is None and dtype == torch.float64 and not path:
                    reference = values
                err = float(np.max(np.abs(values - reference))) if reference is not None else float("nan")
                what = "cost + path" if path else "cost"
                name = f"mmml `mmml.alignment.dtw` ({str(dtype).replace('torch.', '')})"
                how = f"torch, {device}, all {n_pairs} pairs in one call"
                rows.append((name, what, how, t / n_pairs, n_pairs, err))
    k = min(peer_pairs or n_pairs, n_pairs)
    for name, (what, how, fn) in peers(x[:k], y[:k]).items():
        t, out = best_time(fn, repeat if k == n_pairs else 1)
        err = float(np.max(np.abs(to_sqrt(out) - reference[:k]))) if reference is not None else float("nan")
        rows.append((name, what, how, t / k, k, err))
    return rows


def table(rows, title: str) -> str:
    fastest = {what: min((r[3] for r in rows if r[1] == what and not r[0].startswith("mmml")), default=None)
               for what in {r[1] for r in rows}}
    lines = [f"### {title}", "",
             "| method | computes | how | µs per pair | pairs timed | vs fastest peer | max abs diff of sqrt(cost) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for name, what, how, per_pair, k, err in rows:
        ref = fastest.get(what)
        speed = f"{ref / per_pair:.2f}x" if ref else "–"
        lines.append(f"| {name} | {what} | {how} | {per_pair * 1e6:,.1f} | {k} | {speed} | {err:.1e} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--features", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--long-pairs", type=int, default=1000)
    parser.add_argument("--long-length", type=int, default=1000)
    parser.add_argument("--peer-pairs", type=int, default=50, help="pairs the peers run in the long (GPU) case")
    parser.add_argument("--no-long", action="store_true", help="skip the long-sequence case on GPU")
    parser.add_argument("--out", default="alignment_bench.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    cmd = " ".join(["python experiments/benchmarks/alignment_bench.py", *(argv if argv is not None else sys.argv[1:])])
    header = [
        "## DTW benchmark (alignment)", "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {cpu_name()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}; GPU: {gpu}",
        f"- versions: torch {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}",
        f"- command: `{cmd}`",
        "- squared-Euclidean local cost, symmetric1 steps, no band; float64 inputs (seed 0); best of "
        f"{args.repeat} runs after a warm-up; 'vs fastest peer' is the fastest peer's time per pair over ours, "
        "for the same output (cost, or cost + path)",
        "",
    ]
    cases = [(f"{args.pairs} pairs of length {args.length}, {args.features} feature(s)",
              bench(args.pairs, args.length, args.features, args.repeat, devices, None))]
    if torch.cuda.is_available() and not args.no_long:
        cases.append((f"{args.long_pairs} pairs of length {args.long_length}, {args.features} feature(s) "
                      f"(peers timed on {args.peer_pairs} pairs)",
                      bench(args.long_pairs, args.long_length, args.features, max(1, args.repeat // 2), devices[1:],
                            args.peer_pairs)))
    text = "\n".join(header) + "\n" + "\n\n".join(table(rows, title) for title, rows in cases) + "\n"
    print(text)
    Path(args.out).write_text(text)
    print(f"figure: {figure(cases, Path(args.out).with_suffix('.png'))}")
    return text


def figure(cases, path: Path) -> Path:
    """Horizontal bars of µs per pair (log scale), one panel per case, cost and cost + path side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cases), figsize=(7 * len(cases), 0.45 * max(len(r) for _, r in cases) + 1.2),
                             squeeze=False)
    for ax, (title, rows) in zip(axes[0], cases, strict=True):
        labels = [f"{name.replace('`', '')} — {what}" for name, what, *_ in rows]
        ax.barh(range(len(rows)), [r[3] * 1e6 for r in rows],
                color=["C0" if r[0].startswith("mmml") else "C7" for r in rows])
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("µs per pair (lower is faster)")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
