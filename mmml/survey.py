"""``mmml-survey``: every challenge's comparison table, run and written into one report.

Runs each ``experiments/experiment/*_table.yaml`` as Hydra multiruns, as many as ``--jobs`` (the table's seeds
dealt round-robin; one process each, forked where the platform allows from a fork server that imported
:mod:`mmml.runner` once, so that a sweep starts without importing torch and Lightning again, and a long table
uses every core), the longest tables first; shows progress per sweep and per job (read from the jobs' ``result.json``
records, :mod:`mmml.results`), builds each table with :mod:`mmml.tables` as soon as its sweeps are done, and
writes ``OUT/report.md``: an overview of the taxonomy (challenge -> family -> method -> paper -> config ->
headline metric), then the tables with their plots, each headed by the exact command that reproduces it and
what a seed varies (each table with the columns its experiment names in ``table.columns``,
:func:`table_columns`), then the survey's claims computed from every record with paired tests
(:mod:`mmml.claims`), then the provenance (command, git revision, package versions, device). A failed job is
reported, not fatal. ``--quick`` runs seed 0 for 3 epochs, plus each table's own ``table.quick`` overrides.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path

from omegaconf import OmegaConf
from tqdm import tqdm

from mmml.claims import evaluate_claims
from mmml.claims import to_markdown as claims_markdown
from mmml.io import atomic_write
from mmml.results import RECORD, find_records, git_revision, package_versions, read_record
from mmml.runner import available
from mmml.sweeps import expand
from mmml.tables import aggregate, build_table, headline_metric, metric_columns, short_metric, tag_protocols

log = logging.getLogger("mmml.survey")
CHALLENGE_ORDER = ("representation", "translation", "alignment", "fusion", "colearning")
#: the order sweeps are started in, longest first (measured on CPU, docs/benchmarks.md), so that the
#: short ones fill the cores while the long ones run
LONGEST_FIRST = ("translation", "colearning", "fusion", "clip", "alignment", "representation")
DONE = ("ok", "failed", "skipped")
POLL_SECONDS = 0.5


def table_experiments(only: Sequence[str] | None = None) -> list[str]:
    """Names of the ``*_table`` experiments, in the survey's challenge order."""
    names = [n for n in available("experiment") if n.endswith("_table")]
    rank = {c: i for i, c in enumerate(CHALLENGE_ORDER)}
    names.sort(key=lambda n: (rank.get(n.removesuffix("_table"), 99), n))
    if only:
        unknown = [o for o in only if f"{o.removesuffix('_table')}_table" not in names]
        if unknown:
            raise SystemExit(f"mmml-survey: --tables {unknown} unknown; choose from "
                             f"{[n.removesuffix('_table') for n in names]}")
        names = [n for n in names if n.removesuffix("_table") in {o.removesuffix("_table") for o in only}]
    return names


def _configs() -> Path:
    return Path(find_spec("mmml.experiments").origin).parent


def _experiment_node(experiment: str, key: str):
    """The node ``key`` of a table experiment's yaml, as plain Python (``None`` where it has none)."""
    node = OmegaConf.select(OmegaConf.load(_configs() / "experiment" / f"{experiment}.yaml"), key, default=None)
    return OmegaConf.to_container(node) if node is not None else None


def _sweeper(experiment: str) -> dict:
    return _experiment_node(experiment, "hydra.sweeper") or {}


def quick_overrides(experiment: str) -> list[str]:
    """The overrides ``--quick`` adds to one table beyond :data:`QUICK`: its experiment's ``table.quick``
    (e.g. the translation tables train their judge for fewer epochs); none where it names none."""
    return [str(o) for o in _experiment_node(experiment, "table.quick") or []]


def table_columns(experiment: str) -> list[str] | None:
    """The ``table.columns`` of a table experiment: the columns its paper table shows
    (:func:`mmml.columns.select_columns`); ``None`` where it names none (every column)."""
    columns = _experiment_node(experiment, "table.columns")
    return [str(c) for c in columns] if columns is not None else None


def sweep_params(experiment: str) -> dict[str, str]:
    """The ``hydra.sweeper.params`` of a table experiment (swept for every row)."""
    return {k: str(v) for k, v in (_sweeper(experiment).get("params") or {}).items()}


def sweep_grid(experiment: str) -> list[dict[str, str]]:
    """The ``hydra.sweeper.grid`` of a table experiment: its rows, as sub-grids (:mod:`mmml.sweeps`)."""
    return [{k: str(v) for k, v in sub.items()} for sub in _sweeper(experiment).get("grid") or []]


def is_embedded(data: str) -> bool:
    """A data config is embedded (offline, no files) when it reads no ``root`` folder."""
    return "root" not in OmegaConf.load(_configs() / "data" / f"{data}.yaml")


def data_override(experiment: str, choice: str) -> list[str]:
    """The ``data=`` sweep for one table: ``embedded`` keeps the offline data sets, ``all`` every one."""
    sweep = sweep_params(experiment).get("data")
    if choice not in ("embedded", "all"):
        return [f"data={choice}"]
    if sweep is None or choice == "all":
        return []
    keep = [d for d in sweep.split(",") if is_embedded(d.strip())]
    return [f"data={','.join(keep)}"] if keep else []


def count_jobs(experiment: str, overrides: Sequence[str]) -> int:
    """Jobs in a table's sweep, as its sweeper expands them (:func:`mmml.sweeps.expand`: the common params x
    the grid's rows, command-line overrides applied)."""
    task = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    return max(1, len(expand(sweep_params(experiment), sweep_grid(experiment), task)))


def sweep_progress(sweep_dir: Path) -> tuple[int, int]:
    """(jobs finished, of which failed) under ``sweep_dir``, counted from their ``result.json`` records."""
    done = failed = 0
    for path in sweep_dir.rglob(RECORD):
        rec = read_record(path)
        if rec is not None and rec.get("status") in DONE:
            done += 1
            failed += rec["status"] == "failed"
    return done, failed


def table_arguments(experiment: str, sweep_dir: Path, overrides: Sequence[str]) -> list[str]:
    """``mmml-run``'s arguments for the sweep of one table."""
    return ["-m", f"experiment={experiment}", f"hydra.sweep.dir={sweep_dir}", *overrides]


def table_command(experiment: str, sweep_dir: Path, overrides: Sequence[str]) -> list[str]:
    """The sweep of one table: ``mmml-run -m ...`` beside this interpreter, or ``python -m mmml.runner`` where
    the project runs from its source tree without console scripts (``PYTHONPATH``, as on the GPU machine)."""
    exe = Path(sys.executable).with_name("mmml-run")
    runner = [str(exe)] if exe.exists() else [sys.executable, "-m", "mmml.runner"]
    return [*runner, *table_arguments(experiment, sweep_dir, overrides)]


def table_parts(experiment: str, overrides: Sequence[str], parts: int | None = None) -> list[list[str]]:
    """The table's sweep cut into ``parts`` sweeps (default: one per seed it sweeps), each the extra override
    of one sweep: its seeds, dealt round-robin (``seed=0,2,4`` and ``seed=1,3`` for 2 parts of 5 seeds); one
    part when the command line fixes ``seed`` or the table does not sweep it. Fewer parts start fewer
    processes (2.5 s each forked from the fork server, 6 s as new processes); more let a long table use more
    cores."""
    seeds = [s.strip() for s in (sweep_params(experiment).get("seed") or "").split(",") if s.strip()]
    if not seeds or any(o.partition("=")[0].lstrip("+") == "seed" for o in overrides):
        return [[]]
    n = len(seeds) if parts is None else max(1, min(int(parts), len(seeds)))
    return [[f"seed={','.join(seeds[i::n])}"] for i in range(n)]


#: imported once by the survey's fork server; every sweep is forked from it with them imported (a sweep
#: started as a new ``mmml-run`` process spent about 4.4 s importing torch, Lightning, Hydra and scikit-learn)
FORKSERVER_PRELOAD = ["mmml.runner", "mmml.cli", "mmml.survey"]


def can_fork() -> bool:
    """Whether sweeps can be forked from a fork server here (POSIX; not on Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def _sweep_in_fork(argv: list[str], logfile: str) -> None:
    """A forked sweep: ``mmml-run argv`` (:func:`mmml.cli.main`, its exit status the process's) with standard
    output and error appended to ``logfile``."""
    fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    from mmml.cli import main as cli_main

    cli_main(argv)


class _Forked:
    """A forked sweep with :class:`subprocess.Popen`'s ``poll()``."""

    def __init__(self, argv: list[str], logfile: Path) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
        self.process = ctx.Process(target=_sweep_in_fork, args=(argv, str(logfile)), name="mmml-sweep")
        self.process.start()

    def poll(self) -> int | None:
        if self.process.is_alive():
            return None
        self.process.join()
        return self.process.exitcode


def _stop_fork_server() -> None:
    """Stop the fork server and wait for it, so that its CPU time and its sweeps' count in the survey's (as
    ``/usr/bin/time`` reads it); ``multiprocessing`` has no public call for it, hence the guarded private one."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if callable(stop) and getattr(server, "_forkserver_pid", None) is not None:
        stop()


def run_table(experiment: str, sweep_dir: Path, overrides: Sequence[str], position: int = 0,
              fork: bool = False) -> tuple[int, float]:
    """Run one table's multirun, streaming its jobs into a progress bar; returns (exit code, seconds).

    The sweep is :func:`table_command` in a new process, or with ``fork`` the same ``mmml-run`` arguments
    in a process forked from the survey's fork server (:data:`FORKSERVER_PRELOAD`): the same jobs, records
    and log, without importing the libraries again."""
    total = count_jobs(experiment, overrides)
    start = time.perf_counter()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    logfile = sweep_dir / "survey.log"
    desc = " ".join([experiment, *(o for o in overrides if o.startswith("seed="))])
    with open(logfile, "w") as logf, tqdm(total=total, desc=desc, unit="job", position=position,
                                          leave=True, file=sys.stderr) as bar:
        proc = (_Forked(table_arguments(experiment, sweep_dir, overrides), logfile) if fork else
                subprocess.Popen(table_command(experiment, sweep_dir, overrides), stdout=logf,
                                 stderr=subprocess.STDOUT, text=True))
        while True:
            code = proc.poll()
            done, failed = sweep_progress(sweep_dir)
            bar.update(done - bar.n)
            bar.set_postfix(failed=failed)
            if code is not None:
                break
            time.sleep(POLL_SECONDS)
    return code, time.perf_counter() - start


QUICK = ("seed=0", "trainer.max_epochs=3", "+quick=true")
#: what a seed varies, whatever the data set (the split protocol of each data set is read from its records)
SEED_VARIES = ("a seed sets the model's initialisation, the batch order, the validation draw and, where a row "
               "uses fewer labels, the labelled subset; every method of the table gets the same split for the "
               "same seed, so seeds pair the rows")


def seed_note(records: Sequence[dict]) -> str:
    """What a seed varies in one table: :data:`SEED_VARIES`, and per data set whether its test split is
    redrawn per seed and, for FSDD's split protocols, whether the score is speaker-dependent (``official``:
    every speaker in train and test) or speaker-independent (``speakers``, ``logo``), from the records'
    ``protocol`` (:mod:`mmml.runner`, :mod:`mmml.data.protocols`)."""
    seeds = sorted({r.get("seed") for r in records if r.get("status") == "ok"}, key=str)
    per_data: dict[str, set[str]] = {}
    for r in records:
        proto = r.get("protocol")
        if r.get("status") != "ok" or r.get("dataset") is None:
            continue
        if not isinstance(proto, dict):
            text = "protocol not recorded"
        elif proto.get("split") == "random":
            text = "test redrawn by each seed (stratified)"
        else:
            test = proto.get("test")
            test = ", ".join(map(str, test)) if isinstance(test, (list, tuple)) else test
            overlap = proto.get("speakers_overlap")
            speakers = "" if overlap is None else "; speaker-dependent" if overlap else "; speaker-independent"
            text = f"the same test split for every seed ({proto.get('split')}" + (f": {test}" if test else "") + \
                speakers + ")"
        per_data.setdefault(str(r["dataset"]), set()).add(text)
    where = "; ".join(f"{d}: {' / '.join(sorted(t))}" for d, t in sorted(per_data.items()))
    return (f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))}); {SEED_VARIES}." +
            (f" Test split per data set — {where}." if where else ""))


def provenance(records: Sequence[dict], command: str) -> list[str]:
    """The report's provenance: git revision (now and of the records), package versions, device, command."""
    revisions = sorted({str(r.get("git_revision")) for r in records if r.get("git_revision")})
    devices = sorted({str(r.get("device")) for r in records if r.get("device")})
    versions = package_versions()
    for r in records:  # the records' Python/CUDA/cuDNN, where the runner wrote them
        for k in ("python", "cuda", "cudnn"):
            if (r.get("versions") or {}).get(k) is not None:
                versions.setdefault(k, (r.get("versions") or {}).get(k))
    return ["## Provenance", "",
            f"- Command: `{command}`",
            f"- Git revision of the report: `{git_revision() or 'not a git checkout'}`; of the runs: "
            + (", ".join(f"`{v}`" for v in revisions) or "not recorded"),
            "- Device: " + ("; ".join(devices) or "not recorded"),
            "- Packages: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None), ""]


def write_report(out: Path, experiments: Sequence[str], commands: dict[str, list[str]], timings: dict[str, float],
                 codes: dict[str, int], wall: float | None = None, command: str | None = None) -> Path:
    """Compose ``out/report.md`` from the tables already written under ``out/<experiment>/``: the overview, the
    tables, the survey's claims computed from every record (:mod:`mmml.claims`) and the provenance."""
    overview = ["| challenge | family | method | paper | config | headline metric |", "|---|---|---|---|---|---|"]
    sections = []
    every: list[dict] = []
    for exp in experiments:
        sweep = out / "runs" / exp
        rerun = " ".join(shlex.quote(c) for c in ["mmml-run", "-m", f"experiment={exp}", *commands.get(exp, [])])
        head = (f"## {exp.removesuffix('_table').capitalize()}\n\nReproduce: `{rerun}` then "
                f"`mmml-table <sweep folder> --out {exp}`. Time here: {timings.get(exp, 0):.0f} s (its sweeps' "
                "wall times, summed).\n")
        records = find_records([sweep]) if sweep.exists() else []
        if not records:
            sections.append(head + f"\nNo results (the sweep exited with code {codes.get(exp)}; see "
                            f"`runs/{exp}/*/survey.log`).\n")
            continue
        every += records
        head += "\n" + seed_note(records) + "\n"
        body = (out / exp / "table.md").read_text()
        images = "".join(f"\n![{p.stem}]({exp}/{p.name})\n" for p in sorted((out / exp).glob("*.png")))
        body = re.sub(r"!\[[^\]]*\]\([^)]*\)\n?", "", body)  # images re-linked relative to the report
        sections.append(head + "\n" + body + images)
        rows = aggregate(records)
        cols = metric_columns(rows)
        config_of = {(r.get("method"), r.get("family")): r.get("config_name") for r in records}
        paper_of = {(r.get("method"), r.get("family")): r.get("paper") for r in records}
        seen = set()
        for row in rows:
            key = (row.key[2], row.key[1])
            if key in seen:
                continue
            seen.add(key)
            have = [c for c in cols if row.stat(c)[2]]
            metric = headline_metric(row.key[0], row.key[1], have)
            mean, _, n = row.stat(metric) if metric else (0, 0, 0)
            metric = f"{short_metric(metric)} = {mean:.3f} ({row.key[3]})" if n else "failed"
            overview.append(f"| {row.key[0]} | {row.key[1]} | {row.key[2]} | {paper_of.get(key) or ''} | "
                            f"`{config_of.get(key) or ''}` | {metric} |")
    total = wall if wall is not None else sum(timings.values())
    command = command or " ".join(shlex.quote(c) for c in ["mmml-survey", *sys.argv[1:]])
    text = "\n".join([
        "# mmml survey report", "",
        f"Five challenges of Baltrusaitis, Ahuja & Morency (2017), {len(experiments)} tables, in {total:.0f} s wall "
        f"({time.strftime('%Y-%m-%d %H:%M')}); each table below names the command that reproduces it.",
        "", "## Overview: the taxonomy as code", "", *overview, "", *sections,
        claims_markdown(evaluate_claims(tag_protocols(every))), *provenance(every, command)])  # protocols apart
    return atomic_write(out / "report.md", lambda f: f.write(text))


def survey(out: str | Path, quick: bool = False, data: str = "embedded", tables: Sequence[str] | None = None,
           jobs: int = 1, overrides: Sequence[str] = (), command: str | None = None) -> Path:
    """Run the tables and write the report; returns the report's path."""
    out = Path(out).resolve()
    experiments = table_experiments(tables)
    extra = [*(QUICK if quick else ()), *(["skip_missing_data=true"] if data == "embedded" else []), *overrides]
    commands = {exp: [*data_override(exp, data), *extra, *(quick_overrides(exp) if quick else ())]
                for exp in experiments}
    # one sweep per core and table (its seeds dealt round-robin): 12 process start-ups instead of 30 on 2 cores
    parts = {exp: table_parts(exp, commands[exp], parts=jobs) for exp in experiments}
    rank = {c: i for i, c in enumerate(LONGEST_FIRST)}
    units = sorted(((exp, part) for exp in experiments for part in parts[exp]),  # a table not listed goes last
                   key=lambda u: rank.get(u[0].removesuffix("_table"), len(rank)))
    timings = dict.fromkeys(experiments, 0.0)
    codes = dict.fromkeys(experiments, 0)
    left = {exp: len(parts[exp]) for exp in experiments}
    lock = threading.Lock()

    def one(item):
        position, (exp, part) = item
        sweep = out / "runs" / exp / (part[0].replace("=", "").replace(",", "-") if part else "all")
        code, seconds = run_table(exp, sweep, [*commands[exp], *part], position, fork=can_fork())
        with lock:
            timings[exp] += seconds
            codes[exp] = codes[exp] or code  # the first failing sweep's exit code (a signal is negative)
            left[exp] -= 1
            last = left[exp] == 0
        if last and find_records([out / "runs" / exp]):  # the table's last sweep: build it now
            build_table([out / "runs" / exp], out / exp, title=exp, columns=table_columns(exp))
        return exp

    start = time.perf_counter()
    (out / "runs").mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, enumerate(units)))
    _stop_fork_server()
    path = write_report(out, experiments, commands, timings, codes, wall=time.perf_counter() - start,
                        command=command)
    atomic_write(out / "timings.csv", lambda f: f.write(
        "table,seconds,exit_code\n" + "".join(f"{e},{timings[e]:.1f},{codes[e]}\n" for e in experiments)))
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``mmml-survey --out DIR``."""
    parser = argparse.ArgumentParser(prog="mmml-survey", description=__doc__.splitlines()[0],
                                     epilog="Extra arguments are Hydra overrides passed to every table, e.g. "
                                            "trainer=gpu or hydra/launcher=joblib.")
    parser.add_argument("--out", required=True, help="report folder (report.md, one folder per table, runs/)")
    parser.add_argument("--quick", action="store_true",
                        help="seed 0 only and 3 epochs, for a first look (one seed: the claims get no verdict)")
    parser.add_argument("--data", default="embedded",
                        help="'embedded' (default: the offline data sets only), 'all' (every data set each table "
                             "sweeps; real ones need MMML_DATA), or one data set for every table (e.g. avdigits_fsdd)")
    parser.add_argument("--tables", default=None, help="comma-separated subset, e.g. fusion,alignment")
    parser.add_argument("--jobs", type=int, default=max(1, min(5, os.cpu_count() or 1)),
                        help="sweeps run at once (default: one per CPU core, at most 5; each job uses one thread)")
    args, overrides = parser.parse_known_args(argv)
    bad = [o for o in overrides if "=" not in o]
    if bad:
        parser.error(f"unrecognised arguments {bad}; Hydra overrides look like key=value")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    start = time.perf_counter()
    command = " ".join(shlex.quote(c) for c in ["mmml-survey", *(argv if argv is not None else sys.argv[1:])])
    path = survey(args.out, args.quick, args.data, args.tables.split(",") if args.tables else None, args.jobs,
                  overrides, command=command)
    print(f"wrote {path} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

