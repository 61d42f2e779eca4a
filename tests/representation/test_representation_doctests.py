"""The examples in the representation package's docstrings run."""

import doctest
import importlib

import pytest

MODULES = ["mmml.representation.cca",
           "mmml.representation.coordinated",
           "mmml.representation.joint",
           "mmml.representation.views",
           "mmml.representation.decoders",
           "mmml.representation.dbn",
           "mmml.representation.evaluation",
           "mmml.representation.task"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
