"""Methods that fail on purpose, for the reliability tests (tests/conftest.py puts this folder on sys.path)."""

import torch
from mmml.fusion import EarlyFusion
from torch import nn


class DivergesAfter(EarlyFusion):
    """Early fusion whose logits become NaN after ``steps`` training steps."""

    def __init__(self, specs, num_classes, steps: int = 30, **kwargs):
        super().__init__(specs, num_classes, **kwargs)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.steps = steps

    def forward(self, batch):
        out = super().forward(batch)
        if self.training:
            self.calls += 1
            if self.calls > self.steps:
                return out * float("nan")
        return out


class Raises(nn.Module):
    """A method whose construction raises (a job that fails inside a sweep)."""

    def __init__(self, specs, num_classes, message: str = "boom", **ignored):
        super().__init__()
        raise RuntimeError(message)
