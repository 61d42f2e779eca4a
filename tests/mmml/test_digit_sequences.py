"""digit_sequences: keys and shapes, boundaries checked against the rendered signals (silence outside
the words, the scikit-learn images inside the strip), determinism and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from mmml.data.digit_sequences import (
    VOCAB_EN,
    VOCAB_FR,
    DigitSequences,
    DigitSequencesFSDD,
    samples_to_frames,
    trim_silence,
)
from mmml.data.text import DIGIT_WORDS_FR


@pytest.fixture(scope="module")
def clean_dm():
    dm = DigitSequences(n_sequences=100, snr_db=None, cache=False)
    dm.setup()
    return dm


def _all(dm):
    return {k: torch.cat([dm.split(s)[k] for s in ("train", "val", "test")]) for k in dm.split("train")}


def test_keys_shapes_and_labels(clean_dm):
    data = _all(clean_dm)
    n = len(data["label"])
    assert n == 100
    assert set(data) == {"audio", "audio_lengths", "audio_boundaries", "image", "image_lengths",
                         "image_boundaries", "text", "text_lengths", "text_fr", "text_fr_lengths", "label"}
    assert data["audio"].shape == (n, 450, 40) and data["image"].shape == (n, clean_dm.max_columns, 8)
    assert data["audio_boundaries"].shape == data["image_boundaries"].shape == (n, 8, 2)
    k = data["text_lengths"]
    assert ((k >= 3) & (k <= 8)).all() and torch.equal(k, data["text_fr_lengths"])
    digits = data["text"] - 4
    assert torch.equal(data["label"], digits[:, 0])
    for i in range(5):
        d = digits[i, : k[i]].tolist()
        assert VOCAB_FR.decode(data["text_fr"][i]) == [DIGIT_WORDS_FR[x] for x in d]
        assert VOCAB_EN.decode(data["text"][i]) == [VOCAB_EN.tokens[4 + x] for x in d]
    for key in ("audio_boundaries", "image_boundaries"):
        b = data[key]
        valid = torch.arange(8)[None, :] < k[:, None]
        assert ((b >= 0).all(-1) == valid).all(), key
        s, e = b[..., 0], b[..., 1]
        assert (e[valid] > s[valid]).all()
        assert (s[:, 1:][valid[:, 1:]] >= e[:, :-1][valid[:, 1:]]).all()  # ordered, not overlapping
        lengths = data[key.replace("boundaries", "lengths")]
        assert (e.max(1).values <= lengths).all()


def test_image_boundaries_hold_the_sklearn_digit(clean_dm):
    data = _all(clean_dm)
    ref = load_digits()
    images = (ref.images / 16.0).astype(np.float32).reshape(len(ref.images), -1)
    for i in range(10):
        for j in range(int(data["text_lengths"][i])):
            s, e = data["image_boundaries"][i, j].tolist()
            block = data["image"][i, s:e].numpy().T.reshape(-1)  # columns back to an 8x8 image
            match = np.flatnonzero(np.abs(images - block).max(1) < 1e-6)
            assert len(match) and (ref.target[match] == int(data["text"][i, j]) - 4).all()
        inside = torch.zeros(int(data["image_lengths"][i]), dtype=torch.bool)
        for s, e in data["image_boundaries"][i, : data["text_lengths"][i]].tolist():
            inside[s:e] = True
        assert (data["image"][i, : len(inside)][~inside] == 0).all()  # gaps are blank


def test_audio_boundaries_frame_the_speech(clean_dm):
    data = _all(clean_dm)
    floor = math.log(clean_dm.logmel.floor)
    for i in range(10):
        t = int(data["audio_lengths"][i])
        energy = data["audio"][i, :t].exp().sum(1)
        near = torch.zeros(t, dtype=torch.bool)  # a word's frames, widened by the STFT half-window
        for s, e in data["audio_boundaries"][i, : data["text_lengths"][i]].tolist():
            near[max(0, s - 1): e + 1] = True
            assert energy[s:e].max() > 1e3 * math.exp(floor) * 40  # each word is audible
        assert torch.allclose(data["audio"][i, :t][~near], torch.tensor(floor), atol=1e-3)  # silence between


def test_samples_to_frames_uses_frame_centres():
    # centre of frame t is sample 128 t (torchaudio center=True): [0, 128) holds frame 0 only
    assert samples_to_frames(np.array([[0, 128], [129, 256], [300, 700]]), 128).tolist() == [[0, 1], [2, 2],
                                                                                             [3, 6]]


def test_trim_silence_keeps_the_loud_part():
    wave = np.concatenate([np.zeros(1000), np.ones(500), np.zeros(1000)]).astype(np.float32)
    out = trim_silence(wave, 30.0, frame=100)
    assert len(out) == 500 and (out == 1).all()


def test_deterministic_and_seeded():
    a = DigitSequences(n_sequences=100, cache=False).build()
    b = DigitSequences(n_sequences=100, cache=False).build()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    c = DigitSequences(n_sequences=100, cache=False, data_seed=1).build()
    assert not torch.equal(a["text"], c["text"])


def test_clear_errors():
    with pytest.raises(ValueError, match="n_sequences"):
        DigitSequences(n_sequences=20)
    with pytest.raises(ValueError, match="max_digits"):
        DigitSequences(min_digits=5, max_digits=3)
    with pytest.raises(ValueError, match="raise data.max_frames"):
        DigitSequences(n_sequences=100, max_frames=50, cache=False).build()
    with pytest.raises(ValueError, match="text_fr"):
        _ = DigitSequences(modalities=["text_en"]).specs


def test_fsdd_variant(fsdd_dir):
    dm = DigitSequencesFSDD(root=str(fsdd_dir.parent), n_sequences=100, cache=False)
    dm.setup()
    data = _all(dm)
    k = data["text_lengths"]
    valid = torch.arange(8)[None, :] < k[:, None]
    assert ((data["audio_boundaries"] >= 0).all(-1) == valid).all()
    assert (data["audio_boundaries"][..., 1].max(1).values <= data["audio_lengths"]).all()
    assert dm.specs["audio"].frame_rate == 62.5
