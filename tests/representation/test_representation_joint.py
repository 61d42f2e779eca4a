"""Joint models: the product of Gaussian experts by hand, modality dropout, missing-modality inference."""

from __future__ import annotations

import pytest
import torch
from mmml.representation import (
    ConcatJoint,
    MultimodalAutoencoder,
    ProductOfExpertsVAE,
    drop_modality,
    product_of_experts,
)
from mmml.representation.joint import keep_mask

from mmml.data.spec import ModalitySpec

SPECS = {"image": ModalitySpec("image", "image", (1, 8, 8)),
         "audio": ModalitySpec("audio", "sequence", (12, 5)),
         "text": ModalitySpec("text", "tokens", (4,), vocab=("<pad>", "a", "b", "c"))}


def batch(n: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.randn(n, 1, 8, 8, generator=g), "audio": torch.randn(n, 12, 5, generator=g),
            "audio_lengths": torch.randint(3, 13, (n,), generator=g),
            "text": torch.randint(1, 4, (n, 4), generator=g), "text_lengths": torch.full((n,), 4),
            "label": torch.arange(n) % 3}


def test_product_of_experts_equals_the_closed_form_by_hand():
    # experts N(1, 0.5) and N(-2, 2) in one dimension, with the prior N(0, 1)
    mu = torch.tensor([[[1.0]], [[-2.0]]])
    logvar = torch.log(torch.tensor([[[0.5]], [[2.0]]]))
    m, lv = product_of_experts(mu, logvar)
    precision = 1 + 1 / 0.5 + 1 / 2.0
    assert float(lv.exp()) == pytest.approx(1 / precision)
    assert float(m) == pytest.approx((1.0 / 0.5 - 2.0 / 2.0) / precision)
    m1, lv1 = product_of_experts(mu, logvar, mask=torch.tensor([[1.0], [0.0]]))
    assert float(m1) == pytest.approx((1.0 / 0.5) / 3.0) and float(lv1.exp()) == pytest.approx(1 / 3.0)
    m0, lv0 = product_of_experts(mu, logvar, mask=torch.zeros(2, 1))
    assert float(m0) == 0.0 and float(lv0) == 0.0  # nothing observed: the prior


def test_poe_vae_posterior_leaves_a_missing_modality_out_of_the_product():
    torch.manual_seed(0)
    net = ProductOfExpertsVAE(SPECS, dim=4, hidden=16).eval()
    b = batch()
    mu_m, logvar_m, _ = net.experts(b)
    without = net.posterior(drop_modality(b, "audio"))
    ref = product_of_experts(mu_m[[0, 2]], logvar_m[[0, 2]])
    torch.testing.assert_close(without[0], ref[0])
    torch.testing.assert_close(without[1], ref[1])
    assert set(net.embed(b)) == {"image", "audio", "text"}


@pytest.mark.parametrize("cls", [ConcatJoint, MultimodalAutoencoder, ProductOfExpertsVAE])
def test_joint_models_train_and_represent_with_a_modality_missing(cls):
    torch.manual_seed(0)
    kwargs = {"num_classes": 3} if cls is ConcatJoint else {}
    net = cls(SPECS, dim=8, hidden=16, **kwargs)
    b = batch(24)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = net.loss(b)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    net.eval()
    full, missing = net.fuse(b), net.fuse(drop_modality(b, "audio"))
    assert full.shape == missing.shape == (24, 8) and torch.isfinite(missing).all()
    alone = net.embed(b)
    torch.testing.assert_close(alone["image"], net.fuse(drop_modality(drop_modality(b, "audio"), "text")))


def test_modality_dropout_keeps_exactly_one_modality_when_it_drops():
    torch.manual_seed(0)
    b = batch(2000)
    mask = keep_mask(b, ["image", "audio", "text"], drop_to_one=2 / 3, training=True)
    kept = mask.sum(1)
    assert set(kept.unique().tolist()) == {1.0, 3.0}
    assert float((kept == 1).float().mean()) == pytest.approx(2 / 3, abs=0.04)
    assert mask[kept == 1].mean(0).sub(1 / 3).abs().max() < 0.04  # each modality alone as often
    assert torch.equal(keep_mask(b, ["image", "audio"], drop_to_one=1.0, training=False), torch.ones(2000, 2))
    dropped = keep_mask(drop_modality(b, "audio"), ["image", "audio"], drop_to_one=1.0, training=True)
    assert torch.equal(dropped, torch.tensor([[1.0, 0.0]]).expand(2000, 2))


def test_autoencoder_reconstructs_the_missing_modality_better_after_training():
    """Ngiam et al.'s point: trained with one modality zeroed, the shared layer infers the other."""
    torch.manual_seed(0)
    specs = {"a": ModalitySpec("a", "vector", (8,)), "b": ModalitySpec("b", "vector", (8,))}
    z = torch.randn(256, 3)
    data = {"a": z @ torch.randn(3, 8), "b": z @ torch.randn(3, 8), "label": torch.zeros(256, dtype=torch.long)}
    net = MultimodalAutoencoder(specs, dim=8, hidden=32)

    def error_of_b_from_a() -> float:
        net.eval()
        with torch.no_grad():
            return float(net.decoders["b"].loss(net.fuse(drop_modality(data, "b")), data).mean())

    before = error_of_b_from_a()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(200):
        net.train()
        opt.zero_grad()
        net.loss(data).backward()
        opt.step()
    assert error_of_b_from_a() < 0.3 * before


def test_sequence_decoder_reconstructs_frames_over_valid_steps_or_their_statistics():
    from mmml.representation.decoders import ModalityDecoder
    from mmml.representation.views import vector_view

    b = batch(4)
    frames = ModalityDecoder(SPECS["audio"], latent=3, hidden=8)
    z = torch.randn(4, 3)
    pred = frames(z)
    valid = (torch.arange(12)[None, :] < b["audio_lengths"][:, None]).float()[..., None]
    by_hand = (((pred - b["audio"]) ** 2) * valid).sum((1, 2)) / (valid.sum((1, 2)) * 5)
    torch.testing.assert_close(frames.loss(z, b), by_hand)
    stats = ModalityDecoder(SPECS["audio"], latent=3, hidden=8, target="stats")
    target = vector_view(b, SPECS["audio"], "stats")
    torch.testing.assert_close(stats.loss(z, b), ((stats(z) - target) ** 2).mean(1))
    with pytest.raises(ValueError, match="decoder target"):
        ModalityDecoder(SPECS["audio"], 3, 8, target="spectrum")
