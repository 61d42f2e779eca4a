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
    """The top-level modules (``torch``, ``mmml.runner``...) that one job imports, from ``python -X importtime``."""
    _, out = wall([sys.executable, "-X", "importtime", "-m", "mmml.cli", *job], cwd)
    names = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[-1]
            if not name.startswith(" ") and not name.startswith("_"):
                names.append(name.strip())
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("job", nargs="*", default=["experiment=smoke", "trainer.max_epochs=1"])
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="mmml-startup-")
    med = statistics.median

    def timed(cmd: list[str]) -> float:
        return med(wall(cmd, tmp)[0] for _ in range(args.repeats))

    rows = [("python -c pass (interpreter start)", timed([sys.executable, "-c", "pass"])),
            ("mmml-run model=fusion/tensr (answered, exit 2)", timed([EXE, "model=fusion/tensr"])),
            ("mmml-run trainer.precison=bf16-mixed (Hydra's error)", timed([EXE, "trainer.precison=bf16-mixed"]))]
    modules = imported_modules([*args.job, f"hydra.run.dir={tmp}/probe"], tmp)
    third = [m for m in modules if not m.startswith(("mmml", "hydra_plugins"))]
    rows.append((f"import the job's {len(third)} third-party top-level modules",
                 timed([sys.executable, "-c", "import " + ", ".join(third)])))
    rows.append((f"import those and mmml's {len(modules) - len(third)} modules",
                 timed([sys.executable, "-c", "import " + ", ".join(modules)])))
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
    width = max(len(r[0]) for r in rows)
    print(f"median of {args.repeats} fresh processes, {sys.executable}")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:6.2f} s")


if __name__ == "__main__":
    main()
