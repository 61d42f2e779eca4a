"""The docstring examples of the alignment modules run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["mmml.alignment.explicit",
           "mmml.alignment.dynamic_time_warping",
           "mmml.alignment.soft_dtw_loss",
           "mmml.alignment.ctw",
           "mmml.alignment.hmm",
           "mmml.alignment.ctc",
           "mmml.alignment.metrics"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
