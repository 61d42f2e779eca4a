"""Explicit alignment (Baltrusaitis et al. 2017, section 5.1): methods whose output is the alignment itself.

The families live in their own modules and are gathered here:

- :mod:`mmml.alignment.dynamic_time_warping`: dynamic time warping, batched on CPU/GPU (Sakoe & Chiba 1978).
- :mod:`mmml.alignment.soft_dtw_loss`: soft-DTW and its loss (Cuturi & Blondel 2017).
- :mod:`mmml.alignment.ctw`: canonical time warping, linear and deep (Zhou & De la Torre 2009; Trigeorgis et al. 2016).
- :mod:`mmml.alignment.hmm`: HMM forced alignment with left-to-right word models (hmmlearn).
- :mod:`mmml.alignment.ctc`: CTC forced alignment (torchaudio).
- :mod:`mmml.alignment.metrics`: boundary error (ms), share within tolerance, frame accuracy.

Examples:
    >>> import torch
    >>> from mmml.alignment.explicit import dtw
    >>> float(dtw(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0, 1.0])))
    0.0
"""

from .ctc import CTCAlignment, ctc_forced_align, ctc_word_alignment, merge_tokens
from .ctw import CanonicalTimeWarping, DeepCanonicalTimeWarping, cca, dcca_loss, uniform_path
from .dynamic_time_warping import STEP_PATTERNS, dtw, dtw_from_cost
from .hmm import HMMForcedAligner, left_to_right_transmat, viterbi
from .metrics import alignment_scores, boundary_errors_ms, frame_accuracy, frame_labels
from .soft_dtw_loss import SoftDTWLoss, soft_dtw, soft_dtw_from_cost

__all__ = [
    "STEP_PATTERNS",
    "CTCAlignment",
    "CanonicalTimeWarping",
    "DeepCanonicalTimeWarping",
    "HMMForcedAligner",
    "SoftDTWLoss",
    "alignment_scores",
    "boundary_errors_ms",
    "cca",
    "ctc_forced_align",
    "ctc_word_alignment",
    "dcca_loss",
    "dtw",
    "dtw_from_cost",
    "frame_accuracy",
    "frame_labels",
    "left_to_right_transmat",
    "merge_tokens",
    "soft_dtw",
    "soft_dtw_from_cost",
    "uniform_path",
    "viterbi",
]
