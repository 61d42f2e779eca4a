"""The judge's cache key covers everything its training data depend on (split and standardisation), so the
judge is the same for every seed of a data set and never a stale one built from other data."""

from __future__ import annotations

import torch
from mmml.translation.judge import cached_judge, judge_cache_params, judge_training_data

from mmml.data.datamodule import MultimodalDataModule
from mmml.data.digit_sequences import VOCAB_EN, DigitSequences
from mmml.data.spec import ModalitySpec


def _key(dm):
    return dm.cache.path(f"{dm.name}-judge", judge_cache_params(dm, judge_training_data(dm), 1, 8, 0, "cpu"))


def test_one_judge_for_every_seed_of_digit_sequences(tmp_path):
    dms = [DigitSequences(n_sequences=100, standardize=["audio"], seed=s, cache_dir=str(tmp_path),
                          modalities=["audio", "text"]) for s in (0, 1)]
    for dm in dms:
        dm.setup()
    assert _key(dms[0]) == _key(dms[1])
    judges = [cached_judge(dm, epochs=1, hidden=8) for dm in dms]
    assert _key(dms[0]).exists()
    for (name, a), (_, b) in zip(judges[0].state_dict().items(), judges[1].state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    other = DigitSequences(n_sequences=100, standardize=False, cache_dir=str(tmp_path), modalities=["audio", "text"])
    other.setup()
    assert _key(other) != _key(dms[0])  # unstandardised speech: another judge


class Drawn(MultimodalDataModule):
    """A fixed test split, validation drawn by ``seed``: train statistics change with the seed."""

    name = "drawn"

    def describe(self):
        return {"audio": ModalitySpec("audio", "sequence", (6, 3)),
                "text": ModalitySpec("text", "tokens", (2,), vocab=VOCAB_EN.tokens)}, tuple("0123456789")

    def build(self):
        g = torch.Generator().manual_seed(0)
        n = 60
        return {"audio": torch.randn(n, 6, 3, generator=g), "audio_lengths": torch.full((n,), 6),
                "text": torch.randint(4, 14, (n, 2), generator=g), "text_lengths": torch.full((n,), 2),
                "label": torch.arange(n) % 10, "split": torch.where(torch.arange(n) >= 50, 2, -1)}


def test_key_follows_the_standardisation_statistics(tmp_path):
    a, b = (Drawn(seed=s, standardize=["audio"], cache=False, val_fraction=0.2) for s in (0, 1))
    a.setup()
    b.setup()
    assert a.params() == b.params() and a.standardize == b.standardize  # what the old key held: equal
    union = lambda dm: torch.cat([judge_training_data(dm)["text"].sort(0).values])  # noqa: E731
    assert torch.equal(union(a), union(b))  # the same examples ...
    assert not torch.equal(a.split("train")["audio"].mean((0, 1)), b.split("train")["audio"].mean((0, 1)))
    assert _key(a) != _key(b)  # ... standardised differently: two judges, never the first-built one
