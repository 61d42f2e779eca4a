"""mmml's Optuna sweeper (``hydra/sweeper=mmml_optuna``): see :mod:`.mmml_optuna_sweeper`.

Hydra's plugin discovery finds it where mmml is installed from a wheel. Its config
(``experiments/hydra/sweeper/mmml_optuna.yaml``) also adds the :class:`Register` callback, whose import
registers the sweeper before Hydra instantiates it, so that an editable install (whose import hook
``pkgutil`` does not list) finds it too.
"""

from hydra_plugins.mmml_optuna_sweeper.mmml_optuna_sweeper import (
    MMMLOptunaSweeper,
    distribution,
    objective,
    read_record,
    search_space,
)

try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - Hydra < 1.1
    Callback = object  # type: ignore[assignment,misc]


def register() -> None:
    """Register :class:`MMMLOptunaSweeper` with Hydra's plugin registry (idempotent)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(MMMLOptunaSweeper)


class Register(Callback):  # type: ignore[misc,valid-type]
    """A Hydra callback that registers the sweeper: Hydra builds callbacks before the sweeper."""

    def __init__(self) -> None:
        register()


__all__ = ["MMMLOptunaSweeper", "Register", "distribution", "objective", "read_record", "register",
           "search_space"]
