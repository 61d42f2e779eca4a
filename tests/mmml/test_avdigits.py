"""The embedded default data set: contents, determinism, degradation, and that fusion can matter."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from mmml.data.avdigits import CHAR_VOCAB, AVDigits, degraded_digit_images, spoken_digits
from mmml.data.text import DIGIT_WORDS_EN, DIGIT_WORDS_FR


@pytest.fixture(scope="module")
def dm():
    data = AVDigits(modalities=["image", "audio", "text", "text_fr"], seed=0)
    data.setup()
    return data


def test_modalities_shapes_and_labels(dm):
    train = dm.split("train")
    n = sum(len(dm.split(s)["label"]) for s in ("train", "val", "test"))
    assert n == len(load_digits().target) == 1797
    assert train["image"].shape[1:] == (1, 8, 8)
    assert train["audio"].shape[1:] == dm.specs["audio"].shape
    assert (train["audio_lengths"] > 10).all() and (train["audio_lengths"] <= dm.specs["audio"].shape[0]).all()
    assert dm.specs["audio"].frame_rate == 8000 / 128 and dm.specs["audio"].log_mel
    assert dm.class_names == DIGIT_WORDS_EN and dm.num_classes == 10


def test_text_is_the_digit_word_with_typos(dm):
    test = dm.split("test")
    words = ["".join(CHAR_VOCAB.decode(ids)) for ids in test["text"]]
    fr = ["".join(CHAR_VOCAB.decode(ids)) for ids in test["text_fr"]]
    truth = [DIGIT_WORDS_EN[y] for y in test["label"]]
    exact = np.mean([w == t for w, t in zip(words, truth, strict=True)])
    assert 0.1 < exact < 0.95  # typos at rate 0.3 leave some words intact, not all
    assert all(len(w) == len(t) for w, t in zip(words, truth, strict=True))
    assert all(len(w) == len(DIGIT_WORDS_FR[y]) for w, y in zip(fr, test["label"], strict=True))


def test_synthesis_is_deterministic():
    labels = np.array([3, 7, 3])
    a, b = spoken_digits(labels, 0.0, seed=5), spoken_digits(labels, 0.0, seed=5)
    c = spoken_digits(labels, 0.0, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[0], a[2])


def test_image_degradation_removes_the_requested_energy():
    clean, y = degraded_digit_images(0.0, 0.0, 0)
    assert np.allclose(clean.reshape(len(y), -1), load_digits().data / 16.0, atol=1e-6)
    deg, _ = degraded_digit_images(0.75, 0.0, 0)
    flat_c, flat_d = clean.reshape(len(y), -1), deg.reshape(len(y), -1)
    kept = np.var(flat_d - flat_d.mean(0), axis=0).sum() / np.var(flat_c - flat_c.mean(0), axis=0).sum()
    assert 0.15 < kept <= 0.26  # at most 25% of the variance is left (75% removed)
    with pytest.raises(ValueError, match="image_energy_removed"):
        degraded_digit_images(1.0, 0.0, 0)


def _probe(dm, views):
    x = lambda s: np.concatenate([dm.split(s)[v].flatten(1).numpy() for v in views], 1)  # noqa: E731
    clf = LogisticRegression(max_iter=2000).fit(x("train"), dm.split("train")["label"].numpy())
    return clf.score(x("test"), dm.split("test")["label"].numpy())


def test_each_modality_alone_is_imperfect_and_together_they_are_better(dm):
    image, audio_mean = _probe(dm, ["image"]), None
    pooled = {s: torch.cat([dm.split(s)["audio"].mean(1), dm.split(s)["audio"].std(1)], 1) for s in
              ("train", "test")}
    clf = LogisticRegression(max_iter=2000).fit(pooled["train"].numpy(), dm.split("train")["label"].numpy())
    audio_mean = clf.score(pooled["test"].numpy(), dm.split("test")["label"].numpy())
    assert 0.3 < image < 0.95 and 0.3 < audio_mean < 0.95
    both = np.concatenate([dm.split("test")["image"].flatten(1).numpy(), pooled["test"].numpy()], 1)
    both_train = np.concatenate([dm.split("train")["image"].flatten(1).numpy(), pooled["train"].numpy()], 1)
    fused = LogisticRegression(max_iter=3000).fit(both_train, dm.split("train")["label"].numpy())
    assert fused.score(both, dm.split("test")["label"].numpy()) > max(image, audio_mean) + 0.03
