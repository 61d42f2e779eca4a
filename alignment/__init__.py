"""Alignment (Baltrusaitis et al. 2017, section 5): finding correspondences between sub-parts of modalities.

- explicit methods, the alignment is the output (:mod:`mmml.alignment.explicit`): DTW, soft-DTW, canonical time
  warping, HMM and CTC forced alignment, with their metrics (:mod:`mmml.alignment.metrics`);
- the aligners of the challenge built on them: unsupervised (:mod:`mmml.alignment.unsupervised`: uniform
  baseline, DTW against word templates, CTW between modalities) and supervised
  (:mod:`mmml.alignment.supervised`: HMM and CTC forced alignment);
- implicit alignment (:mod:`mmml.alignment.implicit`): the attention of an encoder-decoder read out as an alignment
  (:mod:`mmml.alignment.readout`), trained to align in :mod:`mmml.alignment.attention_aligners` (guided, monotonic,
  joint CTC-attention), with diagnostics in :mod:`mmml.alignment.attention_diagnostics`;
- the Lightning task that trains and scores them (:mod:`mmml.alignment.task`) and the table's report
  (:mod:`mmml.alignment.report`).

The public names are re-exported here: ``from alignment import dtw, CTCAligner, AlignmentTask``.
"""

from .attention_aligners import AligningAttention
from .explicit import *  # noqa: F403
from .explicit import __all__ as _explicit
from .frame_attention import FrameAttentionAligner
from .implicit import AttentionAligner, argmax_readout, monotonic_readout
from .supervised import CTCAligner, HMMAligner
from .task import AlignmentTask
from .templates import mean_template, soft_dtw_barycenter
from .unsupervised import CTWAligner, TemplateAligner, UniformAligner

__all__ = [*_explicit, "AligningAttention", "AlignmentTask", "AttentionAligner", "CTCAligner", "CTWAligner",
           "FrameAttentionAligner", "HMMAligner", "TemplateAligner", "UniformAligner", "argmax_readout",
           "mean_template", "monotonic_readout", "soft_dtw_barycenter"]
