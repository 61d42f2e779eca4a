"""Checks of the fixed-size views that classical (kernel, stacking) fusion estimators take.

The views themselves come from the core, :func:`mmml.data.sequences.pooled_views`: an image is flattened;
a sequence of frames becomes the mean and standard deviation of its valid frames (utterance-level
statistics, so utterances of different lengths and timing compare); a vector is kept. A modality dropped
at test time gives ``None``.
"""

from __future__ import annotations

import numpy as np


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
