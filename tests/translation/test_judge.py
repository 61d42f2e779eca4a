"""The recognition judge is trained by a Lightning Trainer that takes exactly the steps of the former
hand-written loop (same batches, same AdamW steps with the gradient norm clipped to 1, same random numbers),
consumes none of the caller's random numbers and leaves no file behind."""

import os

import torch
from mmml.translation.judge import accelerator_of, train_judge
from mmml.translation.model_based import AttentionTranslator

from mmml.data.digit_sequences import VOCAB_EN
from mmml.data.spec import ModalitySpec
from mmml.optim import adamw

SPECS = {"audio": ModalitySpec("audio", "sequence", (10, 3)),
         "text": ModalitySpec("text", "tokens", (3,), vocab=VOCAB_EN.tokens)}


def _data(n: int = 21) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return {"audio": torch.randn(n, 10, 3, generator=g), "audio_lengths": torch.randint(4, 11, (n,), generator=g),
            "text": torch.randint(4, 14, (n, 3), generator=g), "text_lengths": torch.randint(1, 4, (n,), generator=g)}


def _hand_written_loop(train, epochs, hidden, batch_size, lr, seed):
    """The judge's former training loop, kept here as the reference."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AttentionTranslator(SPECS, "recognition", hidden=hidden)
        opt = adamw(net.parameters(), lr=lr)  # the judge's AdamW (fused where torch has the kernel)
        n = len(train["text"])
        net.train()
        for _ in range(epochs):
            order = torch.randperm(n)
            for s in range(0, n, batch_size):
                idx = order[s:s + batch_size]
                loss = net.loss({k: v[idx] for k, v in train.items()})
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
    return net.eval()


def test_lightning_judge_equals_the_hand_written_loop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train = _data()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(123)
    judge = train_judge(train, SPECS, epochs=3, hidden=8, batch_size=8, lr=1e-2, seed=4)
    after = torch.rand(2)
    torch.manual_seed(123)
    torch.testing.assert_close(torch.rand(2), after, rtol=0, atol=0)  # the caller's random numbers are untouched
    reference = _hand_written_loop(train, epochs=3, hidden=8, batch_size=8, lr=1e-2, seed=4)
    untrained = AttentionTranslator(SPECS, "recognition", hidden=8)
    assert not torch.equal(untrained.out.weight, reference.out.weight)
    for (name, got), (_, want) in zip(judge.state_dict().items(), reference.state_dict().items(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)
    assert not judge.training and judge.out.weight.device.type == "cpu"
    assert os.listdir(tmp_path) == []  # no lightning_logs, no checkpoints
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_accelerator_follows_the_device():
    assert accelerator_of(torch.device("cpu")) == ("cpu", 1)
    assert accelerator_of("cuda:2") == ("gpu", [2])
