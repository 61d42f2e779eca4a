"""Multistream HMMs: scores equal hmmlearn's ``score``, a forward algorithm written out by hand, clear errors."""

import numpy as np
import pytest
import torch
from hmmlearn.hmm import GaussianHMM
from mmml.fusion.graphical import MultistreamHMM, forward_log_likelihood, stream_from_batch, synchronise
from scipy.special import logsumexp
from scipy.stats import multivariate_normal


def toy(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    L1 = rng.integers(5, 12, n)
    ramp = np.where(y == 1, 1.0, -1.0)[:, None, None] * np.linspace(-1, 1, 12)[None, :, None]
    X1 = rng.normal(size=(n, 12, 3)) + ramp
    X2 = rng.normal(size=(n, 4, 2)) + 0.8 * y[:, None, None]
    return [(X1, L1), (X2, np.full(n, 4))], y


def test_forward_matches_hmmlearn_and_hand_written_forward():
    rng = np.random.default_rng(0)
    hmm = GaussianHMM(3, covariance_type="diag", n_iter=5, random_state=0).fit(rng.normal(size=(60, 2)), [20, 20, 20])
    seqs = [rng.normal(size=(t, 2)) for t in (7, 3, 1)]
    frames = np.zeros((3, 7, 2))
    for i, s in enumerate(seqs):
        frames[i, : len(s)] = s
    var = np.diagonal(hmm.covars_, axis1=1, axis2=2)
    got = forward_log_likelihood(torch.as_tensor(frames), torch.tensor([7, 3, 1]),
                                 *(torch.as_tensor(p)[None] for p in (hmm.startprob_, hmm.transmat_, hmm.means_, var)))
    for i, s in enumerate(seqs):
        assert got[i, 0].item() == pytest.approx(hmm.score(s), abs=1e-8)
        logb = np.array([[multivariate_normal(hmm.means_[k], np.diag(var[k])).logpdf(x) for k in range(3)] for x in s])
        alpha = np.log(hmm.startprob_) + logb[0]
        for t in range(1, len(s)):
            alpha = logsumexp(alpha[:, None] + np.log(hmm.transmat_), axis=0) + logb[t]
        assert got[i, 0].item() == pytest.approx(logsumexp(alpha), abs=1e-8)


@pytest.mark.parametrize("fusion", ["decision", "feature"])
def test_stream_scores_equal_hmmlearn_score(fusion):
    streams, y = toy()
    model = MultistreamHMM(fusion=fusion, n_states=3, n_iter=4).fit(streams, y)
    scores = model.stream_scores(streams)
    std = model._standardise(streams)
    if fusion == "feature":
        X, L, _ = synchronise(std)
        std = [(X, L)]
    for s, (X, L) in enumerate(std):
        for c in range(2):
            for i in (0, 7, 31):
                assert scores[i, s, c] == pytest.approx(model.models_[s][c].score(X[i, : L[i]]), abs=1e-7)
    assert (model.predict(streams) == y).mean() > 0.85


def test_missing_stream_and_weights():
    streams, y = toy()
    model = MultistreamHMM(fusion="decision", n_states=2, n_iter=4).fit(streams, y)
    assert model.weights_.shape == (2,) and (model.weights_ >= 0).all()
    one = model.decision_function([streams[0], None])
    np.testing.assert_allclose(one, model.weights_[0] * model.stream_scores([streams[0], None])[:, 0])
    feature = MultistreamHMM(fusion="feature", n_states=2, n_iter=4).fit(streams, y)
    assert np.isfinite(feature.predict_proba([None, streams[1]])).all()


def test_streams_from_a_batch():
    batch = {"image": torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3),
             "audio": torch.zeros(2, 5, 4), "audio_lengths": torch.tensor([5, 2]), "vec": torch.ones(2, 6)}
    X, L = stream_from_batch(batch, "image")
    assert X.shape == (2, 3, 2) and L.tolist() == [3, 3]
    np.testing.assert_array_equal(X[0, 1], batch["image"][0, 0, :, 1].numpy())  # frame t = column t
    assert stream_from_batch(batch, "audio")[1].tolist() == [5, 2]
    assert stream_from_batch(batch, "vec")[0].shape == (2, 1, 6)
    assert stream_from_batch({"audio_present": torch.zeros(2, dtype=torch.bool)}, "audio") is None


def test_errors_are_clear():
    streams, y = toy()
    (X1, L1), s2 = streams
    with pytest.raises(ValueError, match="empty sequence"):
        MultistreamHMM().fit([(X1, np.where(np.arange(40) == 3, 0, L1)), s2], y)
    with pytest.raises(ValueError, match="different numbers of sequences"):
        MultistreamHMM().fit([(X1[:30], L1[:30]), s2], y)
    with pytest.raises(ValueError, match="fusion"):
        MultistreamHMM(fusion="early").fit(streams, y)


def test_many_dimensions_per_frame_fall_back_to_log_space():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 15)
    X = rng.normal(size=(30, 1, 900)) + 0.3 * y[:, None, None]  # one frame of 900 values: scaling underflows
    model = MultistreamHMM(n_states=2, n_iter=3).fit([(X, np.ones(30, dtype=int))], y)
    assert model.models_[0][0].implementation == "log"
    assert np.isfinite(model.stream_scores([(X, np.ones(30, dtype=int))])).all()
