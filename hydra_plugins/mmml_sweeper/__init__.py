"""mmml's Hydra sweeper: common params plus a list of sub-grids (a union of cartesian products).

Found by Hydra's plugin discovery (the ``hydra_plugins`` namespace package) where mmml is installed from a
wheel; :func:`register` makes it known where discovery cannot walk the package (an editable install maps
folders through an import hook that ``pkgutil`` does not list). ``mmml.experiments`` calls it, so that
every experiment that selects ``override /hydra/sweeper: mmml`` finds it. See :mod:`mmml.sweeps`.
"""

from hydra_plugins.mmml_sweeper.mmml_sweeper import MMMLSweeper, MMMLSweeperConf


def register() -> None:
    """Register :class:`MMMLSweeper` with Hydra's plugin registry (idempotent)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(MMMLSweeper)


__all__ = ["MMMLSweeper", "MMMLSweeperConf", "register"]
