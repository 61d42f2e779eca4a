"""Benchmark: neural fusion training throughput (device-resident batches vs a DataLoader) and EasyMKL vs MKLpy.

1. **Throughput.** Each neural fusion (early, late, hybrid, tensor, low-rank, gated) is trained on
   avdigits (image + audio, standardised) for ``--epochs`` epochs at each ``--batch-sizes``, twice on the
   same model: with the split resident on the device and sliced by index (``mmml.data.TensorBatches``,
   what mmml's datamodules do), and with a plain ``torch.utils.data.DataLoader`` over CPU tensors that
   copies each batch to the device. Plain training loops (AdamW, cross-entropy), samples/s after one
   warm-up epoch, best of ``--repeat``.
2. **MKL.** On mfeat (six views, standardised, seeded stratified split), the same 30 kernels (linear,
   RBF at 3 widths, polynomial, per view) go to ``mmml.fusion.MultipleKernelFusion`` (EasyMKL weights + SVM)
   and to MKLpy's ``EasyMKL`` (GPL; installed as a bench extra, only called): fit time and accuracy.
   Skipped with a note when MKLpy or mfeat is absent.

Prints Markdown tables, writes them with the machine and command to ``--out`` (``.md``), the figures to
``<out>.json`` and a bar chart to ``<out>.png``.

    OMP_NUM_THREADS=1 python experiments/benchmarks/fusion_bench.py --out fusion_bench
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import mmml.fusion

from mmml.results import cpu_name


def machine(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def neural_models(specs):
    enc = {"image": {"channels": 8}, "sequence": {"channels": 16}, "vector": {"hidden": 64}}
    return {
        "early": lambda: mmml.fusion.EarlyFusion(specs, 10, hidden=32, encoder=enc),
        "late_mean": lambda: mmml.fusion.LateFusion(specs, 10, hidden=32, encoder=enc),
        "hybrid": lambda: mmml.fusion.HybridFusion(specs, 10, hidden=32, encoder=enc),
        "tensor": lambda: mmml.fusion.TensorFusion(specs, 10, hidden=32, encoder=enc),
        "low_rank": lambda: mmml.fusion.LowRankFusion(specs, 10, hidden=32, encoder=enc),
        "gated": lambda: mmml.fusion.GatedFusion(specs, 10, hidden=32, encoder=enc),
    }


def _epoch(net, opt, batches, device) -> None:
    import torch.nn.functional as F

    for b in batches():
        b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
        out = net(b)
        loss = F.cross_entropy(out["logits"] if isinstance(out, dict) else out, b["label"])
        if isinstance(out, dict) and "aux_loss" in out:
            loss = loss + out["aux_loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def train_throughput(make, batches, n: int, epochs: int, repeat: int, device) -> float:
    """Samples per second of a plain training loop over ``batches()`` (an iterable, re-iterated per epoch)."""
    import torch

    best = 0.0
    for r in range(repeat):
        torch.manual_seed(r)
        net = make().to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
        _epoch(net, opt, batches, device)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(epochs):
            _epoch(net, opt, batches, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, n * epochs / (time.perf_counter() - start))
    return best


class _DictDataset:
    def __init__(self, tensors):
        self.tensors, self.n = tensors, len(tensors["label"])

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.tensors.items()}


def bench_throughput(args, device) -> list[dict]:
    import torch
    from torch.utils.data import DataLoader

    from mmml.data import TensorBatches
    from mmml.data.avdigits import AVDigits

    dm = AVDigits(modalities=["image", "audio"], standardize=True, seed=0)
    dm.setup()
    cpu = dm.split("train")
    resident = {k: v.to(device) for k, v in cpu.items()}
    n = len(cpu["label"])
    rows = []
    for bs in args.batch_sizes:
        loader = DataLoader(_DictDataset(cpu), batch_size=bs, shuffle=True, num_workers=0,
                            pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0))
        sliced = TensorBatches(resident, bs, shuffle=True, seed=0)
        for name, make in neural_models(dm.specs).items():
            row = {"model": name, "batch": bs,
                   "resident": train_throughput(make, lambda s=sliced: s, n, args.epochs, args.repeat, device),
                   "dataloader": train_throughput(make, lambda lo=loader: lo, n, args.epochs, args.repeat, device)}
            row["speedup"] = row["resident"] / row["dataloader"]
            rows.append(row)
            print(f"  {name:9s} batch {bs:5d}: resident {row['resident']:9.0f}/s  dataloader "
                  f"{row['dataloader']:9.0f}/s  x{row['speedup']:.1f}", flush=True)
    return rows


def bench_mkl(args, device) -> tuple[list[dict], str]:
    import numpy as np
    import torch

    try:
        from mmml.data.mfeat import MFeat

        dm = MFeat(seed=0)
        dm.setup()
    except (FileNotFoundError, OSError, ValueError) as err:
        return [], f"mfeat not available ({err}); MKL comparison skipped"
    try:
        from MKLpy.algorithms import EasyMKL
    except ImportError:
        EasyMKL = None
    views = list(dm.specs)
    tr, te = dm.split("train"), dm.split("test")
    Xtr = [tr[v].double().numpy() for v in views]
    Xte = [te[v].double().numpy() for v in views]
    ytr, yte = tr["label"].numpy(), te["label"].numpy()
    rows = []
    for weights in ("easymkl", "uniform"):
        start = time.perf_counter()
        model = mmml.fusion.MultipleKernelFusion(weights=weights, device=str(device)).fit(Xtr, ytr)
        if device.type == "cuda":
            torch.cuda.synchronize()
        fit = time.perf_counter() - start
        rows.append({"method": f"mmml MultipleKernelFusion ({weights} + SVC)", "fit_s": fit,
                     "acc": float((model.predict(Xte) == yte).mean()), "device": str(device)})
        print(f"  {rows[-1]['method']}: fit {fit:.2f}s acc {rows[-1]['acc']:.4f}", flush=True)
    note = ""
    if EasyMKL is None:
        note = "MKLpy not installed (pip install MKLpy, the bench extra): its rows are missing"
        return rows, note
    # the same 30 trace-normalised kernels as mmml builds, handed to MKLpy as lists
    ktr = [np.asarray(k) for k in _kernels(model, None)]
    kte = [np.asarray(k) for k in _kernels(model, Xte)]
    from sklearn.svm import SVC

    learners = (("KOMD learner (MKLpy default)", None), ("SVC learner, C=1", SVC(C=1.0, kernel="precomputed")))
    for label, learner in learners:
        kwargs = {"lam": 0.1} if learner is None else {"lam": 0.1, "learner": learner}
        start = time.perf_counter()
        mkl = EasyMKL(**kwargs).fit([torch.as_tensor(k) for k in ktr], ytr)
        fit = time.perf_counter() - start
        pred = np.asarray(mkl.predict([torch.as_tensor(k) for k in kte]))
        rows.append({"method": f"MKLpy EasyMKL ({label})", "fit_s": fit, "acc": float((pred == yte).mean()),
                     "device": "cpu"})
        print(f"  {rows[-1]['method']}: fit {fit:.2f}s acc {rows[-1]['acc']:.4f}", flush=True)
    return rows, "kernels: 6 views x (linear, RBF x 3 widths, poly 2), standardised views, trace-normalised"


def _kernels(model, Xte):
    """The fitted model's trace-normalised kernel matrices: train x train, or test x train."""
    out = []
    for i, X in enumerate(model.train_):
        out += model._view_kernels(i, X, X) if Xte is None else model._test_kernels(i, Xte[i], len(Xte[i]))
    return [(k / s).cpu() for k, s in zip(out, model.scale_, strict=True)]


def to_markdown(tp_rows, mkl_rows, note, header) -> str:
    lines = [header, "", "### Training throughput (samples/s), avdigits image + audio", "",
             "| model | batch | device-resident slicing | DataLoader | speed-up |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['resident']:,.0f} | {r['dataloader']:,.0f} | "
              f"x{r['speedup']:.1f} |" for r in tp_rows]
    lines += ["", "### Multiple kernel learning on mfeat (test accuracy, fit time)", "",
              "| method | device | fit s | accuracy |", "|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['device']} | {r['fit_s']:.2f} | {r['acc']:.4f} |" for r in mkl_rows]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="fusion_bench", help="output stem: <out>.md, <out>.json, <out>.png")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--skip-mkl", action="store_true")
    args = parser.parse_args(argv)
    import torch

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    header = (f"Measured {datetime.date.today()} on {machine(device)}; command: "
              f"`{' '.join(['python', 'experiments/benchmarks/fusion_bench.py', *(argv or sys.argv[1:])])}`")
    print(header, flush=True)
    print("training throughput:", flush=True)
    tp = bench_throughput(args, device)
    mkl, note = ([], "skipped (--skip-mkl)") if args.skip_mkl else bench_mkl(args, device)
    md = to_markdown(tp, mkl, note, header)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    out.with_suffix(".json").write_text(json.dumps({"header": header, "throughput": tp, "mkl": mkl, "note": note},
                                                   indent=1))
    _plot(tp, out.with_suffix(".png"), header)
    print(md)


def _plot(rows, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(5 * len(batches), 3.4), squeeze=False)
    for ax, bs in zip(axes[0], batches, strict=True):
        mine = [r for r in rows if r["batch"] == bs]
        x = range(len(mine))
        ax.bar([i - 0.2 for i in x], [r["resident"] for r in mine], 0.4, label="device-resident")
        ax.bar([i + 0.2 for i in x], [r["dataloader"] for r in mine], 0.4, label="DataLoader")
        ax.set_xticks(list(x), [r["model"] for r in mine], rotation=30, fontsize=8)
        ax.set_title(f"batch {bs}", fontsize=9)
        ax.set_ylabel("training samples/s")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title[:110], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
