"""The examples in the representation package's docstrings run."""

import doctest
import importlib

import pytest

MODULES = ["representation.cca", "representation.coordinated", "representation.joint", "representation.views",
           "representation.decoders", "representation.dbn", "representation.evaluation", "representation.task"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
