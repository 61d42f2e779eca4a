"""CLIP (mmml.representation.clip), the classifier from label text (zero_shot) and the text encoders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from mmml.representation import CLIP, CLIPTask, ZeroShotClassifier
from mmml.representation.clip_task import few_shot_indices, without_labels
from mmml.representation.zero_shot import ensemble_weights, text_embedder

from mmml.data.captioned import CaptionedDigits
from mmml.data.spec import ModalitySpec
from mmml.text_encoders import CBOWTextEncoder, TransformerTextEncoder
from mmml.tokenizer import WordTokenizer

VOCAB = ("<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c", "d")
TOKENS = ModalitySpec("caption", "tokens", (6,), vocab=VOCAB)


def test_zero_shot_logits_equal_a_hand_computation_on_three_classes():
    # prompts "x {}" and "y {}": class cat -> (3, 4) and (0, 2); dog -> (0, 5) and (1, 0); fox -> (1, 1) twice
    table = {"x cat": [3.0, 4.0], "y cat": [0.0, 2.0], "x dog": [0.0, 5.0], "y dog": [1.0, 0.0],
             "x fox": [1.0, 1.0], "y fox": [2.0, 2.0]}
    clf = ZeroShotClassifier(lambda ts: torch.tensor([table[t] for t in ts]), ["cat", "dog", "fox"],
                             ["x {}", "y {}"], scale=10.0)
    # by hand: cat = normalise((0.6, 0.8) + (0, 1)) = (0.3, 0.9) / sqrt(0.9) = (0.316228, 0.948683);
    # dog = normalise((0, 1) + (1, 0)) = (0.707107, 0.707107); fox = (0.707107, 0.707107) too.
    # input (2, 0) -> unit (1, 0): logits 10 * (0.316228, 0.707107, 0.707107);
    # input (0, -1): logits 10 * (-0.948683, -0.707107, -0.707107)
    logits = clf(torch.tensor([[2.0, 0.0], [0.0, -1.0]]))
    expected = torch.tensor([[3.16228, 7.07107, 7.07107], [-9.48683, -7.07107, -7.07107]])
    assert torch.allclose(logits, expected, atol=1e-4)


def test_prompt_ensembling_is_the_mean_of_normalised_embeddings():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(4 * 3, 5, generator=g) * torch.rand(12, 1, generator=g) * 10  # very different norms
    lookup = {f"t{j} c{i}": emb[i * 3 + j] for i in range(4) for j in range(3)}
    w = ensemble_weights(lambda ts: torch.stack([lookup[t] for t in ts]), [f"c{i}" for i in range(4)],
                         ["t0 {}", "t1 {}", "t2 {}"])
    reference = torch.stack([F.normalize(emb[i * 3:(i + 1) * 3], dim=1).mean(0) for i in range(4)])
    assert torch.allclose(w, reference / reference.norm(dim=1, keepdim=True), atol=1e-6)
    unnormalised = F.normalize(emb.reshape(4, 3, 5).mean(1), dim=1)
    assert not torch.allclose(w, unnormalised, atol=1e-3)  # normalising each prompt first matters


def test_clip_loss_is_the_symmetric_cross_entropy_of_scaled_cosines():
    specs = {"image": ModalitySpec("image", "image", (1, 8, 8)), "caption": TOKENS}
    torch.manual_seed(0)
    net = CLIP(specs, dim=4, width=8, temperature=0.5).eval()  # no dropout
    batch = {"image": torch.rand(5, 1, 8, 8), "caption": torch.randint(4, 8, (5, 6)),
             "caption_lengths": torch.tensor([6, 5, 4, 3, 2])}
    x = F.normalize(net.project(net.encoders["image"](batch["image"])), dim=1)
    t = F.normalize(net.project_text(net.text_encoder(batch["caption"], batch["caption_lengths"])), dim=1)
    logits = 2.0 * x @ t.T  # exp(log(1 / 0.5))
    target = torch.arange(5)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert torch.allclose(net.loss(batch), expected, atol=1e-6)
    assert float(net.scale().detach()) == pytest.approx(2.0)
    net.logit_scale.data.fill_(10.0)
    assert float(net.scale().detach()) == pytest.approx(100.0)  # clipped at 100, as CLIP


def test_text_encoders_read_only_the_valid_tokens():
    torch.manual_seed(0)
    ids = torch.tensor([[4, 5, 3, 0, 0, 0], [4, 5, 3, 0, 0, 0]])
    other = ids.clone()
    other[1, 3:] = torch.tensor([6, 7, 6])  # garbage after <eos>
    lengths = torch.tensor([3, 3])
    for enc in (TransformerTextEncoder(TOKENS, 8, width=16, layers=2, heads=2), CBOWTextEncoder(TOKENS, 8, 16)):
        enc.eval()
        out = enc(other, lengths)
        assert torch.allclose(out[0], out[1], atol=1e-5)
    cbow = CBOWTextEncoder(TOKENS, 8, 16)
    assert torch.allclose(cbow(ids[:1], lengths[:1]), cbow.head(cbow.token.weight[[4, 5, 3]].mean(0, keepdim=True)))
    causal = TransformerTextEncoder(TOKENS, 8, width=16, layers=1, heads=2).eval()
    a = causal(torch.tensor([[4, 5, 6, 3, 0, 0]]), torch.tensor([4]))
    b = causal(torch.tensor([[4, 5, 7, 3, 0, 0]]), torch.tensor([4]))
    assert not torch.allclose(a, b)  # the <eos> token sees the words before it
    # dropping the padding columns (as forward does) equals running the layers over the whole padded row
    ids6, n = torch.tensor([[4, 5, 6, 3, 0, 0], [4, 3, 0, 0, 0, 0]]), torch.tensor([4, 2])
    valid = torch.arange(6)[None] < n[:, None]
    h = causal.blocks(causal.token(ids6) + causal.position, mask=torch.triu(torch.ones(6, 6, dtype=torch.bool), 1),
                      src_key_padding_mask=~valid)
    full = causal.head(causal.norm(h[torch.arange(2), n - 1]))
    assert torch.allclose(causal(ids6, n), full, atol=1e-5)


def test_text_embedder_turns_any_coordinated_model_into_a_classifier():
    from mmml.representation import ContrastiveEmbedding

    from mmml.tokenizer import WordTokenizer

    tok = WordTokenizer(["a", "b", "c"], max_length=6)
    specs = {"v": ModalitySpec("v", "vector", (3,)), "caption": ModalitySpec("caption", "tokens", (6,),
                                                                              vocab=tok.tokens)}
    net = ContrastiveEmbedding(specs, dim=4, hidden=8).eval()
    clf = ZeroShotClassifier(text_embedder(net, "caption", tok.encode), ["b", "c"], ["a {}"])
    x = net.embed({"v": torch.randn(3, 3), "caption_present": torch.zeros(3, dtype=torch.bool)})["v"]
    assert clf(x).shape == (3, 2)


def _train(dm: CaptionedDigits, epochs: int = 2) -> CLIPTask:
    pl.seed_everything(0, workers=True)
    net = CLIP(dm.specs, dim=8, width=16, text_options={"layers": 1, "heads": 2})
    task = CLIPTask(net, class_names=dm.class_names, shots=(1, 4), probe_Cs=(1.0, 100.0), lr=0.005)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, deterministic=True)
    trainer.fit(task, datamodule=dm)
    task.trainer_ = trainer
    return task


@pytest.mark.slow
def test_pretraining_is_bit_identical_when_the_labels_are_shuffled():
    states, labels = [], []
    for shuffle in (False, True):
        dm = CaptionedDigits(cache=False, batch_size=128, seed=0)
        dm.setup()
        if shuffle:
            for split in dm.splits.values():
                split["label"] = split["label"][torch.randperm(len(split["label"]))]
        states.append(_train(dm).net.state_dict())
        labels.append(dm.split("train")["label"].clone())
    assert not torch.equal(labels[0], labels[1])  # the shuffle reached the split the trainer read
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    pl.seed_everything(0, workers=True)
    untrained = CLIP(dm.specs, dim=8, width=16, text_options={"layers": 1, "heads": 2}).state_dict()
    assert not all(torch.equal(untrained[k], states[0][k]) for k in untrained)  # training did move the weights
    assert "label" not in without_labels({"label": torch.zeros(1), "image": torch.zeros(1)})


@pytest.mark.slow
def test_clip_task_reports_zero_shot_probes_and_retrieval_under_every_shift():
    dm = CaptionedDigits(cache=False, batch_size=128, test_conditions=["clean", "image:rotate@30"])
    task = _train(dm, epochs=3)
    # the headline is logged on validation every epoch: zero-shot accuracy of the final weights on the val split
    val = dm.split("val")
    task.net.eval()
    with torch.no_grad():
        clf = ZeroShotClassifier(task.net.encode_text, dm.class_names, dm.grammar.prompts)
        by_hand = float((clf(task.net.embed_input(val)).argmax(1) == val["label"]).double().mean())
    assert float(task.trainer_.callback_metrics["val/zeroshot_acc"]) == pytest.approx(by_hand, abs=1e-6)
    assert task.default_monitor() == "val/zeroshot_acc"
    collected = {"x": task.net.embed_input(val).detach(), "text": torch.zeros(len(val["label"]), 1),
                 "label": val["label"]}
    assert task.evaluate("val", collected) == {"zeroshot_acc": pytest.approx(by_hand, abs=1e-9)}
    task.trainer_.test(task, datamodule=dm, verbose=False)
    r = task.test_results
    for cond in ("clean", "image_rotate30"):
        assert r[f"test/{cond}/zeroshot_ci_low"] <= r[f"test/{cond}/zeroshot_acc"] <= r[f"test/{cond}/zeroshot_ci_high"]
        for key in ("probe_acc", "fewshot1_acc", "fewshot4_acc", "text2image_R@1", "text2image_medr", "chance"):
            assert f"test/{cond}/{key}" in r
    assert r["test/clean/chance"] == pytest.approx(0.1)
    assert r["test/clean/probe_C"] in (1.0, 100.0)
    assert r["test/clean/zeroshot_acc"] > 0.2  # three epochs already beat chance (0.1)
    y = dm.split("train")["label"].numpy()
    idx = few_shot_indices(y, 4, seed=0)
    assert sorted((y[idx] == c).sum() for c in range(10)) == [4] * 10
    assert math.isfinite(r["test/clean/text2image_medr"])


def _write_vectors(path, words, vectors):
    lines = [f"{len(words)} {vectors.shape[1]}"] + [w + " " + " ".join(f"{v:.6f}" for v in row)
                                                    for w, row in zip(words, vectors, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_pretrained_word_vectors_are_frozen_and_averaged_over_known_words(tmp_path):
    from mmml.text_encoders import PretrainedWordVectors, build_text_encoder, load_word_vectors

    vectors = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [5.0, 5.0, 5.0]])
    path = tmp_path / "tiny.vec"
    _write_vectors(path, ["A", "b", "a"], vectors.numpy())
    words, loaded = load_word_vectors(path)
    assert words == ["A", "b", "a"] and torch.allclose(torch.from_numpy(loaded), vectors)
    enc = build_text_encoder(TOKENS, 4, "pretrained", path=path, width=64)
    assert isinstance(enc, PretrainedWordVectors) and [n for n, _ in enc.named_parameters()] == ["head.weight",
                                                                                              "head.bias"]
    # vocab a, b, c, d: 'a' is the file's own 'a' (exact match before the case-insensitive 'A'), c and d unknown
    assert enc.coverage == pytest.approx(2 / len(VOCAB))
    out = enc(torch.tensor([[4, 5, 6, 3, 0, 0], [6, 7, 3, 0, 0, 0]]), torch.tensor([4, 3]))
    by_hand = enc.head(torch.stack([(vectors[2] + vectors[1]) / 2, torch.zeros(3)]))  # <eos>, c, d: no vector
    assert torch.allclose(out, by_hand, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="text_options.path"):
        build_text_encoder(TOKENS, 4, "pretrained", path=tmp_path / "missing.vec")
    other = tmp_path / "other.vec"
    _write_vectors(other, ["zebra"], vectors[:1].numpy())
    with pytest.raises(ValueError, match="none of the 8 words"):
        PretrainedWordVectors(TOKENS, 4, other)


def test_pretrained_word_vectors_load_the_fasttext_model_gensim_ships(tmp_path):
    gensim = pytest.importorskip("gensim")
    from pathlib import Path

    from gensim.models import KeyedVectors

    from mmml.text_encoders import PretrainedWordVectors, load_word_vectors

    path = Path(gensim.__file__).parent / "test" / "test_data" / "lee_fasttext.vec"  # fastText on the Lee corpus
    kv = KeyedVectors.load_word2vec_format(str(path))
    words, vectors = load_word_vectors(path)
    assert words == kv.index_to_key and np.allclose(vectors, kv.vectors)
    binary = tmp_path / "lee.bin"
    kv.save_word2vec_format(str(binary), binary=True)
    words_bin, vectors_bin = load_word_vectors(binary)
    assert words_bin == kv.index_to_key and np.array_equal(vectors_bin, kv.vectors)
    tok = WordTokenizer(["the", "government", "zzzz"], max_length=6)
    spec = ModalitySpec("caption", "tokens", (6,), vocab=tok.tokens)
    enc = PretrainedWordVectors(spec, 5, path).eval()
    ids, lengths = tok.encode(["the government zzzz"])
    expected = enc.head(torch.from_numpy(kv.get_mean_vector(["the", "government"], pre_normalize=False)[None]))
    assert torch.allclose(enc(ids, lengths), expected, atol=1e-5)
    net = CLIP({"image": ModalitySpec("image", "image", (1, 8, 8)), "caption": spec}, dim=4, width=8,
               text_encoder="pretrained", text_options={"path": str(path)})
    assert net.encode_text(["the government"]).shape == (1, 4)
