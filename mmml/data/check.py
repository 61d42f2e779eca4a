"""``mmml-data``: check a data set before training on it, and describe the built-in ones.

``mmml-data check <manifest.yaml | affect.pkl | name>`` reads the data set as a run would (every
source, ids matched across modalities, labels against the target, NaN/Inf, the split) and prints its
specs, split sizes and class balance (or label range / label frequencies), then any problem found:
a non-finite value, an empty sequence, a length past the padding, a label out of range, an empty
split, a class missing from a split, a constant feature. Exit status 1 on an error or a problem.
``mmml-data describe <name>`` prints the same for a built-in data set (``experiments/data/<name>.yaml``).

Examples:
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.savez(d / "x.npz", a=np.random.default_rng(0).normal(size=(30, 2)), label=np.arange(30) % 2)
    >>> _ = (d / "m.yaml").write_text("modalities: {a: {file: x.npz}}\\nlabels: {file: x.npz}\\n")
    >>> main(["check", str(d / "m.yaml")])  # doctest: +ELLIPSIS
    data set m (target: classification) from .../m.yaml
    ...
    no problems found
    0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from mmml.data.datamodule import SPLITS, MultimodalDataModule

FILE_SUFFIXES = (".yaml", ".yml", ".pkl", ".pickle")


def datamodule_for(source: str, cache: bool = True) -> MultimodalDataModule:
    """The datamodule of a manifest, a MultiBench pickle, or a built-in data set's name."""
    path = Path(source)
    if path.suffix.lower() in FILE_SUFFIXES or path.is_file():
        from mmml.data.files import FileDataset

        return FileDataset(path, cache=cache)
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    from mmml.runner import available

    if source not in available("data") or source == "files":
        raise ValueError(f"{source!r} is neither a manifest/pickle file nor a built-in data set; built-in: "
                         f"{[d for d in available('data') if d != 'files']}")
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=[f"data={source}"])
    return instantiate(cfg.data, _convert_="all")


def _labels_summary(dm: MultimodalDataModule) -> list[str]:
    lines, target = [], dm.target_type
    splits = {s: dm.split(s)["label"].cpu() for s in SPLITS}
    if target == "classification":
        lines.append("class balance (" + " / ".join(SPLITS) + "):")
        for k, name in enumerate(dm.class_names):
            lines.append(f"  {name:<16} " + " / ".join(str(int((y == k).sum())) for y in splits.values()))
    elif target == "regression":
        for s, y in splits.items():
            y = y.double()
            lines.append(f"  {s:<6} label range [{y.min():.3g}, {y.max():.3g}], mean {y.mean():.3g} ± {y.std():.3g}")
    else:
        lines.append("label frequency (" + " / ".join(SPLITS) + "):")
        for k, name in enumerate(dm.class_names):
            lines.append(f"  {name:<16} " + " / ".join(f"{float(y[:, k].mean()):.2f}" for y in splits.values()))
    return lines


def problems(dm: MultimodalDataModule) -> list[str]:
    """What may spoil training on a set-up datamodule (empty sequences, missing classes, constant features...)."""
    found = []
    for s in SPLITS:
        part = dm.split(s)
        for m in dm.specs:
            x = part[m]
            if x.is_floating_point() and not torch.isfinite(x).all():
                found.append(f"{s}/{m}: {int((~torch.isfinite(x)).sum())} NaN/Inf values")
            lengths = part.get(f"{m}_lengths")
            if lengths is not None:
                if (lengths <= 0).any():
                    found.append(f"{s}/{m}: {int((lengths <= 0).sum())} empty sequences (length 0)")
                if (lengths > x.shape[1]).any():
                    found.append(f"{s}/{m}: lengths exceed the padded length {x.shape[1]}")
        if dm.target_type == "classification":
            absent = [c for k, c in enumerate(dm.class_names) if not (part["label"] == k).any()]
            if absent:
                found.append(f"{s}: no example of classes {absent}")
    train = dm.split("train")
    for m, spec in dm.specs.items():
        if spec.kind != "tokens" and len(train[m]) > 1:
            constant = int((train[m].flatten(1).float().std(0) == 0).sum())
            if constant == train[m][0].numel():
                found.append(f"train/{m}: every feature is constant")
    return found


def report(dm: MultimodalDataModule, origin: str = "") -> tuple[str, list[str]]:
    """Set up ``dm`` and describe it; returns ``(text, problems)``."""
    dm.setup()
    lines = [f"data set {dm.name} (target: {dm.target_type})" + (f" from {origin}" if origin else ""),
             "modalities:"]
    for m, spec in dm.specs.items():
        x = dm.split("train")[m]
        extra = f", {spec.frame_rate:g} frames/s" if spec.frame_rate else ""
        extra += f", vocabulary {len(spec.vocab)}" if spec.vocab else ""
        lengths = [dm.split(s).get(f"{m}_lengths") for s in SPLITS]
        if lengths[0] is not None:
            every = torch.cat([t.cpu() for t in lengths]).double()
            extra += f", lengths {int(every.min())}..{int(every.max())} (mean {every.mean():.1f})"
        lines.append(f"  {m:<12} {spec.kind:<9} shape {tuple(spec.shape)} {str(x.dtype).removeprefix('torch.')}"
                     f"{extra}")
    lines.append("splits: " + ", ".join(f"{s} {len(dm.split(s)['label'])}" for s in SPLITS))
    lines += _labels_summary(dm)
    found = problems(dm)
    lines += [f"problem: {p}" for p in found] or ["no problems found"]
    return "\n".join(lines), found


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``mmml-data {check,describe} SOURCE``; returns the exit status (the script exits with it)."""
    parser = argparse.ArgumentParser(prog="mmml-data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a manifest, a MultiBench pickle or a built-in data set")
    check.add_argument("source", help="manifest YAML, MultiBench .pkl, or a built-in name (avdigits, mfeat...)")
    describe = sub.add_parser("describe", help="specs, splits and class balance of a built-in data set")
    describe.add_argument("source", help="a built-in data set's name (or a manifest)")
    args = parser.parse_args(argv)
    try:
        dm = datamodule_for(args.source, cache=args.command == "describe")
        text, found = report(dm, str(Path(args.source).resolve()) if Path(args.source).is_file() else "")
    except Exception as err:  # every reader error names the file or field and the fix
        print(f"mmml-data {args.command}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(text)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
