"""Fixed-length vector views of any modality, for methods that take vectors (linear CCA, the multimodal DBN).

Images and vectors are flattened; tokens become flattened one-hot codes ``(L * V)``; a sequence is
either flattened (``"flat"``, ``T * F``; padding frames are zero) or summarised by the mean and
standard deviation of each feature over its valid frames (``"stats"``, ``2F``; the default, since a
flattened log-mel sequence has more dimensions than a small data set has examples).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

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
    lengths = batch.get(f"{spec.name}_lengths")
    if lengths is None:
        lengths = torch.full((x.shape[0],), x.shape[1], device=x.device)
    mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(x.dtype)[..., None]
    if sequence == "flat":
        return (x * mask).flatten(1)
    count = mask.sum(1).clamp_min(1.0)
    mean = (x * mask).sum(1) / count
    var = (((x - mean[:, None]) ** 2) * mask).sum(1) / count
    return torch.cat([mean, var.sqrt()], dim=1)
