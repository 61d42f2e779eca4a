"""Coordinated losses against hand computation: InfoNCE on a 3x3 case, the max-margin ranking loss by loops."""

from __future__ import annotations

import math

import pytest
import torch
from mmml.representation import ContrastiveEmbedding, RankingEmbedding, info_nce, ranking_loss

from mmml.data.spec import ModalitySpec

A = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
B = torch.tensor([[0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])


def hand_info_nce(a: list[list[float]], b: list[list[float]], scale: float) -> float:
    n = len(a)
    s = [[scale * sum(x * y for x, y in zip(a[i], b[j], strict=True)) for j in range(n)] for i in range(n)]
    rows = [-(s[i][i] - math.log(sum(math.exp(s[i][j]) for j in range(n)))) for i in range(n)]
    cols = [-(s[j][j] - math.log(sum(math.exp(s[i][j]) for i in range(n)))) for j in range(n)]
    return (sum(rows) / n + sum(cols) / n) / 2


def clip_nce(a: torch.Tensor, b: torch.Tensor, log_scale: float | torch.Tensor) -> torch.Tensor:
    """CLIP's parametrisation of the shared InfoNCE: a learned log scale, rows already normalised."""
    return info_nce(a, b, logit_scale=log_scale, normalize=False)


def test_info_nce_equals_a_hand_computed_cross_entropy_on_3x3():
    for log_scale in (0.0, math.log(1 / 0.07)):
        ours = clip_nce(A, B, torch.tensor(log_scale))
        assert float(ours) == pytest.approx(hand_info_nce(A.tolist(), B.tolist(), math.exp(log_scale)), rel=1e-6)
    assert float(clip_nce(A, B, 0.0)) == pytest.approx(hand_info_nce(A.tolist(), B.tolist(), 1.0), rel=1e-6)


def test_info_nce_is_symmetric_and_low_for_matched_pairs():
    assert float(clip_nce(A, B, torch.tensor(2.0))) == pytest.approx(float(clip_nce(B, A, torch.tensor(2.0))))
    assert float(clip_nce(A, A, torch.tensor(5.0))) < float(clip_nce(A, A.flip(0), torch.tensor(5.0)))


def hand_ranking(a: torch.Tensor, b: torch.Tensor, margin: float, hardest: bool) -> float:
    n, s = len(a), (a @ b.T).tolist()
    total = 0.0
    for i in range(n):
        to_b = [max(0.0, margin - s[i][i] + s[i][j]) for j in range(n) if j != i]
        to_a = [max(0.0, margin - s[i][i] + s[j][i]) for j in range(n) if j != i]
        total += (max(to_b) + max(to_a)) if hardest else (sum(to_b) + sum(to_a))
    return total / n


@pytest.mark.parametrize("hardest", [False, True])
def test_ranking_loss_equals_the_hinge_sums_written_out(hardest):
    for margin in (0.0, 0.2, 1.0):
        assert float(ranking_loss(A, B, margin, hardest)) == pytest.approx(hand_ranking(A, B, margin, hardest))


def test_ranking_loss_is_zero_when_every_pair_wins_by_the_margin():
    e = torch.eye(3)
    assert float(ranking_loss(e, e, margin=0.5)) == 0.0
    assert float(ranking_loss(e, e, margin=1.5)) > 0.0


def specs3() -> dict[str, ModalitySpec]:
    return {m: ModalitySpec(m, "vector", (d,)) for m, d in (("a", 4), ("b", 3), ("c", 5))}


def test_contrastive_is_pairwise_over_three_modalities_with_learned_temperature():
    torch.manual_seed(0)
    net = ContrastiveEmbedding(specs3(), dim=4, hidden=8).eval()
    batch = {"a": torch.randn(6, 4), "b": torch.randn(6, 3), "c": torch.randn(6, 5)}
    z = net.embed(batch)
    assert all(torch.allclose(v.norm(dim=1), torch.ones(6)) for v in z.values())
    s = net.logit_scale
    ref = (clip_nce(z["a"], z["b"], s) + clip_nce(z["a"], z["c"], s) + clip_nce(z["b"], z["c"], s)) / 3
    loss = net.loss(batch)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    loss.backward()
    assert net.logit_scale.grad is not None and net.logit_scale.grad != 0
    assert net.logit_scale.item() == pytest.approx(math.log(1 / 0.07))


def test_contrastive_training_aligns_paired_views():
    torch.manual_seed(0)
    specs = {"a": ModalitySpec("a", "vector", (6,)), "b": ModalitySpec("b", "vector", (6,))}
    z = torch.randn(256, 6)
    batch = {"a": z, "b": z @ torch.randn(6, 6) + 0.05 * torch.randn(256, 6)}
    net = RankingEmbedding(specs, dim=8, hidden=32, hardest=False)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    before = float(net.loss(batch))
    for _ in range(60):
        opt.zero_grad()
        loss = net.loss(batch)
        loss.backward()
        opt.step()
    net.eval()
    e = net.embed(batch)
    top1 = (e["a"] @ e["b"].T).argmax(1).eq(torch.arange(256)).float().mean()
    assert float(net.loss(batch)) < before / 2 and top1 > 0.3


def test_unknown_modality_and_bad_temperature_are_clear_errors():
    with pytest.raises(ValueError, match="does not serve"):
        ContrastiveEmbedding(specs3(), modalities=["a", "z"])
    with pytest.raises(ValueError, match="temperature"):
        ContrastiveEmbedding(specs3(), temperature=0.0)
    with pytest.raises(ValueError, match="at least 2 modalities"):
        ContrastiveEmbedding(specs3(), modalities=["a"])
    with pytest.raises(KeyError, match="add them to data.modalities"):
        ContrastiveEmbedding(specs3()).embed({"a": torch.randn(2, 4), "b": torch.randn(2, 3)})
