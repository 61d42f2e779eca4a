"""Model-based translation (Baltrusaitis et al. 2017, Sec. 4.2): grammar/template and encoder-decoder.

- :class:`TemplateTranslator`: a grammar ``d1 d2 ... dn`` whose slots are filled by per-position
  detectors (Kulkarni et al. 2013, "BabyTalk": detectors fill a template), then rendered in the
  target: words of the target language, or, for speech, each digit's average spoken template joined
  by average pauses (concatenative rendering).
- :class:`AttentionTranslator`: a GRU encoder-decoder with additive attention (Bahdanau et al. 2015),
  trained with teacher forcing, decoded greedily or by beam search; its attention matrices are
  exposed (``translate(...)["attention"]``, ``(B, L_out, S)``) for reading as alignments.

Both read the sources through :class:`SourceEncoder`. The common interface of translators:
``loss(batch) -> Tensor`` (trainable ones), ``translate(batch) -> dict`` with ``tokens`` ``(B, L)``,
``lengths`` and ``truncated`` for text targets or ``frames`` ``(B, T, F)`` and ``lengths`` for speech,
and optionally ``fit(train_split)`` (the training contract of :mod:`mmml.tasks.contract`).

Examples:
    >>> from mmml.data.digit_sequences import VOCAB_EN
    >>> from mmml.data.spec import ModalitySpec
    >>> specs = {"image": ModalitySpec("image", "sequence", (91, 8)),
    ...          "text": ModalitySpec("text", "tokens", (8,), vocab=VOCAB_EN.tokens)}
    >>> net = AttentionTranslator(specs, "captioning", hidden=16)
    >>> out = net.translate({"image": torch.zeros(2, 91, 8), "image_lengths": torch.tensor([91, 50])})
    >>> out["tokens"].shape[0], out["attention"].shape[0]
    (2, 2)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmml.translation.directions import Direction, check_batch, get_direction, target_is_text
from torch import Tensor, nn

from mmml.data.sequences import lengths_of, resample, trim_to_longest, valid_mask
from mmml.data.spec import ModalitySpec
from mmml.data.text import BOS_ID, EOS_ID, PAD_ID, SPECIALS
from mmml.recurrent import bidirectional_gru

N_SPECIAL = len(SPECIALS)  # digit d has id N_SPECIAL + d in both digit vocabularies
END = 10  # the detectors' "no more digits" class


def digits_of(batch: dict[str, Tensor], direction: Direction) -> Tensor:
    """Ground-truth digits ``(B, D)``, -1 after the string: from the text target, else the text source."""
    key = direction.target if direction.target.startswith("text") else "text"
    ids = batch[key]
    valid = valid_mask(lengths_of(batch, key), ids.shape[1])
    return torch.where(valid, ids - N_SPECIAL, -1)


def sinusoid(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Sinusoidal position codes ``(length, dim)`` (Vaswani et al. 2017, Sec. 3.5)."""
    pos = torch.arange(length, device=device, dtype=torch.float)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float) * (-math.log(1e4) / dim))
    out = torch.zeros(length, dim, device=device)
    out[:, 0::2], out[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq[: dim // 2])
    return out


#: frames of padding past a batch's longest sequence that the encoder's convolutions can still read (kernel 5
#: twice, strides up to 2): training batches are cut this far past it, so the loss is that of the padded batch
PADDING_READ = 16


class SourceEncoder(nn.Module):
    """Encode the source modalities into one memory ``(B, S, H)`` with a validity mask ``(B, S)``.

    Sequences: two 1-D convolutions, then a bidirectional GRU; the convolutions have stride 2 (both
    when the padded length exceeds 200 frames, the first when it exceeds 60), so that audio is read at
    a quarter of its frame rate and an image strip two columns per step; tokens: embedding and a
    bidirectional GRU. Several sources are concatenated along time (``steps`` gives each one's span
    and frames per memory step).
    """

    def __init__(self, specs: dict[str, ModalitySpec], sources: tuple[str, ...], hidden: int = 64) -> None:
        super().__init__()
        self.sources, self.hidden = sources, hidden
        self.front = nn.ModuleDict()
        self.stride: dict[str, tuple[int, ...]] = {}
        for m in sources:
            spec = specs[m]
            if spec.kind == "tokens":
                self.front[m] = nn.Embedding(len(spec.vocab), hidden, padding_idx=PAD_ID)
                self.stride[m] = ()
            else:
                length = spec.max_length or 0
                s1, s2 = (2 if length > 60 else 1), (2 if length > 200 else 1)
                self.stride[m] = (s1, s2)
                self.front[m] = nn.Sequential(nn.Conv1d(spec.feature_dim, hidden, 5, stride=s1, padding=2), nn.ReLU(),
                                              nn.Conv1d(hidden, hidden, 5, stride=s2, padding=2), nn.ReLU())
        self.rnn = nn.ModuleDict({m: nn.GRU(hidden, hidden, batch_first=True, bidirectional=True) for m in sources})
        self.proj = nn.Linear(2 * hidden, hidden)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        mems, masks = self.encode_each(batch)
        return torch.cat(mems, 1), torch.cat(masks, 1)

    def encode_each(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Each source's memory ``(B, S_m, H)`` and validity mask ``(B, S_m)``, in ``sources`` order."""
        mems, masks = [], []
        for m in self.sources:
            x, lengths = batch[m], lengths_of(batch, m)
            if isinstance(self.front[m], nn.Embedding):
                h = self.front[m](x.long())
            else:
                h = self.front[m](x.float().transpose(1, 2)).transpose(1, 2)
                for s in self.stride[m]:  # each convolution keeps ceil(L / stride) frames
                    lengths = (lengths + s - 1) // s
                lengths = lengths.clamp(1, h.shape[1])
            out, _ = bidirectional_gru(self.rnn[m], h, lengths.clamp_min(1))  # read within each length
            mems.append(self.proj(out))
            masks.append(valid_mask(lengths.to(h.device), h.shape[1]))
        return mems, masks

    def steps(self, batch: dict[str, Tensor]) -> list[tuple[str, int, int]]:
        """``(modality, memory steps, source frames per step)`` of each source, in memory order."""
        out = []
        for m in self.sources:
            n, per_step = batch[m].shape[1], 1
            for s in self.stride[m]:  # each convolution keeps ceil(L / stride) frames
                n, per_step = (n + s - 1) // s, per_step * s
            out.append((m, n, per_step))
        return out


class TemplateTranslator(nn.Module):
    """Grammar/template translation: per-position digit detectors fill ``d1 ... dn`` (Kulkarni et al. 2013).

    Detectors: one learned query per slot and source attends over that source's memory (its keys carry
    sinusoidal codes of each step's position), and the slot's contexts from all sources classify it as a
    digit or "end" (cross-entropy). Rendering: target-language words, or for speech each digit's
    mean spoken template (its training renderings resampled to their median length and averaged)
    between mean pauses (:meth:`fit`, before gradient training).

    Args:
        specs: the data set's modalities. direction: a name from :data:`mmml.translation.directions.DIRECTIONS`.
        hidden: encoder width. max_slots: slots of the template (default: the text's padded length).
    """

    def __init__(self, specs: dict[str, ModalitySpec], direction: str = "captioning", hidden: int = 64,
                 max_slots: int | None = None) -> None:
        super().__init__()
        self.direction = get_direction(direction, specs)
        self.specs = specs
        self.max_slots = int(max_slots or specs["text"].max_length)
        self.encoder = SourceEncoder(specs, self.direction.sources, hidden)
        n = len(self.direction.sources)
        self.queries = nn.Parameter(torch.randn(n, self.max_slots, hidden) / hidden**0.5)
        self.classify = nn.Sequential(nn.Linear(n * hidden, hidden), nn.ReLU(), nn.Linear(hidden, END + 1))
        self.templates: list[Tensor] = []
        self.register_buffer("pause_frame", torch.zeros(0))
        self.pauses = (0, 0, 0)

    def slot_logits(self, batch: dict[str, Tensor]) -> Tensor:
        """Detector scores ``(B, slots, 11)``: digit 0-9 or end (10)."""
        check_batch(batch, self.direction)
        contexts = [self.slot_attention(q, mem, mask)[1]
                    for q, mem, mask in zip(self.queries, *self.encoder.encode_each(batch), strict=True)]
        return self.classify(torch.cat(contexts, -1))

    @staticmethod
    def slot_attention(queries: Tensor, mem: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Slots' attention ``(B, slots, S)`` over one source's memory ``(B, S, H)`` and their contexts
        ``(B, slots, H)``; the keys carry each step's position, so slot k can find the k-th digit."""
        keys = mem + sinusoid(mem.shape[1], mem.shape[2], mem.device)
        att = torch.einsum("sh,bth->bst", queries, keys).masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return att, torch.einsum("bst,bth->bsh", att, mem)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        batch = trim_to_longest(batch, self.direction.sources, PADDING_READ)  # the same loss, faster
        digits = digits_of(batch, self.direction)[:, : self.max_slots]
        target = torch.full((digits.shape[0], self.max_slots), END, device=digits.device)
        target[:, : digits.shape[1]] = torch.where(digits >= 0, digits, END)
        return F.cross_entropy(self.slot_logits(batch).flatten(0, 1), target.flatten())

    def translate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        slots = self.slot_logits(batch).argmax(-1)
        return self.fill(torch.where(slots == END, -1, slots))

    def fill(self, digits: Tensor) -> dict[str, Tensor]:
        """Render slot digits ``(B, slots)`` (-1 or anything after the first -1 ends the string)."""
        ended = (digits < 0).long().cummax(1).values.bool()
        n = (~ended).sum(1)
        if target_is_text(self.direction, self.specs):
            width = self.specs[self.direction.target].max_length
            tokens = torch.where(ended, PAD_ID, digits + N_SPECIAL)[:, :width]
            return {"tokens": tokens, "lengths": n.clamp_max(width), "truncated": n > width}
        return self._speak(digits, n)

    # ---- concatenative rendering for speech targets ------------------------------------------
    def fit(self, train_split: dict[str, Tensor]) -> None:
        """Average each digit's spoken renderings and the pauses of the training split (speech targets)."""
        if target_is_text(self.direction, self.specs):
            return
        audio, bounds = train_split["audio"].float(), train_split["audio_boundaries"]
        lengths = train_split["audio_lengths"]
        digits = digits_of(train_split, self.direction)
        words: dict[int, list[Tensor]] = {d: [] for d in range(10)}
        gaps, leads, tails, pause_frames = [], [], [], []
        for i in range(audio.shape[0]):
            prev = 0
            for j in range(int((digits[i] >= 0).sum())):
                s, e = bounds[i, j].tolist()
                words[int(digits[i, j])].append(audio[i, s:e])
                (leads if j == 0 else gaps).append(s - prev)
                pause_frames.append(audio[i, prev:s])
                prev = e
            tails.append(int(lengths[i]) - prev)
        self.templates = []
        for d in range(10):
            if not words[d]:
                raise ValueError(f"digit {d} is never spoken in the training split; use more data.n_sequences")
            size = int(torch.tensor([len(w) for w in words[d]]).median())
            stack = [resample(w, size) for w in words[d]]
            self.templates.append(torch.stack(stack).mean(0))
        frames = torch.cat([p for p in pause_frames if len(p)])
        self.pause_frame = frames.mean(0).to(self.queries.device)
        med = [int(torch.tensor(x, dtype=torch.float).median()) for x in (leads, gaps, tails)]
        self.pauses = tuple(max(0, m) for m in med)

    def _speak(self, digits: Tensor, n: Tensor) -> dict[str, Tensor]:
        if not self.templates:
            raise RuntimeError("TemplateTranslator renders speech from templates: call fit(train_split) first")
        spec = self.specs[self.direction.target]
        lead, gap, tail = self.pauses
        frames = self.pause_frame.expand(digits.shape[0], spec.max_length, -1).clone()
        lengths = torch.zeros(digits.shape[0], dtype=torch.long)
        for i in range(digits.shape[0]):
            pos = lead
            for j in range(int(n[i])):
                w = self.templates[int(digits[i, j])].to(frames.device)
                stop = min(pos + len(w), spec.max_length)
                frames[i, pos:stop] = w[: stop - pos]
                pos = stop + (gap if j + 1 < int(n[i]) else tail)
            lengths[i] = min(pos, spec.max_length)
        return {"frames": frames, "lengths": lengths.to(frames.device)}


class AttentionTranslator(nn.Module):
    """Encoder-decoder with additive attention (Bahdanau, Cho & Bengio 2015) into a token target.

    With several sources (``mmt``: words and image) the decoder attends to each source separately and
    reads their contexts side by side (the doubly-attentive decoder of Calixto, Liu & Campbell 2017), so
    that the image's attention is not crowded out by the words'. The exposed attention ``(B, L_out, S)``
    is the sources' attentions concatenated along ``S`` in ``encoder.steps`` order; each source's span
    of a row sums to one.

    Args:
        specs: the data set's modalities. direction: a text-target direction (captioning, recognition, mmt).
        hidden: width of encoder, decoder and embeddings. max_length: longest output before it is cut
            and flagged ``truncated`` (default: the target's padded length). beam: beam width (1 = greedy).
        length_penalty: beam scores are divided by ``length ** length_penalty`` (0 = plain log-probability).
    """

    def __init__(self, specs: dict[str, ModalitySpec], direction: str = "captioning", hidden: int = 64,
                 max_length: int | None = None, beam: int = 1, length_penalty: float = 0.0) -> None:
        super().__init__()
        self.direction = get_direction(direction, specs)
        if not target_is_text(self.direction, specs):
            raise ValueError(f"AttentionTranslator produces tokens; direction {self.direction.name!r} targets "
                             f"{self.direction.target!r} frames: use mmml.translation.ContinuousGenerator")
        self.vocab = specs[self.direction.target].vocab
        self.max_length = int(max_length or specs[self.direction.target].max_length)
        self.beam, self.length_penalty = int(beam), float(length_penalty)
        v, n = len(self.vocab), len(self.direction.sources)
        self.encoder = SourceEncoder(specs, self.direction.sources, hidden)
        self.embed = nn.Embedding(v, hidden, padding_idx=PAD_ID)
        self.init = nn.Linear(hidden, hidden)
        self.cell = nn.GRUCell((1 + n) * hidden, hidden)
        self.att_q = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(n))
        self.att_k = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(n))
        self.att_v = nn.ModuleList(nn.Linear(hidden, 1, bias=False) for _ in range(n))
        self.out = nn.Linear((1 + n) * hidden, v)

    def _start(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor, list[int]]:
        """Memory, attention keys and mask (sources concatenated along time), initial state, and the
        sources' memory lengths."""
        check_batch(batch, self.direction)
        mems, masks = self.encoder.encode_each(batch)
        mem, mask = torch.cat(mems, 1), torch.cat(masks, 1)
        keys = torch.cat([k(m) for k, m in zip(self.att_k, mems, strict=True)], 1)
        mean = (mem * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        return mem, keys, mask, torch.tanh(self.init(mean)), [m.shape[1] for m in mems]

    @staticmethod
    def _sources(mem: Tensor, keys: Tensor, mask: Tensor, spans: list[int]) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Each source's memory, attention keys and padding (``~mask``), cut from the concatenated ones."""
        return list(zip(mem.split(spans, 1), keys.split(spans, 1), (~mask).split(spans, 1), strict=True))

    def _advance(self, embedded: Tensor, h: Tensor, sources: list[tuple[Tensor, Tensor, Tensor]]
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """Attend and update the state: ``(new state (N, H), contexts (N, n H), attention (N, S))`` from the
        embedded previous word ``(N, H)`` and :meth:`_sources`."""
        atts, ctxs = [], []
        for q, v, (x, k, pad) in zip(self.att_q, self.att_v, sources, strict=True):
            scores = v(torch.tanh(k + q(h)[:, None])).squeeze(-1)
            att = scores.masked_fill(pad, float("-inf")).softmax(-1)
            atts.append(att)
            ctxs.append(torch.bmm(att[:, None], x)[:, 0])
        ctx = torch.cat(ctxs, -1) if len(ctxs) > 1 else ctxs[0]
        h = self.cell(torch.cat([embedded, ctx], -1), h)
        return h, ctx, torch.cat(atts, -1) if len(atts) > 1 else atts[0]

    def _step(self, token: Tensor, h: Tensor, sources: list[tuple[Tensor, Tensor, Tensor]]
              ) -> tuple[Tensor, Tensor, Tensor]:
        """One decoder step from :meth:`_sources`: ``(log-probs (N, V), new state (N, H), attention (N, S))``."""
        h, ctx, att = self._advance(self.embed(token), h, sources)
        return self.out(torch.cat([h, ctx], -1)).log_softmax(-1), h, att

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Teacher-forced cross-entropy of the target words followed by ``<eos>``.

        The steps of :meth:`_step`, with what does not depend on the previous state taken out of the time
        loop: the sources cut apart and the words embedded before it, the output layer and the cross-entropy
        applied after it, once for all steps (the same loss; a training step of ``mmt`` 16.0 -> 13.9 ms on the
        CPU)."""
        batch = trim_to_longest(batch, self.direction.sources, PADDING_READ)  # the same loss, faster
        target, lengths = batch[self.direction.target].long(), lengths_of(batch, self.direction.target)
        b, width = target.shape
        gold = torch.cat([target, torch.zeros(b, 1, dtype=torch.long, device=target.device)], 1)
        gold[torch.arange(b), lengths] = EOS_ID
        inputs = torch.cat([torch.full((b, 1), BOS_ID, device=target.device), gold[:, :-1]], 1)  # <bos> y
        mem, keys, mask, h, spans = self._start(batch)
        embedded, sources = self.embed(inputs), self._sources(mem, keys, mask, spans)
        outputs = []
        for t in range(width + 1):
            h, ctx, _ = self._advance(embedded[:, t], h, sources)
            outputs.append(torch.cat([h, ctx], -1))
        logp = self.out(torch.stack(outputs, 1)).log_softmax(-1)
        losses = F.nll_loss(logp.flatten(0, 1), gold.flatten(), ignore_index=PAD_ID, reduction="none")
        valid = (gold != PAD_ID).float()
        return (losses.view(b, -1) * valid).sum() / valid.sum()

    @torch.no_grad()
    def translate(self, batch: dict[str, Tensor], beam: int | None = None) -> dict[str, Tensor]:
        """Decode by beam search (width ``beam``, default ``self.beam``; 1 is greedy decoding)."""
        width = int(beam or self.beam)
        mem, keys, mask, h, spans = self._start(batch)
        b, s = mask.shape
        # every beam of an example as one row: (B * W, ...)
        rep = lambda t: t.repeat_interleave(width, 0)  # noqa: E731
        mem, keys, mask, h = rep(mem), rep(keys), rep(mask), rep(h)
        sources = self._sources(mem, keys, mask, spans)
        score = torch.full((b, width), float("-inf"), device=mem.device)
        score[:, 0] = 0.0
        token = torch.full((b * width,), BOS_ID, dtype=torch.long, device=mem.device)
        done = torch.zeros(b, width, dtype=torch.bool, device=mem.device)
        tokens = torch.zeros(b, width, 0, dtype=torch.long, device=mem.device)
        atts = torch.zeros(b, width, 0, s, device=mem.device)
        for _ in range(self.max_length + 1):
            logp, h, att = self._step(token, h, sources)
            logp = logp.view(b, width, -1).clone()
            logp[..., PAD_ID] = float("-inf")  # never emit padding ...
            finished = logp.new_full(logp.shape[-1:], float("-inf"))
            finished[PAD_ID] = 0.0  # ... except to extend a finished hypothesis at no cost
            logp = torch.where(done[..., None], finished, logp)
            total = (score[..., None] + logp).view(b, -1)
            score, flat = total.topk(width, dim=1)
            parent, token = flat // logp.shape[-1], flat % logp.shape[-1]
            pick = (torch.arange(b, device=mem.device)[:, None] * width + parent).view(-1)
            h = h[pick]
            done = done.gather(1, parent) | (token == EOS_ID)
            tokens = torch.cat([tokens.gather(1, parent[..., None].expand_as(tokens)), token[..., None]], -1)
            atts = torch.cat([atts[torch.arange(b)[:, None], parent], att.view(b, width, 1, s)[
                torch.arange(b)[:, None], parent]], 2)
            token = token.view(-1)
            if done.all():
                break
        ended = (tokens == EOS_ID) | (tokens == PAD_ID)
        length = torch.where(ended.any(-1), ended.float().argmax(-1), tokens.shape[-1])
        norm = score / length.clamp_min(1).float() ** self.length_penalty if self.length_penalty else score
        best = norm.argmax(1)
        idx = torch.arange(b, device=mem.device)
        out_len, truncated = length[idx, best], ~done[idx, best]
        out_len = out_len.clamp_max(self.max_length)
        seq = tokens[idx, best][:, : self.max_length]
        seq = torch.where(valid_mask(out_len, seq.shape[1]), seq, PAD_ID)
        return {"tokens": seq, "lengths": out_len, "truncated": truncated, "attention": atts[idx, best]}

    @torch.no_grad()
    def greedy(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Greedy decoding, written plainly (the reference that beam search of width 1 must equal)."""
        mem, keys, mask, h, spans = self._start(batch)
        sources = self._sources(mem, keys, mask, spans)
        b = mask.shape[0]
        token = torch.full((b,), BOS_ID, dtype=torch.long, device=mem.device)
        out = torch.zeros(b, self.max_length, dtype=torch.long, device=mem.device)
        lengths = torch.full((b,), self.max_length, dtype=torch.long, device=mem.device)
        finished = torch.zeros(b, dtype=torch.bool, device=mem.device)
        for t in range(self.max_length + 1):
            logp, h, _ = self._step(token, h, sources)
            logp[:, PAD_ID] = float("-inf")
            token = logp.argmax(-1)
            newly = (token == EOS_ID) & ~finished
            lengths[newly] = t
            finished |= token == EOS_ID
            if t < self.max_length:
                out[:, t] = torch.where(finished, PAD_ID, token)
            if finished.all():
                break
        return {"tokens": out, "lengths": lengths, "truncated": ~finished}
