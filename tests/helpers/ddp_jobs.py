"""One small ``mmml-run`` job per challenge, run under one DDP launch (tests/mmml/test_ddp.py).

``python tests/helpers/ddp_jobs.py OUT [JOB ...] [-- OVERRIDE ...]`` runs each job with :func:`mmml.runner.run`
and the given overrides (``trainer=ddp_cpu`` for two CPU processes), into ``OUT/<job>``: Lightning's DDP
launcher starts the second process by running this script again, and every job's trainer joins the same
process group, so the start-up is paid once. :class:`ValRecorder` (a ``trainer.callbacks`` entry) writes the
task's whole-split validation metrics to ``<run dir>/val.json`` from rank 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl

#: job -> overrides: tiny data, one epoch, one method of each challenge whose metrics need the whole split
ODD = ["+data.val_fraction=0.155", "+data.test_fraction=0.202"]  # avdigits: 223 val, 363 test, so one shard is padded
JOBS = {
    "fusion": ["model=fusion/early", "data=avdigits", *ODD, "+data.eval_batch_size=50"],
    "representation": ["model=representation/concat", "data=avdigits", *ODD, "+data.eval_batch_size=64"],
    # one utterance per batch: the CTC path of a barely trained model has near-ties that a batch's other utterances
    # (through the convolution's batched arithmetic) could flip, which is not what this test is about
    "alignment": ["model=alignment/ctc", "data=digit_sequences", "data.n_sequences=101", "+data.eval_batch_size=1"],
    "translation": ["model=translation/recognition/attention", "data=digit_sequences", "data.n_sequences=101",
                    "+data.eval_batch_size=7"],
    "colearning": ["model=colearning/pivot_bridge", "data=avdigits", "data.modalities=[image,audio,text]", *ODD,
                   "+data.eval_batch_size=100"],
}
COMMON = ["trainer.max_epochs=1", "+trainer.callbacks=[{_target_: ddp_jobs.ValRecorder}]"]


class ValRecorder(pl.Callback):
    """Write ``val_results`` and ``best_val`` of the task to ``<run dir>/val.json`` (rank 0) after testing."""

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            out = {"val_results": pl_module.val_results, "best_val": pl_module.best_val,
                   "world_size": trainer.world_size}
            (Path(trainer.default_root_dir) / "val.json").write_text(json.dumps(out, indent=1))


def config(overrides: list[str]):
    from hydra import compose, initialize_config_module

    with initialize_config_module("mmml.experiments", version_base="1.3"):
        return compose("config", overrides=overrides)


def main(argv: list[str]) -> None:
    from mmml.runner import run

    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    out, names = Path(argv[0]), argv[1:] or list(JOBS)
    for name in names:
        run(config([*JOBS[name], *COMMON, *extra, f"run_dir={out / name}", "catch_errors=true"]))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # ddp_jobs.ValRecorder, in the launched process too
    main(sys.argv[1:])
