"""Fixtures for the alignment tests: reference libraries loaded cheaply."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="session")
def tslearn_metrics():
    """``tslearn.metrics`` (a ``bench`` extra), imported with numba's JIT off: compiling its kernels takes
    longer than running them in Python on the small inputs of these tests."""
    pytest.importorskip("tslearn")
    if "tslearn.metrics" not in sys.modules:
        import numba

        before = numba.config.DISABLE_JIT
        numba.config.DISABLE_JIT = True
        try:
            import tslearn.metrics  # noqa: F401
        finally:
            numba.config.DISABLE_JIT = before
    return sys.modules["tslearn.metrics"]


@pytest.fixture(autouse=True)
def _seed():
    """Every alignment test starts from the same torch random state."""
    import torch

    torch.manual_seed(0)
