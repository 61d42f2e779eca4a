"""Report plugins are registered explicitly (mmml.reports), and an import error inside one surfaces."""

from __future__ import annotations

import sys

import pytest

from mmml import reports
from mmml.tables import build_table, challenge_extras, headline_metric


def test_every_challenge_has_a_registered_report_with_a_headline():
    for challenge in ("representation", "translation", "alignment", "fusion", "colearning"):
        module = reports.report_module(challenge)
        assert module.__name__ == f"mmml.{challenge}.report" and hasattr(module, "HEADLINE")
    assert reports.report_module("not_a_challenge") is None  # no report: the table has no extras


@pytest.fixture
def broken_report(tmp_path, monkeypatch):
    """A registered report whose own import fails (a missing dependency inside it)."""
    (tmp_path / "broken_report_pkg.py").write_text("import a_dependency_that_is_not_installed\nHEADLINE = 'x'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(reports.REPORTS, "broken", "broken_report_pkg")
    yield
    sys.modules.pop("broken_report_pkg", None)


def test_an_import_error_inside_a_report_surfaces(broken_report, tmp_path):
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_installed"):
        headline_metric("broken", "family", ["test/clean/acc"])
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_installed"):
        challenge_extras([{"challenge": "broken", "status": "ok"}], tmp_path)


def test_a_challenge_without_a_report_still_gets_its_table(tmp_path):
    import json

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "result.json").write_text(json.dumps(
        {"challenge": "mine", "family": "f", "method": "m", "dataset": "d", "seed": 0, "status": "ok",
         "metrics": {"test/clean/acc": 0.5}}))
    paths = build_table([tmp_path], tmp_path / "out")
    assert "| mine | f | m | d |" in paths["md"].read_text()
    assert headline_metric("mine", "f", ["test/clean/acc"]) == "test/clean/acc"


def test_register_adds_a_challenge(monkeypatch):
    monkeypatch.setattr(reports, "REPORTS", dict(reports.REPORTS))
    reports.register("mine", "mmml.fusion.report")
    assert reports.report_module("mine").__name__ == "mmml.fusion.report"
