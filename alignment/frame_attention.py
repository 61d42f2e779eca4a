"""Frames attending over the transcript (the text-to-speech orientation of Tachibana et al. 2018), optionally with
forward attention (Zhang, Ling & Dai, ICASSP 2018), read out as word spans.

:class:`FrameAttentionAligner` turns the attention around: every speech frame asks which token of the
transcript it belongs to, and must reconstruct itself from the token it attends to. The transcript is
written as ``sil w1 sil w2 ... wL sil`` (a pause may come before, between and after the words), its
tokens embedded with their position and a convolution over neighbours (so repeated digits differ).

- Scores: ``y_t = softmax_n(q_t . k_n / sqrt(H))``, queries from a local acoustic encoder of the frames,
  keys and values from the tokens.
- ``attention="content"``: the attention is ``y_t``; ``"forward"`` (Zhang et al. 2018, eq. 7-9): the
  alignment can only stay or move one token on per frame,
  ``alpha_t(n) = (alpha_t-1(n) + alpha_t-1(n-1)) y_t(n)``, normalised, ``alpha_0 = delta_0``.
- Loss: the mean absolute error of each frame rebuilt from its attended token (Tachibana et al. use L1 on
  the mel frames), plus ``guided_weight`` x the guided-attention loss on the (tokens, frames) matrix, the
  matrix and orientation of the paper (:func:`~mmml.alignment.guided_attention.guided_attention_loss`).
- Read-out: every frame belongs to a token, so the token attention (N, T) is read out by the monotonic
  Viterbi through all 2L + 1 tokens (each at least one step) and the word rows kept (``readout="monotonic"``);
  ``"argmax"`` and ``"expected"`` read the word rows as :mod:`mmml.alignment.readout` does.

Examples:
    >>> from mmml.data.digit_sequences import VOCAB_EN
    >>> from mmml.data.spec import ModalitySpec
    >>> specs = {"audio": ModalitySpec("audio", "sequence", (40, 6), frame_rate=62.5),
    ...          "text": ModalitySpec("text", "tokens", (3,), vocab=VOCAB_EN.tokens)}
    >>> net = FrameAttentionAligner(specs, hidden=8, attention="forward", guided_weight=1.0)
    >>> batch = {"audio": torch.randn(2, 40, 6), "audio_lengths": torch.tensor([40, 30]),
    ...          "text": torch.tensor([[5, 6, 7], [8, 9, 0]]), "text_lengths": torch.tensor([3, 2])}
    >>> bool(torch.isfinite(net.loss(batch))), tuple(net.align(batch).shape)
    (True, (2, 3, 2))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from mmml.data.sequences import lengths_of, valid_mask
from mmml.data.spec import ModalitySpec

from .acoustic import AcousticEncoder, step_spans
from .guided_attention import guided_attention_loss
from .readout import READOUTS, monotonic_readout, read_out
from .segments import pad_spans

__all__ = ["FrameAttentionAligner", "forward_attention", "with_pauses"]


def with_pauses(ids: Tensor, lengths: Tensor, sil: int) -> tuple[Tensor, Tensor]:
    """Token ids (B, L) -> ``sil w1 sil ... wL sil`` (B, 2L + 1), padded with ``sil``, and their lengths 2 L_b + 1.

    Examples:
        >>> with_pauses(torch.tensor([[5, 6], [7, 0]]), torch.tensor([2, 1]), 1)[0].tolist()
        [[1, 5, 1, 6, 1], [1, 7, 1, 1, 1]]
    """
    b, n = ids.shape
    out = ids.new_full((b, 2 * n + 1), sil)
    out[:, 1::2] = torch.where(torch.arange(n, device=ids.device)[None] < lengths[:, None], ids, sil)
    return out, 2 * lengths + 1


def forward_attention(log_y: Tensor, token_mask: Tensor) -> Tensor:
    """Zhang et al.'s forward attention (B, T, N) from per-frame token log-probabilities ``log_y`` (B, T, N): each
    frame stays on the previous frame's token or moves one on, ``alpha_t(n) ∝ (alpha_t-1(n) + alpha_t-1(n-1))
    y_t(n)``, starting from token 0 before the first frame; masked tokens get no weight. Computed in log space
    (no underflow on long inputs).

    Examples:
        >>> y = torch.tensor([[[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]])
        >>> [round(v, 3) for v in forward_attention(y.log(), torch.tensor([[True, True]]))[0, :, 1].tolist()]
        [0.1, 0.526, 0.95]
    """
    never = -1e4  # a finite log(0): logaddexp(-inf, -inf) has no gradient
    log_y = log_y.clamp_min(never).masked_fill(~token_mask[:, None], never)
    log_alpha = torch.full_like(log_y[:, 0], never)
    log_alpha[:, 0] = 0.0
    out = []
    for t in range(log_y.shape[1]):
        moved = torch.cat([log_alpha.new_full((log_alpha.shape[0], 1), never), log_alpha[:, :-1]], 1)
        log_alpha = (torch.logaddexp(log_alpha, moved) + log_y[:, t]).clamp_min(never)
        log_alpha = log_alpha - torch.logsumexp(log_alpha, -1, keepdim=True)
        out.append(log_alpha)
    return torch.stack(out, 1).exp().masked_fill(~token_mask[:, None], 0.0)


class FrameAttentionAligner(nn.Module):
    """Each frame attends over ``sil w1 sil ... wL sil`` and is rebuilt from what it attends to (see the module).

    Args:
        specs: the data set's modalities. modality: the frames; transcript: the token modality.
        hidden: width. stride, dilations, dropout: the frames' :class:`~mmml.alignment.acoustic.AcousticEncoder`.
        attention: ``"content"`` or ``"forward"`` (Zhang et al. 2018).
        guided_weight, guided_g: the guided-attention loss (Tachibana et al. 2018) and its width.
        readout: ``"monotonic"`` (Viterbi through all tokens), ``"argmax"`` or ``"expected"`` (word rows).
        max_words: the longest transcript (sizes the token position table).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str = "audio", transcript: str = "text",
                 hidden: int = 64, stride: int = 1, dilations: Sequence[int] = (1,), dropout: float = 0.1,
                 attention: str = "forward", guided_weight: float = 0.0, guided_g: float = 0.2,
                 readout: str = "monotonic", max_words: int = 32) -> None:
        super().__init__()
        if attention not in ("content", "forward"):
            raise ValueError(f"attention={attention!r}; choose 'content' or 'forward'")
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r}; choose one of {sorted(READOUTS)}")
        vocab = specs[transcript].vocab
        if not vocab:
            raise ValueError(f"modality {transcript!r} has no vocabulary; the frames attend over its tokens")
        self.modality, self.transcript, self.kind, self.readout = modality, transcript, attention, readout
        self.guided_weight, self.guided_g, self.max_words = float(guided_weight), float(guided_g), int(max_words)
        self.sil = len(vocab)  # one more embedding: the pause token
        n_features = specs[modality].feature_dim
        self.encoder = AcousticEncoder(n_features, hidden, stride, dilations, False, dropout)
        self.embed = nn.Embedding(len(vocab) + 1, hidden)
        self.position = nn.Embedding(2 * max_words + 1, hidden)
        self.text_conv = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.q, self.k, self.v = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.decode = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_features * stride))

    def token_attention(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Attention (B, T', N) of each encoder step over the 2L+1 tokens, the steps' valid lengths (B,), the token
        lengths (B,) and the rebuilt frames (B, T' * stride, F)."""
        x = batch[self.modality]
        h, n = self.encoder(x, lengths_of(batch, self.modality).to(x.device))
        words = lengths_of(batch, self.transcript).to(x.device)
        if int(words.max()) > self.max_words:
            raise ValueError(f"a transcript has {int(words.max())} words, more than max_words={self.max_words}")
        ids, n_tokens = with_pauses(batch[self.transcript].long().to(x.device), words, self.sil)
        e = self.embed(ids) + self.position(torch.arange(ids.shape[1], device=x.device))[None]
        e = e + torch.relu(self.text_conv(e.transpose(1, 2))).transpose(1, 2)
        scores = self.q(h) @ self.k(e).transpose(1, 2) / math.sqrt(h.shape[-1])
        token_mask = valid_mask(n_tokens, ids.shape[1])
        log_y = scores.masked_fill(~token_mask[:, None], float("-inf")).log_softmax(-1)
        att = forward_attention(log_y, token_mask) if self.kind == "forward" else log_y.exp()
        rebuilt = self.decode(att @ self.v(e)).reshape(x.shape[0], -1, x.shape[-1])
        return att, n, n_tokens, rebuilt

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.token_attention(batch)[0]

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """L1 of the rebuilt frames over the valid frames, plus guided_weight x the guided-attention loss."""
        att, n, n_tokens, rebuilt = self.token_attention(batch)
        x, frames = batch[self.modality].float(), lengths_of(batch, self.modality).to(att.device)
        t = min(rebuilt.shape[1], x.shape[1])
        mask = valid_mask(frames, t)[..., None]
        total = ((rebuilt[:, :t] - x[:, :t]).abs() * mask).sum() / (mask.sum() * x.shape[-1])
        if self.guided_weight > 0:
            total = total + self.guided_weight * guided_attention_loss(att.transpose(1, 2), n_tokens, n,
                                                                       self.guided_g)
        return total

    @torch.no_grad()
    def token_matrices(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """Each example's (2 L_i + 1, S_i) attention of the valid steps over its tokens (columns sum to 1)."""
        att, n, n_tokens, _ = self.token_attention(batch)
        return [att[i, : int(n[i]), : int(n_tokens[i])].T.cpu() for i in range(att.shape[0])]

    @torch.no_grad()
    def attention(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """Each example's word rows (L_i, S_i) of the token attention (for the diagnostics and the plots)."""
        return [m[1::2] for m in self.token_matrices(batch)]

    @property
    def stride(self) -> int:
        return self.encoder.stride

    @torch.no_grad()
    def align(self, batch: dict[str, Tensor]) -> Tensor:
        frames = lengths_of(batch, self.modality)
        spans = []
        for i, m in enumerate(self.token_matrices(batch)):
            if self.readout == "monotonic":
                words = monotonic_readout(m, silence=False)[1::2]
            else:
                words = read_out(m[1::2], self.readout)
            spans.append(step_spans(words, self.encoder.stride, int(frames[i])))
        return pad_spans(spans, batch[self.transcript].shape[1]).to(batch[self.modality].device)
