"""HMM forced alignment: left-to-right word models, Viterbi against hmmlearn's decode, recovered boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from mmml.alignment.hmm import HMMForcedAligner, left_to_right_transmat, viterbi
from sklearn.base import clone

WORDS = {"one": [[0, 0], [3, 0], [3, 3]], "two": [[-3, 0], [-3, -3], [0, -3]], "six": [[2, 2], [-2, 2], [0, 4]]}


def make_word(word: str, rng: np.random.Generator) -> np.ndarray:
    """Frames of a word: each of its 3 target means held for 3 to 7 frames, plus noise."""
    parts = [np.repeat(np.asarray(mu, float)[None], rng.integers(3, 8), 0) for mu in WORDS[word]]
    x = np.concatenate(parts)
    return x + 0.4 * rng.standard_normal(x.shape)


@pytest.fixture(scope="module")
def aligner():
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for word in WORDS:
        for _ in range(8):
            xs.append(make_word(word, rng))
            ys.append(word)
    return HMMForcedAligner(n_states=3, n_iter=10, random_state=0).fit(xs, ys)


def test_word_models_stay_left_to_right(aligner):
    assert aligner.classes_ == ["one", "six", "two"]
    for model in aligner.models_.values():
        np.testing.assert_array_equal(model.startprob_, [1.0, 0.0, 0.0])
        allowed = left_to_right_transmat(3, 0.5) > 0
        assert (model.transmat_[~allowed] == 0).all()
        assert model.monitor_.iter >= 2  # EM ran
    assert all(0 < p < 1 for p in aligner.exit_probs_.values())


def test_viterbi_equals_hmmlearn_decode_on_the_concatenated_model(aligner):
    rng = np.random.default_rng(1)
    transcript = ["two", "one", "six", "one"]
    x = np.concatenate([make_word(w, rng) for w in transcript])
    composite = aligner.concatenate(transcript)
    ref_logprob, ref_states = composite.decode(x, algorithm="viterbi")
    logprob, states = aligner.decode(x, transcript, force_end=False)
    np.testing.assert_array_equal(states, ref_states)
    assert logprob == pytest.approx(ref_logprob, rel=1e-9)
    forced_logprob, forced = aligner.decode(x, transcript)  # forced to end in the last state
    assert forced[-1] == composite.n_components - 1 and forced_logprob <= logprob + 1e-9
    if ref_states[-1] == composite.n_components - 1:
        np.testing.assert_array_equal(forced, ref_states)


def test_viterbi_on_a_hand_worked_chain():
    log_em = np.log([[0.9, 0.1], [0.6, 0.4], [0.1, 0.9]])
    start = np.array([0.0, -np.inf])
    trans = np.log([[0.5, 0.5], [1e-300, 1.0]])
    logprob, states = viterbi(log_em, start, trans)
    assert states.tolist() == [0, 1, 1]  # 0.9 * .5 * .4 * 1 * .9 beats [0, 0, 1]: 0.9 * .5 * .6 * .5 * .9
    assert logprob == pytest.approx(np.log(0.9 * 0.5 * 0.4 * 1.0 * 0.9))
    _, forced = viterbi(log_em[:2], start, trans, final_state=1)
    assert forced.tolist() == [0, 1]


def test_align_recovers_word_boundaries(aligner):
    rng = np.random.default_rng(2)
    transcript = ["six", "two", "two", "one", "six"]
    words = [make_word(w, rng) for w in transcript]
    true_ends = np.cumsum([len(w) for w in words])
    spans = aligner.align(np.concatenate(words), transcript)
    assert spans.shape == (5, 2) and spans[0, 0] == 0 and (spans[1:, 0] == spans[:-1, 1]).all()  # tiling
    assert spans[-1, 1] == true_ends[-1]
    assert np.abs(spans[:, 1] - true_ends).max() <= 1


def test_estimator_conventions(aligner):
    params = aligner.get_params()
    assert params["n_states"] == 3 and params["random_state"] == 0
    fresh = clone(aligner)
    assert not hasattr(fresh, "models_")
    rng = np.random.default_rng(3)
    xs = [make_word("one", rng) for _ in range(4)]
    a = HMMForcedAligner(n_states=3, n_iter=5, random_state=7).fit(xs, ["one"] * 4)
    b = HMMForcedAligner(n_states=3, n_iter=5, random_state=7).fit(xs, ["one"] * 4)
    np.testing.assert_allclose(a.models_["one"].means_, b.models_["one"].means_)


def test_errors_name_the_input_and_the_fix(aligner):
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match=r"3 words, which need at least 9 frames \(3 x n_states=3.*but X has 8"):
        aligner.align(rng.standard_normal((8, 2)), ["one", "two", "six"])
    with pytest.raises(ValueError, match=r"word 'ten' has no word model; fit\(\) saw \['one', 'six', 'two'\]"):
        aligner.align(rng.standard_normal((20, 2)), ["one", "ten"])
    with pytest.raises(ValueError, match=r"X is an empty sequence"):
        aligner.align(np.zeros((0, 2)), ["one"])
    with pytest.raises(ValueError, match=r"example 1 \('b'\) has 2 frames, fewer than n_states=3"):
        HMMForcedAligner(n_states=3).fit([rng.standard_normal((5, 2)), rng.standard_normal((2, 2))], ["a", "b"])
    with pytest.raises(RuntimeError, match=r"not fitted yet"):
        HMMForcedAligner().align(rng.standard_normal((20, 2)), ["one"])


def make_pause(rng: np.random.Generator) -> np.ndarray:
    return 0.3 * rng.standard_normal((int(rng.integers(2, 7)), 2)) + np.array([0.0, 6.0])


def test_optional_silence_between_words():
    rng = np.random.default_rng(5)
    xs, ys = [], []
    for word in WORDS:
        for _ in range(6):
            xs.append(make_word(word, rng))
            ys.append(word)
    for _ in range(10):
        xs.append(make_pause(rng))
        ys.append("sil")
    hmm = HMMForcedAligner(n_states=3, silence="sil", silence_states=1, n_iter=10, random_state=0).fit(xs, ys)
    assert hmm.models_["sil"].n_components == 1
    transcript = ["two", "six", "one"]
    parts, spans, pos = [], [], 0
    for k, word in enumerate(transcript):
        if k != 1:  # pauses before "two" and before "one", none between "two" and "six", one at the end
            gap = make_pause(rng)
            parts.append(gap)
            pos += len(gap)
        frames = make_word(word, rng)
        parts.append(frames)
        spans.append([pos, pos + len(frames)])
        pos += len(frames)
    parts.append(make_pause(rng))
    x = np.concatenate(parts)
    got = hmm.align(x, transcript)
    assert np.abs(got - np.array(spans)).max() <= 1
    # the composite model is still hmmlearn's: unforced Viterbi equals its decode
    _, states = hmm.decode(x, transcript, force_end=False)
    np.testing.assert_array_equal(states, hmm.concatenate(transcript).decode(x)[1])
    with pytest.raises(ValueError, match=r"word 'sil' has no word model.*inserted by itself"):
        hmm.align(x, ["sil", "one"])
    with pytest.raises(ValueError, match=r"silence='pause' is not among the labels"):
        HMMForcedAligner(n_states=3, silence="pause").fit(xs, ys)
