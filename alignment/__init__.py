"""Alignment (Baltrusaitis et al. 2017, section 5): finding correspondences between sub-parts of modalities.

Explicit alignment lives in :mod:`alignment.explicit` (DTW, soft-DTW, canonical time warping, HMM and
CTC forced alignment) with its metrics in :mod:`alignment.metrics`; the public names are re-exported here.
"""

from .explicit import *  # noqa: F403
from .explicit import __all__  # noqa: F401
