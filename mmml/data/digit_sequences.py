"""``digit_sequences``: strings of 3-8 digits rendered in every modality, with ground-truth boundaries.

The data set of the alignment and translation challenges (Baltrusaitis et al. 2017, Sec. 4-5): each
example is one digit string, e.g. ``4 0 7``, shown as

- ``audio``: the spoken words (the Klatt formant synthesiser, :func:`mmml.data.synth.synthesize_sequence`,
  or real FSDD recordings for ``digit_sequences_fsdd``) with random pauses and white noise, as log-mel
  frames (:class:`mmml.data.audio.LogMel`, 8 kHz, hop 128 = 16 ms);
- ``image``: a strip of scikit-learn 8x8 handwritten digits side by side with random blank gaps, read
  column by column: a *sequence* of columns, ``image[b, t]`` is column ``t`` (8 pixels, top to bottom,
  in [0, 1]);
- ``text``: the English digit words as word tokens (``"four" "zero" "seven"``), ``text_fr`` the French
  ones (``"quatre" "zéro" "sept"``); vocabularies :data:`VOCAB_EN`, :data:`VOCAB_FR` (id = 4 + digit).

Batch keys (stable; the alignment challenge builds on them). N examples, D = ``max_digits``:

=======================  ==================  =====================================================
key                      shape, dtype        meaning
=======================  ==================  =====================================================
``audio``                (N, T, n_mels) f32  log-mel frames, padded with log(floor)
``audio_lengths``        (N,) long           valid frames
``audio_boundaries``     (N, D, 2) long      each word's [start, end) frame (frames whose centre
                                             ``t * hop`` falls inside the word); -1 pads
``image``                (N, W, 8) f32       strip columns, zero padded
``image_lengths``        (N,) long           valid columns
``image_boundaries``     (N, D, 2) long      each digit's [start, end) column; -1 pads
``text``, ``text_fr``    (N, D) long         word ids, 0 pads; ``text_lengths`` = number of digits
``label``                (N,) long           the **first digit** of the string (10 classes, so that
                                             splits can be stratified and classifiers have a target)
=======================  ==================  =====================================================

Splits are fixed by ``data_seed`` at build time: the test strings (``test_fraction``), then validation
(``val_fraction`` of the rest, stratified by first digit). Each split's images come from its own pool of
scikit-learn images (disjoint), and with FSDD its recordings from its own recordings, by the split
protocol ``data.split`` (:mod:`mmml.data.protocols`: ``official`` = index 0-4 test, 5-9 validation;
``speakers``/``logo`` = held-out speakers), so no image, recording or (held out) speaker is in two
splits. ``seed`` varies the training only.

Examples (skipped by the doctest run: they synthesise 100 spoken strings, several seconds of CPU;
``tests/mmml/test_digit_sequences.py`` builds them):

    >>> dm = DigitSequences(n_sequences=100, cache=False)  # doctest: +SKIP
    >>> dm.setup(); dm.split("train")["audio_boundaries"].shape  # doctest: +SKIP
    torch.Size([68, 8, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from mmml.data import synth
from mmml.data.audio import LogMel, read_wav
from mmml.data.datamodule import MultimodalDataModule, _stratified
from mmml.data.fsdd import FSDDMixin, list_recordings
from mmml.data.protocols import SpeakerProtocol
from mmml.data.roots import data_root
from mmml.data.spec import ModalitySpec
from mmml.data.text import DIGIT_WORDS_EN, DIGIT_WORDS_FR, Vocab

VOCAB_EN = Vocab(DIGIT_WORDS_EN)
VOCAB_FR = Vocab(DIGIT_WORDS_FR)
SAMPLE_RATE = 8000


def draw_strings(n: int, min_digits: int, max_digits: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` random digit strings, lengths uniform in ``[min_digits, max_digits]``."""
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"min_digits={min_digits}, max_digits={max_digits}; "
                         "use 1 <= min_digits <= max_digits")
    return [rng.integers(0, 10, int(rng.integers(min_digits, max_digits + 1))) for _ in range(n)]


def image_strip(digits: np.ndarray, pool: dict[int, np.ndarray], images: np.ndarray, gap: tuple[int, int],
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns ``(W, 8)`` of 8x8 digit images drawn from ``pool[d]`` with random blank gaps, each
    digit's ``[start, end)`` column, and the index of each digit's image in ``images``."""
    cols, bounds, ids, pos = [], [], [], 0
    for d in digits:
        g = int(rng.integers(gap[0], gap[1] + 1))
        cols.append(np.zeros((g, 8), dtype=np.float32))
        pos += g
        ids.append(int(rng.choice(pool[int(d)])))
        cols.append(images[ids[-1]].T)  # (8, 8) rows x columns
        bounds.append((pos, pos + 8))
        pos += 8
    cols.append(np.zeros((int(rng.integers(gap[0], gap[1] + 1)), 8), dtype=np.float32))
    return np.concatenate(cols), np.asarray(bounds, dtype=np.int64), np.asarray(ids, dtype=np.int64)


def join_words(words: Sequence[np.ndarray], pause: tuple[float, float], rng: np.random.Generator,
               sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate word waveforms with random pauses (seconds, uniform in ``pause``) before, between and
    after them, each word at a random peak in [0.6, 1]; returns ``(wave, bounds (n, 2) samples)``."""
    parts, bounds, pos = [], [], 0
    for w in words:
        gap = np.zeros(int(round(rng.uniform(*pause) * sample_rate)), dtype=np.float32)
        w = np.asarray(w, dtype=np.float32)
        w = w * (rng.uniform(0.6, 1.0) / max(float(np.abs(w).max()), 1e-8))
        parts += [gap, w]
        pos += len(gap)
        bounds.append((pos, pos + len(w)))
        pos += len(w)
    parts.append(np.zeros(int(round(rng.uniform(*pause) * sample_rate)), dtype=np.float32))
    return np.concatenate(parts), np.asarray(bounds, dtype=np.int64)


def trim_silence(wave: np.ndarray, top_db: float = 30.0, frame: int = 128) -> np.ndarray:
    """Cut leading and trailing frames whose RMS is more than ``top_db`` below the loudest frame."""
    n = -(-len(wave) // frame)
    frames = np.pad(wave, (0, n * frame - len(wave))).reshape(n, frame)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-top_db / 20))
    return wave[loud[0] * frame: min(len(wave), (loud[-1] + 1) * frame)]


def samples_to_frames(bounds: np.ndarray, hop: int) -> np.ndarray:
    """Sample bounds ``[s, e)`` -> frames whose centre ``t * hop`` (``center=True``) lies in ``[s, e)``."""
    return -(-bounds // hop)


def pad_ids(ids: Sequence[np.ndarray], width: int) -> torch.Tensor:
    """Stack ``(n_i,)`` ids into ``(N, width)``, padding with -1."""
    out = torch.full((len(ids), width), -1, dtype=torch.long)
    for i, x in enumerate(ids):
        out[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
    return out


def pad_bounds(bounds: Sequence[np.ndarray], width: int) -> torch.Tensor:
    """Stack ``(n_i, 2)`` bounds into ``(N, width, 2)``, padding with -1."""
    out = torch.full((len(bounds), width, 2), -1, dtype=torch.long)
    for i, b in enumerate(bounds):
        out[i, : len(b)] = torch.as_tensor(b, dtype=torch.long)
    return out


class DigitSequences(MultimodalDataModule):
    """Digit strings as speech (synthetic), image strip and words in two languages, with boundaries.

    Args:
        modalities: served modalities (default all: audio, image, text, text_fr).
        n_sequences: number of strings. min_digits, max_digits: their length range.
        snr_db: white noise added to the speech (``None``: clean). pause: (min, max) seconds of silence
            before, between and after words. image_gap: (min, max) blank columns around each digit.
        image_noise: std of Gaussian noise on the strip's pixels (range [0, 1]).
        n_mels, max_frames, hop_length: log-mel features at 8 kHz (a string longer than
            ``max_frames`` is an error naming the length needed).
        data_seed: seed of the strings, renderings and the test and validation splits (fixed data: ``seed`` draws
            neither; it sets initialisation and batch order).
        **kwargs: see :class:`~mmml.data.datamodule.MultimodalDataModule`.
    """

    name = "digit_sequences"

    def __init__(self, modalities: Sequence[str] | None = None, n_sequences: int = 1000, min_digits: int = 3,
                 max_digits: int = 8, snr_db: float | None = 20.0, pause: Sequence[float] = (0.05, 0.25),
                 image_gap: Sequence[int] = (0, 3), image_noise: float = 0.0, n_mels: int = 40,
                 max_frames: int = 450, hop_length: int = 128, data_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(modalities=modalities, **kwargs)
        if int(n_sequences) < 100:
            raise ValueError(f"data.n_sequences={n_sequences}; use at least 100 so that the validation "
                             "split, stratified by first digit, holds every class")
        draw_strings(0, int(min_digits), int(max_digits), np.random.default_rng(0))  # validates the range
        self.n_sequences = int(n_sequences)
        self.min_digits, self.max_digits = int(min_digits), int(max_digits)
        self.snr_db = None if snr_db is None else float(snr_db)
        self.pause = (float(pause[0]), float(pause[1]))
        self.image_gap = (int(image_gap[0]), int(image_gap[1]))
        if not 0.0 <= self.pause[0] <= self.pause[1] or not 0 <= self.image_gap[0] <= self.image_gap[1]:
            raise ValueError(f"data.pause={list(pause)} and data.image_gap={list(image_gap)} must be "
                             "(min, max) pairs with 0 <= min <= max")
        self.image_noise = float(image_noise)
        self.logmel = LogMel(n_mels=int(n_mels), max_frames=int(max_frames), hop_length=int(hop_length))
        self.data_seed = int(data_seed)

    @property
    def max_columns(self) -> int:
        """Padded strip width: every digit and gap at their widest."""
        return 8 * self.max_digits + (self.max_digits + 1) * self.image_gap[1]

    def params(self) -> dict[str, Any]:
        return {"n": self.n_sequences, "digits": (self.min_digits, self.max_digits), "snr": self.snr_db,
                "pause": self.pause, "gap": self.image_gap, "image_noise": self.image_noise,
                "test_fraction": self.test_fraction,
                "val_fraction": self.val_fraction, "splits": "fixed, disjoint pools", "logmel": self.logmel.__dict__,
                "seed": self.data_seed}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        d = self.max_digits
        specs = {
            "audio": ModalitySpec("audio", "sequence", (self.logmel.max_frames, self.logmel.n_mels),
                                  frame_rate=self.logmel.frame_rate, log_mel=True),
            "image": ModalitySpec("image", "sequence", (self.max_columns, 8), extra={"columns_per_digit": 8}),
            "text": ModalitySpec("text", "tokens", (d,), vocab=VOCAB_EN.tokens),
            "text_fr": ModalitySpec("text_fr", "tokens", (d,), vocab=VOCAB_FR.tokens),
        }
        return specs, DIGIT_WORDS_EN

    # ---- rendering --------------------------------------------------------------------------
    def speech(self, strings: list[np.ndarray], codes: np.ndarray, rng: np.random.Generator
               ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, torch.Tensor]]:
        """Waveforms and word bounds (samples) of each string, and where they came from (``source_*``
        tensors); synthetic speakers drawn at random."""
        waves, bounds = [], []
        for digits in strings:
            speaker = synth.SPEAKERS[int(rng.integers(len(synth.SPEAKERS)))]
            w, b = synth.synthesize_sequence([synth.DIGIT_WORDS[int(d)] for d in digits], speaker, rng,
                                             sample_rate=SAMPLE_RATE, pause=self.pause)
            waves.append(w)
            bounds.append(b)
        return waves, bounds, {}

    @property
    def protocol(self) -> dict[str, Any]:
        return {"data_set": self.name, "split": "fixed", "data_seed": self.data_seed,
                "test": f"strings drawn by data_seed={self.data_seed}", "val": "strings drawn by data_seed",
                "test_fraction": self.test_fraction, "val_fraction": self.val_fraction,
                "images": "disjoint pools per split", "seed": "varies the training only"}

    def split_codes(self, strings: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """Split of each string (0 train, 1 val, 2 test): test drawn from ``rng``, validation stratified by
        first digit from the rest (seeded by ``data_seed``)."""
        n = self.n_sequences
        codes = np.zeros(n, dtype=np.int64)
        n_test = max(1, int(round(self.test_fraction * n)))
        codes[rng.permutation(n)[:n_test]] = 2
        rest = np.flatnonzero(codes == 0)
        first = np.array([int(s[0]) for s in strings])
        _, val = _stratified(rest, first[rest], max(self.val_fraction, 1.0 / len(rest)), self.data_seed + 1)
        codes[val] = 1
        return codes

    def build(self) -> dict[str, Any]:
        rng = np.random.default_rng(self.data_seed)
        strings = draw_strings(self.n_sequences, self.min_digits, self.max_digits, rng)
        codes = self.split_codes(strings, rng)

        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)
        pools: dict[int, dict[int, np.ndarray]] = {0: {}, 1: {}, 2: {}}
        for d in range(10):
            idx = rng.permutation(np.flatnonzero(digits.target == d))
            n_test = max(1, int(round(len(idx) * max(self.test_fraction, 0.1))))
            n_val = max(1, int(round(len(idx) * max(self.val_fraction, 0.1))))
            pools[2][d], pools[1][d], pools[0][d] = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
        strips, image_bounds, image_ids = zip(*(image_strip(s, pools[int(c)], images, self.image_gap, rng)
                                                for s, c in zip(strings, codes, strict=True)), strict=True)
        image = torch.zeros(self.n_sequences, self.max_columns, 8)
        for i, s in enumerate(strips):
            image[i, : len(s)] = torch.from_numpy(s)
        if self.image_noise > 0:
            image += self.image_noise * torch.from_numpy(rng.standard_normal(image.shape).astype(np.float32))

        waves, sample_bounds, sources = self.speech(strings, codes, rng)
        if self.snr_db is not None:
            waves = [synth.add_noise(w, self.snr_db, rng) for w in waves]
        needed = max(1 + len(w) // self.logmel.hop_length for w in waves)
        if needed > self.logmel.max_frames:
            raise ValueError(f"{self.name}: the longest string needs {needed} frames but data.max_frames="
                             f"{self.logmel.max_frames}; raise data.max_frames to {needed} or shorten "
                             "data.pause")
        audio, audio_lengths = self.logmel(waves)

        out: dict[str, Any] = {
            "audio": audio, "audio_lengths": audio_lengths,
            "audio_boundaries": pad_bounds(
                [samples_to_frames(b, self.logmel.hop_length) for b in sample_bounds], self.max_digits),
            "image": image, "image_lengths": torch.tensor([len(s) for s in strips]),
            "image_boundaries": pad_bounds(image_bounds, self.max_digits),
            "label": torch.tensor([int(s[0]) for s in strings]),
            "split": torch.from_numpy(codes),
            "source_image": pad_ids(image_ids, self.max_digits),
        }
        out.update(sources)
        for key, vocab, words in (("text", VOCAB_EN, DIGIT_WORDS_EN), ("text_fr", VOCAB_FR, DIGIT_WORDS_FR)):
            out[key], out[f"{key}_lengths"] = vocab.encode([[words[d] for d in s] for s in strings],
                                                          max_length=self.max_digits)
        return out


class DigitSequencesFSDD(FSDDMixin, DigitSequences):
    """:class:`DigitSequences` with real speech: FSDD recordings (one speaker per string), trimmed of
    silence (frames more than ``trim_db`` below the loudest), joined with random pauses and noise.

    Each string is spoken from its split's recordings under ``data.split`` (:mod:`mmml.data.protocols`):
    ``official`` (test strings: index 0-4, validation: 5-9, train: 10-49; speakers shared) or
    ``speakers``/``logo`` (test strings: the test speakers, validation: the validation speakers).

    Args: as :class:`DigitSequences`, plus ``root``, ``download``, ``speakers``, ``split``,
    ``test_speakers``, ``val_speakers`` as in :class:`~mmml.data.fsdd.FSDD` and ``trim_db``.
    """

    name = "digit_sequences_fsdd"

    def __init__(self, root: str | None = None, download: bool = False, speakers: Sequence[str] | None = None,
                 split: str = "official", test_speakers: Sequence[str] | None = ("theo",),
                 val_speakers: Sequence[str] | None = None, trim_db: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root, self.download = root, download
        self.speakers = list(speakers) if speakers is not None else None
        self.split_protocol = SpeakerProtocol(split, test_speakers, val_speakers, official_val="index")
        self.trim_db = float(trim_db)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "root": str(data_root(self.root)), "speakers": self.speakers,
                "trim_db": self.trim_db, "protocol": self.split_protocol.params()}

    @property
    def protocol(self) -> dict[str, Any]:
        strings, speech = DigitSequences.protocol.fget(self), FSDDMixin.protocol.fget(self)
        return {**strings, **speech, **{k: f"{strings[k]}, spoken from {speech[k]}" for k in ("test", "val")}}

    def speech(self, strings: list[np.ndarray], codes: np.ndarray, rng: np.random.Generator
               ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, torch.Tensor]]:
        known = self.known_speakers()
        recs = list_recordings(self.recordings_dir(), known)
        rec_codes = self.split_protocol.assign(np.array([s for _, _, s, _ in recs]),
                                               np.array([i for *_, i in recs]), known)
        table: dict[tuple[str, int, int], list[int]] = {}
        for r, ((_, digit, speaker, _), code) in enumerate(zip(recs, rec_codes, strict=True)):
            table.setdefault((speaker, digit, int(code)), []).append(r)
        cache: dict[int, np.ndarray] = {}

        def word(r: int) -> np.ndarray:
            if r not in cache:
                cache[r] = trim_silence(read_wav(recs[r][0], SAMPLE_RATE), self.trim_db)
            return cache[r]

        waves, bounds, used, who = [], [], [], []
        for digits, code in zip(strings, codes, strict=True):
            ok = [s for s in known if all((s, int(d), int(code)) in table for d in set(digits.tolist()))]
            if not ok:
                split = ("train", "val", "test")[int(code)]
                raise ValueError(f"no FSDD speaker of the {split} split has recordings of every digit in "
                                 f"{digits.tolist()}; use the full FSDD recordings folder")
            s = ok[int(rng.integers(len(ok)))]
            pool = [table[(s, int(d), int(code))] for d in digits]
            ids = [p[int(rng.integers(len(p)))] for p in pool]
            w, b = join_words([word(r) for r in ids], self.pause, rng)
            waves.append(w)
            bounds.append(b)
            used.append(np.asarray(ids))
            who.append(known.index(s))
        return waves, bounds, {"source_recording": pad_ids(used, self.max_digits),
                               "source_speaker": torch.tensor(who)}
