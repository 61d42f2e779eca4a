"""Where an ``mmml-run`` process spends its time before and after training (issue 18, "start-up").

    python experiments/benchmarks/startup.py [--repeats 3] [overrides of the job ...]

Prints, as medians over ``--repeats`` fresh processes: a misspelt config choice answered (``model=fusion/tensr``);
a bad key answered by Hydra (``trainer.precison=...``); one whole job (default ``experiment=smoke
trainer.max_epochs=1``) split into the interpreter's start, importing the libraries the job imports
(third-party and mmml's own, timed in a fresh process that imports just those), fitting and testing (the
record's ``fit_seconds``, ``test_seconds``) and what is left: mmml-run's own overhead (Hydra composing the
config, building data, method and trainer, writing the record).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("mmml-run"))


def wall(args: list[str], cwd: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, out


def imported_modules(job: list[str], cwd: str) -> list[str]:
    """Every module that one job imports (``torch.nn``, ``mmml.runner``...), from ``python -X importtime``."""
    _, out = wall([sys.executable, "-X", "importtime", "-m", "mmml.cli", *job], cwd)
    names = []
    for line in out.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if line.startswith("import time:") and re.fullmatch(r"[A-Za-z]\w*(\.\w+)*", name):
            names.append(name)
    return names


def import_command(modules: list[str], folder: str) -> list[str]:
    """A fresh interpreter that imports ``modules`` in order (one that cannot be imported alone is passed over)."""
    script = Path(folder) / f"imports{len(modules)}.py"
    script.write_text(f"import importlib\nfor m in {modules!r}:\n    try:\n        importlib.import_module(m)\n"
                      "    except Exception:\n        pass\n")
    return [sys.executable, str(script)]


WARM_JOB = """
import importlib, json, sys, time
for m in {modules!r}:
    try:
        importlib.import_module(m)
    except Exception:
        pass
import pytorch_lightning as pl
from mmml.cli import main
spent = {{"fit": 0.0, "test": 0.0}}
def timed(name, method):
    def wrapper(*a, **k):
        start = time.process_time()
        try:
            return method(*a, **k)
        finally:
            spent[name] += time.process_time() - start
    return wrapper
pl.Trainer.fit, pl.Trainer.test = timed("fit", pl.Trainer.fit), timed("test", pl.Trainer.test)
wall, cpu = time.perf_counter(), time.process_time()
try:
    main({job!r})
except SystemExit:
    pass
print(json.dumps({{"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, **spent}}))
"""


def warm_job(modules: list[str], job: list[str], folder: str) -> dict[str, float]:
    """CPU seconds of one job in a process whose imports are already done: the whole call, fit and test."""
    script = Path(folder) / "warm_job.py"
    script.write_text(WARM_JOB.format(modules=modules, job=job))
    _, out = wall([sys.executable, str(script)], folder)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("job", nargs="*", default=["experiment=smoke", "trainer.max_epochs=1"])
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="mmml-startup-")
    med = statistics.median

    def timed(cmd: list[str]) -> float:
        return med(wall(cmd, tmp)[0] for _ in range(args.repeats))

    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    rows = [("python -c pass (interpreter start)", timed([sys.executable, "-c", "pass"])),
            ("mmml-run model=fusion/tensr (answered, exit 2)", timed([EXE, "model=fusion/tensr"])),
            ("mmml-run trainer.precison=bf16-mixed (Hydra's error)", timed([EXE, "trainer.precison=bf16-mixed"]))]
    modules = imported_modules([*args.job, f"hydra.run.dir={tmp}/probe"], tmp)
    ours = ("mmml", "hydra_plugins.mmml_sweeper")
    third = [m for m in modules if not m.startswith(ours)]
    rows.append((f"import the job's {len(third)} other modules (torch, pytorch_lightning, hydra...)",
                 timed(import_command(third, tmp))))
    own = [m for m in modules if m.startswith(ours)]
    rows.append((f"import those and mmml's {len(own)} modules", timed(import_command(third + own, tmp))))
    totals, fits, tests = [], [], []
    for i in range(args.repeats):
        run_dir = Path(tmp) / f"run{i}"
        seconds, out = wall([EXE, *args.job, f"run_dir={run_dir}", f"hydra.run.dir={run_dir}/hydra"], tmp)
        if out.returncode != 0:
            raise SystemExit(f"the job failed: {out.stderr[-2000:]}")
        record = json.loads((run_dir / "result.json").read_text())
        totals.append(seconds)
        fits.append(record["fit_seconds"])
        tests.append(record["test_seconds"])
    total, fit, test, imports = med(totals), med(fits), med(tests), rows[-1][1]
    rows += [(f"mmml-run {' '.join(args.job)} (whole process)", total), ("  of which fit (record)", fit),
             ("  of which test (record)", test), ("  of which imports (above, interpreter start included)", imports),
             ("  left: mmml-run's own overhead", total - fit - test - imports)]
    warm = [warm_job(modules, [*args.job, f"run_dir={tmp}/warm{i}", f"hydra.run.dir={tmp}/warm{i}/hydra"], tmp)
            for i in range(args.repeats)]
    cpu, cfit, ctest = (med(w[k] for w in warm) for k in ("cpu", "fit", "test"))
    rows += [("the same job, imports done beforehand: CPU seconds of the call", cpu),
             ("  of which fit (CPU)", cfit), ("  of which test (CPU)", ctest),
             ("  left: mmml-run's own overhead (CPU: compose, build, record)", cpu - cfit - ctest)]
    width = max(len(r[0]) for r in rows)
    print(f"median of {args.repeats} fresh processes, {sys.executable}; load average {load} at the start")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:6.2f} s")


if __name__ == "__main__":
    main()
