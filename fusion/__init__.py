"""Fusion (Baltrusaitis et al. 2017, Sec. 6): joining modalities to predict an outcome.

Model-agnostic (:mod:`fusion.model_agnostic`: early, late, hybrid) and model-based methods
(:mod:`fusion.neural`, :mod:`fusion.kernel`, :mod:`fusion.graphical`).
"""

from fusion.model_agnostic import EarlyFusion, LateFusion, Unimodal, UnimodalEncoders

__all__ = ["EarlyFusion", "LateFusion", "Unimodal", "UnimodalEncoders"]
