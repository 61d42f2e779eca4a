"""Fixed-size views of a batch for classical (kernel, stacking) fusion estimators.

An image is flattened; a sequence of frames becomes the mean and standard deviation of its valid
frames (utterance-level statistics, so utterances of different lengths and timing compare); a vector
is kept. A modality dropped at test time gives ``None``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def pooled_view(batch: dict[str, Tensor], modality: str) -> np.ndarray | None:
    """``(n, d)`` float64 summary of one modality of a batch, ``None`` when it was dropped.

    Examples:
        >>> b = {"audio": torch.ones(2, 3, 4), "audio_lengths": torch.tensor([3, 1])}
        >>> pooled_view(b, "audio").shape
        (2, 8)
    """
    if modality not in batch:
        if f"{modality}_present" in batch:
            return None
        raise KeyError(f"batch has no modality {modality!r} (keys {sorted(batch)}); add it to data.modalities or "
                       "remove it from the estimator's modalities")
    x = batch[modality].detach()
    lengths = batch.get(f"{modality}_lengths")
    if not x.is_floating_point():
        raise TypeError(f"modality {modality!r} holds integer tokens, which kernel and stacking fusion do not "
                        "summarise; leave it out of data.modalities or use a neural fusion (fusion/early ...)")
    if lengths is not None and x.dim() == 3:
        if (lengths <= 0).any():
            bad = torch.nonzero(lengths <= 0).flatten()[:5].tolist()
            raise ValueError(f"modality {modality!r} has empty sequences (length 0) at rows {bad}; remove them "
                             "from the data set or give them at least one frame")
        x = x.double()
        mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).double()[..., None]
        count = mask.sum(1)
        mean = (x * mask).sum(1) / count
        var = (((x - mean[:, None]) ** 2) * mask).sum(1) / count
        return torch.cat([mean, var.sqrt()], 1).cpu().numpy()
    return x.flatten(1).double().cpu().numpy()


def pooled_views(batch: dict[str, Tensor], modalities: list[str]) -> list[np.ndarray | None]:
    """:func:`pooled_view` of each modality, in order (the ``views_from_batch`` of estimators)."""
    return [pooled_view(batch, m) for m in modalities]


def check_views(Xs: list, name: str, allow_missing: bool = False) -> list[np.ndarray | None]:
    """Validate a list of views: 2-D arrays with one sample count; ``None`` only if ``allow_missing``."""
    if isinstance(Xs, np.ndarray) or not isinstance(Xs, (list, tuple)) or len(Xs) == 0:
        raise ValueError(f"{name} takes a non-empty list of views (one (n, d) array per modality), "
                         f"got {type(Xs).__name__}")
    out, sizes = [], {}
    for i, X in enumerate(Xs):
        if X is None:
            if not allow_missing:
                raise ValueError(f"{name}: view {i} is missing (None); every view is needed to fit")
            out.append(None)
            continue
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"{name}: view {i} has shape {X.shape}; each view must be 2-D (n_samples, n_features)")
        sizes[i] = X.shape[0]
        out.append(X)
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{name}: views have different numbers of samples {sizes} (view: n); every view must "
                         "list the same samples in the same order")
    if not sizes:
        raise ValueError(f"{name}: every view is missing; at least one is needed to predict")
    return out
