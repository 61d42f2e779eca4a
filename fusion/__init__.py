"""Fusion (Baltrusaitis et al. 2017, Sec. 6): joining modalities to predict an outcome.

Model-agnostic: :mod:`mmml.fusion.model_agnostic` (early, late by mean / product / learned weights, the
unimodal baselines), :mod:`mmml.fusion.stacking` (late fusion by stacking), :mod:`mmml.fusion.hybrid`.
Model-based: :mod:`mmml.fusion.neural` (tensor, low-rank, gated), :mod:`mmml.fusion.kernel` (multiple kernel
learning), :mod:`mmml.fusion.graphical` (multistream HMMs).
"""

from mmml.fusion.graphical import MultistreamHMM
from mmml.fusion.hybrid import HybridFusion
from mmml.fusion.kernel import MultipleKernelFusion
from mmml.fusion.model_agnostic import EarlyFusion, LateFusion, Unimodal, UnimodalEncoders
from mmml.fusion.neural import GatedFusion, LowRankFusion, TensorFusion
from mmml.fusion.stacking import StackedLateFusion

__all__ = ["EarlyFusion", "GatedFusion", "HybridFusion", "LateFusion", "LowRankFusion", "MultipleKernelFusion",
           "MultistreamHMM", "StackedLateFusion", "TensorFusion", "Unimodal", "UnimodalEncoders"]
