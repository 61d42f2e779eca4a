"""Fusion (Baltrusaitis et al. 2017, Sec. 6): joining modalities to predict an outcome.

Model-agnostic: :mod:`fusion.model_agnostic` (early, late by mean / product / learned weights, the
unimodal baselines), :mod:`fusion.stacking` (late fusion by stacking), :mod:`fusion.hybrid`.
Model-based: :mod:`fusion.neural` (tensor, low-rank, gated), :mod:`fusion.kernel` (multiple kernel
learning), :mod:`fusion.graphical` (multistream HMMs).
"""

from fusion.graphical import MultistreamHMM
from fusion.hybrid import HybridFusion
from fusion.kernel import MultipleKernelFusion
from fusion.model_agnostic import EarlyFusion, LateFusion, Unimodal, UnimodalEncoders
from fusion.neural import GatedFusion, LowRankFusion, TensorFusion
from fusion.stacking import StackedLateFusion

__all__ = ["EarlyFusion", "GatedFusion", "HybridFusion", "LateFusion", "LowRankFusion", "MultipleKernelFusion",
           "MultistreamHMM", "StackedLateFusion", "TensorFusion", "Unimodal", "UnimodalEncoders"]
