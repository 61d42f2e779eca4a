"""OmegaConf resolvers that the shipped configs use to name a table row from its config.

A method's variants are one config plus an override (``model.net.max_iter=0``, ``data.modalities=[fou]``),
and the row's name follows by interpolation, e.g. ``method: ${model.learner} (${mmml.views:${data.modalities}})``.
Registered on import (``mmml.experiments`` imports this module, so every composed config can resolve them).

Examples:
    >>> from omegaconf import OmegaConf
    >>> cfg = OmegaConf.create({"m": ["fou", "fac"], "it": 0, "name": "${mmml.if_zero:${it},supervised,co-training}"})
    >>> cfg.name, OmegaConf.create({"v": "${mmml.views:${m}}", "m": ["fou", "fac"]}).v
    ('supervised', 'fou+fac')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf

#: more views than this are named by their count ("6 views"), fewer joined with "+" ("fou+fac")
MAX_NAMED_VIEWS = 3


def views(modalities: Sequence[str] | None) -> str:
    """``["fou", "fac"]`` -> ``"fou+fac"``; ``["image"]`` -> ``"image"``; six views -> ``"6 views"``."""
    if not modalities:
        raise ValueError("the row name needs data.modalities listed (it is null or empty); set "
                         "data.modalities=[...] to the views the method uses")
    names = [str(m) for m in modalities]
    return "+".join(names) if len(names) <= MAX_NAMED_VIEWS else f"{len(names)} views"


def if_zero(value: Any, then: Any, otherwise: Any) -> Any:
    """``then`` when ``value`` is 0 (e.g. ``max_iter=0``: no co-training round), else ``otherwise``."""
    return then if int(value) == 0 else otherwise


def register() -> None:
    """Register ``mmml.views`` and ``mmml.if_zero`` with OmegaConf (idempotent)."""
    OmegaConf.register_new_resolver("mmml.views", views, replace=True)
    OmegaConf.register_new_resolver("mmml.if_zero", if_zero, replace=True)


register()
