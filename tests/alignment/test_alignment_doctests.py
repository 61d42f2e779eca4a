"""The docstring examples of the alignment modules run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["alignment.explicit", "alignment.dynamic_time_warping", "alignment.soft_dtw_loss", "alignment.ctw",
           "alignment.hmm", "alignment.ctc", "alignment.metrics"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
