"""The bidirectional GRU of mmml's encoders against torch's: forward and backward, per batch (issue 18).

    python experiments/benchmarks/recurrent.py [--repeats 30] [--out docs/benchmarks/recurrent.csv]

For each shape (batch 16; the step counts and widths of the survey's encoders: text 8 steps, an image strip
46, a digit string's audio 113, and longer audio), one thread, float32, sequences of random lengths between
half and all of the padded length, the loss a random projection of the outputs. Times, in ms, the median of
``--repeats`` runs of forward + backward of:

- ``packed``: ``nn.GRU`` over ``pack_padded_sequence`` (what the encoders used first);
- ``unpacked autograd``: the module's two directions as two unpacked ``nn.GRU`` runs under autograd (the
  second form, kept here as the baseline of the hand-written backward);
- ``mmml``: :func:`mmml.recurrent.bidirectional_gru` (both directions in one time loop, the backward by hand).

It prints a markdown table with the machine, and writes the rows to ``--out`` (CSV, through a temporary file).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call

from mmml.recurrent import bidirectional_gru, reverse_within

SHAPES = [(8, 64), (46, 64), (113, 64), (113, 48), (300, 48)]  # (steps, units); inputs as wide as the units
NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def packed(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    seq = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return nn.utils.rnn.pad_packed_sequence(gru(seq)[0], batch_first=True, total_length=x.shape[1])[0]


def unpacked_autograd(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    one = nn.GRU(gru.input_size, gru.hidden_size, batch_first=True)

    def run(inputs: torch.Tensor, suffix: str) -> torch.Tensor:
        return functional_call(one, {n: getattr(gru, n + suffix) for n in NAMES}, (inputs,))[0]

    back = reverse_within(run(reverse_within(x, lengths), "_reverse"), lengths)
    mask = (torch.arange(x.shape[1])[None] < lengths[:, None])[..., None]
    return torch.cat([run(x, ""), back], -1) * mask


def mmml(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return bidirectional_gru(gru, x, lengths)[0]


def _forward_backward(fn, gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor, weight: torch.Tensor) -> None:
    (fn(gru, x, lengths) * weight).sum().backward()


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="CSV of the rows (written through a temporary file)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    for steps, units in SHAPES:
        gru = nn.GRU(units, units, batch_first=True, bidirectional=True)
        x = torch.randn(16, steps, units, requires_grad=True)
        lengths = torch.randint(steps // 2, steps + 1, (16,))
        lengths[0] = steps
        weight = torch.randn(16, steps, 2 * units)
        row = {"steps": steps, "units": units}
        for name, fn in (("packed", packed), ("unpacked autograd", unpacked_autograd), ("mmml", mmml)):
            step = partial(_forward_backward, fn, gru, x, lengths, weight)
            row[name] = round(median_ms(step, args.repeats), 2)
        rows.append(row)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread, float32, "
          "batch 16, forward + backward, ms (median)")
    print("| steps | units | packed | unpacked autograd | mmml | mmml vs unpacked |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['steps']} | {r['units']} | {r['packed']} | {r['unpacked autograd']} | {r['mmml']} | "
              f"{r['unpacked autograd'] / r['mmml']:.2f}x |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=args.out.parent, delete=False, suffix=".tmp", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(f.name, args.out)


if __name__ == "__main__":
    main()
