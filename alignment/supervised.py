"""Supervised explicit aligners of the alignment challenge: HMM and CTC forced alignment of a known transcript.

- :class:`HMMAligner`: left-to-right Gaussian word HMMs (:class:`mmml.alignment.hmm.HMMForcedAligner`, hmmlearn)
  trained on the words of the training split cut at their true spans, with a silence model trained on the
  pauses between them; Viterbi through the transcript's composite model (Rabiner 1989; HTK's HVite).
- :class:`CTCAligner`: a small CTC acoustic model (:class:`mmml.alignment.acoustic.AcousticEncoder` and a
  softmax over blank + words; Graves et al. 2006) trained on transcripts only, aligned with
  :func:`mmml.alignment.ctc.ctc_word_alignment` (``torchaudio.functional.forced_align``).

Both follow the aligner interface of :class:`mmml.alignment.task.AlignmentTask`: ``align(batch) -> (B, D, 2)``
``[start, end)`` frames of ``batch[modality]``, -1 padded like ``<modality>_boundaries``; the HMM is fitted
by ``fit(train_split)``, the CTC model trained on ``loss(batch)``.

Examples:
    >>> from mmml.data.digit_sequences import VOCAB_EN
    >>> from mmml.data.spec import ModalitySpec
    >>> specs = {"audio": ModalitySpec("audio", "sequence", (120, 40), frame_rate=62.5),
    ...          "text": ModalitySpec("text", "tokens", (4,), vocab=VOCAB_EN.tokens)}
    >>> ctc = CTCAligner(specs, hidden=8)
    >>> batch = {"audio": torch.randn(2, 120, 40), "audio_lengths": torch.tensor([120, 90]),
    ...          "text": torch.tensor([[5, 6, 0, 0], [7, 7, 8, 0]]), "text_lengths": torch.tensor([2, 3])}
    >>> ctc.align(batch).shape
    torch.Size([2, 4, 2])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmml.data.sequences import lengths_of
from mmml.data.spec import ModalitySpec
from mmml.data.synth import LEXICON
from mmml.data.text import SPECIALS

from .acoustic import AcousticEncoder, step_spans
from .ctc import ctc_word_alignment
from .hmm import HMMForcedAligner
from .segments import cut_segments, pad_spans, tiling_spans, transcripts

__all__ = ["CTCAligner", "HMMAligner", "cepstra"]
log = logging.getLogger(__name__)
SILENCE = "sil"


def cepstra(x: Tensor | np.ndarray, n: int | None) -> np.ndarray:
    """Cepstral coefficients: the orthonormal DCT-II of log-mel frames (T, F) along F, first ``n`` kept (MFCCs,
    Davis & Mermelstein 1980); ``n=None`` keeps the frames as they are."""
    a = np.asarray(x, dtype=np.float64)
    return a if n is None else scipy.fft.dct(a, type=2, norm="ortho", axis=-1)[..., :n]


class HMMAligner(nn.Module):
    """HMM forced alignment trained on the training split's words cut at their true spans.

    Args:
        specs: the data set's modalities. modality: the sequence to align; transcript: its token ids.
        n_states: states per word model. silence: train a silence model on the pauses and let it fill
            the start, the end and the gaps between words. n_cepstra: features are the first cepstra
            of the frames (``None``: the frames themselves). max_examples: at most this many examples
            per word and for silence (the first ones), to bound the fitting time.
        **hmm: other :class:`~mmml.alignment.hmm.HMMForcedAligner` arguments (``covariance_type``, ``n_iter``,
            ``silence_prob``, ``random_state``...).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str = "audio", transcript: str = "text",
                 n_states: int = 4, silence: bool = True, n_cepstra: int | None = 13,
                 max_examples: int | None = 200, **hmm) -> None:
        super().__init__()
        if specs[modality].kind != "sequence":
            raise ValueError(f"modality {modality!r} is {specs[modality].kind!r}; HMM alignment needs a sequence")
        self.modality, self.transcript = modality, transcript
        self.n_cepstra, self.max_examples = n_cepstra, max_examples
        self.hmm = HMMForcedAligner(n_states=n_states, silence=SILENCE if silence else None, **hmm)

    def fit(self, train_split: dict[str, Tensor]) -> None:
        """Fit a word model per token (and the silence model) on the training split's segments."""
        x = train_split[self.modality].float().cpu()
        words, tokens, pauses = cut_segments(x, lengths_of(train_split, self.modality),
                                             train_split[f"{self.modality}_boundaries"],
                                             transcripts(train_split, self.transcript))
        examples = list(zip(words, tokens, strict=True))
        if self.hmm.silence is not None:
            examples += [(p, SILENCE) for p in pauses]
        n_min = {SILENCE: self.hmm.silence_states}
        kept, counts, limit = [], {}, self.max_examples or len(examples)
        for seg, label in examples:
            if len(seg) >= n_min.get(label, self.hmm.n_states) and counts.get(label, 0) < limit:
                kept.append((cepstra(seg, self.n_cepstra), label))
                counts[label] = counts.get(label, 0) + 1
        if len(kept) < len(examples):
            log.info("HMMAligner: %d of %d training segments kept (shorter than the model or over max_examples)",
                     len(kept), len(examples))
        self.hmm.fit([k[0] for k in kept], [k[1] for k in kept])

    @torch.no_grad()
    def align(self, batch: dict[str, Tensor]) -> Tensor:
        x, n = batch[self.modality].float().cpu(), lengths_of(batch, self.modality).cpu()
        words = transcripts(batch, self.transcript)
        spans = [self.hmm.align(cepstra(x[i, : int(n[i])], self.n_cepstra), words[i]) for i in range(len(words))]
        return pad_spans(spans, batch[self.transcript].shape[1]).to(batch[self.modality].device)

    forward = align


def spell(vocab: Sequence[str], units: str) -> tuple[list[list[int]], list[str]]:
    """Each token id's CTC classes (1 + unit index; specials get none) and the unit inventory.

    Examples:
        >>> spell(["<pad>", "<unk>", "<bos>", "<eos>", "two", "six"], "letters")
        ([[], [], [], [], [4, 5, 2], [3, 1, 6]], ['i', 'o', 's', 't', 'w', 'x'])
    """
    words = [w for w in vocab if w not in SPECIALS]
    if units == "words":
        pieces = {w: [w] for w in words}
    elif units == "letters":
        pieces = {w: list(w) for w in words}
    elif units == "phones":
        unknown = [w for w in words if w not in LEXICON]
        if unknown:
            raise ValueError(f"word {unknown[0]!r} is not in the pronunciation lexicon (mmml.data.synth.LEXICON, "
                             f"{sorted(LEXICON)}); use units='letters' or 'words'")
        pieces = {w: list(LEXICON[w]) for w in words}
    else:
        raise ValueError(f"units={units!r}; choose 'words', 'letters' or 'phones'")
    inventory = sorted({u for p in pieces.values() for u in p})
    index = {u: i + 1 for i, u in enumerate(inventory)}
    return [[index[u] for u in pieces[t]] if t in pieces else [] for t in vocab], inventory


class CTCAligner(nn.Module):
    """A CTC acoustic model (encoder + softmax over blank and sub-word units) whose forced alignment gives word spans.

    Args:
        specs: the data set's modalities. modality: the frames (e.g. ``"audio"``); transcript: the token
            modality whose words are aligned.
        units: what the model emits for each word: ``"words"`` (one class per word), ``"letters"`` (its
            spelling) or ``"phones"`` (its pronunciation in :data:`mmml.data.synth.LEXICON`). A word's span
            runs from its first unit's first frame to its last unit's last frame (as torchaudio's forced
            alignment tutorial builds word spans from characters), so sub-word units cover a word better
            than one peaky word class.
        hidden, stride, dilations, rnn, dropout: the :class:`~mmml.alignment.acoustic.AcousticEncoder`.
        spans: ``"tokens"`` (each word where its units fire) or ``"tiling"`` (the words tile the frames,
            boundaries in the blank gaps by ``policy``: ``"midpoint"``, ``"start"`` or ``"end"``).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str = "audio", transcript: str = "text",
                 units: str = "phones", hidden: int = 64, stride: int = 2, dilations: Sequence[int] = (1, 2, 4),
                 rnn: bool = False, dropout: float = 0.1, spans: str = "tokens", policy: str = "midpoint") -> None:
        super().__init__()
        if spans not in ("tokens", "tiling"):
            raise ValueError(f"spans={spans!r}; choose 'tokens' or 'tiling'")
        vocab = specs[transcript].vocab
        if not vocab:
            raise ValueError(f"modality {transcript!r} has no vocabulary; the transcript must be tokens")
        self.modality, self.transcript, self.spans, self.policy = modality, transcript, spans, policy
        self.spelling, self.units = spell(vocab, units)
        self.encoder = AcousticEncoder(specs[modality].feature_dim, hidden, stride, dilations, rnn, dropout)
        self.out = nn.Linear(self.encoder.out_features, len(self.units) + 1)

    def log_probs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Frame log-posteriors (B, T', C) over blank (0) and the units, and their valid lengths (B,)."""
        h, n = self.encoder(batch[self.modality], lengths_of(batch, self.modality).to(batch[self.modality].device))
        return self.out(h).log_softmax(-1), n

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return self.log_probs(batch)

    def words(self, batch: dict[str, Tensor]) -> list[list[list[int]]]:
        """Each example's words as lists of CTC classes (1 + unit index)."""
        return [[self.spelling[t] for t in ids] for ids in transcripts(batch, self.transcript)]

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """The CTC loss (Graves et al. 2006) of the transcripts' units, averaged over targets (PyTorch's ``mean``)."""
        lp, n = self.log_probs(batch)
        flat = [torch.tensor([c for w in ws for c in w], dtype=torch.long) for ws in self.words(batch)]
        tgt = nn.utils.rnn.pad_sequence(flat, batch_first=True).to(lp.device)
        tn = torch.tensor([len(f) for f in flat], device=lp.device)
        return F.ctc_loss(lp.transpose(0, 1), tgt, n, tn, blank=0, zero_infinity=True)

    @torch.no_grad()
    def align(self, batch: dict[str, Tensor]) -> Tensor:
        lp, n = self.log_probs(batch)
        frames = lengths_of(batch, self.modality)
        out = []
        for i, words in enumerate(self.words(batch)):
            result = ctc_word_alignment(lp[i, : int(n[i])].float().cpu(), words, blank=0, policy=self.policy)
            spans = result.word_spans if self.spans == "tokens" else tiling_spans(result.boundaries)
            out.append(step_spans(spans, self.encoder.stride, int(frames[i])))
        return pad_spans(out, batch[self.transcript].shape[1]).to(lp.device)
