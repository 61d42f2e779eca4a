"""Benchmark grid: DTW and soft-DTW (forward, forward + backward) per pair, mmml beside its CPU peers.

Issue 18's goal: mmml at least as fast as the fastest CPU peer at every dimension 1..64 and every
length 50..1,000, float64, one thread, float32 beside. Peers: dtaidistance's C DTW
(``dtw.distance_fast`` for one dimension, ``dtw_ndim.distance_fast`` above) for DTW; dtaidistance
has no soft-DTW, so tslearn's (numba; ``soft_dtw`` forward, ``SoftDTW.grad`` and
``SquaredEuclidean.jacobian_product`` for the gradient with respect to x) for soft-DTW.

The first rows re-measure the issue's table (DTW, lengths 100 and 400 at 1 and 13 dimensions, 80
at 40); then the grid, dimensions {1, 2, 4, 8, 13, 16, 32, 40, 64} x lengths {50, 100, 200, 400,
1000}, for ``dtw``, ``soft_dtw`` forward (gamma 1) and forward + backward. Random pairs (seed 0),
equal lengths, no band. mmml runs a batch of pairs in one call; the peers loop over the same pairs
(their APIs are per pair; tslearn on at most 8 of them); times are per pair. Each timing is the
minimum over repeats after a warm-up call (fewer repeats for long sequences and slow calls), of
the thread's CPU time on CPU (on a machine shared with other jobs, the wall-clock time of a long
call includes the time the thread waited; the wall-clock minimum is recorded beside it) and of the
wall clock on GPU. One torch thread.

    python experiments/benchmarks/dtw_grid.py --out dtw_grid            # CPU, ~2-4 min
    python experiments/benchmarks/dtw_grid.py --quick                   # a subset, ~30 s
    python experiments/benchmarks/dtw_grid.py --device cuda --out dtw   # GPU (peers: CPU)

``--out STEM`` writes ``STEM.json`` and ``STEM.md`` (each to a temporary file, then renamed). On a
machine without the peers (the GPU image), ``--peers-from cpu.json`` takes their times from a CPU
run's JSON (with ``--device cuda``, by default the recorded ``docs/benchmarks/dtw_grid.json``).
``--backend torch`` times mmml's torch wavefront instead of the compiled CPU kernels.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ISSUE_TABLE = [  # issue 18, DTW float64 per pair, before this work: (length, dims, mmml µs, dtaidistance µs)
    (100, 1, 30, 67), (400, 1, 391, 793), (100, 13, 239, 111), (400, 13, 3175, 1187), (80, 40, 164, 166),
]
DIMS = [1, 2, 4, 8, 13, 16, 32, 40, 64]
LENGTHS = [50, 100, 200, 400, 1000]
OPS = ["dtw", "soft_dtw", "soft_dtw_backward"]
OP_TITLE = {"dtw": "DTW (cost)", "soft_dtw": "soft-DTW forward (gamma 1)",
            "soft_dtw_backward": "soft-DTW forward + backward (gradient in x)"}


def plan(length: int, quick: bool, device: str) -> tuple[int, int]:
    """(pairs per call, repeats) for a length: short calls repeated often, long ones less."""
    if device == "cuda":
        # the torch wavefront is launch-bound: big batches (soft-DTW's backward at 1,000, 4 dims: ~25 GB)
        return {50: 4096, 100: 4096, 200: 2048, 400: 1024, 1000: 256}.get(length, 256), 3
    pairs = max(1, min(32, round(4e5 / (length * length))))
    repeats = {50: 7, 100: 7, 200: 5, 400: 3, 1000: 2}.get(length, 3)
    return pairs, max(1, repeats // 2) if quick else repeats


def timed(fn: Callable[[], object], repeat: int, sync: Callable[[], None],
          budget: float = 0.6) -> tuple[float, float, object]:
    """Minimum wall-clock and thread-CPU seconds of ``fn`` over up to ``repeat`` runs after one warm-up;
    fewer (at least 2) where the warm-up says the runs would take more than ``budget`` seconds."""
    w0 = time.perf_counter()
    out = fn()
    sync()
    warm = time.perf_counter() - w0
    repeat = max(2, min(repeat, int(budget / max(warm, 1e-9))))
    wall = cpu = math.inf
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.thread_time()
        out = fn()
        sync()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.thread_time() - c0)
    return wall, cpu, out


def mmml_fn(op: str, x: np.ndarray, y: np.ndarray, dtype: torch.dtype, device: str) -> Callable[[], object]:
    from mmml.alignment import dtw, soft_dtw

    xt = torch.as_tensor(x, dtype=dtype, device=device)
    yt = torch.as_tensor(y, dtype=dtype, device=device)
    if op == "dtw":
        return lambda: dtw(xt, yt)
    if op == "soft_dtw":
        return lambda: soft_dtw(xt, yt, 1.0)

    def forward_backward():
        xg = xt.clone().requires_grad_()
        soft_dtw(xg, yt, 1.0).sum().backward()
        return xg.grad

    return forward_backward


def peer_fn(op: str, x: np.ndarray, y: np.ndarray) -> tuple[str, Callable[[], object]] | None:
    """(peer name, per-pair loop) for an operation, or None where the peer is not installed."""
    k = x.shape[0]
    try:
        if op == "dtw":
            import dtaidistance
            from dtaidistance import dtw as dd
            from dtaidistance import dtw_ndim

            name = f"dtaidistance {dtaidistance.__version__} (C)"
            if x.shape[2] == 1:
                xs = [np.ascontiguousarray(x[i, :, 0]) for i in range(k)]
                ys = [np.ascontiguousarray(y[i, :, 0]) for i in range(k)]
                return name, lambda: [dd.distance_fast(a, b) for a, b in zip(xs, ys, strict=True)]
            xs = [np.ascontiguousarray(x[i]) for i in range(k)]
            ys = [np.ascontiguousarray(y[i]) for i in range(k)]
            return name, lambda: [dtw_ndim.distance_fast(a, b) for a, b in zip(xs, ys, strict=True)]
        import tslearn
        from tslearn.metrics import soft_dtw as ts_soft_dtw
        from tslearn.metrics.softdtw_variants import SoftDTW, SquaredEuclidean
    except ImportError:
        return None
    name = f"tslearn {tslearn.__version__} (numba)"
    if op == "soft_dtw":
        return name, lambda: [ts_soft_dtw(x[i], y[i], gamma=1.0) for i in range(k)]

    def forward_backward():
        grads = []
        for i in range(k):
            dist = SquaredEuclidean(x[i], y[i])
            sdtw = SoftDTW(dist, gamma=1.0)
            sdtw.compute()
            with np.errstate(over="ignore"):  # exp((R - inf) / gamma) off the grid, a harmless overflow
                grads.append(dist.jacobian_product(sdtw.grad()))
        return grads

    return name, forward_backward


def agreement(op: str, ours, theirs) -> float:
    """Largest relative difference between mmml's and the peer's results on the timed pairs."""
    if op == "dtw":  # dtaidistance returns the square root of the summed squared distances
        a, b = ours.double().cpu().clamp(min=0).sqrt().numpy(), np.asarray(theirs, dtype=np.float64)
    elif op == "soft_dtw":
        a, b = ours.double().cpu().numpy(), np.asarray(theirs, dtype=np.float64)
    else:
        a, b = ours.double().cpu().numpy(), np.stack(theirs)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def measure(op: str, length: int, dims: int, args, peers_from: dict) -> dict:
    pairs, repeat = plan(length, args.quick, args.device)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((pairs, length, dims))
    y = rng.standard_normal((pairs, length, dims))
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    row: dict = {"op": op, "length": length, "dims": dims, "pairs": pairs, "repeats": repeat}
    w64, c64, out64 = timed(mmml_fn(op, x, y, torch.float64, args.device), repeat, sync)
    w32, c32, _ = timed(mmml_fn(op, x, y, torch.float32, args.device), repeat, sync)
    # the figure: thread CPU time on CPU (a shared machine's other jobs do not inflate it), wall clock on GPU
    cpu_clock = args.device == "cpu"
    row.update(mmml_f64_us=(c64 if cpu_clock else w64) / pairs * 1e6, mmml_f32_us=(c32 if cpu_clock else w32) / pairs
               * 1e6, mmml_f64_wall_us=w64 / pairs * 1e6, mmml_f32_wall_us=w32 / pairs * 1e6)
    # tslearn's soft-DTW costs milliseconds per pair even when short: fewer pairs for it
    k = min(args.peer_pairs or (pairs if op == "dtw" else 8), pairs)
    peer = None if args.no_peers else peer_fn(op, x[:k], y[:k])
    if peer is not None:
        name, fn = peer
        pw, pc, pout = timed(fn, repeat, lambda: None)
        row.update(peer=name, peer_us=pc / k * 1e6, peer_wall_us=pw / k * 1e6,
                   max_rel_diff=agreement(op, out64[:k], pout))
    elif (op, length, dims) in peers_from:
        row.update(peers_from[(op, length, dims)])
    if "peer_us" in row:
        row["ratio"] = row["peer_us"] / row["mmml_f64_us"]
        row["ratio_wall"] = row["peer_wall_us"] / row["mmml_f64_wall_us"]
    return row


def fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:.2f}"


def markdown(meta: dict, issue_rows: list[dict], grid: list[dict]) -> str:
    lines = [f"Date {meta['date']}; machine: {meta['machine']}; device {meta['device']}; torch threads "
             f"{meta['torch_threads']}; {meta['versions']}.", "", f"Command: `{meta['command']}`", "",
             *([f"Peer times where the peers are not installed: from `{meta['peers_from']}` (a CPU run).", ""]
               if meta.get("peers_from") else []),
             "Per pair: mmml runs the batch in one call, the peer loops over the same pairs. Times: minimum over the "
             "repeats (after a warm-up) of the thread's CPU time on CPU (other jobs on a shared machine do not "
             "inflate it; the peers run in the calling thread too), of the wall clock on GPU. `ratio` = peer time / "
             "mmml float64 time (above 1: mmml faster); `ratio (wall)` the same from the minimum wall-clock times.",
             "", "#### The issue's table, re-measured (DTW, float64)", "",
             "| length, dims | issue 18: mmml | issue 18: dtaidistance | mmml now | mmml float32 | dtaidistance now "
             "| ratio | ratio (wall) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r, (_, _, before, peer_before) in zip(issue_rows, ISSUE_TABLE, strict=True):
        lines.append(f"| {r['length']}, {r['dims']} | {before:,} µs | {peer_before:,} µs | "
                     f"{fmt(r['mmml_f64_us'])} µs | {fmt(r['mmml_f32_us'])} µs | {fmt(r.get('peer_us'))} µs | "
                     f"{fmt(r.get('ratio'))}× | {fmt(r.get('ratio_wall'))}× |")
    for op in OPS:
        rows = [r for r in grid if r["op"] == op]
        if not rows:
            continue
        peer = next((r["peer"] for r in rows if "peer" in r), "no peer installed")
        lines += ["", f"#### {OP_TITLE[op]}: ratio peer / mmml (float64), dims x length; peer {peer}", "",
                  "| dims | " + " | ".join(str(n) for n in sorted({r['length'] for r in rows})) + " |",
                  "| ---: |" + " ---: |" * len({r["length"] for r in rows})]
        for d in sorted({r["dims"] for r in rows}):
            cells = [next((fmt(r.get("ratio")) + "×" for r in rows if r["dims"] == d and r["length"] == n), "–")
                     for n in sorted({r["length"] for r in rows})]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        worst = min((r for r in rows if "ratio" in r), key=lambda r: r["ratio"], default=None)
        if worst is not None:
            lines += ["", f"Lowest ratio: {worst['ratio']:.2f}× (length {worst['length']}, {worst['dims']} dims)."]
        lines += ["", "<details><summary>times per pair (µs)</summary>", "",
                  "| dims | length | pairs × repeats | mmml float64 | mmml float32 | peer | ratio | ratio (wall) "
                  "| max rel. diff |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            diff = f"{r['max_rel_diff']:.0e}" if "max_rel_diff" in r else "–"
            lines.append(f"| {r['dims']} | {r['length']} | {r['pairs']} × {r['repeats']} | {fmt(r['mmml_f64_us'])} | "
                         f"{fmt(r['mmml_f32_us'])} | {fmt(r.get('peer_us'))} | {fmt(r.get('ratio'))} | "
                         f"{fmt(r.get('ratio_wall'))} | {diff} |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", default=None, help="path stem: writes STEM.json and STEM.md")
    parser.add_argument("--quick", action="store_true", help="dims {1, 13, 64} x lengths {50, 400}, fewer repeats")
    parser.add_argument("--ops", nargs="+", choices=OPS, default=OPS)
    parser.add_argument("--dims", type=int, nargs="+", default=None)
    parser.add_argument("--lengths", type=int, nargs="+", default=None)
    parser.add_argument("--backend", choices=["auto", "torch"], default="auto",
                        help="auto: compiled kernels on CPU; torch: the torch wavefront (the GPU route)")
    parser.add_argument("--peer-pairs", type=int, default=None, help="time the peers on this many pairs only")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peers-from", default=None, help="a CPU run's JSON: peer times where peers are missing")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no CUDA device")
    torch.set_num_threads(1)
    os.environ["MMML_DTW_BACKEND"] = args.backend
    dims = args.dims or ([1, 13, 64] if args.quick else DIMS)
    lengths = args.lengths or ([50, 400] if args.quick else LENGTHS)
    peers_from: dict = {}
    recorded = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "dtw_grid.json"
    if args.peers_from is None and args.device == "cuda" and recorded.exists():
        args.peers_from = str(recorded)  # the GPU image has no peers: their CPU times from the recorded run
    if args.peers_from:
        cpu_run = json.loads(Path(args.peers_from).read_text())
        for r in cpu_run["issue_table"] + cpu_run["grid"]:
            if "peer_us" in r:
                peers_from[(r["op"], r["length"], r["dims"])] = {
                    "peer": r["peer"], "peer_us": r["peer_us"], "peer_wall_us": r.get("peer_wall_us", r["peer_us"])}
    from mmml.results import cpu_name

    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    versions = [f"torch {torch.__version__}", f"numpy {np.__version__}", f"python {platform.python_version()}"]
    for mod in ("numba", "dtaidistance", "tslearn"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs" + (f", GPU {gpu}" if gpu else ""),
            "device": args.device, "backend": args.backend, "torch_threads": torch.get_num_threads(),
            "peers_from": args.peers_from,
            "versions": ", ".join(versions),
            "command": " ".join(["python experiments/benchmarks/dtw_grid.py",
                                 *(argv if argv is not None else sys.argv[1:])])}
    start = time.perf_counter()
    issue_rows = []
    for length, d, before, peer_before in ISSUE_TABLE:
        r = measure("dtw", length, d, args, peers_from)
        issue_rows.append(r)
        print(f"issue row: dtw length {length}, {d} dims: mmml {fmt(r['mmml_f64_us'])} µs (issue: {before}), "
              f"peer {fmt(r.get('peer_us'))} µs (issue: {peer_before}), ratio {fmt(r.get('ratio'))}", flush=True)
    grid = []
    for op in args.ops:
        for d in dims:
            for length in lengths:
                r = measure(op, length, d, args, peers_from)
                grid.append(r)
                print(f"{op:18s} dims {d:3d} length {length:5d}: mmml {fmt(r['mmml_f64_us']):>9s} µs "
                      f"(f32 {fmt(r['mmml_f32_us']):>9s}), peer {fmt(r.get('peer_us')):>9s} µs, "
                      f"ratio {fmt(r.get('ratio'))} (wall {fmt(r.get('ratio_wall'))})", flush=True)
    meta["seconds"] = round(time.perf_counter() - start, 1)
    result = {"meta": meta, "issue_table": issue_rows, "grid": grid}
    text = markdown(meta, issue_rows, grid) + f"\nWhole run: {meta['seconds']} s.\n"
    print(text)
    if args.out:
        stem = Path(args.out)
        if stem.suffix in (".json", ".md"):
            stem = stem.with_suffix("")
        write_atomic(stem.with_name(stem.name + ".json"), json.dumps(result, indent=1) + "\n")
        write_atomic(stem.with_name(stem.name + ".md"), text)
        print(f"wrote {stem}.json and {stem}.md")
    return result


if __name__ == "__main__":
    main()
