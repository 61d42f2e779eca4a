"""Where a survey's time went: CPU seconds per table and per row, from the jobs' own records.

Reads every ``result.json`` under a survey's ``runs/`` folder (``mmml-survey --out DIR`` writes them) and sums
``cpu_seconds`` (the job's process CPU time, which other load on the machine does not inflate the way it
inflates wall time), ``fit_seconds`` and ``test_seconds`` per table and per (table, config); the CPU the
sweeps spent outside their jobs (imports, Hydra) is the table's process time minus these, when
``--timings`` gives the survey's ``timings.csv``. Prints Markdown.

Usage:
    python experiments/benchmarks/survey_profile.py DIR            # DIR: the survey's --out folder
    python experiments/benchmarks/survey_profile.py DIR --top 12   # the 12 costliest rows
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from mmml.results import find_records


def profile(out: Path) -> tuple[dict[str, list[float]], dict[tuple[str, str], list[float]]]:
    """``{table: [jobs, cpu, fit, test]}`` and ``{(table, config): [jobs, cpu, fit, test]}``."""
    tables: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    rows: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for sweep in sorted(p for p in (out / "runs").iterdir() if p.is_dir()):
        for rec in find_records([sweep]):
            key = (sweep.name, str(rec.get("config_name")))
            for acc in (tables[sweep.name], rows[key]):
                acc[0] += 1
                acc[1] += rec.get("cpu_seconds") or 0.0
                acc[2] += rec.get("fit_seconds") or 0.0
                acc[3] += rec.get("test_seconds") or 0.0
    return dict(tables), dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the survey's --out folder (holds runs/)")
    parser.add_argument("--top", type=int, default=15, help="rows of the costliest configs to print")
    args = parser.parse_args()
    if not (args.out / "runs").is_dir():
        raise SystemExit(f"{args.out}/runs is not a folder: pass the folder mmml-survey --out wrote")
    tables, rows = profile(args.out)
    total = sum(t[1] for t in tables.values())
    print("| table | jobs | job CPU s | fit s (wall) | test s (wall) |\n| --- | ---: | ---: | ---: | ---: |")
    for name, (n, cpu, fit, test) in sorted(tables.items(), key=lambda kv: -kv[1][1]):
        print(f"| {name} | {n} | {cpu:.0f} | {fit:.0f} | {test:.0f} |")
    print(f"| all | {sum(t[0] for t in tables.values())} | {total:.0f} | | |\n")
    print("| table | config | jobs | job CPU s | share |\n| --- | --- | ---: | ---: | ---: |")
    for (table, config), (n, cpu, _, _) in sorted(rows.items(), key=lambda kv: -kv[1][1])[: args.top]:
        print(f"| {table} | `{config}` | {n} | {cpu:.0f} | {100 * cpu / max(total, 1e-9):.1f} % |")


if __name__ == "__main__":
    main()
