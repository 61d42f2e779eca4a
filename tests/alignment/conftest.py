"""Fixtures for the alignment tests: reference libraries loaded cheaply."""

from __future__ import annotations

import sys

import pytest


def _import_without_jit(name: str):
    """Import ``name`` with numba's JIT off (once per session) and return the module."""
    if name not in sys.modules:
        import importlib

        import numba

        before = numba.config.DISABLE_JIT
        numba.config.DISABLE_JIT = True
        try:
            importlib.import_module(name)
        finally:
            numba.config.DISABLE_JIT = before
    return sys.modules[name]


@pytest.fixture(scope="session")
def tslearn_metrics():
    """``tslearn.metrics`` (a ``bench`` extra), imported with numba's JIT off: compiling its kernels takes
    longer than running them in Python on the small inputs of these tests."""
    pytest.importorskip("tslearn")
    return _import_without_jit("tslearn.metrics")


@pytest.fixture(scope="session")
def tslearn_barycenters(tslearn_metrics):
    """``tslearn.barycenters``, imported with numba's JIT off like :func:`tslearn_metrics` (its compiled
    kernels cannot call the uncompiled metrics)."""
    return _import_without_jit("tslearn.barycenters")


@pytest.fixture(autouse=True)
def _seed():
    """Every alignment test starts from the same torch random state."""
    import torch

    torch.manual_seed(0)


@pytest.fixture(scope="session")
def digit_data():
    """A small ``digit_sequences`` set (100 strings, speech standardised), built once and cached on disk
    (same parameters as the translation tests, so the cache is shared)."""
    from mmml.data.digit_sequences import DigitSequences

    dm = DigitSequences(n_sequences=100, standardize=["audio"], modalities=["audio", "image", "text"], batch_size=16,
                        seed=0)
    dm.setup()
    return dm
