"""Choose the recognition judge's epochs on the validation split (never on test).

The translation table's judge (:mod:`mmml.translation.judge`) is trained on the training *and* validation
strings, so its epochs cannot be read off its own runs. Here, for each candidate number of epochs, a judge
with the table's settings (:func:`~mmml.translation.judge.train_judge`: hidden 64, batch 16, lr 3e-3, its
own seed 0) is trained on the **training** strings only, and transcribes the real **validation** speech;
its transcripts are scored like any translation (exact match, WER, ...). The data set is the one of
``experiment=translation_table`` (or ``--experiment``) at ``--seed``, built by the runner's config and
standardised as there (``digit_sequences`` fixes its train/val/test strings by ``data_seed``, whatever
the seed). The choice: the best validation WER (ties: fewer epochs). Prints a table and saves it as
JSON (``judge_epochs_<data set>.json`` in ``--out``).

    python experiments/benchmarks/judge_epochs.py --out /tmp/judge_epochs
    python experiments/benchmarks/judge_epochs.py --experiment translation_table_fsdd --epochs 30,60
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from mmml.translation.evaluation import decode, text_scores
from mmml.translation.judge import KEYS, train_judge

from mmml.data.text import Vocab
from mmml.io import write_json


def datamodule_of(experiment: str, seed: int):
    """The data module of ``experiment`` at ``seed``, as ``mmml-run`` builds it (set up: splits drawn)."""
    with initialize_config_module("mmml.experiments", version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={experiment}", f"seed={seed}"])
    dm = instantiate(cfg.data, _convert_="all")
    dm.setup()
    return dm


def judge_scores(dm, epochs: int, hidden: int, seed: int) -> dict[str, float]:
    """Train a judge on the train split for ``epochs`` epochs; its text scores on the real validation speech."""
    train = {k: dm.split("train")[k].cpu() for k in KEYS}
    val = {k: dm.split("val")[k].cpu() for k in KEYS}
    start = time.process_time()
    judge = train_judge(train, dm.specs, epochs=epochs, hidden=hidden, seed=seed)
    cpu = time.process_time() - start
    with torch.no_grad():
        heard = judge.greedy({"audio": val["audio"], "audio_lengths": val["audio_lengths"]})
    vocab = Vocab(dm.specs["text"].vocab)
    hyps = decode(heard["tokens"], vocab, heard["lengths"])
    refs = decode(val["text"], vocab, val["text_lengths"])
    return {"epochs": epochs, **{f"val_{k}": v for k, v in text_scores(hyps, refs).items()}, "cpu_seconds": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--experiment", default="translation_table", help="the table whose data set is used")
    parser.add_argument("--seed", type=int, default=0, help="the run seed (the data set's seed setting)")
    parser.add_argument("--epochs", default="30,60", help="comma-separated candidate epochs")
    parser.add_argument("--hidden", type=int, default=64, help="the judge's width (model.task.judge_hidden)")
    parser.add_argument("--judge-seed", type=int, default=0, help="the judge's own seed (as cached_judge's)")
    parser.add_argument("--out", default=".", help="folder for the JSON record")
    args = parser.parse_args()
    try:
        candidates = [int(e) for e in args.epochs.split(",")]
    except ValueError:
        parser.error(f"--epochs {args.epochs!r}: give comma-separated whole numbers, e.g. 30,60")
    if not candidates or min(candidates) < 1:
        parser.error(f"--epochs {args.epochs!r}: every candidate must be at least 1")
    dm = datamodule_of(args.experiment, args.seed)
    sizes = {s: len(dm.split(s)["text"]) for s in ("train", "val", "test")}
    print(f"{dm.name}, seed {args.seed}: {sizes}")
    rows = []
    for epochs in candidates:
        rows.append(judge_scores(dm, epochs, args.hidden, args.judge_seed))
        r = rows[-1]
        print(f"epochs {epochs:4d}  val exact {r['val_exact']:.3f}  val wer {r['val_wer']:.3f}  "
              f"({r['cpu_seconds']:.0f} s CPU)", flush=True)
    best = min(rows, key=lambda r: (r["val_wer"], r["epochs"]))
    print(f"chosen: {best['epochs']} epochs (val wer {best['val_wer']:.3f})")
    record = {"data": dm.name, "experiment": args.experiment, "seed": args.seed, "judge_seed": args.judge_seed,
              "hidden": args.hidden, "sizes": sizes, "rows": rows, "chosen": best["epochs"],
              "date": time.strftime("%Y-%m-%d")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"judge_epochs_{dm.name}.json", record)


if __name__ == "__main__":
    main()
