"""Captions from measured properties (mmml.data.captions), the word tokenizer, and the captioned data sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmml.data.captioned import CaptionedDigits, CaptionedFSDD, caption_tokenizer, rotate
from mmml.data.captions import (
    IMAGE_GRAMMAR,
    SPEECH_GRAMMAR,
    buckets,
    compose_captions,
    fill,
    image_properties,
    speech_properties,
)
from mmml.tokenizer import WordTokenizer, normalize, split_words


@pytest.fixture(scope="module")
def digits():
    dm = CaptionedDigits(cache=False, test_conditions=["clean", "image:noise@0.5", "image:rotate@90", "image:invert"])
    dm.setup()
    return dm


def test_the_tokenizer_round_trips_free_text():
    texts = ["A thick,  slanted SEVEN.", "the number 7, written small!", "someone's  8 (leaning left)?"]
    tok = WordTokenizer.from_texts(texts, max_length=16)
    ids, lengths = tok.encode(texts)
    for row, n, text in zip(ids, lengths, texts, strict=True):
        assert tok.decode(row) == normalize(text)
        assert row[n - 1] == 3 and (row[n:] == 0).all()  # <eos> then padding
    assert normalize(normalize(texts[0])) == normalize(texts[0]) == "a thick, slanted seven."
    assert split_words("someone's 8") == ["someone's", "8"]


def test_every_caption_round_trips_and_uses_only_the_grammar_s_words(digits):
    split = digits.split("train")
    tok = digits.tokenizer
    for row in split["caption"][:300]:
        text = tok.decode(row)
        assert 1 not in row.tolist()  # no <unk>
        again, _ = tok.encode([text])
        assert torch.equal(again[0], row)
    for prompt in IMAGE_GRAMMAR.prompts + SPEECH_GRAMMAR.prompts:
        ids, _ = caption_tokenizer(IMAGE_GRAMMAR if prompt in IMAGE_GRAMMAR.prompts else SPEECH_GRAMMAR).encode(
            [fill(prompt, "eight")])
        assert 1 not in ids.tolist()


def test_captions_are_deterministic_given_the_seed_and_name_the_measured_buckets():
    props = [{"thickness": "high", "slant": "low", "size": "mid", "column": "mid", "row": "high"}] * 200
    a = compose_captions([7] * 200, props, IMAGE_GRAMMAR, seed=3)
    assert a == compose_captions([7] * 200, props, IMAGE_GRAMMAR, seed=3)
    assert a != compose_captions([7] * 200, props, IMAGE_GRAMMAR, seed=4)
    words = {w for c in a for w in split_words(c)}
    assert {"seven", "7"} & words and len(set(a)) > 50  # many wordings
    wrong = {w for b in ("low",) for w in IMAGE_GRAMMAR.adjectives["thickness"][b]}
    assert not wrong & words  # a thick digit is never called thin
    assert any("thick" in c or "bold" in c or "heavy" in c for c in a)
    named = sum(bool({"seven", "7"} & set(split_words(c))) for c in a)
    assert 0.7 < named / len(a) < 0.95  # omit_digit=0.15


def test_image_properties_match_hand_measurements():
    img = np.zeros((3, 8, 8))
    img[0, 1:7, 2] = 1.0  # a thin vertical stroke in column 2
    img[1, 1:7, 2:4] = 1.0  # a thicker stroke (two columns), centred at column 2.5
    for r in range(8):  # a stroke leaning right: top at the right, bottom at the left
        img[2, r, 7 - r] = 1.0
    p = image_properties(img)
    assert p["column"][0] == pytest.approx(2.0) and p["column"][1] == pytest.approx(2.5)
    assert p["row"][0] == pytest.approx(3.5)
    assert p["size"].tolist() == [6.0, 12.0, 64.0]
    assert p["slant"][0] == pytest.approx(0.0) and p["slant"][2] == pytest.approx(1.0)
    assert buckets(np.arange(9.0)) == ["low"] * 3 + ["mid"] * 3 + ["high"] * 3


def test_speech_properties_match_the_signals():
    sr = 8000
    t = np.arange(sr) / sr
    low, high = 0.3 * np.sin(2 * np.pi * 150 * t), 0.3 * np.sin(2 * np.pi * 300 * t)
    short = np.concatenate([0.6 * np.sin(2 * np.pi * 150 * t[: sr // 2]), np.zeros(sr // 2)])
    p = speech_properties([low, high, short], sr)
    assert p["pitch"][0] == pytest.approx(150, rel=0.05) and p["pitch"][1] == pytest.approx(300, rel=0.05)
    assert p["duration"][0] == pytest.approx(1.0, abs=0.04) and p["duration"][2] == pytest.approx(0.5, abs=0.04)
    assert p["loudness"][2] - p["loudness"][0] == pytest.approx(20 * np.log10(2), abs=0.1)


def test_shifted_test_sets_against_references(digits):
    test = digits.split("test")["image"]
    loaders = digits.test_dataloader()
    assert [c.name for c in digits.conditions] == ["clean", "image_noise0.5", "image_rotate90", "image_invert"]
    served = [next(iter(loader))["image"] for loader in loaders]
    assert torch.equal(served[0], test)
    assert torch.equal(served[1], digits.corrupt(digits.split("test"), "image:noise@0.5", seed=1)["image"])
    assert torch.allclose(served[2], torch.rot90(test, 1, (2, 3)), atol=1e-5)  # counter-clockwise on screen
    assert torch.equal(served[3], 1.0 - test)
    assert torch.allclose(rotate(test, 0.0), test, atol=1e-6)


def test_bad_shifts_are_named():
    with pytest.raises(ValueError, match="needs an angle"):
        CaptionedDigits(test_conditions=["image:rotate"])
    with pytest.raises(ValueError, match="held-out speakers"):
        CaptionedDigits(test_conditions=["speakers"])
    with pytest.raises(ValueError, match="standardize must be false"):
        CaptionedDigits(standardize=True)


@pytest.mark.realdata
def test_captioned_fsdd_holds_the_heldout_speakers_out_of_every_split(tmp_path):
    import os

    if not os.environ.get("MMML_DATA"):
        pytest.skip("needs MMML_DATA")
    dm = CaptionedFSDD(heldout_speakers=["theo"], test_conditions=["clean", "speakers", "audio:snr@0"])
    dm.setup()
    sizes = {s: len(dm.split(s)["label"]) for s in ("train", "val", "test")}
    heldout = next(iter(dm.test_dataloader()[1]))
    assert sum(sizes.values()) == 2000 and len(heldout["label"]) == 500  # 5 speakers x 500, one held out
    served = sorted(set(heldout) - {"index"})  # a loader may add each example's position in its split
    assert served == ["audio", "audio_lengths", "caption", "caption_lengths", "label"]
    texts = [dm.tokenizer.decode(r) for r in dm.split("train")["caption"][:50]]
    assert all(texts) and any(w in " ".join(texts) for w in ("voice", "said", "spoken"))
    with pytest.raises(ValueError, match="not in"):
        CaptionedFSDD(heldout_speakers=["nobody"], cache=False).setup()
