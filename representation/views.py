"""Fixed-length vector views of any modality, for methods that take vectors (linear CCA, the multimodal DBN).

Images and vectors are flattened; tokens become flattened one-hot codes ``(L * V)``; a sequence is
either flattened (``"flat"``, ``T * F``; padding frames are zero) or summarised by the mean and
standard deviation of each feature over its valid frames (``"stats"``, ``2F``, :func:`mmml.data.sequences.pooled_stats`,
where an empty sequence gives zeros; the default, since a flattened log-mel sequence has more dimensions than a
small data set has examples).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch  # noqa: F401 - the docstring examples use it
import torch.nn.functional as F
from torch import Tensor

from mmml.data.sequences import lengths_of, pooled_stats, valid_mask
from mmml.data.spec import ModalitySpec

SEQUENCE_VIEWS = ("stats", "flat")


def view_dim(spec: ModalitySpec, sequence: str = "stats") -> int:
    """Length of :func:`vector_view` for ``spec``."""
    if spec.kind == "sequence":
        return 2 * spec.feature_dim if sequence == "stats" else spec.shape[0] * spec.feature_dim
    if spec.kind == "tokens":
        return spec.shape[0] * spec.feature_dim
    return spec.feature_dim


def vector_view(batch: Mapping[str, Tensor], spec: ModalitySpec, sequence: str = "stats") -> Tensor:
    """``(B, view_dim(spec))`` float view of modality ``spec.name`` of a batch.

    Examples:
        >>> spec = ModalitySpec("audio", "sequence", (3, 2))
        >>> x = torch.tensor([[[1., 2.], [3., 4.], [0., 0.]]])
        >>> vector_view({"audio": x, "audio_lengths": torch.tensor([2])}, spec)
        tensor([[2., 3., 1., 1.]])
    """
    if sequence not in SEQUENCE_VIEWS:
        raise ValueError(f"sequence view {sequence!r}; choose one of {list(SEQUENCE_VIEWS)}")
    x = batch[spec.name]
    if spec.kind == "tokens":
        return F.one_hot(x.long(), spec.feature_dim).flatten(1).float()
    if spec.kind != "sequence":
        return x.flatten(1).float()
    x = x.float()
    lengths = lengths_of(batch, spec.name).to(x.device)
    if sequence == "flat":
        return (x * valid_mask(lengths, x.shape[1]).to(x.dtype)[..., None]).flatten(1)
    return pooled_stats(x, lengths)
