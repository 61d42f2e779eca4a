"""The batch contract, modality specs and test-time corruptions."""

import pytest
import torch

from mmml.data.contract import batch_size, check_finite, is_present, modalities_of, present_mask, require
from mmml.data.corruptions import Condition, apply_condition
from mmml.data.spec import ModalitySpec

SPECS = {
    "image": ModalitySpec("image", "image", (1, 8, 8)),
    "audio": ModalitySpec("audio", "sequence", (20, 4), frame_rate=100.0, log_mel=True),
    "text": ModalitySpec("text", "tokens", (5,), vocab=("<pad>", "<unk>", "a", "b")),
}


def make_batch(n=6):
    g = torch.Generator().manual_seed(0)
    return {
        "image": torch.rand(n, 1, 8, 8, generator=g),
        "audio": torch.randn(n, 20, 4, generator=g),
        "audio_lengths": torch.tensor([20, 15, 10, 20, 5, 8])[:n],
        "text": torch.randint(2, 4, (n, 5), generator=g),
        "label": torch.arange(n) % 3,
    }


def test_spec_feature_dims_and_bad_kind():
    assert SPECS["image"].feature_dim == 64
    assert SPECS["audio"].feature_dim == 4 and SPECS["audio"].max_length == 20
    assert SPECS["text"].feature_dim == 4
    with pytest.raises(ValueError, match="kind 'video'"):
        ModalitySpec("v", "video", (3,))
    with pytest.raises(ValueError, match="needs a vocab"):
        ModalitySpec("t", "tokens", (3,))


def test_modalities_and_require_name_the_fix():
    batch = make_batch()
    assert modalities_of(batch) == ["audio", "image", "text"]
    require(batch, ["image", "audio"])
    del batch["audio"]
    with pytest.raises(KeyError, match=r"needs \['audio', 'image'\].*add them to data.modalities"):
        require(batch, ["image", "audio"])


def test_mismatched_batch_sizes_are_reported():
    batch = make_batch()
    batch["image"] = batch["image"][:4]
    with pytest.raises(ValueError, match="different batch sizes"):
        batch_size(batch)


def test_nan_and_inf_are_named():
    batch = make_batch()
    batch["audio"][0, 0, 0] = float("nan")
    batch["image"][1, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="'audio' holds 1 NaN/Inf"):
        check_finite({"audio": batch["audio"]}, "train split")
    with pytest.raises(ValueError, match="'image' holds 1 NaN/Inf"):
        check_finite({"image": batch["image"]}, "train split")


def test_drop_marks_absent_and_is_accepted_as_missing():
    batch = make_batch()
    out = apply_condition(batch, Condition.parse("audio:drop"), SPECS, torch.Generator().manual_seed(0))
    assert "audio" not in out and "audio_lengths" not in out and "audio" in batch
    assert not is_present(out, "audio") and not present_mask(out, "audio").any()
    require(out, ["image", "audio"])  # dropped on purpose is fine
    with pytest.raises(KeyError):
        require(out, ["image", "audio"], allow_dropped=False)


def test_zero_noise_and_levels():
    batch = make_batch()
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    zero = apply_condition(batch, Condition.parse("image:zero"), SPECS, g())
    assert zero["image"].abs().sum() == 0 and torch.equal(zero["audio"], batch["audio"])
    clean = apply_condition(batch, Condition.parse("image:noise@0"), SPECS, g())
    assert torch.equal(clean["image"], batch["image"])
    full = apply_condition(batch, Condition.parse("image:noise@1"), SPECS, g())
    # at level 1 nothing of the signal is left: correlation with the clean image is ~0
    c = torch.corrcoef(torch.stack([full["image"].flatten(), batch["image"].flatten()]))[0, 1]
    assert abs(c) < 0.25
    half = apply_condition(batch, Condition.parse("image:noise@0.5"), SPECS, g())
    again = apply_condition(batch, Condition.parse("image:noise@0.5"), SPECS, g())
    assert torch.equal(half["image"], again["image"])  # seeded
    tokens = apply_condition(batch, Condition.parse("text:noise@1"), SPECS, g())
    assert (tokens["text"] != batch["text"]).float().mean() > 0.3


def test_snr_in_power_domain_matches_requested_ratio():
    n, t, f = 64, 50, 8
    power = torch.full((n, t, f), 2.0)
    batch = {"audio": power.log(), "audio_lengths": torch.full((n,), t), "label": torch.zeros(n, dtype=torch.long)}
    for snr in (0.0, 10.0):
        out = apply_condition(batch, Condition.parse(f"audio:snr@{snr}"), SPECS, torch.Generator().manual_seed(0))
        added = out["audio"].exp() - power
        measured = 10 * torch.log10(power.mean() / added.mean())
        assert abs(float(measured) - snr) < 0.2


def test_condition_names_and_errors():
    assert Condition.parse("clean").name == "clean"
    assert Condition.parse("audio:drop+image:noise@0.5").name == "audio_drop+image_noise0.5"
    assert Condition.parse("audio:snr@-5").name == "audio_snr-5"
    for bad, msg in (("audio", "not understood"), ("image:noise", "needs a level"),
                     ("image:noise@2", "outside"), ("image:blur@1", "kind 'blur'")):
        with pytest.raises(ValueError, match=msg):
            Condition.parse(bad)
    with pytest.raises(KeyError, match="data.test_conditions"):
        apply_condition(make_batch(), Condition.parse("video:drop"), SPECS, torch.Generator())
    with pytest.raises(ValueError, match="needs a log-mel"):
        apply_condition(make_batch(), Condition.parse("image:snr@0"), SPECS, torch.Generator())
