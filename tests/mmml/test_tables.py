"""mmml-table: grouping, mean ± std over seeds, failed rows, truncated records skipped."""

import json

import numpy as np
import pytest

from mmml.results import setting_of, write_record
from mmml.tables import (
    aggregate,
    best_cells,
    build_table,
    direction,
    headline_metric,
    main,
    metric_label,
    paper_figures,
)


def _record(run_dir, method, seed, acc, status="ok", family="neural", dataset="avdigits", setting="", extra=None):
    write_record(run_dir, {
        "challenge": "fusion", "family": family, "method": method, "dataset": dataset, "seed": seed,
        "setting": setting, "status": status, "error": None if status == "ok" else "RuntimeError: boom",
        "metrics": {"test/clean/acc": acc, "test/audio_drop/acc": acc / 2, **(extra or {})} if status == "ok" else {},
        "n_params": 1000, "fit_seconds": 2.0,
    })


@pytest.fixture
def sweep(tmp_path):
    accs = {"tensor": [0.8, 0.9, 0.85], "lowrank": [0.7, 0.72, 0.74]}
    for method, values in accs.items():
        for seed, acc in enumerate(values):
            _record(tmp_path / "sweep" / f"{method}{seed}", method, seed, acc)
    _record(tmp_path / "sweep" / "gated0", "gated", 0, None, status="failed")
    (tmp_path / "sweep" / "truncated").mkdir()
    (tmp_path / "sweep" / "truncated" / "result.json").write_text('{"challenge": "fusion", "met')
    return tmp_path / "sweep", accs


def test_mean_and_std_over_seeds_match_numpy(sweep):
    folder, accs = sweep
    with pytest.warns(UserWarning, match="skipping unreadable result record"):
        paths = build_table([folder], folder.parent / "t", title="fusion")
    md = paths["md"].read_text()
    for method, values in accs.items():
        row = next(line for line in md.splitlines() if f"| {method} |" in line).replace("**", "")  # bold: best
        mean, std = np.mean(values), np.std(values, ddof=1)
        half = np.asarray(values) / 2
        assert f"| {mean:.3f} ± {std:.3f} | {half.mean():.3f} ± {half.std(ddof=1):.3f} |" in row
    assert "| gated |" in md and "failed" in md and "RuntimeError: boom" in md
    csv = paths["csv"].read_text().splitlines()
    assert csv[0].startswith("challenge,family,method,dataset,protocol,setting,status,n_seeds,test/clean/acc_mean")
    assert any(",gated," in line and ",failed," in line for line in csv)
    assert "\\pm" in paths["tex"].read_text() and "\\toprule" in paths["tex"].read_text()
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_rows_are_grouped_and_settings_separate_rows(tmp_path):
    for seed in range(2):
        _record(tmp_path / f"a{seed}", "cotrain", seed, 0.5, family="parallel", setting="labelled=0.01")
        _record(tmp_path / f"b{seed}", "cotrain", seed, 0.9, family="parallel", setting="labelled=1.0")
        _record(tmp_path / f"c{seed}", "early", seed, 0.8, family="model_agnostic")
    rows = aggregate([json.loads(p.read_text()) for p in sorted(tmp_path.rglob("result.json"))])
    keys = [(r.key[1], r.key[2], r.key[5]) for r in rows]
    assert keys == [("model_agnostic", "early", ""), ("parallel", "cotrain", "labelled=0.01"),
                    ("parallel", "cotrain", "labelled=1.0")]
    assert [len(r.seeds) for r in rows] == [2, 2, 2]


def test_setting_ignores_seed_model_data_and_hydra():
    assert setting_of(["seed=1", "model=fusion/early", "data=mfeat", "hydra.sweep.dir=x", "trainer=cpu",
                       "+resume=true", "model.task.labelled_fraction=0.05"]) == "model.task.labelled_fraction=0.05"


def test_cli_reports_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "t")])
    assert err.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_skipped_runs_are_listed_apart_not_as_rows(tmp_path):
    _record(tmp_path / "a", "early", 0, 0.8)
    write_record(tmp_path / "b", {"challenge": "fusion", "family": "model_agnostic", "method": "early",
                                  "dataset": "mfeat", "seed": 0, "status": "skipped",
                                  "error": "MissingDataError: mfeat folder x does not exist"})
    md = build_table([tmp_path], tmp_path / "t")["md"].read_text()
    assert "| mfeat |" not in md
    assert "Skipped (data set not available here)" in md and "early on mfeat: MissingDataError" in md


def test_headline_metric_is_the_one_each_challenge_names():
    have = ["test/clean/arith", "test/clean/probe_all", "test/clean/image2audio_R@1"]
    assert headline_metric("representation", "joint", have) == "test/clean/probe_all"
    assert headline_metric("representation", "coordinated", have) == "test/clean/image2audio_R@1"
    assert headline_metric("translation", "model_based", ["test/clean/exact", "test/clean/wer"]) == "test/clean/wer"
    # named but not measured, unknown family or challenge: the first metric there is
    assert headline_metric("translation", "model_based", ["test/clean/exact"]) == "test/clean/exact"
    assert headline_metric("representation", "hybrid", have) == "test/clean/arith"
    assert headline_metric("no_such_challenge", "x", have) == "test/clean/arith"
    assert headline_metric("fusion", "neural", []) is None


def test_keys_that_name_the_row_are_not_a_setting():
    """``late_${model.net.combine}`` already tells late_mean from late_product; the fraction still is a setting."""
    overrides = ["model=fusion/late", "model.net.combine=mean", "data.modalities=[fou]", "labelled_fraction=0.1"]
    assert setting_of(overrides) == "data.modalities=[fou],labelled_fraction=0.1,model.net.combine=mean"
    assert setting_of(overrides, {"model.net.combine", "data.modalities"}) == "labelled_fraction=0.1"


def test_columns_have_readable_names_and_directions(sweep):
    folder, _ = sweep
    with pytest.warns(UserWarning):
        md = build_table([folder], folder.parent / "t")["md"].read_text()
    header = next(line for line in md.splitlines() if line.startswith("| challenge |"))
    assert "| seeds | accuracy ↑ | audio missing: accuracy ↑ | params |" in header and "test/" not in header
    assert "accuracy ↑ = clean acc (`test/clean/acc`)" in md  # the legend names each column's key
    assert [direction(k) for k in ("test/clean/wer", "test/clean/boundary_mae_ms", "test/clean/audio2image_medr",
                                   "test/clean/acc", "test/clean/probe_C", "test/clean/zeroshot_ci_low")] == \
        ["↓", "↓", "↓", "↑", "", ""]
    assert metric_label("test/image_noise0.3/acc") == "image noise 0.3: accuracy ↑"
    assert metric_label("test/clean/text2image_R@5") == "text→image R@5 ↑"


def test_best_per_data_set_is_bold_and_ties_by_the_paired_test(tmp_path):
    """tensor beats lowrank on every seed (paired p = 0.035): only tensor bold; 'tied' differs from tensor by
    seed noise (paired p > 0.05): bold too; WER is lower-is-better; another data set has its own best."""
    accs = {"tensor": [0.8, 0.9, 0.85], "lowrank": [0.7, 0.72, 0.74], "tied": [0.83, 0.88, 0.86]}
    for method, values in accs.items():
        for seed, acc in enumerate(values):
            _record(tmp_path / f"{method}{seed}", method, seed, acc, extra={"test/clean/wer": 1 - acc})
            _record(tmp_path / f"m{method}{seed}", method, seed, acc - 0.5, dataset="mfeat")
    from scipy.stats import ttest_rel

    assert ttest_rel(accs["tensor"], accs["lowrank"]).pvalue < 0.05 < ttest_rel(accs["tensor"], accs["tied"]).pvalue
    rows = aggregate([json.loads(p.read_text()) for p in sorted(tmp_path.rglob("result.json"))])
    bold = best_cells(rows, ["test/clean/acc", "test/clean/wer"])
    named = {(rows[i].key[2], rows[i].key[3], c.rsplit("/", 1)[1]) for i, c in bold}
    assert named == {("tensor", "avdigits", "acc"), ("tied", "avdigits", "acc"), ("tensor", "avdigits", "wer"),
                     ("tied", "avdigits", "wer"), ("tensor", "mfeat", "acc"), ("tied", "mfeat", "acc")}
    paths = build_table([tmp_path], tmp_path / "t", title="Fusion table", digits=2)
    md = paths["md"].read_text()
    assert "| lowrank | avdigits | – | – | 3 | 0.72 ± 0.02 |" in md and "| **0.85 ± 0.05** |" in md
    tex = paths["tex"].read_text()
    assert tex.startswith("\\begin{table}") and "\\caption{Fusion table. Mean $\\pm$ std over 3 seeds" in tex
    assert "\\label{tab:fusion-table}" in tex and "\\textbf{0.85 $\\pm$ 0.05}" in tex and "$\\uparrow$" in tex


def test_seeds_column_counts_distinct_seeds(tmp_path):
    """Seed 0 ran twice (e.g. a rerun into another folder): 3 seeds, that seed's two runs averaged."""
    for i, (seed, acc) in enumerate([(0, 0.7), (0, 0.9), (1, 0.8), (2, 0.6)]):
        _record(tmp_path / f"r{i}", "early", seed, acc)
    rows = aggregate([json.loads(p.read_text()) for p in sorted(tmp_path.rglob("result.json"))])
    assert rows[0].n_seeds == 3 and len(rows[0].seeds) == 4
    assert rows[0].stat("test/clean/acc")[:2] == pytest.approx((np.mean([0.8, 0.8, 0.6]),
                                                                np.std([0.8, 0.8, 0.6], ddof=1)))
    paths = build_table([tmp_path], tmp_path / "t")
    assert "| early | avdigits | – | – | 3 |" in paths["md"].read_text()
    assert paths["csv"].read_text().splitlines()[1].split(",")[7] == "3"


def test_cli_digits_and_figures_in_three_formats_at_300_dpi(tmp_path, capsys):
    from PIL import Image

    for seed, acc in enumerate([0.81234, 0.85678]):
        _record(tmp_path / "runs" / str(seed), "early", seed, acc)
    main([str(tmp_path / "runs"), "--out", str(tmp_path / "t"), "--digits", "1", "--label", "tab:x"])
    assert "| **0.8 ± 0.0** |" in (tmp_path / "t" / "table.md").read_text()
    assert "\\label{tab:x}" in (tmp_path / "t" / "table.tex").read_text()
    assert (tmp_path / "t" / "table.pdf").read_bytes()[:4] == b"%PDF"
    assert b"<svg" in (tmp_path / "t" / "table.svg").read_bytes()[:500]
    assert Image.open(tmp_path / "t" / "table.png").info["dpi"] == pytest.approx((300, 300), abs=0.1)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "runs"), "--out", str(tmp_path / "t"), "--digits", "-1"])
    assert "--digits -1" in capsys.readouterr().err


def test_report_figures_are_written_at_300_dpi_and_as_pdf_and_svg(tmp_path):
    """A challenge report saves its PNG through mmml.io.atomic_write at 110 dpi: mmml-table makes it 300 dpi
    and writes the PDF and SVG beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from mmml.io import atomic_write

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with paper_figures():
        atomic_write(tmp_path / "report_plot.png", lambda f: fig.savefig(f, format="png", dpi=110), mode="wb")
        fig.savefig(tmp_path / "direct.png", dpi=120)
    plt.close(fig)
    for stem in ("report_plot", "direct"):
        assert Image.open(tmp_path / f"{stem}.png").info["dpi"] == pytest.approx((300, 300), abs=0.1)
        assert (tmp_path / f"{stem}.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / f"{stem}.svg").exists()
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary file left, none named after one


def test_challenge_report_tables_are_exported_as_csv_and_tex(tmp_path):
    """The co-learning report's curated table (gain over the baseline) also comes out as csv and captioned .tex."""
    for seed in range(2):
        for method, acc in (("supervised (image+audio)", 0.5), ("co-training (image+audio)", 0.6 + 0.1 * seed)):
            write_record(tmp_path / "runs" / f"{method[:4]}{seed}", {
                "challenge": "colearning", "family": "parallel", "method": method, "dataset": "avdigits",
                "seed": seed, "setting": "", "status": "ok", "config": {"labelled_fraction": 0.1},
                "metrics": {"test/clean/acc": acc}})
    paths = build_table([tmp_path / "runs"], tmp_path / "t")
    rows = (tmp_path / "t" / "colearning_table1.csv").read_text().splitlines()
    assert rows[0] == "method,baseline,dataset,fraction,method,baseline,gain [95% CI],Holm p,verdict"
    assert rows[1].startswith('co-training (image+audio),supervised (image+audio),avdigits,0.1,0.650,0.500,"+0.150 [')
    tex = paths["colearning_table1.tex"].read_text()
    assert "\\caption{Co-learning: gain over the baseline (paired over seeds)}" in tex
    assert "\\label{tab:colearning-1}" in tex and "+0.150 [-0.485, +0.785]" in tex


def test_official_and_speakers_rows_stay_apart(tmp_path):
    """Issue 14: an FSDD method under the official (speaker-dependent) and the speakers protocol gives two rows,
    each averaging only its own records, each bold within its protocol; however a run spelled its protocol
    (a grid row: no setting; the command line: data.split=... in the setting) it lands in its protocol's row."""
    from mmml.data.protocols import SpeakerProtocol
    from mmml.tables import protocol_label, row_key

    speakers = ["george", "jackson", "nicolas", "theo", "yweweler"]
    protocols = {"official": SpeakerProtocol("official").describe(speakers),
                 "speakers": SpeakerProtocol("speakers", ["theo"]).describe(speakers)}
    accs = {"official": [0.95, 0.97, 0.96], "speakers": [0.61, 0.55, 0.66, 0.58]}
    settings = {"official": ["", "", "data.split=official"],
                "speakers": ["", "", "data.split=speakers", "data.split=speakers,data.test_speakers=[theo]"]}
    for split, values in accs.items():
        for seed, acc in enumerate(values):
            _record(tmp_path / f"{split}{seed}", "early", seed, acc, dataset="avdigits_fsdd",
                    setting=settings[split][seed], extra={"test/clean/wer": 1 - acc})
            path = tmp_path / f"{split}{seed}" / "result.json"
            rec = json.loads(path.read_text())
            write_record(path.parent, {**rec, "protocol": {"data_set": "avdigits_fsdd", **protocols[split]}})
    rows = aggregate([json.loads(p.read_text()) for p in sorted(tmp_path.rglob("result.json"))])
    held_out = "speakers (test theo; val yweweler)"
    assert [r.key[3:] for r in rows] == [("avdigits_fsdd", "official (speakers shared)", ""),
                                         ("avdigits_fsdd", held_out, "")]
    for row, split in zip(rows, accs, strict=True):
        values = accs[split]
        assert row.n_seeds == len(values)
        assert row.stat("test/clean/acc")[:2] == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    bold = best_cells(rows, ["test/clean/acc"])
    assert bold == {(0, "test/clean/acc"), (1, "test/clean/acc")}  # each the best of its own protocol
    md = build_table([tmp_path], tmp_path / "t")["md"].read_text()
    assert "| avdigits_fsdd | official (speakers shared) | – | 3 | **0.960 ± 0.010** |" in md
    assert f"| avdigits_fsdd | {held_out} | – | 4 | **{np.mean(accs['speakers']):.3f} ± " in md
    assert "speaker-independent" in md and "speaker-dependent" in md
    csv = (tmp_path / "t" / "table.csv").read_text().splitlines()
    assert sum(",avdigits_fsdd," in line for line in csv) == 2
    # the fusion report (grouping by data set) gets the speakers protocol as a data set of its own
    notes = md.split("### Fusion", 1)[1]
    assert "| early | avdigits_fsdd | 0.960 ± 0.010 |" in notes
    assert f"| early | avdigits_fsdd@speakers-theo | {np.mean(accs['speakers']):.3f} ± " in notes
    # another setting survives beside the protocol's overrides; a record without a protocol keeps its setting
    rec = {"method": "early", "setting": "data.split=speakers,data.test_speakers=[theo,george],model.net.p=0.1",
           "protocol": protocols["speakers"]}
    assert row_key(rec)[4:] == (held_out, "model.net.p=0.1")
    assert row_key({"setting": "data.split=speakers"})[4:] == ("", "data.split=speakers")
    assert protocol_label({"protocol": {"split": "random"}}) == "random"
