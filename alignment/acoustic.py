"""The acoustic encoder shared by the trained aligners: strided and dilated 1-D convolutions, optionally a BiGRU.

A small fully convolutional acoustic model in the manner of Wav2Letter (Collobert, Puhrsch & Synnaeve 2016:
1-D convolutions over log-mel frames trained end to end, the first one strided to subsample time), with
dilations widening the receptive field as in TDNNs (Peddinti et al. 2015); optionally followed by a
bidirectional GRU (Graves et al. 2013). Frames (B, T, F) -> (B, T', out_features) with
T' = ceil(T / stride) for the longest valid input (padding beyond it is cut), and the valid lengths.
:class:`mmml.alignment.supervised.CTCAligner` puts a CTC output layer on it;
:class:`mmml.alignment.implicit.AttentionAligner` attends over it.

Examples:
    >>> import torch
    >>> enc = AcousticEncoder(40, hidden=8, stride=2)
    >>> h, n = enc(torch.zeros(3, 20, 40), torch.tensor([11, 5, 1]))
    >>> tuple(h.shape), n.tolist()
    ((3, 6, 8), [6, 3, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmml.recurrent import bidirectional_gru

__all__ = ["AcousticEncoder", "step_spans"]


class AcousticEncoder(nn.Module):
    """Conv1d (kernel max(5, 2 ``stride`` + 1), ``stride``), then a dilated Conv1d (kernel 5) per entry of
    ``dilations``, each with ReLU and a residual connection; then, with ``rnn=True``, a bidirectional GRU.

    Args:
        n_features: features per input frame. hidden: channels (and GRU size per direction).
        stride: time subsampling of the first convolution (an output step covers ``stride`` frames).
        dilations: the dilated layers. rnn: add the BiGRU. dropout: after the convolutions.
    """

    def __init__(self, n_features: int, hidden: int = 64, stride: int = 2, dilations: Sequence[int] = (1, 2, 4),
                 rnn: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"stride={stride}; use a subsampling factor >= 1")
        self.stride = int(stride)
        kernel = max(5, 2 * self.stride + 1)  # wide enough that no frame is skipped
        self.front = nn.Sequential(nn.Conv1d(n_features, hidden, kernel, stride=stride, padding=kernel // 2), nn.ReLU())
        self.layers = nn.ModuleList(nn.Sequential(nn.Conv1d(hidden, hidden, 5, padding=2 * d, dilation=d), nn.ReLU())
                                    for d in dilations)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True) if rnn else None
        self.out_features = 2 * hidden if rnn else hidden

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Valid output steps of inputs ``lengths`` frames long: ceil(length / stride)."""
        return (lengths.long() + self.stride - 1) // self.stride

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        lengths = lengths.to(x.device).long()
        x = x[:, : max(int(lengths.max()), 1)].float()
        out_lengths = self.output_lengths(lengths).clamp(min=1)
        h = self.front(x.transpose(1, 2))
        steps = torch.arange(h.shape[-1], device=h.device)
        mask = (steps[None] < out_lengths[:, None])[:, None].to(h.dtype)  # (B, 1, T'): zero past each end
        h = h * mask
        for layer in self.layers:
            h = (h + layer(h)) * mask
        h = self.dropout(h.transpose(1, 2))
        if self.rnn is not None:
            h, _ = bidirectional_gru(self.rnn, h, out_lengths)  # read within each length
        return h, out_lengths


def step_spans(spans: Tensor, stride: int, n_frames: int) -> Tensor:
    """Spans (L, 2) in encoder steps -> input frames: step ``t`` covers frames ``[t * stride, (t + 1) * stride)``."""
    return (spans.long() * stride).clamp(max=n_frames)
