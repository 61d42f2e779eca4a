"""Neural fusion against hand-built references: explicit outer products, the low-rank weight tensor, GMU gates."""

import itertools

import pytest
import torch
from mmml.fusion.neural import GatedFusion, LowRankFusion, TensorFusion, tensor_dim, tensor_product

from mmml.data.spec import ModalitySpec

SPECS = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,)),
         "c": ModalitySpec("c", "vector", (4,))}


def batch(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, s.shape[0], generator=g) for m, s in SPECS.items()}


def test_tensor_product_equals_explicit_outer_product():
    g = torch.Generator().manual_seed(1)
    zs = [torch.randn(4, d, generator=g) for d in (2, 3, 1)]
    got = tensor_product(zs)
    ext = [torch.cat([z, torch.ones(4, 1)], 1) for z in zs]
    for b in range(4):  # entry (i, j, k) = z1[i] * z2[j] * z3[k], first modality slowest
        want = torch.tensor([ext[0][b, i] * ext[1][b, j] * ext[2][b, k]
                             for i, j, k in itertools.product(range(3), range(4), range(2))])
        torch.testing.assert_close(got[b], want)
    # two modalities: the flattened outer product is numpy-style kron of the extended vectors
    torch.testing.assert_close(tensor_product(zs[:2])[0], torch.kron(ext[0][0], ext[1][0]))


def test_tensor_product_keeps_unimodal_terms():
    z1, z2 = torch.tensor([[2.0, 3.0]]), torch.tensor([[5.0]])
    out = tensor_product([z1, z2]).reshape(3, 2)
    torch.testing.assert_close(out[:2, 1], z1[0])  # z1 x 1
    torch.testing.assert_close(out[2, 0], z2[0, 0])  # 1 x z2
    assert out[2, 1] == 1.0


def test_low_rank_equals_tensor_fusion_with_rebuilt_weight():
    torch.manual_seed(0)
    lmf = LowRankFusion(SPECS, num_classes=4, hidden=3, rank=3, post=6).eval()
    tfn = TensorFusion(SPECS, num_classes=4, hidden=3, post=6).eval()
    tfn.front.load_state_dict(lmf.front.state_dict())
    tfn.head.load_state_dict(lmf.head.state_dict())
    # the weight tensor W[i, j, k, o] = sum_r lambda_r A_r[i, o] B_r[j, o] C_r[k, o], built by loops
    A, B, C = (f.detach() for f in lmf.factors)
    W = torch.zeros(4, 4, 4, 6)
    for r, i, j, k in itertools.product(range(3), range(4), range(4), range(4)):
        W[i, j, k] += lmf.rank_weights[r].detach() * A[r, i] * B[r, j] * C[r, k]
    torch.testing.assert_close(lmf.full_weight().detach(), W)
    with torch.no_grad():
        tfn.fusion_layer.weight.copy_(W.reshape(-1, 6).T)
        tfn.fusion_layer.bias.copy_(lmf.bias)
    b = batch()
    torch.testing.assert_close(tfn(b), lmf(b), atol=1e-5, rtol=1e-5)


def test_tensor_dim_caps_fused_size():
    assert tensor_dim(2, 32, 4096) == 32
    assert tensor_dim(6, 32, 4096) == 3  # 4**6 = 4096
    with pytest.raises(ValueError, match="max_size"):
        tensor_dim(13, 32, 4096)
    net = TensorFusion(SPECS, num_classes=2, hidden=32, max_size=1000)
    assert net.fusion_layer.in_features <= 1000


def test_gmu_gates_match_sigmoid_form_with_two_modalities():
    specs = {m: SPECS[m] for m in ("a", "b")}
    torch.manual_seed(0)
    net = GatedFusion(specs, num_classes=3, hidden=5).eval()
    b = {m: batch()[m] for m in specs}
    out = net(b)
    x = torch.cat([net.front.encoders[m](b[m]) for m in specs], 1)
    w, c = net.scorer.weight, net.scorer.bias
    z = torch.sigmoid(x @ (w[0] - w[1]) + (c[0] - c[1]))  # Arevalo et al.: z h1 + (1 - z) h2
    torch.testing.assert_close(out["gates"][:, 0], z)
    h1 = torch.tanh(net.transforms[0](net.front.encoders["a"](b["a"])))
    h2 = torch.tanh(net.transforms[1](net.front.encoders["b"](b["b"])))
    torch.testing.assert_close(out["logits"], net.head(z[:, None] * h1 + (1 - z[:, None]) * h2))


@pytest.mark.parametrize("gate", ["gmu", "attention"])
def test_gated_missing_modality_gets_zero_weight(gate):
    net = GatedFusion(SPECS, num_classes=3, hidden=5, gate=gate).eval()
    b = batch()
    del b["b"]
    b["b_present"] = torch.zeros(5, dtype=torch.bool)
    gates = net(b)["gates"]
    assert torch.all(gates[:, 1] == 0)
    torch.testing.assert_close(gates.sum(1), torch.ones(5))


@pytest.mark.parametrize("cls", [TensorFusion, LowRankFusion, GatedFusion])
def test_neural_fusions_train_and_handle_missing(cls):
    torch.manual_seed(0)
    net = cls(SPECS, num_classes=2)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (64,), generator=g)
    b = {m: torch.randn(64, s.shape[0], generator=g) + y[:, None] for m, s in SPECS.items()}
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(60):
        out = net(b)
        logits = out["logits"] if isinstance(out, dict) else out
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    out = net(b)
    logits = out["logits"] if isinstance(out, dict) else out
    assert (logits.argmax(1) == y).float().mean() > 0.9
    dropped = {k: v for k, v in b.items() if k != "a"} | {"a_present": torch.zeros(64, dtype=torch.bool)}
    out = net(dropped)
    assert torch.isfinite(out["logits"] if isinstance(out, dict) else out).all()


def test_unknown_modality_is_named():
    with pytest.raises(ValueError, match="'z'"):
        TensorFusion(SPECS, num_classes=2, modalities=["a", "z"])


@pytest.mark.parametrize("cls", [TensorFusion, LowRankFusion, GatedFusion])
def test_modality_dropout_drops_each_modality_independently_in_training_only(cls):
    """ModDrop (Neverova et al. 2016): in training each modality of each example is marked missing with
    probability p, independently; a dropped modality's features are zero, as for an absent one."""
    torch.manual_seed(0)
    net = cls(SPECS, 4, hidden=3, modality_dropout=0.4)
    x = batch(4000)
    h, mask = net.front.stacked(x)
    assert abs(mask.mean().item() - 0.6) < 0.03
    both = (mask[:, 0] == 0) & (mask[:, 1] == 0)
    assert abs(both.float().mean().item() - 0.16) < 0.03  # 0.4 * 0.4: independent draws
    assert h[mask == 0].abs().max() == 0 and h[mask == 1].abs().sum() > 0
    net.eval()
    assert net.front.stacked(x)[1].min() == 1  # no dropping at test time
    absent = {**x, "a_present": torch.zeros(4000, dtype=torch.bool)}
    assert net.front.stacked(absent)[1][:, 0].max() == 0  # an absent modality stays absent


def test_modality_dropout_must_be_a_probability():
    with pytest.raises(ValueError, match="modality_dropout=1.0"):
        TensorFusion(SPECS, 4, hidden=3, modality_dropout=1.0)
