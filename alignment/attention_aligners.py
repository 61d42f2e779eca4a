"""Attention built to align: encoder-decoders whose forced attention is trained toward monotonic, sharp word alignments.

:class:`AligningAttention` is :class:`~mmml.alignment.implicit.AttentionAligner` (a speech recogniser, frames
-> words, forced through the transcript and its attention read out as word spans) with the training and
attention mechanisms of the papers that make attention align:

- ``attention="location"``: location-sensitive additive attention (Chorowski et al., NeurIPS 2015), here
  with the **guided-attention loss** of Tachibana, Uenoyama & Aihara (ICASSP 2018)
  (:func:`~mmml.alignment.guided_attention.guided_attention_loss`, weight ``guided_weight``, width ``guided_g``);
- ``attention="monotonic"``: **monotonic attention** (Raffel et al., ICML 2017) trained through its expected
  alignment (:func:`~mmml.alignment.monotonic_attention.expected_alignment`, with Gaussian pre-sigmoid noise
  ``noise`` in training), optionally chunkwise (``chunk > 0``: MoChA, Chiu & Raffel 2018), so each word's
  weight is spread over the ``chunk`` steps before its stop;
- ``ctc_weight > 0``: **joint CTC-attention** training (Kim, Hori & Watanabe, ICASSP 2017): a CTC output
  layer on the shared encoder and the loss ``lambda L_ctc + (1 - lambda) L_att``, the CTC branch's
  monotonic paths regularising the encoder the attention reads (:meth:`AligningAttention.ctc_loss`, the
  semantics of ``torch.nn.functional.ctc_loss`` with ``reduction="mean"``).

The three can be combined. Every variant is read out by the same read-outs (:mod:`mmml.alignment.readout`),
the one used (``readout``) chosen on the validation split.

Examples:
    >>> from mmml.data.digit_sequences import VOCAB_EN
    >>> from mmml.data.spec import ModalitySpec
    >>> specs = {"audio": ModalitySpec("audio", "sequence", (40, 6), frame_rate=62.5),
    ...          "text": ModalitySpec("text", "tokens", (3,), vocab=VOCAB_EN.tokens)}
    >>> net = AligningAttention(specs, hidden=8, attention="monotonic", chunk=4, ctc_weight=0.3, guided_weight=1.0)
    >>> batch = {"audio": torch.randn(2, 40, 6), "audio_lengths": torch.tensor([40, 30]),
    ...          "text": torch.tensor([[5, 6, 7], [8, 9, 0]]), "text_lengths": torch.tensor([3, 2])}
    >>> bool(torch.isfinite(net.loss(batch))), tuple(net.align(batch).shape)
    (True, (2, 3, 2))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmml.data.sequences import lengths_of
from mmml.data.spec import ModalitySpec
from mmml.data.text import PAD_ID

from .guided_attention import guided_attention_loss
from .implicit import AttentionAligner
from .monotonic_attention import chunkwise_attention, expected_alignment
from .readout import READOUTS
from .segments import transcripts
from .supervised import spell

__all__ = ["AligningAttention"]


class AligningAttention(AttentionAligner):
    """An attention speech recogniser trained to align (see the module): location-sensitive or monotonic
    attention, guided-attention loss, joint CTC branch; read out as word spans by ``readout``.

    Args:
        specs, modality, transcript, hidden, stride, dilations, rnn, dropout: as
            :class:`~mmml.alignment.implicit.AttentionAligner`.
        attention: ``"location"`` (location-sensitive additive, ``location`` channels, ``location_kernel`` wide)
            or ``"monotonic"`` (Raffel et al. 2017; ``chunk`` > 0 for MoChA; ``noise``: std of the pre-sigmoid
            noise in training; ``init_r``: the energy's initial offset, negative so that scanning starts
            by moving on).
        guided_weight, guided_g: weight and width g of the guided-attention loss (0: off).
        ctc_weight: lambda of the joint CTC-attention loss (0: off); ctc_units: ``"words"`` or ``"letters"``.
        query: ``"state"`` (a recogniser: the decoder state before word k asks where to look, and word k is
            predicted from state and context) or ``"target"`` (forced through the transcript, word k's own
            embedding joins the query, as the text side queries the speech in TTS attention, and word k is
            predicted from the attended context alone, so the context must hold that word's frames).
        readout: ``"monotonic"``, ``"argmax"`` or ``"expected"`` (:mod:`mmml.alignment.readout`);
            silence, silence_scale: silences in the monotonic read-out and their score.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str = "audio", transcript: str = "text",
                 hidden: int = 64, stride: int = 2, dilations: Sequence[int] = (1,), rnn: bool = False,
                 dropout: float = 0.1, attention: str = "location", location: int = 8, location_kernel: int = 15,
                 chunk: int = 0, noise: float = 1.0, init_r: float = -2.0, guided_weight: float = 0.0,
                 guided_g: float = 0.2, ctc_weight: float = 0.0, ctc_units: str = "words",
                 query: str = "state", readout: str = "monotonic", silence: bool = True,
                 silence_scale: float = 1.0) -> None:
        if query not in ("state", "target"):
            raise ValueError(f"query={query!r}; choose 'state' (a recogniser) or 'target' (the word to find)")
        if attention not in ("location", "monotonic"):
            raise ValueError(f"attention={attention!r}; choose 'location' or 'monotonic'")
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r}; choose one of {sorted(READOUTS)}")
        if not 0.0 <= ctc_weight < 1.0:
            raise ValueError(f"ctc_weight={ctc_weight}; the CTC share lambda lies in [0, 1)")
        if guided_weight < 0 or chunk < 0:
            raise ValueError(f"guided_weight={guided_weight} and chunk={chunk} must be >= 0")
        super().__init__(specs, modality, transcript, hidden, stride, dilations, rnn, dropout, attention="additive",
                         location=location if attention == "location" else 0, location_kernel=location_kernel,
                         readout="monotonic", silence=silence, silence_scale=silence_scale)
        self.readout, self.kind, self.chunk, self.noise = readout, attention, int(chunk), float(noise)
        self.query = query
        if query == "target":  # the word being emitted joins the query; the word is predicted from the context alone
            self.att_e = nn.Linear(hidden, hidden, bias=False)
            self.out_ctx = nn.Linear(hidden, self.out.out_features)
        self.guided_weight, self.guided_g, self.ctc_weight = float(guided_weight), float(guided_g), float(ctc_weight)
        if attention == "monotonic":  # e = g v^T / ||v|| tanh(W s + V h + b) + r (Raffel et al. 2017, eq. 16)
            self.mono_v = nn.Parameter(torch.randn(hidden) / math.sqrt(hidden))
            self.mono_g = nn.Parameter(torch.tensor(1.0 / math.sqrt(hidden)))
            self.mono_r = nn.Parameter(torch.tensor(float(init_r)))
        self.ctc = None
        if ctc_weight > 0:
            self.spelling, self.ctc_units = spell(specs[transcript].vocab, ctc_units)
            self.ctc = nn.Linear(self.encoder.out_features, len(self.ctc_units) + 1)

    # ---- attention -----------------------------------------------------------------------------
    def _monotonic(self, h: Tensor, keys: Tensor, mask: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
        """(attention used for the context, expected alignment alpha) of one output step."""
        energy = torch.tanh(keys + self.att_q(h)[:, None])
        v = self.mono_v / self.mono_v.norm()
        e = self.mono_g * (energy @ v) + self.mono_r
        if self.training and self.noise > 0:
            e = e + self.noise * torch.randn_like(e)
        alpha = expected_alignment(torch.sigmoid(e), alpha, mask)
        if not self.chunk:
            return alpha, alpha
        u = self.att_v(energy).squeeze(-1)
        return chunkwise_attention(alpha, u, self.chunk, mask), alpha

    def run(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Teacher-forced decoding: ``logp`` (B, L+1, V), ``att`` (B, L+1, S), ``gold`` (B, L+1), the encoder
        output ``enc`` (B, S, H) and its valid steps ``steps`` (B,)."""
        tf = self.teacher_forcing(batch)
        h, att, mem, gold, keys, mask = tf.h, tf.att, tf.mem, tf.gold, tf.keys, tf.mask
        alpha, dummy = att, mem.new_zeros(gold.shape[0], 1)  # alpha before the first word: Raffel's alpha_0 = delta_0
        logps, atts = [], []
        for t in range(gold.shape[1]):
            q = h if self.query == "state" else h + self.att_e(self.embed(gold[:, t]))
            if self.kind == "monotonic":
                att, alpha = self._monotonic(q, keys, mask, alpha)
            else:
                att, _ = self._attend(q, keys, mask, att, dummy)
            ctx = torch.einsum("bs,bsh->bh", att, mem)
            if self.query == "state":
                h = self.cell(torch.cat([self.embed(tf.inputs[:, t]), ctx], -1), h)
                logps.append(self.out(torch.cat([h, ctx], -1)).log_softmax(-1))
            else:
                logps.append(self.out_ctx(ctx).log_softmax(-1))
                h = self.cell(torch.cat([self.embed(gold[:, t]), ctx], -1), h)
            atts.append(att)
        return {"logp": torch.stack(logps, 1), "att": torch.stack(atts, 1), "gold": gold, "enc": tf.enc,
                "steps": tf.steps}

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        out = self.run(batch)
        return out["logp"], out["att"], out["gold"]

    # ---- losses --------------------------------------------------------------------------------
    def ctc_log_probs(self, enc: Tensor) -> Tensor:
        """The CTC branch's frame log-posteriors (B, S, C) over blank (0) and the units."""
        if self.ctc is None:
            raise ValueError("this aligner has no CTC branch; build it with ctc_weight > 0")
        return self.ctc(enc).log_softmax(-1)

    def ctc_targets(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Padded CTC targets (B, U) of the transcripts' units and their lengths (B,)."""
        flat = [torch.tensor([c for t in ids for c in self.spelling[t]], dtype=torch.long)
                for ids in transcripts(batch, self.transcript)]
        return nn.utils.rnn.pad_sequence(flat, batch_first=True), torch.tensor([len(f) for f in flat])

    def ctc_loss(self, enc: Tensor, steps: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """The CTC branch's loss: ``F.ctc_loss`` (blank 0, ``reduction="mean"``, infinite losses zeroed)."""
        lp = self.ctc_log_probs(enc)
        tgt, tn = self.ctc_targets(batch)
        return F.ctc_loss(lp.transpose(0, 1), tgt.to(lp.device), steps, tn.to(lp.device), blank=0,
                          zero_infinity=True)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """(1 - lambda) cross-entropy + lambda CTC (Kim et al. 2017) + guided_weight x guided attention loss."""
        out = self.run(batch)
        logp, gold = out["logp"], out["gold"]
        total = F.nll_loss(logp.flatten(0, 1), gold.flatten(), ignore_index=PAD_ID)
        if self.ctc is not None:
            total = (1.0 - self.ctc_weight) * total + self.ctc_weight * self.ctc_loss(out["enc"], out["steps"], batch)
        if self.guided_weight > 0:
            words = lengths_of(batch, self.transcript).to(logp.device)
            att = out["att"][:, : int(words.max())]
            total = total + self.guided_weight * guided_attention_loss(att, words.clamp_min(1), out["steps"],
                                                                       self.guided_g)
        return total
