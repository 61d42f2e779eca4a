"""Free-text descriptions of digit images and spoken digits, from properties measured on each example.

The text side of CLIP-style pre-training (Radford et al. 2021, Sec. 2.1: natural language paired with
each image, not a label): each caption names the digit (by word or numeral, and in about one caption
in six not at all) and some of the properties *measured* on that example, through many sentence
structures and synonyms ("a thick, slanted seven", "the number 7, written small", "a small digit near
the top").

- images (8x8 in [0, 1]): stroke thickness (ink per inked pixel), slant (the shear of the ink's
  second moments), size (bounding box of the inked pixels), position (the ink's centroid);
- speech (waveforms): pitch (``torchaudio.functional.detect_pitch_frequency``, median over voiced
  frames), speed (the voiced duration), loudness (RMS level of the voiced part, dB).

Each measurement is put into a bucket by the tertiles of the whole collection (no label is read),
and :func:`compose_captions` draws the wording from a generator seeded per example, so a seed fixes
every caption. :data:`IMAGE_PROMPTS` and :data:`SPEECH_PROMPTS` are the data sets' prompt templates
for a classifier from label text (CLIP Sec. 3.1.4).

Examples:
    >>> props = {"thickness": "high", "slant": "high", "size": "mid", "column": "mid", "row": "mid"}
    >>> caps = compose_captions([7, 7, 8], [props] * 3, IMAGE_GRAMMAR, seed=0)
    >>> len(caps), all(isinstance(c, str) for c in caps)
    (3, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmml.data.text import DIGIT_WORDS_EN
from mmml.tokenizer import split_words

IMAGE_PROMPTS = ("a handwritten {}.", "a picture of a {}.", "the number {}.", "a photo of the digit {}.",
                 "a drawing of a {}.", "a scan of a {}.")
SPEECH_PROMPTS = ("a recording of someone saying {}.", "a voice saying {}.", "the word {}.", "someone saying {}.")
#: buckets of a measured property, from the collection's tertiles
BUCKETS = ("low", "mid", "high")


@dataclass(frozen=True)
class Grammar:
    """Sentence structures and the words of each property bucket for one kind of data.

    ``structures`` are format strings with ``{head}``, ``{adjs}`` (0-2 adjectives, comma-separated),
    ``{digit}`` and ``{tail}`` (one trailing phrase or nothing); ``bare`` those without the digit,
    with ``{noun}``. ``adjectives[property][bucket]`` and ``tails[property][bucket]`` are synonyms.
    """

    heads: tuple[str, ...]
    structures: tuple[str, ...]
    bare: tuple[str, ...]
    nouns: tuple[str, ...]
    adjectives: Mapping[str, Mapping[str, tuple[str, ...]]]
    tails: Mapping[str, Mapping[str, tuple[str, ...]]]
    prompts: tuple[str, ...]

    def words(self) -> list[str]:
        """Every word the grammar and its prompts can produce, digits included, sorted."""
        fragments = [*self.heads, *self.structures, *self.bare, *self.nouns, *self.prompts, *DIGIT_WORDS_EN,
                     *map(str, range(10)), "an", "number"]
        for table in (self.adjectives, self.tails):
            fragments += [w for buckets in table.values() for words in buckets.values() for w in words]
        clean = (re.sub(r"\{[a-z]*\}", " ", f) for f in fragments)
        return sorted({w for f in clean for w in split_words(f)})


IMAGE_GRAMMAR = Grammar(
    heads=("a", "a handwritten", "an image of a", "a picture of a", "a scan of a", "a photo of a", "someone wrote a",
           "here is a", "this is a", "a drawing of a", "a sketch of a"),
    structures=("{head} {adjs} {digit}{tail}", "the number {digit}, {adjs}{tail}", "{digit}, {adjs}{tail}",
                "{head} {digit}{tail}", "a {adjs} handwritten {digit}{tail}"),
    bare=("a {adjs} {noun}{tail}", "{head} {adjs} {noun}{tail}"),
    nouns=("digit", "number", "numeral", "character", "scribble"),
    adjectives={
        "thickness": {"low": ("thin", "faint", "light", "delicate"), "high": ("thick", "bold", "heavy", "dark")},
        "slant": {"low": ("backhanded",), "mid": ("upright", "straight"), "high": ("slanted", "italic", "tilted")},
        "size": {"low": ("small", "tiny", "little", "compact"), "high": ("large", "big", "wide", "tall")},
    },
    tails={
        "thickness": {"low": ("with a thin stroke", "in faint strokes"), "high": ("with a thick stroke",
                                                                                  "in bold strokes")},
        "slant": {"low": ("leaning to the left", "tilted left", "slanted backwards"),
                  "mid": ("standing upright", "written straight"),
                  "high": ("leaning to the right", "tilted right", "slanted to the right")},
        "size": {"low": ("written small", "drawn small", "in small writing"),
                 "high": ("written large", "filling the frame", "in big writing")},
        "column": {"low": ("on the left", "off to the left", "near the left edge"),
                   "high": ("on the right", "off to the right", "near the right edge")},
        "row": {"low": ("near the top", "placed high"), "mid": ("in the middle", "centred"),
                "high": ("near the bottom", "placed low")},
    },
    prompts=IMAGE_PROMPTS,
)

SPEECH_GRAMMAR = Grammar(
    heads=("someone saying", "a voice saying", "a recording of", "the word", "a person says", "audio of someone saying",
           "a clip of someone saying", "a speaker saying"),
    structures=("{head} {digit}{tail}", "a {adjs} voice saying {digit}{tail}", "a {adjs} recording of the word {digit}",
                "{digit}, {adjs}{tail}", "the spoken number {digit}{tail}"),
    bare=("a {adjs} recording of a spoken {noun}{tail}", "a {adjs} voice saying a {noun}{tail}"),
    nouns=("digit", "number", "word"),
    adjectives={
        "pitch": {"low": ("deep", "low"), "high": ("high", "squeaky", "bright")},
        "duration": {"low": ("quick", "fast", "short", "hurried"), "high": ("slow", "long", "drawn out")},
        "loudness": {"low": ("quiet", "soft", "faint"), "high": ("loud", "strong", "clear")},
    },
    tails={
        "pitch": {"low": ("in a deep voice", "in a low voice"), "high": ("in a high voice", "in a high pitched voice")},
        "duration": {"low": ("said quickly", "spoken fast"), "high": ("said slowly", "spoken slowly")},
        "loudness": {"low": ("said softly", "spoken quietly"), "high": ("said loudly", "spoken loud")},
    },
    prompts=SPEECH_PROMPTS,
)


def fill(template: str, name: str) -> str:
    """``template.format(name)`` with the article fixed (``a eight`` -> ``an eight``)."""
    return _articles(template.format(name))


def _articles(text: str) -> str:
    return re.sub(r"\ba (?=[aeiou8]|11\b|18\b)", "an ", text)


def buckets(values: np.ndarray) -> list[str]:
    """``low``/``mid``/``high`` by the tertiles of ``values`` (one measured property over a collection)."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.quantile(values, [1 / 3, 2 / 3])
    return [BUCKETS[0] if v < lo else BUCKETS[2] if v > hi else BUCKETS[1] for v in values]


def image_properties(images: np.ndarray, threshold: float = 0.3) -> dict[str, np.ndarray]:
    """Measured properties of ``(N, H, W)`` images in [0, 1]: thickness, slant, size, column, row.

    thickness: ink (sum of intensities) per inked pixel (above ``threshold``); slant: how much the ink
    leans right, minus the shear ``cov(column, row) / var(row)`` of the ink's second moments; size: the
    inked pixels' bounding-box area; column, row: the ink centroid.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"images must be (N, H, W), got shape {x.shape}")
    n, h, w = x.shape
    rows, cols = np.mgrid[0:h, 0:w]
    mass = x.sum((1, 2)) + 1e-9
    cy, cx = (x * rows).sum((1, 2)) / mass, (x * cols).sum((1, 2)) / mass
    dy, dx = rows[None] - cy[:, None, None], cols[None] - cx[:, None, None]
    cov = (x * dx * dy).sum((1, 2)) / mass
    var_y = (x * dy**2).sum((1, 2)) / mass + 1e-9
    inked = x > threshold
    size = np.zeros(n)
    for i in range(n):
        r, c = np.nonzero(inked[i])
        size[i] = 0 if len(r) == 0 else (r.max() - r.min() + 1) * (c.max() - c.min() + 1)
    return {"thickness": mass / np.maximum(inked.sum((1, 2)), 1), "slant": -cov / var_y, "size": size,
            "column": cx, "row": cy}


def speech_properties(waves: Sequence[np.ndarray], sample_rate: int, frame: int = 256) -> dict[str, np.ndarray]:
    """Measured properties of waveforms: pitch (Hz), duration (s of voiced frames) and loudness (dB RMS).

    Voiced frames are those within 30 dB of the utterance's loudest frame; pitch is the median of
    ``torchaudio.functional.detect_pitch_frequency`` (an utterance under 0.5 s is repeated up to it).
    """
    import torchaudio

    pitch, duration, loudness = [], [], []
    for w in waves:
        w = np.asarray(w, dtype=np.float64)
        pad = np.pad(w, (0, (-len(w)) % frame)).reshape(-1, frame)
        level = 10 * np.log10((pad**2).mean(1) + 1e-12)
        voiced = level > level.max() - 30
        duration.append(voiced.sum() * frame / sample_rate)
        loudness.append(10 * np.log10((pad[voiced] ** 2).mean() + 1e-12))
        long = np.pad(w, (0, max(0, sample_rate // 2 - len(w))), mode="wrap")  # its median filter needs 0.3 s
        f0 = torchaudio.functional.detect_pitch_frequency(torch.as_tensor(long, dtype=torch.float32), sample_rate)
        pitch.append(float(f0.median()) if f0.numel() else 0.0)
    return {"pitch": np.array(pitch), "duration": np.array(duration), "loudness": np.array(loudness)}


def property_buckets(properties: Mapping[str, np.ndarray]) -> list[dict[str, str]]:
    """One ``{property: bucket}`` dict per example from :func:`image_properties` or :func:`speech_properties`."""
    names = list(properties)
    columns = {k: buckets(properties[k]) for k in names}
    return [{k: columns[k][i] for k in names} for i in range(len(columns[names[0]]))]


def compose_captions(digits: Sequence[int], props: Sequence[Mapping[str, str]], grammar: Grammar, seed: int,
                     omit_digit: float = 0.15) -> list[str]:
    """One caption per example: its digit and measured property buckets through the grammar.

    Args:
        digits: the digit each example shows or says (what an annotator would describe).
        props: ``{property: bucket}`` per example (:func:`property_buckets`). grammar: the wording.
        seed: fixes every choice (example ``i`` draws from ``default_rng([seed, i])``).
        omit_digit: share of captions that describe the example without naming its digit.
    """
    if len(digits) != len(props):
        raise ValueError(f"{len(digits)} digits but {len(props)} property sets; give one per example")
    out = []
    for i, (d, p) in enumerate(zip(digits, props, strict=True)):
        rng = np.random.default_rng([seed, i])

        def pick(options: Sequence, rng: np.random.Generator = rng):
            return options[int(rng.integers(len(options)))]

        adjs = [pick(grammar.adjectives[k][b]) for k, b in p.items()
                if b in grammar.adjectives.get(k, {}) and rng.random() < 0.5][:2]
        tails = [grammar.tails[k][b] for k, b in p.items() if b in grammar.tails.get(k, {})]
        tail = " " + pick(pick(tails)) if tails and rng.random() < 0.6 else ""
        digit = DIGIT_WORDS_EN[int(d)] if rng.random() < 0.6 else str(int(d))
        bare = rng.random() < omit_digit
        template = pick(grammar.bare if bare else grammar.structures)
        text = template.format(head=pick(grammar.heads), adjs=", ".join(adjs), digit=digit, tail=tail,
                               noun=pick(grammar.nouns))
        text = re.sub(r"\s+", " ", text.replace(", ,", ",")).replace(" ,", ",").strip().rstrip(",")
        out.append(_articles(text))
    return out
