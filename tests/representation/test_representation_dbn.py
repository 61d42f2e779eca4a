"""RBMs and the multimodal DBN: scikit-learn's BernoulliRBM, free energy by enumeration, CD-1 that learns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from mmml.representation import RBM, MultimodalDBN, drop_modality
from sklearn.neural_network import BernoulliRBM

from mmml.data.spec import ModalitySpec


def random_rbm(visible: str, seed: int = 0, n_v: int = 5, n_h: int = 4) -> RBM:
    torch.manual_seed(seed)
    rbm = RBM(n_v, n_h, visible)
    with torch.no_grad():
        for p in rbm.parameters():
            p.normal_(0, 0.7)
    return rbm


def test_hidden_probabilities_equal_scikit_learn_bernoulli_rbm():
    rbm = random_rbm("bernoulli")
    ref = BernoulliRBM(n_components=4)
    ref.components_ = rbm.weight.detach().double().numpy().T
    ref.intercept_hidden_ = rbm.hidden_bias.detach().double().numpy()
    ref.intercept_visible_ = rbm.visible_bias.detach().double().numpy()
    v = (torch.rand(8, 5) > 0.5).float()
    np.testing.assert_allclose(rbm.hidden_probs(v).detach().numpy(), ref.transform(v.numpy()), rtol=1e-5)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_equals_enumeration_over_hidden_states(visible):
    rbm = random_rbm(visible, seed=1)
    w, b, c = (p.detach().double() for p in (rbm.weight, rbm.visible_bias, rbm.hidden_bias))
    v = torch.randn(3, 5).double() if visible == "gaussian" else (torch.rand(3, 5) > 0.5).double()
    for i in range(3):
        energies = []
        for bits in itertools.product([0.0, 1.0], repeat=4):
            h = torch.tensor(bits, dtype=torch.float64)
            visible_term = 0.5 * ((v[i] - b) ** 2).sum() if visible == "gaussian" else -(v[i] @ b)
            energies.append(visible_term - c @ h - v[i] @ w @ h)
        reference = -torch.logsumexp(-torch.stack(energies), 0)
        assert rbm.free_energy(v[i : i + 1].float())[0].item() == pytest.approx(float(reference), abs=1e-4)


def test_cd1_lowers_reconstruction_error_on_data_it_can_fit():
    patterns = torch.tensor([[1, 1, 1, 0, 0, 0, 1, 0], [0, 0, 0, 1, 1, 1, 0, 1], [1, 0, 1, 0, 1, 0, 1, 0]]).float()
    data = patterns[torch.arange(300) % 3]
    torch.manual_seed(0)
    rbm = RBM(8, 6)
    before = rbm.reconstruction_error(data)
    rbm.fit(data, epochs=30, batch_size=20, lr=0.1, generator=torch.Generator().manual_seed(0))
    after = rbm.reconstruction_error(data)
    assert after < 0.25 * before and after < 0.05


def test_gaussian_rbm_cd1_learns_low_rank_data():
    g = torch.Generator().manual_seed(0)
    data = torch.randn(500, 2, generator=g) @ torch.randn(2, 6, generator=g)
    data = (data - data.mean(0)) / data.std(0)
    torch.manual_seed(0)
    rbm = RBM(6, 16, "gaussian")
    before = rbm.reconstruction_error(data)
    rbm.fit(data, epochs=30, batch_size=25, lr=0.01, generator=torch.Generator().manual_seed(1))
    assert rbm.reconstruction_error(data) < 0.5 * before


def two_modality_data(n: int = 400, seed: int = 0) -> tuple[dict[str, ModalitySpec], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    proto_a, proto_b = torch.randn(4, 10, generator=g), torch.randn(4, 6, generator=g)
    batch = {"a": proto_a[labels] + 0.3 * torch.randn(n, 10, generator=g),
             "b": proto_b[labels] + 0.3 * torch.randn(n, 6, generator=g), "label": labels}
    return {"a": ModalitySpec("a", "vector", (10,)), "b": ModalitySpec("b", "vector", (6,))}, batch


def test_multimodal_dbn_infers_a_missing_modality_by_mean_field_and_gibbs():
    specs, batch = two_modality_data()
    torch.manual_seed(0)
    net = MultimodalDBN(specs, hidden=(16,), joint=32, epochs=50, batch_size=20, lr=0.1).fit(batch)
    true_b = net.top_layers(batch)[:, 16:]
    inferred_b = net.top_layers(drop_modality(batch, "b"))[:, 16:]
    assert torch.isfinite(inferred_b).all()
    # the inferred top layer of the missing pathway is closer to the true one than its average is
    average = (true_b - true_b.mean(0)).pow(2).mean()
    assert (inferred_b - true_b).pow(2).mean() < 0.5 * average
    net.inference = "gibbs"
    gibbs = net.top_layers(drop_modality(batch, "b"))[:, 16:]
    assert (gibbs - true_b).pow(2).mean() < average
    assert net.fuse(drop_modality(batch, "b")).shape == (400, 32)


def test_multimodal_dbn_is_reproducible_and_checks_its_input():
    specs, batch = two_modality_data(120)
    torch.manual_seed(3)
    a = MultimodalDBN(specs, hidden=(8,), joint=8, epochs=2).fit(batch).fuse(batch)
    torch.manual_seed(3)
    b = MultimodalDBN(specs, hidden=(8,), joint=8, epochs=2).fit(batch).fuse(batch)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="inference"):
        MultimodalDBN(specs, inference="exact")
    with pytest.raises(ValueError, match="visible units"):
        RBM(3, 2).fit(torch.zeros(4, 5))
