"""Every docstring example of every mmml module runs and shows what it prints.

The modules are found by walking the core (``mmml``) and the five challenge packages, imported by their
installed names (``mmml.fusion``, ...); an example that cannot run (it would synthesise a whole data set)
is marked ``# doctest: +SKIP`` in its docstring, with the reason beside it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest
import torch

PACKAGES = ("mmml", "mmml.representation", "mmml.translation", "mmml.alignment", "mmml.fusion", "mmml.colearning")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules() -> list[str]:
    """Dotted names of every module of :data:`PACKAGES` (not ``__main__`` entry points, not the configs)."""
    names = []
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, prefix=package + "."):
            if info.name.rsplit(".", 1)[-1] != "__main__":
                names.append(info.name)
    return sorted(set(names))


MODULES = modules()


def test_every_package_is_walked():
    for package in PACKAGES[1:]:
        assert sum(name.startswith(package + ".") for name in MODULES) >= 3, package
    assert "mmml.encoders" in MODULES and "mmml.data.text" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file leaves nothing in the repository
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):  # examples seed the generators: leave the other tests' alone
        result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS, verbose=False)
    np.random.set_state(state)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (above)"
