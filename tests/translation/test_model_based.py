"""Template and attention translators: perfect detectors give exact match 1, beam search of width 1 equals
plain greedy decoding and a wide beam finds the brute-force best sequence, over-long outputs are cut and
flagged, unknown words map to <unk> with a warning, attention rows are distributions over valid steps."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from mmml.translation.evaluation import decode, text_scores
from mmml.translation.model_based import AttentionTranslator, SourceEncoder, TemplateTranslator, digits_of, sinusoid

from mmml.data.digit_sequences import VOCAB_EN, VOCAB_FR
from mmml.data.spec import ModalitySpec
from mmml.data.text import BOS_ID, EOS_ID, Vocab

SPECS = {
    "image": ModalitySpec("image", "sequence", (30, 8)),
    "audio": ModalitySpec("audio", "sequence", (240, 5), frame_rate=62.5, log_mel=True),
    "text": ModalitySpec("text", "tokens", (4,), vocab=VOCAB_EN.tokens),
    "text_fr": ModalitySpec("text_fr", "tokens", (4,), vocab=VOCAB_FR.tokens),
}


def _batch(n: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(1, 5, (n,), generator=g)
    digits = torch.randint(0, 10, (n, 4), generator=g)
    valid = torch.arange(4)[None] < k[:, None]
    text = torch.where(valid, digits + 4, 0)
    return {"image": torch.randn(n, 30, 8, generator=g), "image_lengths": torch.randint(10, 31, (n,), generator=g),
            "audio": torch.randn(n, 240, 5, generator=g), "audio_lengths": torch.randint(50, 241, (n,), generator=g),
            "text": text, "text_lengths": k, "text_fr": text.clone(), "text_fr_lengths": k.clone()}


@pytest.mark.parametrize("direction", ["captioning", "mmt"])
def test_template_with_perfect_detectors_scores_exact_one(direction):
    batch = _batch(8)
    net = TemplateTranslator(SPECS, direction, hidden=8)
    out = net.fill(digits_of(batch, net.direction))  # the oracle: true digits in the slots
    target = net.direction.target
    vocab = Vocab(SPECS[target].vocab)
    scores = text_scores(decode(out["tokens"], vocab, out["lengths"]),
                         decode(batch[target], vocab, batch[f"{target}_lengths"]))
    assert scores["exact"] == 1.0 and scores["wer"] == 0.0
    assert not out["truncated"].any()


def test_template_trains_its_detectors():
    torch.manual_seed(0)
    batch = _batch(16)
    net = TemplateTranslator(SPECS, "captioning", hidden=16)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = net.loss(batch).item()
    for _ in range(60):
        loss = net.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first  # it can fit 16 examples


def test_beam_of_width_one_equals_greedy():
    torch.manual_seed(0)
    for direction in ("captioning", "recognition", "mmt"):
        net = AttentionTranslator(SPECS, direction, hidden=16).eval()
        batch = _batch(7, seed=1)
        beam, greedy = net.translate(batch, beam=1), net.greedy(batch)
        assert torch.equal(beam["lengths"], greedy["lengths"]), direction
        assert torch.equal(beam["truncated"], greedy["truncated"]), direction
        assert torch.equal(beam["tokens"], greedy["tokens"]), direction


def _sequence_logprob(net: AttentionTranslator, batch, seqs: torch.Tensor) -> torch.Tensor:
    """Log-probability of each row of ``seqs`` (steps after <eos> extend with padding at no cost)."""
    mem, keys, mask, h, spans = net._start(batch)
    n = seqs.shape[0]
    mem, keys, mask, h = (t.expand(n, *t.shape[1:]) for t in (mem, keys, mask, h))
    sources = net._sources(mem, keys, mask, spans)
    token, total = torch.full((n,), BOS_ID), torch.zeros(n)
    ended = torch.zeros(n, dtype=torch.bool)
    for t in range(seqs.shape[1]):
        logp, h, _ = net._step(token, h, sources)
        total = total + torch.where(ended, 0.0, logp.gather(1, seqs[:, t:t + 1])[:, 0])
        ended |= seqs[:, t] == EOS_ID
        token = seqs[:, t]
    return total


def test_wide_beam_finds_the_brute_force_best():
    torch.manual_seed(3)
    net = AttentionTranslator(SPECS, "captioning", hidden=8, max_length=2).eval()
    batch = {k: v[:1] for k, v in _batch(1, seed=2).items()}
    tokens = range(1, len(VOCAB_EN))  # every id but padding
    seqs = torch.tensor(list(itertools.product(tokens, repeat=3)))  # max_length + 1 decoding steps
    with torch.no_grad():
        scores = _sequence_logprob(net, batch, seqs)
    best = seqs[scores.argmax()].tolist()
    out = net.translate(batch, beam=len(tokens) ** 2)
    n = int(out["lengths"][0])
    expected = best[: best.index(EOS_ID)] if EOS_ID in best else best[:2]
    assert out["tokens"][0, :n].tolist() == expected
    assert bool(out["truncated"][0]) == (EOS_ID not in best)


def test_too_long_translation_is_cut_and_flagged():
    net = AttentionTranslator(SPECS, "captioning", hidden=8, max_length=3).eval()
    with torch.no_grad():
        net.out.bias[EOS_ID] = -1e9  # <eos> can never be chosen
    for out in (net.translate(_batch(4)), net.greedy(_batch(4)), net.translate(_batch(4), beam=3)):
        assert out["truncated"].all()
        assert (out["lengths"] == 3).all() and out["tokens"].shape == (4, 3)


def test_unknown_words_map_to_unk_with_a_warning_never_a_crash():
    vocab = Vocab(SPECS["text"].vocab)
    with pytest.warns(UserWarning, match="eleven"):
        ids, lengths = vocab.encode([["one", "eleven", "two"], ["three"]], max_length=4)
    assert ids[0].tolist() == [5, 1, 6, 0]
    batch = {**{k: v[:2] for k, v in _batch(2).items()}, "text": ids, "text_lengths": lengths}
    out = AttentionTranslator(SPECS, "mmt", hidden=8).translate(batch)
    assert out["tokens"].shape[0] == 2


def test_attention_rows_are_distributions_over_valid_steps():
    net = AttentionTranslator(SPECS, "recognition", hidden=8).eval()
    batch = _batch(3)
    out = net.translate(batch, beam=2)
    att = out["attention"]
    (name, steps, per_step), = net.encoder.steps(batch)
    assert att.shape[-1] == steps == 60 and per_step == 4 and name == "audio"
    valid = torch.arange(steps)[None] < (batch["audio_lengths"] + 3)[:, None] // 4
    assert torch.allclose(att.sum(-1), torch.ones(att.shape[:2]), atol=1e-5)
    assert (att * ~valid[:, None]).abs().max() == 0


def test_mmt_attends_to_each_source_separately():
    """The doubly-attentive decoder (Calixto et al. 2017): one distribution over each source's valid steps."""
    net = AttentionTranslator(SPECS, "mmt", hidden=8).eval()
    batch = _batch(4)
    att = net.translate(batch, beam=2)["attention"]
    (m1, n1, _), (m2, n2, per_step) = net.encoder.steps(batch)
    assert (m1, m2) == ("text", "image") and att.shape[-1] == n1 + n2
    words, image = att.split([n1, n2], -1)
    assert torch.allclose(words.sum(-1), torch.ones(att.shape[:2]), atol=1e-5)
    assert torch.allclose(image.sum(-1), torch.ones(att.shape[:2]), atol=1e-5)
    valid = torch.arange(n2)[None] < (batch["image_lengths"] + per_step - 1)[:, None] // per_step
    assert (image * ~valid[:, None]).abs().max() == 0


def test_sinusoid_matches_the_formula():
    """PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)) (Vaswani et al. 2017)."""
    d = 6
    pe = sinusoid(7, d)
    for p in range(7):
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_template_slots_read_position():
    """On a memory whose steps are all alike, content alone would give every slot uniform attention; the
    position codes in the keys send different slots to different steps."""
    net = TemplateTranslator(SPECS, "captioning", hidden=8)
    att, ctx = net.slot_attention(net.queries[0], torch.ones(3, 20, 8), torch.ones(3, 20, dtype=torch.bool))
    assert att.shape == (3, net.max_slots, 20) and ctx.shape == (3, net.max_slots, 8)
    assert torch.allclose(att.sum(-1), torch.ones(3, net.max_slots))
    assert (att - 1 / 20).abs().amax() > 1e-2  # not uniform
    assert (att[:, 1:] - att[:, :1]).abs().amax() > 1e-2  # slots differ


def test_clear_errors():
    with pytest.raises(ValueError, match="ContinuousGenerator"):
        AttentionTranslator(SPECS, "synthesis")
    with pytest.raises(ValueError, match="unknown"):
        TemplateTranslator(SPECS, "summarisation")
    with pytest.raises(ValueError, match="needs modalities"):
        SourceEncoder  # noqa: B018
        TemplateTranslator({"text": SPECS["text"]}, "captioning")
    with pytest.raises(KeyError, match="image"):
        TemplateTranslator(SPECS, "captioning", hidden=8).translate({"text": torch.zeros(1, 4, dtype=torch.long)})
    with pytest.raises(RuntimeError, match=r"fit\(train_split\)"):
        TemplateTranslator(SPECS, "synthesis", hidden=8).translate(_batch(2))


@pytest.mark.parametrize("direction", ["captioning", "recognition", "mmt"])
@pytest.mark.parametrize("cls", [AttentionTranslator, TemplateTranslator])
def test_training_on_batches_cut_to_their_longest_sequence_gives_the_padded_loss(monkeypatch, cls, direction):
    """loss() cuts sequences past the batch's longest (trim_to_longest, PADDING_READ frames on): the same loss."""
    import mmml.translation.model_based as model_based

    batch = _batch(6, seed=3)
    for m in ("image", "audio"):  # the datamodule pads with zeros
        pad = torch.arange(batch[m].shape[1])[None] >= batch[f"{m}_lengths"][:, None]
        batch[m][pad] = 0.0
    batch["audio_lengths"] = batch["audio_lengths"].clamp_max(150)  # so that cutting removes frames
    torch.manual_seed(0)
    net = cls(SPECS, direction, hidden=8)
    cut = net.loss(batch)
    monkeypatch.setattr(model_based, "trim_to_longest", lambda b, modalities, margin=0: dict(b))
    padded = net.loss(batch)
    assert torch.allclose(cut, padded, atol=1e-6), (float(cut), float(padded))
