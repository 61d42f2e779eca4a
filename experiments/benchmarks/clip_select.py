"""Choose the CLIP table's epochs and initial temperature on the validation split (never on test).

For each initial temperature, one model of the table (``--model transformer``/``cbow``: CLIP with that
text tower; ``supervised``: the same input encoder with a linear head on the labels) is trained on
``--data`` (seed 0 by default) with the table's optimiser settings and, every ``--every`` epochs, judged
on the *validation* split: zero-shot accuracy from label text (CLIP) or accuracy (supervised). The
choice is the setting with the best validation figure (ties: fewer epochs, then the first temperature).
Prints a table and saves it as JSON: ``clip_select.json`` for the default (captioned_digits,
transformer), ``clip_select_<data>_<model>.json`` otherwise.

    python experiments/benchmarks/clip_select.py --out docs/benchmarks
    python experiments/benchmarks/clip_select.py --data captioned_fsdd --model cbow --temperatures 0.07,0.5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from mmml.fusion import Unimodal
from mmml.representation import CLIP, CLIPTask, ZeroShotClassifier
from mmml.representation.clip_task import without_labels

from mmml.data.captioned import CaptionedDigits, CaptionedFSDD
from mmml.io import atomic_write
from mmml.tasks import ClassificationTask

DATA = {"captioned_digits": CaptionedDigits, "captioned_fsdd": CaptionedFSDD}
#: the table's model settings (experiments/model/clip/*.yaml)
ENCODER = {"sequence": {"channels": 32}}
TEXT = {"transformer": {"layers": 2, "heads": 4}, "cbow": None}


class ValidationProbe(pl.Callback):
    """Every ``every`` epochs: the validation headline on the whole validation split (and CLIP's InfoNCE)."""

    def __init__(self, every: int) -> None:
        self.every, self.rows = every, []

    def on_train_epoch_end(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every:
            return
        val = trainer.datamodule.split("val")
        task.net.eval()
        with torch.no_grad():
            if isinstance(task, CLIPTask):
                x = task.net.embed_input(val)
                loss = float(task.net.loss(without_labels(val)))
                clf = ZeroShotClassifier(task.net.encode_text, task.class_names, trainer.datamodule.grammar.prompts)
                row = {"val_zeroshot_acc": float((clf(x).argmax(1) == val["label"]).double().mean()), "val_loss": loss}
            else:
                logits = task.net(val)
                row = {"val_acc": float((logits.argmax(1) == val["label"]).double().mean()),
                       "val_loss": float(torch.nn.functional.cross_entropy(logits, val["label"]))}
        task.net.train()
        self.rows.append({"epoch": epoch, **row})


def build(model: str, dm, temperature: float) -> pl.LightningModule:
    if model == "supervised":
        modality = next(m for m, s in dm.specs.items() if s.kind != "tokens")
        net = Unimodal(dm.specs, dm.num_classes, modality, hidden=64, encoder=ENCODER)
        return ClassificationTask(net, num_classes=dm.num_classes, lr=0.002, weight_decay=0.0001)
    net = CLIP(dm.specs, temperature=temperature, text_encoder=model, text_options=TEXT[model], encoder=ENCODER)
    return CLIPTask(net, class_names=dm.class_names, lr=0.002, weight_decay=0.0001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument("--data", default="captioned_digits", choices=sorted(DATA))
    parser.add_argument("--model", default="transformer", choices=["transformer", "cbow", "supervised"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--temperatures", default="0.07,0.2", help="CLIP's initial temperatures (supervised: unused)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    temperatures = [float(t) for t in args.temperatures.split(",")] if args.model != "supervised" else [None]
    key = "val_acc" if args.model == "supervised" else "val_zeroshot_acc"
    results = []
    for temperature in temperatures:
        pl.seed_everything(args.seed, workers=True)
        dm = DATA[args.data](seed=args.seed, batch_size=args.batch_size)
        task = build(args.model, dm, temperature or 0.07)
        probe = ValidationProbe(args.every)
        trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, callbacks=[probe],
                             deterministic=True, num_sanity_val_steps=0, limit_val_batches=0)
        start = time.perf_counter()
        cpu = time.process_time()
        trainer.fit(task, datamodule=dm)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        for row in probe.rows:
            results.append({"temperature": temperature, **row, "fit_seconds_total": round(seconds, 1),
                            "fit_cpu_seconds_total": round(cpu, 1)})
            print(f"T0={temperature!s:<5} epoch {row['epoch']:>3}: {key} {row[key]:.3f}  "
                  f"val loss {row['val_loss']:.3f}", flush=True)
    order = {t: i for i, t in enumerate(temperatures)}
    best = max(results, key=lambda r: (round(r[key], 4), -r["epoch"], -order[r["temperature"]]))
    print(f"chosen on validation: temperature {best['temperature']}, {best['epoch']} epochs ({key} {best[key]:.3f})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"data": args.data, "model": args.model, "seed": args.seed, "batch_size": args.batch_size,
                       "rows": results, "chosen": best}, indent=1)
    default = args.data == "captioned_digits" and args.model == "transformer"
    name = "clip_select.json" if default else f"clip_select_{args.data}_{args.model}.json"
    atomic_write(out / name, lambda f: f.write(text))


if __name__ == "__main__":
    main()
