"""mmml-survey: tables run as multiruns and gathered into one report."""

import subprocess
import sys
from pathlib import Path

import pytest

from mmml.results import write_record
from mmml.survey import (
    count_jobs,
    data_override,
    is_embedded,
    run_table,
    sweep_grid,
    sweep_params,
    sweep_progress,
    table_command,
    table_experiments,
    table_parts,
)


def test_table_experiments_in_taxonomy_order():
    names = table_experiments()
    assert "fusion_table" in names and "smoke" not in names
    order = [n for n in ("representation_table", "translation_table", "alignment_table", "fusion_table",
                         "colearning_table") if n in names]
    assert [n for n in names if n in order] == order
    with pytest.raises(SystemExit, match="unknown"):
        table_experiments(["nope"])


def test_embedded_data_filter_and_job_count():
    assert is_embedded("avdigits") and not is_embedded("mfeat") and not is_embedded("avdigits_fsdd")
    assert data_override("fusion_table", "embedded") == ["data=avdigits"]
    assert data_override("fusion_table", "all") == []
    assert data_override("fusion_table", "mfeat") == ["data=mfeat"]
    # the command line selects the grid's rows: early, and late_mean/late_product/late_learned, on avdigits and
    # mfeat, and on avdigits_fsdd under the official and the speakers protocol (issue 14)
    assert count_jobs("fusion_table", ["model=fusion/early,fusion/late", "seed=0"]) == 4 * 4
    assert count_jobs("fusion_table", ["model=fusion/early,fusion/late", "seed=0", "data.split=speakers"]) == 4
    # the embedded survey: the 16 fusion rows and the two avdigits SVMs, 5 seeds, as before the speakers rows
    assert count_jobs("fusion_table", data_override("fusion_table", "embedded")) == 18 * 5


def _speaker_protocol(data: str) -> bool:
    """A data set that takes data.split (mmml.data.protocols), read from its config, not from the tables."""
    from omegaconf import OmegaConf

    from mmml.survey import _configs

    return "split" in OmegaConf.load(_configs() / "data" / f"{data}.yaml")


def _jobs(experiment, choice):
    from mmml.sweeps import expand

    return [dict(o.split("=", 1) for o in job)
            for job in expand(sweep_params(experiment), sweep_grid(experiment), data_override(experiment, choice))]


def test_speakers_rows_run_under_data_all_and_never_in_the_embedded_survey():
    """Issue 14: every FSDD-based row of a table runs under the official split and data.split=speakers, in pairs,
    with --data all; the embedded survey runs neither, and no embedded data set is swept over data.split."""
    with_speakers = set()
    for experiment in table_experiments():
        embedded, every = _jobs(experiment, "embedded"), _jobs(experiment, "all")
        assert not [j for j in embedded if "data.split" in j], experiment
        assert not [j for j in every if "data.split" in j and not _speaker_protocol(j["data"])], experiment
        if "data" in sweep_params(experiment):
            # the embedded survey's jobs are exactly the --data all jobs on the embedded data sets
            assert sorted(map(str, embedded)) == sorted(str(j) for j in every if is_embedded(j["data"])), experiment
        real = [j for j in every if "data" in j and _speaker_protocol(j["data"])]
        splits = {}
        for j in real:
            splits.setdefault(str(sorted((k, v) for k, v in j.items() if k != "data.split")), []).append(
                j.get("data.split"))
        assert all(sorted(v) == ["official", "speakers"] for v in splits.values()), (experiment, splits)
        if real:
            with_speakers.add(experiment)
    assert {"representation_table", "alignment_table", "fusion_table"} <= with_speakers
    every = _jobs("translation_table_fsdd", "all")  # its own sweep (mmml-run -m experiment=translation_table_fsdd)
    assert sorted(j["data.split"] for j in every) == ["official"] * (len(every) // 2) + ["speakers"] * (len(every) // 2)


def test_a_table_is_cut_into_one_sweep_per_seed():
    assert table_parts("fusion_table", []) == [[f"seed={s}"] for s in range(5)]  # 5 seeds (issue 14)
    assert table_parts("fusion_table", ["seed=0", "trainer.max_epochs=3"]) == [[]]  # --quick fixes the seed
    assert table_parts("smoke", []) == [[]]  # no seed sweep
    # the parts together are the table's jobs
    parts = table_parts("translation_table", [])
    assert sum(count_jobs("translation_table", p) for p in parts) == count_jobs("translation_table", [])


def test_a_table_is_cut_into_one_sweep_per_core_with_its_seeds_dealt_round_robin():
    assert table_parts("fusion_table", [], parts=2) == [["seed=0,2,4"], ["seed=1,3"]]
    assert table_parts("fusion_table", [], parts=9) == [[f"seed={s}"] for s in range(5)]  # at most one per seed
    assert table_parts("fusion_table", [], parts=1) == [["seed=0,1,2,3,4"]]
    parts = table_parts("translation_table", [], parts=2)
    assert sum(count_jobs("translation_table", p) for p in parts) == count_jobs("translation_table", [])


def test_the_survey_tables_sweep_at_least_five_seeds():
    for table in ("fusion", "representation", "colearning", "translation", "translation_table_fsdd"):
        experiment = table if table.endswith("_fsdd") else f"{table}_table"
        seeds = {s for (part,) in table_parts(experiment, []) for s in part.removeprefix("seed=").split(",")}
        assert len(seeds) >= 5, experiment


def test_table_command_without_console_scripts_runs_the_module(tmp_path, monkeypatch):
    """From a source tree on PYTHONPATH (no mmml-run beside the interpreter), the sweep runs as a module."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    cmd = table_command("fusion_table", tmp_path / "sweep", ["seed=0"])
    assert cmd[:3] == [str(tmp_path / "python3"), "-m", "mmml.runner"]
    assert cmd[3:] == ["-m", "experiment=fusion_table", f"hydra.sweep.dir={tmp_path / 'sweep'}", "seed=0"]
    (tmp_path / "mmml-run").touch()
    assert table_command("fusion_table", tmp_path / "sweep", [])[0] == str(tmp_path / "mmml-run")


@pytest.mark.slow
def test_survey_writes_a_report_with_tables_and_plots(tmp_path):
    exe = Path(sys.executable).with_name("mmml-survey")
    out = subprocess.run([str(exe), "--out", str(tmp_path / "r"), "--quick", "--tables", "fusion",
                          "model=fusion/late", "model.net.combine=mean,product", "trainer.max_epochs=1"],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## Overview: the taxonomy as code" in report and "| fusion | model_agnostic | late_mean |" in report
    assert "| model_agnostic | late_product |" in report  # one config, two rows named by interpolation
    assert "| `fusion/late` | clean acc = " in report  # fusion's HEADLINE
    assert "Reproduce: `mmml-run -m experiment=fusion_table data=avdigits seed=0" in report
    assert "![table](fusion_table/table.png)" in report
    for ext in ("md", "csv", "tex", "png"):
        assert (tmp_path / "r" / "fusion_table" / f"table.{ext}").exists()
    assert "fusion_table" in (tmp_path / "r" / "timings.csv").read_text()


def test_progress_is_read_from_the_result_records(tmp_path):
    """Finished jobs are counted from their result.json (mmml.results), not from log lines."""
    for i, status in enumerate(["ok", "failed", "skipped", "running", "ok"]):
        write_record(tmp_path / str(i), {"status": status})
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "result.json").write_text("{truncated")  # unreadable: not counted
    with pytest.warns(UserWarning, match="unreadable"):
        assert sweep_progress(tmp_path) == (4, 1)


def test_a_table_sweep_reports_progress_without_reading_its_log(tmp_path, monkeypatch, capsys):
    """The sweep below prints nothing a regex could match; the bar follows the records it writes."""
    script = ("import json, pathlib, sys, time\n"
              "out = pathlib.Path(sys.argv[1])\n"
              "for i, s in enumerate(['ok', 'failed', 'ok']):\n"
              "    (out / str(i)).mkdir(parents=True)\n"
              "    (out / str(i) / 'result.json').write_text(json.dumps({'status': s}))\n"
              "    time.sleep(0.2)\n")
    monkeypatch.setattr("mmml.survey.table_command", lambda exp, sweep, ov: [sys.executable, "-c", script, str(sweep)])
    monkeypatch.setattr("mmml.survey.count_jobs", lambda exp, ov: 3)
    code, seconds = run_table("fusion_table", tmp_path / "sweep", [])
    assert code == 0 and seconds > 0
    err = capsys.readouterr().err
    assert "3/3" in err and "failed=1" in err


def test_report_has_claims_provenance_and_what_a_seed_varies(tmp_path):
    """write_report on records of one table: the Claims section from paired tests, what a seed varies (from
    the records' protocol), and the provenance (command, git revision, packages, device)."""
    from mmml.survey import write_report
    from mmml.tables import build_table

    out = tmp_path / "r"
    for seed in range(5):
        for method, family, ms in (("dtw_template", "explicit", 40.0), ("attention", "implicit", 80.0)):
            write_record(out / "runs" / "alignment_table" / f"{method}{seed}", {
                "challenge": "alignment", "family": family, "method": method, "dataset": "digit_sequences",
                "seed": seed, "setting": "", "status": "ok", "device": "cpu (test)", "git_revision": "abc123",
                "protocol": {"split": "random", "test": "stratified draw by seed (a seed redraws test)"}
                if method != "attention" or seed else {"split": "fixed", "test": None},
                "metrics": {"test/clean/boundary_mae_ms": ms + seed % 2}})
    build_table([out / "runs" / "alignment_table"], out / "alignment_table")
    text = write_report(out, ["alignment_table"], {"alignment_table": []}, {"alignment_table": 1.0},
                        {"alignment_table": 0}, command="mmml-survey --out r").read_text()
    assert "Seeds: 5 (0, 1, 2, 3, 4); a seed sets the model's initialisation" in text
    assert "digit_sequences: test redrawn by each seed (stratified) / the same test split for every seed (fixed)." \
        in text  # one record says otherwise: both shown
    claims = text[text.index("## Claims"):]
    assert ("| Explicit alignment places boundaries better than implicit attention | digit_sequences | explicit "
            "dtw_template vs implicit attention") in claims and "**holds**" in claims
    assert "| Fusion beats the best single modality | – |" in claims and "not testable here" in claims
    prov = text[text.index("## Provenance"):]
    assert "Command: `mmml-survey --out r`" in prov and "`abc123`" in prov and "cpu (test)" in prov
    assert "scipy " in prov and "Git revision of the report" in prov


def test_report_keeps_official_and_speakers_apart_in_the_seed_note_and_the_claims(tmp_path):
    """Issue 14: a table with an FSDD data set under both protocols says which score is speaker-dependent, and
    the claims test each protocol on its own (not 'two ok records with seed 0' from the two protocols)."""
    from mmml.data.protocols import SpeakerProtocol
    from mmml.survey import write_report
    from mmml.tables import build_table

    speakers = ["george", "jackson", "nicolas", "theo", "yweweler"]
    out = tmp_path / "r"
    for split, base in (("official", 0.95), ("speakers", 0.55)):
        protocol = {"data_set": "avdigits_fsdd", **SpeakerProtocol(split, ["theo"]).describe(speakers)}
        for seed in range(3):
            for method, family, gain in (("early", "model_agnostic", 0.02), ("only_audio", "unimodal", 0.0)):
                write_record(out / "runs" / "fusion_table" / f"{split}{method}{seed}", {
                    "challenge": "fusion", "family": family, "method": method, "dataset": "avdigits_fsdd",
                    "seed": seed, "setting": "", "status": "ok", "protocol": protocol,
                    "metrics": {"test/clean/acc": base + gain + 0.01 * seed}})
    build_table([out / "runs" / "fusion_table"], out / "fusion_table")
    text = write_report(out, ["fusion_table"], {"fusion_table": []}, {"fusion_table": 1.0}, {"fusion_table": 0},
                        command="mmml-survey --out r").read_text()
    assert ("avdigits_fsdd: the same test split for every seed (official: recording index 0-4; speaker-dependent) / "
            "the same test split for every seed (speakers: every recording of theo; speaker-independent)") in text
    claims = text[text.index("## Claims"):]
    assert "| Fusion beats the best single modality | avdigits_fsdd | fused early vs single only_audio (" in claims
    assert "| avdigits_fsdd@speakers-theo | fused early vs single only_audio (" in claims
    assert "two ok records" not in claims
    table = (out / "fusion_table" / "table.md").read_text()
    assert "| official (speakers shared) |" in table and "| speakers (test theo; val yweweler) |" in table


def test_quick_judge_override_composes_for_every_model_of_its_tables():
    """--quick's per-table overrides (each experiment's table.quick) are valid for every row of their table."""
    from hydra import compose, initialize_config_module

    from mmml.survey import quick_overrides, sweep_params

    tables = [*table_experiments(), "translation_table_fsdd"]
    extras = {t: quick_overrides(t) for t in tables if quick_overrides(t)}
    assert set(extras) == {"translation_table", "translation_table_fsdd"}
    with initialize_config_module("mmml.experiments", version_base=None):
        for table, extra in extras.items():
            for model in sweep_params(table)["model"].split(","):
                cfg = compose("config", overrides=[f"experiment={table}", f"model={model.strip()}", *extra])
                assert cfg.model.task.judge_epochs == 10, (table, model)


def test_a_forked_sweep_runs_the_jobs_logs_and_keeps_the_exit_status(tmp_path):
    """``fork=True``: the same mmml-run arguments in a process forked from the fork server, its output in the
    sweep's log, its records written, its exit status that of mmml-run (2 for a choice that does not exist)."""
    from mmml.survey import can_fork

    if not can_fork():
        pytest.skip("no fork server on this platform")
    code, _ = run_table("representation_table", tmp_path / "ok", ["seed=0", "model=representation/concat",
                                                                  "data=avdigits", "trainer.max_epochs=1"], fork=True)
    assert code == 0
    assert sweep_progress(tmp_path / "ok") == (1, 0)
    assert "representation/joint/concat on avdigits seed 0: ok" in (tmp_path / "ok" / "survey.log").read_text()
    code, _ = run_table("fusion_table", tmp_path / "bad", ["seed=0", "trainer=gpx"], fork=True)
    assert code == 2 and "closest: gpu" in (tmp_path / "bad" / "survey.log").read_text()
