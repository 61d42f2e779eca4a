"""The challenge's aligners on small cases: exact recoveries worked by hand, and on a small digit_sequences set
each learned aligner beats the uniform split (CTC and HMM trained through AlignmentTask)."""

from __future__ import annotations

import tempfile

import pytest
import pytorch_lightning as pl
import torch
from mmml.alignment import AlignmentTask, CTCAligner, CTWAligner, HMMAligner, TemplateAligner, UniformAligner
from mmml.alignment.metrics import alignment_scores
from mmml.alignment.supervised import spell

from mmml.data.spec import ModalitySpec


def _mae(pred, split) -> float:
    return alignment_scores(pred, split["audio_boundaries"], 62.5)["boundary_mae_ms"]


def _fit_and_test(net, dm, epochs=1, clip=None, **task):
    task = AlignmentTask(net, **task)
    folder = tempfile.mkdtemp(prefix="mmml-align-")  # the task writes its example there, not into the cwd
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0, deterministic=True,
                         default_root_dir=folder, gradient_clip_val=clip)
    trainer.fit(task, datamodule=dm)
    trainer.test(task, datamodule=dm, verbose=False)
    return task.test_results


def test_spelling_of_words():
    vocab = ("<pad>", "<unk>", "<bos>", "<eos>", "two", "six")
    assert spell(vocab, "words") == ([[], [], [], [], [2], [1]], ["six", "two"])
    classes, units = spell(vocab, "phones")
    assert [[units[c - 1] for c in w] for w in classes[4:]] == [["t", "uw"], ["s", "ih", "k", "s"]]
    with pytest.raises(ValueError, match="'deux' is not in the pronunciation lexicon"):
        spell(("<pad>", "<unk>", "<bos>", "<eos>", "deux"), "phones")
    with pytest.raises(ValueError, match="units='syllables'"):
        spell(vocab, "syllables")


def test_ctc_aligner_maps_forced_alignment_to_frames(monkeypatch):
    """With emissions chosen by hand the spans are the units' frames, times the stride."""
    specs = {"audio": ModalitySpec("audio", "sequence", (12, 4), frame_rate=62.5),
             "text": ModalitySpec("text", "tokens", (2,), vocab=("<pad>", "<unk>", "<bos>", "<eos>", "ab", "c"))}
    net = CTCAligner(specs, units="letters", hidden=4, stride=2)
    assert net.words({"text": torch.tensor([[4, 5]]), "text_lengths": torch.tensor([2])}) == [[[1, 2], [3]]]
    frames = [0, 1, 2, 0, 0, 3]  # blank a b blank blank c over 6 steps of 2 frames
    lp = torch.log(torch.nn.functional.one_hot(torch.tensor(frames), 4).float() * 0.97 + 0.01)
    monkeypatch.setattr(net, "log_probs", lambda batch: (lp[None], torch.tensor([6])))
    batch = {"audio": torch.zeros(1, 12, 4), "audio_lengths": torch.tensor([11]), "text": torch.tensor([[4, 5]]),
             "text_lengths": torch.tensor([2])}
    assert net.align(batch)[0].tolist() == [[2, 6], [10, 11]]  # "ab": steps 1-2, "c": step 5 (cut at 11 frames)
    net.spans = "tiling"
    assert net.align(batch)[0].tolist() == [[0, 8], [8, 11]]  # boundary in the middle of the blank gap, step 4


def test_template_aligner_recovers_its_own_rendition(digit_data):
    net = TemplateAligner(digit_data.specs)
    net.fit(digit_data.split("train"))
    words = [[5, 9, 4], [13, 13, 6, 7]]
    renders = [net.render(w) for w in words]
    audio = torch.nn.utils.rnn.pad_sequence([r[0] for r in renders], batch_first=True)
    batch = {"audio": audio, "audio_lengths": torch.tensor([len(r[0]) for r in renders]),
             "text": torch.tensor([[5, 9, 4, 0], [13, 13, 6, 7]]), "text_lengths": torch.tensor([3, 4])}
    spans = net.align(batch)
    assert spans[0, :3].tolist() == renders[0][1].tolist() and spans[1].tolist() == renders[1][1].tolist()
    with pytest.raises(ValueError, match="token 2 never occurs in the training split"):
        net.render([2])


@pytest.mark.parametrize("make", [
    lambda specs: TemplateAligner(specs),
    lambda specs: TemplateAligner(specs, average="soft_dtw", barycenter_iter=3, max_examples=8),
    lambda specs: HMMAligner(specs, n_iter=3, max_examples=30, random_state=0),
], ids=["dtw_template", "soft_dtw_template", "hmm"])
def test_fitted_aligners_beat_the_uniform_split(digit_data, make):
    test = digit_data.split("test")
    net = make(digit_data.specs)
    net.fit(digit_data.split("train"))
    spans = net.align(test)
    assert spans.shape == test["audio_boundaries"].shape
    assert _mae(spans, test) < 0.5 * _mae(UniformAligner().align(test), test)


def test_ctw_aligner_carries_the_reference_spans(digit_data):
    """Fitted without boundaries; on each test pair the strip's digit columns land on ordered speech spans."""
    net = CTWAligner(digit_data.specs, n_components=2, max_iter=3, max_pairs=16)
    net.fit(digit_data.split("train"))
    test = digit_data.split("test")
    spans = net.align(test)
    valid = spans[:, :, 0] >= 0
    assert valid.sum(1).tolist() == test["text_lengths"].tolist()
    assert (spans[..., 1] >= spans[..., 0]).all() and (spans[valid][:, 1] <= 450).all()
    with pytest.raises(RuntimeError, match="not fitted"):
        CTWAligner(digit_data.specs).align(test)


def test_ctc_task_trains_and_beats_the_uniform_split(digit_data):
    torch.manual_seed(0)
    net = CTCAligner(digit_data.specs, units="letters", hidden=32, dilations=())
    trained = _fit_and_test(net, digit_data, epochs=12, lr=3e-3, clip=1.0)
    uniform = _fit_and_test(UniformAligner(), digit_data)
    assert trained["test/clean/boundary_mae_ms"] < 0.6 * uniform["test/clean/boundary_mae_ms"]
    assert trained["test/clean/frame_accuracy"] > uniform["test/clean/frame_accuracy"]
