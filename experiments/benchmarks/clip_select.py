"""Choose the CLIP table's epochs and initial temperature on the validation split (never on test).

For each initial temperature, one CLIP (Transformer text tower) is pre-trained on captioned_digits
(seed 0 by default) and, every ``--every`` epochs, judged on the *validation* split: zero-shot
accuracy from label text and the contrastive loss. The choice is the setting with the best
validation zero-shot accuracy (ties: fewer epochs). Prints a table and saves it as JSON.

    python experiments/benchmarks/clip_select.py --out docs/benchmarks
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from mmml.representation import CLIP, CLIPTask, ZeroShotClassifier
from mmml.representation.clip_task import without_labels

from mmml.data.captioned import CaptionedDigits
from mmml.io import atomic_write


class ValidationProbe(pl.Callback):
    """Every ``every`` epochs: zero-shot accuracy and InfoNCE on the whole validation split."""

    def __init__(self, every: int) -> None:
        self.every, self.rows = every, []

    def on_train_epoch_end(self, trainer: pl.Trainer, task: CLIPTask) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every:
            return
        val = trainer.datamodule.split("val")
        task.net.eval()
        with torch.no_grad():
            x = task.net.embed_input(val)
            loss = float(task.net.loss(without_labels(val)))
            clf = ZeroShotClassifier(task.net.encode_text, task.class_names, trainer.datamodule.grammar.prompts)
            acc = float((clf(x).argmax(1) == val["label"]).double().mean())
        task.net.train()
        self.rows.append({"epoch": epoch, "val_zeroshot_acc": acc, "val_loss": loss})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--temperatures", default="0.07,0.2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for temperature in (float(t) for t in args.temperatures.split(",")):
        pl.seed_everything(args.seed, workers=True)
        dm = CaptionedDigits(seed=args.seed, batch_size=128)
        task = CLIPTask(CLIP(dm.specs, temperature=temperature, text_options={"layers": 2, "heads": 4}),
                        class_names=dm.class_names, lr=0.002, weight_decay=0.0001)
        probe = ValidationProbe(args.every)
        trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, callbacks=[probe],
                             deterministic=True)
        start = time.perf_counter()
        trainer.fit(task, datamodule=dm)
        seconds = time.perf_counter() - start
        for row in probe.rows:
            results.append({"temperature": temperature, **row, "fit_seconds_total": round(seconds, 1)})
            print(f"T0={temperature:<5} epoch {row['epoch']:>3}: val zero-shot {row['val_zeroshot_acc']:.3f}  "
                  f"val loss {row['val_loss']:.3f}", flush=True)
    best = max(results, key=lambda r: (round(r["val_zeroshot_acc"], 4), -r["epoch"]))
    print(f"chosen on validation: temperature {best['temperature']}, {best['epoch']} epochs "
          f"(val zero-shot {best['val_zeroshot_acc']:.3f})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"seed": args.seed, "rows": results, "chosen": best}, indent=1)
    atomic_write(out / "clip_select.json", lambda f: f.write(text))


if __name__ == "__main__":
    main()
