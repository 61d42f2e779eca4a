"""The modality-encoder bank: one place where ``encoder`` options become modules."""

import pytest
import torch

from mmml.data.spec import ModalitySpec
from mmml.encoders import EncoderBank, SequenceConvEncoder, SequenceGRUEncoder, build_encoder

SPECS = {"image": ModalitySpec("image", "image", (1, 8, 8)), "audio": ModalitySpec("audio", "sequence", (9, 5)),
         "speech": ModalitySpec("speech", "sequence", (9, 5)),
         "text": ModalitySpec("text", "tokens", (4,), vocab=tuple("abcd"))}


def test_a_name_key_wins_over_a_kind_key():
    bank = EncoderBank(SPECS, 8, options={"sequence": {"channels": 3}, "speech": {"kind": "gru", "hidden": 5}})
    assert isinstance(bank["audio"], SequenceConvEncoder) and bank["audio"].conv[0].out_channels == 3
    assert isinstance(bank["speech"], SequenceGRUEncoder) and bank["speech"].gru.hidden_size == 5
    assert bank.options_for("text") == {}


def test_the_bank_builds_what_build_encoder_builds_in_the_same_order():
    torch.manual_seed(0)
    bank = EncoderBank(SPECS, 8, ["text", "image"], {"image": {"channels": 4}})
    head = torch.nn.Linear(8, 2)
    bank.add("audio")
    after = torch.rand(3)
    torch.manual_seed(0)
    want = [build_encoder(SPECS["text"], 8), build_encoder(SPECS["image"], 8, channels=4)]
    want_head = torch.nn.Linear(8, 2)
    want.append(build_encoder(SPECS["audio"], 8))
    torch.testing.assert_close(torch.rand(3), after)
    assert list(bank) == ["text", "image", "audio"]
    for got, ref in zip(bank.values(), want, strict=True):
        for p, q in zip(got.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p, q)
    torch.testing.assert_close(head.weight, want_head.weight)
    batch = {"text": torch.tensor([[1, 2, 0, 0]]), "text_lengths": torch.tensor([2])}
    torch.testing.assert_close(bank.encode(batch, "text"), want[0](batch["text"], batch["text_lengths"]))


def test_errors_name_the_bad_key_and_the_fix():
    with pytest.raises(ValueError, match=r"model.net.encoder has keys \['audoi'\].*key the encoder options"):
        EncoderBank(SPECS, 8, options={"audoi": {}})
    with pytest.raises(ValueError, match="'video'.*data.modalities"):
        EncoderBank(SPECS, 8, ["video"])
    with pytest.raises(ValueError, match="unknown"):
        EncoderBank(SPECS, 8, ["audio"], {"audio": {"kind": "lstm"}})
