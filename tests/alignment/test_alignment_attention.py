"""Attention built to align: guided-attention loss, monotonic (Raffel) and chunkwise (MoChA) expected attention,
the joint CTC branch, the read-outs and the diagnostics, each against a hand-worked case or an independent reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmml.alignment.attention_aligners import AligningAttention
from mmml.alignment.attention_diagnostics import (
    DIAGNOSTICS,
    attention_diagnostics,
    attention_entropy,
    diagonality,
    monotonic_share,
    pool_diagnostics,
)
from mmml.alignment.frame_attention import FrameAttentionAligner, forward_attention, with_pauses
from mmml.alignment.guided_attention import guided_attention_loss, guided_attention_weights
from mmml.alignment.monotonic_attention import chunkwise_attention, expected_alignment, hard_monotonic_stops
from mmml.alignment.readout import argmax_readout, choose_readout, expected_readout, monotonic_readout, read_out
from mmml.alignment.task import _pooled_diagnostics

from mmml.data.digit_sequences import VOCAB_EN
from mmml.data.spec import ModalitySpec

# ---- guided attention (Tachibana et al. 2018) ----------------------------------------------------


def test_guided_attention_weights_follow_the_paper():
    n, t, g = 3, 5, 0.2
    ref = np.array([[1 - math.exp(-((i / n - j / t) ** 2) / (2 * g * g)) for j in range(t)] for i in range(n)])
    assert np.allclose(guided_attention_weights(n, t, g).numpy(), ref, atol=1e-6)


def test_guided_attention_loss_is_zero_on_the_diagonal_and_positive_off_it():
    eye = torch.eye(6)[None]
    assert guided_attention_loss(eye).item() == 0.0  # W_nn = 0 when N == T
    assert guided_attention_loss(eye.flip(2)).item() > 0.05
    rng = torch.Generator().manual_seed(0)
    soft = torch.rand(1, 6, 6, generator=rng).softmax(-1)
    assert guided_attention_loss(soft).item() > 0
    # hand-worked: all weight of both rows of a 2 x 2 matrix on column 0: row 1 pays W_10 = 1 - exp(-(1/2)^2/0.08)
    a = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    assert guided_attention_loss(a).item() == pytest.approx((1 - math.exp(-0.25 / 0.08)) / 4)


def test_guided_attention_loss_masks_padding_per_example():
    a = torch.softmax(torch.randn(2, 3, 5), -1)
    padded = torch.zeros(2, 4, 7)
    padded[:, :3, :5] = a
    padded[:, 3:, :] = 0.3  # padding rows and columns must not count
    padded[:, :, 5:] = 0.3
    masked = guided_attention_loss(padded, torch.tensor([3, 3]), torch.tensor([5, 5]))
    assert masked.item() == pytest.approx(guided_attention_loss(a).item(), rel=1e-6)
    with pytest.raises(ValueError, match="col_lengths"):
        guided_attention_loss(padded, torch.tensor([3, 3]), torch.tensor([5, 9]))
    with pytest.raises(ValueError, match="g=0"):
        guided_attention_weights(2, 2, g=0.0)


# ---- monotonic attention (Raffel et al. 2017) and MoChA (Chiu & Raffel 2018) -------------------


def _expected_alignment_loop(p: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Raffel et al. eq. 9-10 as written: q_j = (1 - p_{j-1}) q_{j-1} + alpha_prev_j, alpha_j = p_j q_j."""
    alpha, q = np.zeros_like(p), 0.0
    for j in range(len(p)):
        q = (1 - p[j - 1]) * q + prev[j] if j else prev[j]
        alpha[j] = p[j] * q
    return alpha


def test_expected_alignment_matches_the_recursion_of_the_paper():
    rng = np.random.default_rng(0)
    for _ in range(10):
        s = int(rng.integers(2, 12))
        p, prev = rng.uniform(0.01, 0.95, (3, s)), rng.dirichlet(np.ones(s), 3)
        got = expected_alignment(torch.from_numpy(p), torch.from_numpy(prev)).numpy()
        assert np.allclose(got, np.stack([_expected_alignment_loop(p[i], prev[i]) for i in range(3)]), atol=1e-9)
    # a certain stop on the first input after the previous stop
    p = torch.tensor([[0.0, 0.0, 1.0 - 1e-9, 0.3]])
    assert expected_alignment(p, torch.tensor([[0.0, 1.0, 0.0, 0.0]]))[0].argmax().item() == 2


def test_expected_alignment_masks_padding_and_has_gradients():
    p = torch.full((1, 5), 0.5, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, True, False, False]])
    alpha = expected_alignment(p, torch.tensor([[1.0, 0, 0, 0, 0]], dtype=torch.float64), mask)
    assert alpha[0, 3:].eq(0).all() and alpha.sum().item() == pytest.approx(0.875)  # 1 - 0.5^3 stopped
    alpha.sum().backward()
    assert torch.isfinite(p.grad).all()


def test_chunkwise_attention_matches_its_definition():
    rng = np.random.default_rng(1)
    s, w = 7, 3
    alpha, u = rng.dirichlet(np.ones(s), 2), rng.normal(size=(2, s))
    ref = np.zeros_like(alpha)
    for b in range(2):
        for j in range(s):
            for k in range(j, min(j + w, s)):
                lo = max(k - w + 1, 0)
                ref[b, j] += alpha[b, k] * math.exp(u[b, j]) / np.exp(u[b, lo: k + 1]).sum()
    got = chunkwise_attention(torch.from_numpy(alpha), torch.from_numpy(u), w).numpy()
    assert np.allclose(got, ref, atol=1e-9)
    assert np.allclose(got.sum(1), alpha.sum(1))  # each stop's weight is only spread, never lost


def test_hard_monotonic_stops_by_hand():
    p = torch.tensor([[0.1, 0.7, 0.9, 0.2], [0.9, 0.1, 0.2, 0.6], [0.1, 0.1, 0.1, 0.1]])
    assert hard_monotonic_stops(p).tolist() == [1, 3, 3]


# ---- joint CTC-attention (Kim, Hori & Watanabe 2017) ---------------------------------------------


def _specs(n_frames: int = 40):
    return {"audio": ModalitySpec("audio", "sequence", (n_frames, 6), frame_rate=62.5),
            "text": ModalitySpec("text", "tokens", (3,), vocab=VOCAB_EN.tokens)}


def _batch():
    return {"audio": torch.randn(2, 40, 6), "audio_lengths": torch.tensor([40, 27]),
            "text": torch.tensor([[5, 6, 5], [8, 9, 0]]), "text_lengths": torch.tensor([3, 2])}


def test_ctc_branch_loss_equals_torch_ctc_loss():
    net = AligningAttention(_specs(), hidden=8, stride=2, dropout=0.0, ctc_weight=0.4, ctc_units="words").eval()
    batch = _batch()
    out = net.run(batch)
    lp = net.ctc_log_probs(out["enc"])
    # one class per word: 1 + the word's index among the vocabulary's words (specials have none)
    words = sorted(w for w in VOCAB_EN.tokens if not w.startswith("<"))
    cls = {i: 1 + words.index(w) for i, w in enumerate(VOCAB_EN.tokens) if w in words}
    targets = torch.tensor([[cls[5], cls[6], cls[5]], [cls[8], cls[9], 0]])
    ref = F.ctc_loss(lp.transpose(0, 1), targets, torch.tensor([20, 14]), torch.tensor([3, 2]), blank=0,
                     reduction="mean", zero_infinity=True)
    assert out["steps"].tolist() == [20, 14]
    assert torch.allclose(net.ctc_loss(out["enc"], out["steps"], batch), ref)
    # the joint loss: (1 - lambda) attention cross-entropy + lambda CTC (no guided term here)
    ce = F.nll_loss(out["logp"].flatten(0, 1), out["gold"].flatten(), ignore_index=0)
    assert torch.allclose(net.loss(batch), 0.6 * ce + 0.4 * ref)


@pytest.mark.parametrize("kind", [{"attention": "location", "guided_weight": 5.0},
                                  {"attention": "monotonic", "chunk": 0},
                                  {"attention": "monotonic", "chunk": 4, "ctc_weight": 0.3}],
                         ids=["location-guided", "monotonic", "mocha-ctc"])
def test_aligning_attention_shapes_and_gradients(kind):
    net = AligningAttention(_specs(), hidden=8, stride=2, **kind)
    batch = _batch()
    loss = net.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    net.eval()
    logp, att, gold = net(batch)
    assert att.shape == (2, 4, 20) and att[1, :, 14:].eq(0).all()  # no weight on padding steps
    if kind["attention"] == "location":
        assert torch.allclose(att.sum(-1), torch.ones(2, 4))
    else:
        assert (att.sum(-1) <= 1 + 1e-5).all()  # monotonic: weight that never stops is lost
    for readout in ("argmax", "monotonic", "expected"):
        net.readout = readout
        spans = net.align(batch)
        assert spans.shape == (2, 3, 2) and spans[1, 2].eq(-1).all() and int(spans[1, 1, 1]) <= 27


def test_aligning_attention_rejects_bad_settings():
    with pytest.raises(ValueError, match="attention='gauss'"):
        AligningAttention(_specs(), attention="gauss")
    with pytest.raises(ValueError, match="readout='peak'"):
        AligningAttention(_specs(), readout="peak")
    with pytest.raises(ValueError, match="ctc_weight=1.0"):
        AligningAttention(_specs(), ctc_weight=1.0)
    with pytest.raises(ValueError, match="no CTC branch"):
        AligningAttention(_specs(), hidden=8).ctc_log_probs(torch.zeros(1, 2, 8))


# ---- read-outs -----------------------------------------------------------------------------------


def test_monotonic_readout_of_a_hand_built_attention():
    """Three words over ten steps with pauses: word 0 on steps 1-2, word 1 on 4-6, word 2 on 8-9. Steps 0, 3
    and 7 get at most 0.02 from every word, below uniform (1/10), so the silence-aware Viterbi leaves them
    to silence; without silence the words tile the steps and each pause goes to the word that attends more."""
    att = torch.full((3, 10), 0.01)
    att[0, [1, 2]] = 0.45
    att[0, 3] = 0.02
    att[1, [4, 5, 6]] = 0.3
    att[1, 3] = 0.015
    att[2, [8, 9]] = 0.45
    att[2, 7] = 0.02
    att = att / att.sum(1, keepdim=True)
    assert monotonic_readout(att, silence=True).tolist() == [[1, 3], [4, 7], [8, 10]]
    # tiling: step 0 must go to word 0; step 3 to word 0 (0.02 > 0.015); step 7 to word 2 (0.02 > 0.01)
    assert monotonic_readout(att, silence=False).tolist() == [[0, 4], [4, 7], [7, 10]]
    # argmax: peaks 1, 4, 8 -> ends (1 + 4) // 2 + 1 = 3, (4 + 8) // 2 + 1 = 7, 10
    assert argmax_readout(att).tolist() == [[0, 3], [3, 7], [7, 10]]
    assert read_out(att, "monotonic", silence=True).tolist() == [[1, 3], [4, 7], [8, 10]]


def test_expected_readout_by_hand():
    # uniform rows over [0, 2), [3, 6) and [6, 10) are read back exactly
    att = torch.zeros(3, 10)
    att[0, 0:2], att[1, 3:6], att[2, 6:10] = 0.5, 1 / 3, 0.25
    assert expected_readout(att).tolist() == [[0, 2], [3, 6], [6, 10]]
    # a row of half its weight on 0 and half on 4: centre 2.5, variance 4 + 1/12 -> half-width 3.5: [0, 6);
    # the next row's span [4, 6) overlaps it and the two meet half-way, at 5
    two = torch.tensor([[0.5, 0, 0, 0, 0.5, 0, 0, 0], [0, 0, 0, 0, 0.5, 0.5, 0, 0]])
    assert expected_readout(two).tolist() == [[0, 5], [5, 6]]
    # every word keeps a step, in order, even when all rows point at the last step
    assert expected_readout(torch.tensor([[0, 0, 1.0], [0, 0, 1.0], [0, 0, 1.0]])).tolist() == [[0, 1], [1, 2],
                                                                                                  [2, 3]]


def test_choose_readout_and_errors():
    assert choose_readout({"argmax": [40.0], "expected": [25.0, 35.0], "monotonic": [31.0]})[0] == "expected"
    with pytest.raises(ValueError, match="readout='mode'"):
        read_out(torch.ones(2, 4) / 4, "mode")
    with pytest.raises(ValueError, match="no read-out"):
        choose_readout({"argmax": float("nan")})
    with pytest.raises(ValueError, match="negative or non-finite"):
        expected_readout(torch.tensor([[0.5, -0.5]]))


# ---- diagnostics ---------------------------------------------------------------------------------


def test_diagnostics_on_hand_built_matrices():
    eye = torch.eye(4)
    assert attention_diagnostics(eye) == {"attention_entropy": 0.0, "diagonality": 1.0, "monotonic_share": 1.0}
    assert attention_entropy(torch.full((3, 5), 0.2)) == pytest.approx(1.0)
    # rows spread evenly over 2 of 4 steps: entropy log 2 / log 4 = 1/2
    assert attention_entropy(torch.tensor([[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])) == pytest.approx(0.5)
    # peaks at 0, 2, 1, 3: two of the three moves go forward
    peaks = torch.zeros(4, 4)
    peaks[[0, 1, 2, 3], [0, 2, 1, 3]] = 1.0
    assert monotonic_share(peaks) == pytest.approx(2 / 3)
    # anti-diagonal 2 x 2: row 0 on column 1 pays W = 1 - exp(-(0 - 1/2)^2 / 0.08), row 1 on column 0 the same
    w = 1 - math.exp(-0.25 / 0.08)
    assert diagonality(torch.tensor([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(1 - w)
    # pooled: entropy weighted by rows, monotonic share by row pairs
    pooled = pool_diagnostics([eye, peaks, torch.full((2, 4), 0.25)])
    assert pooled["attention_entropy"] == pytest.approx(2 / 10)
    assert pooled["monotonic_share"] == pytest.approx((3 + 2 + 1) / (3 + 3 + 1))


# ---- frames attending over the transcript (Tachibana's orientation; forward attention, Zhang et al. 2018) ----------


def _forward_attention_loop(y: np.ndarray) -> np.ndarray:
    """Zhang et al. eq. 7-9 as written (alpha_0 = delta_0): (alpha_t-1(n) + alpha_t-1(n-1)) y_t(n), normalised."""
    alpha, out = np.eye(y.shape[1])[0], []
    for t in range(y.shape[0]):
        alpha = (alpha + np.concatenate([[0.0], alpha[:-1]])) * y[t]
        alpha = alpha / alpha.sum()
        out.append(alpha)
    return np.stack(out)


def test_forward_attention_matches_the_recursion_of_the_paper():
    rng = np.random.default_rng(2)
    y = rng.dirichlet(np.ones(4), size=(2, 7))
    got = forward_attention(torch.from_numpy(y).log(), torch.ones(2, 4, dtype=torch.bool)).numpy()
    assert np.allclose(got, np.stack([_forward_attention_loop(y[b]) for b in range(2)]), atol=1e-9)
    # a masked token gets nothing, and frames can only reach token t + 1 by frame t
    mask = torch.tensor([[True, True, True, False]])
    got = forward_attention(torch.from_numpy(y[:1]).log(), mask)
    assert got[0, :, 3].eq(0).all() and got[0, 0, 2:].abs().max() < 1e-30
    assert torch.allclose(got.sum(-1), torch.ones(1, 7, dtype=got.dtype))


def test_with_pauses_by_hand():
    ids, n = with_pauses(torch.tensor([[5, 6, 7], [8, 0, 0]]), torch.tensor([3, 1]), 14)
    assert ids.tolist() == [[14, 5, 14, 6, 14, 7, 14], [14, 8, 14, 14, 14, 14, 14]] and n.tolist() == [7, 3]


@pytest.mark.parametrize("kind", ["content", "forward"])
def test_frame_attention_aligner_shapes_gradients_and_readouts(kind):
    net = FrameAttentionAligner(_specs(), hidden=8, attention=kind, guided_weight=10.0)
    batch = _batch()
    loss = net.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    net.eval()
    tokens = net.token_matrices(batch)
    assert [tuple(m.shape) for m in tokens] == [(7, 40), (5, 27)]
    assert all(torch.allclose(m.sum(0), torch.ones(m.shape[1])) for m in tokens)  # every frame is somewhere
    assert [tuple(m.shape) for m in net.attention(batch)] == [(3, 40), (2, 27)]
    for readout in ("monotonic", "argmax", "expected"):
        net.readout = readout
        spans = net.align(batch)
        assert spans.shape == (2, 3, 2) and spans[1, 2].eq(-1).all() and int(spans[1, 1, 1]) <= 27
        assert (spans[0, 1:, 0] >= spans[0, :-1, 1]).all()  # ordered, no overlap


def test_frame_attention_readout_of_hand_built_token_attention():
    """Frames 0-1 on the first pause, 2-4 on word 0, 5 on the pause, 6-8 on word 1, 9 on the last pause: the
    monotonic Viterbi through all five tokens gives the words [2, 5) and [6, 9)."""
    owner = [0, 0, 1, 1, 1, 2, 3, 3, 3, 4]
    m = torch.full((5, 10), 0.02)
    m[owner, torch.arange(10)] = 0.92
    assert monotonic_readout(m / m.sum(0), silence=False)[1::2].tolist() == [[2, 5], [6, 9]]


def test_task_pools_diagnostics_like_pool_diagnostics():
    mats = [torch.eye(4), torch.full((2, 4), 0.25), torch.eye(3).flip(0)]
    diag = torch.tensor([[attention_diagnostics(m)[k] for k in DIAGNOSTICS] for m in mats], dtype=torch.float64)
    rows = torch.tensor([4.0, 2.0, 3.0], dtype=torch.float64)
    assert _pooled_diagnostics(diag, rows) == pytest.approx(pool_diagnostics(mats))
