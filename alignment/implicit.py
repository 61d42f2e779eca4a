"""Implicit alignment (Baltrusaitis et al. 2017, Sec. 5.2): attention of an encoder-decoder read out as an alignment.

:class:`AttentionAligner` is a speech recogniser, an encoder-decoder with additive attention (Bahdanau, Cho &
Bengio, ICLR 2015; for speech Chorowski et al., NeurIPS 2015), trained only to emit the transcript. The
alignment is latent: when the decoder is forced through the known transcript, the attention it pays over
the encoder steps while emitting each word, (L, S), is read out as word spans by

- :func:`monotonic_readout` (default): the monotonic segmentation of the steps into the L words that
  maximises the summed log attention (Viterbi through a left-to-right chain of the words), optionally
  with silences where no word attends more than uniformly;
- :func:`argmax_readout`: each word at its attention peak (peaks kept in order), boundaries half-way
  between consecutive peaks;
- :func:`expected_readout`: each word centred at its expected position, as wide as its spread.

The read-outs live in :mod:`mmml.alignment.readout`; :mod:`mmml.alignment.attention_aligners` trains the
attention to align (guided attention, monotonic attention, joint CTC-attention).

Examples:
    >>> att = torch.tensor([[.7, .2, .1, 0.], [.1, .5, .3, .1], [0., .1, .2, .7]])
    >>> monotonic_readout(att).tolist(), argmax_readout(att).tolist()
    ([[0, 1], [1, 3], [3, 4]], [[0, 1], [1, 3], [3, 4]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmml.data.sequences import lengths_of, valid_mask
from mmml.data.spec import ModalitySpec
from mmml.data.text import BOS_ID, EOS_ID, PAD_ID

from .acoustic import AcousticEncoder, step_spans
from .readout import READOUTS, argmax_readout, expected_readout, monotonic_readout, read_out
from .segments import pad_spans

__all__ = ["AttentionAligner", "argmax_readout", "expected_readout", "monotonic_readout"]


class TeacherForcing(NamedTuple):
    """The start of teacher-forced decoding (:meth:`AttentionAligner.teacher_forcing`), batch B, S encoder steps,
    L words."""

    enc: Tensor  #: the encoder output (B, S, H_enc)
    steps: Tensor  #: its valid steps (B,)
    mem: Tensor  #: the attended memory, ``proj(enc)`` (B, S, H)
    mask: Tensor  #: the valid steps as a mask (B, S)
    keys: Tensor  #: the attention keys ``att_k(mem)`` (B, S, H)
    h: Tensor  #: the initial decoder state (B, H)
    gold: Tensor  #: the targets, transcript then ``<eos>`` (B, L+1), 0 pads
    inputs: Tensor  #: the decoder inputs, ``<bos>`` then ``gold`` but its last (B, L+1)
    att: Tensor  #: the attention before the first word (B, S): all at the first step


class AttentionAligner(nn.Module):
    """Encoder-decoder with additive attention (frames -> words) whose forced attention gives word spans.

    Args:
        specs: the data set's modalities. modality: the frames; transcript: the token modality decoded.
        hidden: encoder and decoder width. stride, dilations, rnn, dropout: the
            :class:`~mmml.alignment.acoustic.AcousticEncoder` (stride sets the attention's resolution).
        attention: ``"additive"`` (Bahdanau et al. 2015: content-based scores) or ``"gmm"`` (Graves 2013,
            "Generating sequences with recurrent neural networks": a mixture of ``mixtures`` Gaussians over
            the steps whose means only move forward, in the normalised form of Battenberg et al. 2020;
            monotonic by construction, it reads no content to decide where to look, only how far to move).
        location: channels of location-aware additive attention (Chorowski et al. 2015: the previous step's
            attention, convolved with a ``location_kernel``-wide filter, enters the scores); 0 = content only.
        readout: ``"monotonic"``, ``"argmax"`` or ``"expected"`` (:mod:`mmml.alignment.readout`).
            silence: let the monotonic readout leave steps to silence between the words; silence_scale: its
            silence score, log(silence_scale / S) per step (:func:`~mmml.alignment.readout.monotonic_readout`).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str = "audio", transcript: str = "text",
                 hidden: int = 64, stride: int = 2, dilations: Sequence[int] = (1, 2, 4), rnn: bool = False,
                 dropout: float = 0.1, attention: str = "additive", mixtures: int = 3, location: int = 0,
                 location_kernel: int = 15, readout: str = "monotonic", silence: bool = True,
                 silence_scale: float = 1.0) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r}; choose one of {sorted(READOUTS)}")
        if attention not in ("additive", "gmm"):
            raise ValueError(f"attention={attention!r}; choose 'additive' or 'gmm'")
        vocab = specs[transcript].vocab
        if not vocab:
            raise ValueError(f"modality {transcript!r} has no vocabulary; the decoder emits tokens")
        self.modality, self.transcript, self.readout, self.silence = modality, transcript, readout, silence
        self.silence_scale = float(silence_scale)
        self.encoder = AcousticEncoder(specs[modality].feature_dim, hidden, stride, dilations, rnn, dropout)
        self.proj = nn.Linear(self.encoder.out_features, hidden)
        self.location = None
        if location > 0:
            self.location = nn.Conv1d(1, location, location_kernel, padding=location_kernel // 2, bias=False)
            self.att_loc = nn.Linear(location, hidden, bias=False)
        self.embed = nn.Embedding(len(vocab), hidden, padding_idx=PAD_ID)
        self.init = nn.Linear(hidden, hidden)
        self.cell = nn.GRUCell(2 * hidden, hidden)
        self.att_q, self.att_k = nn.Linear(hidden, hidden, bias=False), nn.Linear(hidden, hidden)
        self.att_v = nn.Linear(hidden, 1, bias=False)
        self.gmm = None
        if attention == "gmm":  # (weight, width, step) per mixture; widths and steps start at 16 frames
            self.gmm = nn.Linear(hidden, 3 * mixtures)
            with torch.no_grad():
                self.gmm.bias[mixtures:].fill_(float(torch.log(torch.expm1(torch.tensor(16.0 / stride)))))
        self.out = nn.Linear(2 * hidden, len(vocab))

    def _attend(self, h: Tensor, keys: Tensor, mask: Tensor, att: Tensor, mean: Tensor) -> tuple[Tensor, Tensor]:
        """One step's attention (B, S) from the decoder state, and the GMM means (B, K) (unused if additive)."""
        if self.gmm is not None:
            w, width, step = self.gmm(h).chunk(3, -1)
            mean = mean + F.softplus(step)
            width = F.softplus(width) + 1e-3
            pos = torch.arange(mask.shape[1], device=h.device, dtype=h.dtype)[None, :, None]
            z = (pos - mean[:, None]) / width[:, None]
            dens = w.softmax(-1)[:, None] * torch.exp(-0.5 * z**2) / width[:, None]
            att = dens.sum(-1).masked_fill(~mask, 0.0)
            return att / att.sum(-1, keepdim=True).clamp_min(1e-12), mean
        energy = keys + self.att_q(h)[:, None]
        if self.location is not None:
            energy = energy + self.att_loc(self.location(att[:, None]).transpose(1, 2))
        scores = self.att_v(torch.tanh(energy)).squeeze(-1)
        return scores.masked_fill(~mask, float("-inf")).softmax(-1), mean

    def teacher_forcing(self, batch: dict[str, Tensor]) -> TeacherForcing:
        """What teacher-forced decoding starts from (:class:`TeacherForcing`): the encoded modality, the
        attention keys, the initial state (the masked mean of the memory through ``init``), the targets
        (transcript then ``<eos>``), the inputs (``<bos>`` then the targets but the last) and the attention
        before the first word, all at the start."""
        x = batch[self.modality]
        h_enc, n = self.encoder(x, lengths_of(batch, self.modality).to(x.device))
        mem = self.proj(h_enc)
        mask = valid_mask(n, mem.shape[1])
        keys = self.att_k(mem)
        h = torch.tanh(self.init((mem * mask[..., None]).sum(1) / n[:, None].clamp_min(1)))
        ids, lengths = batch[self.transcript].long(), lengths_of(batch, self.transcript).to(x.device)
        b = ids.shape[0]
        gold = torch.cat([ids, ids.new_zeros(b, 1)], 1)
        gold[torch.arange(b), lengths] = EOS_ID
        inputs = torch.cat([ids.new_full((b, 1), BOS_ID), gold[:, :-1]], 1)
        att = mem.new_zeros(mem.shape[:2])
        att[:, 0] = 1.0  # the previous attention before the first word: at the start
        return TeacherForcing(h_enc, n, mem, mask, keys, h, gold, inputs, att)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Teacher-forced decoding of the transcript then ``<eos>``: log-probs (B, L+1, V), attention
        (B, L+1, S) (row k: while emitting word k) and the targets (B, L+1) (0 pads)."""
        tf = self.teacher_forcing(batch)
        h, att, mem, gold = tf.h, tf.att, tf.mem, tf.gold
        mean = mem.new_zeros(gold.shape[0], self.gmm.out_features // 3 if self.gmm is not None else 1)
        logps, atts = [], []
        for t in range(gold.shape[1]):
            att, mean = self._attend(h, tf.keys, tf.mask, att, mean)
            ctx = torch.einsum("bs,bsh->bh", att, mem)
            h = self.cell(torch.cat([self.embed(tf.inputs[:, t]), ctx], -1), h)
            logps.append(self.out(torch.cat([h, ctx], -1)).log_softmax(-1))
            atts.append(att)
        return torch.stack(logps, 1), torch.stack(atts, 1), gold

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Cross-entropy of the transcript's words and ``<eos>`` under teacher forcing."""
        logp, _, gold = self(batch)
        return F.nll_loss(logp.flatten(0, 1), gold.flatten(), ignore_index=PAD_ID)

    @torch.no_grad()
    def attention(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """Each example's forced attention (L_i, S_i): one row per word, over the valid encoder steps."""
        _, att, _ = self(batch)
        n = self.encoder.output_lengths(lengths_of(batch, self.modality))
        words = lengths_of(batch, self.transcript)
        return [att[i, : int(words[i]), : int(n[i])].cpu() for i in range(att.shape[0])]

    @torch.no_grad()
    def align(self, batch: dict[str, Tensor]) -> Tensor:
        frames = lengths_of(batch, self.modality)
        spans = [step_spans(read_out(a, self.readout, self.silence, self.silence_scale), self.encoder.stride,
                            int(frames[i])) for i, a in enumerate(self.attention(batch))]
        return pad_spans(spans, batch[self.transcript].shape[1]).to(batch[self.modality].device)
