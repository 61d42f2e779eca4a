"""Segment helpers: spans carried through warping paths, uniform and tiling spans, word and pause cuts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.alignment.segments import cut_segments, pad_spans, tiling_spans, transcripts, uniform_spans, warp_spans


def _warp_by_definition(path, spans, n_target, source):
    """A boundary b goes to the first target frame aligned with a source frame >= b, else n_target."""
    out = []
    for b in np.asarray(spans).reshape(-1):
        hits = [p[1 - source] for p in path if p[source] >= b]
        out.append(hits[0] if hits else n_target)
    return np.asarray(out).reshape(-1, 2)


def test_warp_spans_follows_its_definition_on_random_paths():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n, m = rng.integers(3, 20, 2)
        steps = [(0, 0)]
        while steps[-1] != (n - 1, m - 1):  # a random monotone path from (0, 0) to (n-1, m-1)
            i, j = steps[-1]
            moves = [(i + 1, j + 1), (i + 1, j), (i, j + 1)]
            moves = [(a, b) for a, b in moves if a < n and b < m]
            steps.append(moves[rng.integers(len(moves))])
        path = np.asarray(steps)
        cuts = np.sort(rng.choice(np.arange(n + 1), 4, replace=False))
        spans = cuts.reshape(2, 2)
        got = warp_spans(torch.as_tensor(path), torch.as_tensor(spans), m, source=0)
        assert got.tolist() == _warp_by_definition(path, spans, m, 0).tolist()
        assert (got[:, 1] >= got[:, 0]).all() and got[1, 0] >= got[0, 1]
        swapped = warp_spans(torch.as_tensor(path[:, ::-1].copy()), torch.as_tensor(spans), m, source=1)
        assert swapped.tolist() == got.tolist()


def test_identity_path_keeps_the_spans():
    path = torch.stack([torch.arange(10), torch.arange(10)], 1)
    spans = torch.tensor([[1, 4], [6, 10]])
    assert warp_spans(path, spans, 10).tolist() == spans.tolist()


def test_uniform_and_tiling_spans():
    assert uniform_spans(10, 3).tolist() == [[0, 3], [3, 7], [7, 10]]
    assert tiling_spans([2, 5, 9]).tolist() == [[0, 2], [2, 5], [5, 9]]
    with pytest.raises(ValueError, match="cannot split 0 frames"):
        uniform_spans(0, 3)


def test_cut_segments_cuts_words_and_pauses():
    x = torch.arange(10.0)[None, :, None]  # frame t has value t
    words, tokens, pauses = cut_segments(x, torch.tensor([10]), torch.tensor([[[1, 3], [5, 8], [-1, -1]]]), [[7, 9]])
    assert [w.flatten().tolist() for w in words] == [[1.0, 2.0], [5.0, 6.0, 7.0]] and tokens == [7, 9]
    assert [p.flatten().tolist() for p in pauses] == [[0.0], [3.0, 4.0], [8.0, 9.0]]
    with pytest.raises(ValueError, match="example 0 has 1 words but 2 spans"):
        cut_segments(x, torch.tensor([10]), torch.tensor([[[1, 3], [5, 8]]]), [[7]])


def test_pad_spans_and_transcripts():
    padded = pad_spans([torch.tensor([[0, 2]]), torch.tensor([[1, 2], [3, 4]])], 3)
    assert padded.shape == (2, 3, 2) and padded[0, 1:].eq(-1).all()
    with pytest.raises(ValueError, match="more than width=1"):
        pad_spans([torch.tensor([[1, 2], [3, 4]])], 1)
    batch = {"text": torch.tensor([[5, 6, 0], [7, 0, 0]]), "text_lengths": torch.tensor([2, 1])}
    assert transcripts(batch) == [[5, 6], [7]]
