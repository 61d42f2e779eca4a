"""The default optimiser of every mmml task: AdamW (Loshchilov & Hutter 2019), fused where torch has the kernel.

``torch.optim.AdamW`` on the CPU defaults to its per-tensor Python loop: about ten small operations per
parameter tensor and step, 1.05 ms a step for 40 tensors of a 64-unit network on one thread, a seventh of a
translation model's training step. ``fused=True`` (one kernel per tensor, on the CPU since torch 2.4, and on
CUDA) takes 0.27 ms for the same step and the same update to float rounding (1.5e-8 after 50 steps). It is
used where every parameter is a floating-point tensor on the CPU or a CUDA device; elsewhere the default.

Examples:
    >>> opt = adamw([torch.nn.Parameter(torch.zeros(3))], lr=0.1, weight_decay=0.0)
    >>> type(opt).__name__, opt.defaults["fused"]
    ('AdamW', True)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def adamw(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """``torch.optim.AdamW(params, lr, weight_decay)``, fused where every parameter allows it."""
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
