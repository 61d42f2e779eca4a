"""Representation (Baltrusaitis et al. 2017, Sec. 3): joint and coordinated multimodal representations.

Every method is a plain ``torch.nn.Module`` with one API, usable without Hydra or Lightning:

- ``net.family``: ``"joint"`` or ``"coordinated"``; ``net.modalities``: the modalities it represents;
- ``net.embed(batch) -> {modality: (B, d)}``: each present modality's representation from that
  modality alone (coordinated: its own space, all of one size ``d`` so they compare by cosine;
  joint: the joint representation inferred from it);
- ``net.fuse(batch) -> (B, d')``: one representation from every present modality (coordinated:
  the concatenation, a missing modality stood in for by the mean of the others);
- training (:mod:`mmml.tasks.contract`): ``net.loss(batch)`` (gradient descent), or ``net.fit(train_split)``
  once (``CCAEmbedding``, ``MultimodalDBN``); ``DeepCCA.finalize(train_split)`` after training.

Joint (:mod:`mmml.representation.joint`, :mod:`mmml.representation.dbn`): :class:`ConcatJoint`,
:class:`MultimodalAutoencoder` (Ngiam et al. 2011), :class:`MultimodalDBN` (Srivastava &
Salakhutdinov 2012), :class:`ProductOfExpertsVAE` (Wu & Goodman 2018).
Coordinated (:mod:`mmml.representation.coordinated`): :class:`CCAEmbedding`, :class:`DeepCCA` (Andrew et
al. 2013), :class:`ContrastiveEmbedding` (CLIP), :class:`RankingEmbedding` (Kiros et al. 2014, VSE++).
Pieces for reuse: :func:`ranking_loss`, :func:`linear_probe`, :func:`arithmetic_accuracy`; re-exported from
the core, where they live once: :class:`CCA` (closed-form estimator), :func:`dcca_correlation`,
:func:`info_nce` (:mod:`mmml.coordinated`), :func:`retrieval_metrics` (:mod:`mmml.metrics.retrieval`).
CLIP (:mod:`mmml.representation.clip`, free-text captions, :class:`CLIPTask`) with a classifier from label text
(:class:`ZeroShotClassifier`, :mod:`mmml.representation.zero_shot`); docs/clip.md.
:class:`RepresentationTask` trains any of them and evaluates it (see :mod:`mmml.representation.task`).

Example (co-learning/translation reuse a coordinated space)::

    net = ContrastiveEmbedding(datamodule.specs, dim=32)
    ...train with net.loss(batch)...
    z = net.embed(batch)            # {"image": (B, 32), "audio": (B, 32)}, unit vectors
    sim = z["image"] @ z["audio"].T  # cross-modal similarities
"""

from mmml.representation.base import CoordinatedModel, JointModel, ModalityEncoders, drop_modality
from mmml.representation.clip import CLIP
from mmml.representation.clip_task import CLIPTask
from mmml.representation.coordinated import (
    CanonicalProjection,
    CCAEmbedding,
    ContrastiveEmbedding,
    DeepCCA,
    RankingEmbedding,
    ranking_loss,
)
from mmml.representation.dbn import RBM, MultimodalDBN
from mmml.representation.evaluation import arithmetic_accuracy, linear_probe
from mmml.representation.joint import ConcatJoint, MultimodalAutoencoder, ProductOfExpertsVAE, product_of_experts
from mmml.representation.task import RepresentationTask
from mmml.representation.zero_shot import ZeroShotClassifier

from mmml.coordinated import CCA, dcca_correlation, info_nce, whitened_cross_covariance
from mmml.metrics.retrieval import first_relevant_rank, retrieval_metrics

__all__ = [
    "CCA", "CLIP", "CLIPTask", "ZeroShotClassifier", "RBM", "CCAEmbedding", "CanonicalProjection", "ConcatJoint",
    "ContrastiveEmbedding",
    "CoordinatedModel", "DeepCCA", "JointModel", "ModalityEncoders", "MultimodalAutoencoder", "MultimodalDBN",
    "ProductOfExpertsVAE", "RankingEmbedding", "RepresentationTask", "arithmetic_accuracy",
    "dcca_correlation", "drop_modality", "first_relevant_rank", "info_nce", "linear_probe",
    "product_of_experts", "ranking_loss", "retrieval_metrics", "whitened_cross_covariance",
]
