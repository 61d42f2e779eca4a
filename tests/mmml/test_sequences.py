"""Sequence helpers (mmml.data.sequences) against numpy references: masks, pooled statistics, resampling,
and the one behaviour for empty sequences (zeros); plus the callers that must give the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmml.data.sequences import (
    lengths_of,
    masked_mean,
    masked_mean_std,
    pooled_stats,
    pooled_view,
    pooled_views,
    resample,
    resample_batch,
    valid_mask,
)
from mmml.data.spec import ModalitySpec


def padded(seed: int = 0, lengths=(5, 1, 3, 7), frames: int = 7, features: int = 3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), frames, features, generator=g, dtype=torch.float64)
    lengths = torch.tensor(lengths)
    x[valid_mask(lengths, frames).logical_not()] = 123.0  # padding must never count
    return x, lengths


def test_lengths_and_masks():
    x, n = padded()
    assert torch.equal(lengths_of({"a": x, "a_lengths": n.int()}, "a"), n)
    assert lengths_of({"a": x, "a_lengths": n.int()}, "a").dtype == torch.long
    assert lengths_of({"a": x}, "a").tolist() == [7] * 4
    np.testing.assert_array_equal(valid_mask(n, 7).numpy(), np.arange(7)[None, :] < n.numpy()[:, None])
    with pytest.raises(KeyError, match="add it to data.modalities"):
        lengths_of({"a": x}, "b")


def test_pooled_statistics_match_numpy_over_the_valid_frames():
    x, n = padded()
    mean, std = masked_mean_std(x, n)
    for i, k in enumerate(n.tolist()):
        ref = x[i, :k].numpy()
        np.testing.assert_allclose(mean[i].numpy(), ref.mean(0), rtol=1e-12)
        np.testing.assert_allclose(std[i].numpy(), ref.std(0), rtol=1e-12, atol=1e-12)  # population std
    torch.testing.assert_close(masked_mean(x, n), mean, rtol=0, atol=0)
    torch.testing.assert_close(pooled_stats(x, n), torch.cat([mean, std], 1), rtol=0, atol=0)
    full_mean, full_std = masked_mean_std(x, None)
    np.testing.assert_allclose(full_std.numpy(), x.numpy().std(1), rtol=1e-12)
    np.testing.assert_allclose(masked_mean(x, None).numpy(), x.numpy().mean(1), rtol=1e-12)
    np.testing.assert_allclose(full_mean.numpy(), x.numpy().mean(1), rtol=1e-12)


def test_empty_sequences_pool_and_resample_to_zeros():
    x, n = padded(lengths=(0, 4))
    mean, std = masked_mean_std(x, n)
    assert (mean[0] == 0).all() and (std[0] == 0).all() and torch.isfinite(mean).all()
    assert (masked_mean(x, n)[0] == 0).all()
    assert pooled_view({"a": x, "a_lengths": n}, "a")[0].tolist() == [0.0] * 6
    assert resample(x[0, :0], 5).tolist() == [[0.0] * 3] * 5
    assert (resample_batch(x, n, 5)[0] == 0).all()


def test_pooled_views_flatten_pool_and_skip_dropped_modalities():
    x, n = padded()
    batch = {"a": x, "a_lengths": n, "img": torch.ones(4, 1, 2, 2), "b_present": torch.zeros(4, dtype=torch.bool)}
    a, img, b = pooled_views(batch, ["a", "img", "b"])
    assert a.dtype == np.float64 and a.shape == (4, 6) and img.shape == (4, 4) and b is None
    # the statistics in float32 (co-learning's views) are the float32 computation, then cast
    a32 = pooled_view(batch, "a", dtype=torch.float32)
    np.testing.assert_array_equal(a32, pooled_stats(x.float(), n).double().numpy())
    with pytest.raises(KeyError, match="needs 'c'"):
        pooled_view(batch, "c")
    with pytest.raises(TypeError, match="tokens"):
        pooled_view({"t": torch.ones(2, 3, dtype=torch.long)}, "t")


def test_resampling_matches_numpy_linear_interpolation():
    x, n = padded(seed=1)
    for k in (1, 4, 9):
        out = resample_batch(x, n, k)
        assert out.shape == (4, k, 3) and out.dtype == torch.float32
        for i, length in enumerate(n.tolist()):
            src = np.linspace(0, length - 1, k) if k > 1 else np.zeros(1)
            ref = np.stack([np.interp(src, np.arange(length), x[i, :length, f].numpy()) for f in range(3)], 1)
            np.testing.assert_allclose(out[i].numpy(), ref, rtol=1e-5, atol=1e-5)
    one = torch.tensor([[1.0, 2.0]])
    assert resample(one, 3).tolist() == [[1.0, 2.0]] * 3


def test_callers_use_the_same_numbers():
    """The representation's vector view, the encoders' mean and the translation's fixed view are these helpers."""
    from mmml.representation.views import vector_view
    from mmml.translation.directions import fixed_view

    from mmml.encoders import masked_mean as encoder_mean

    x, n = padded()
    xf = x.float()
    spec = ModalitySpec("a", "sequence", (7, 3))
    torch.testing.assert_close(vector_view({"a": xf, "a_lengths": n}, spec), pooled_stats(xf, n), rtol=0, atol=0)
    torch.testing.assert_close(encoder_mean(xf, n), masked_mean(xf, n), rtol=0, atol=0)
    torch.testing.assert_close(fixed_view({"a": x, "a_lengths": n}, "a", spec, 5),
                               resample_batch(x, n, 5).flatten(1), rtol=0, atol=0)
