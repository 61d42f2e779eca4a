"""Deterministic Klatt-style cascade formant synthesiser for spoken English digits (zero..nine).

Reference: D. H. Klatt (1980), "Software for a cascade/parallel formant synthesizer", JASA 67(3),
971-995. Voiced and aspiration sources drive a cascade of time-varying second-order resonators
(F1-F3, a nasal pole/zero pair, and F4/F5 when the sample rate allows); frication goes through a
parallel band-pass branch. Parameters are updated every 5 ms (Klatt's frame rate), the filter state
is carried from frame to frame. All randomness (durations, jitter, noise, ...) comes from the
``rng`` argument, so the same seed gives bit-identical audio.

Example::

    >>> import numpy as np
    >>> from mmml.data.synth import SPEAKERS, synthesize_word, synthesize_sequence
    >>> wave = synthesize_word("seven", SPEAKERS[0], np.random.default_rng(0))   # (n,) float32
    >>> wave, bounds = synthesize_sequence(["four", "two"], SPEAKERS[2], np.random.default_rng(1))
    >>> bounds.shape                                                           # (n_words, 2)
    (2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

from .phones import PHONES

__all__ = ["DIGIT_WORDS", "LEXICON", "Speaker", "SPEAKERS", "synthesize_word", "synthesize_phones",
           "synthesize_sequence", "add_noise"]

DIGIT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                "nine")
LEXICON: dict[str, tuple[str, ...]] = {
    "zero": ("z", "ih", "r", "ow"), "one": ("w", "ah", "n"), "two": ("t", "uw"),
    "three": ("th", "r", "iy"), "four": ("f", "ao", "r"), "five": ("f", "ay", "v"),
    "six": ("s", "ih", "k", "s"), "seven": ("s", "eh", "v", "ah", "n"), "eight": ("ey", "t"),
    "nine": ("n", "ay", "n"),
}
MIN_RATE, MAX_RATE = 8000, 48000
_FRAME = 0.005          # parameter update interval (s)
_LEAD, _TAIL = 0.01, 0.03  # silence before the first phone / ring-down after the last (s)
_FNP, _BNP, _FNZ_NASAL = 270.0, 100.0, 450.0  # nasal pole, its bandwidth, nasal zero during nasals
_HIGHER = ((3500.0, 250.0), (4500.0, 300.0))  # F4, F5 (reference talker) used if fs allows


@dataclass(frozen=True)
class Speaker:
    """A synthetic talker: mean pitch ``f0`` (Hz) and formant scale ``vtl`` (1.0 = adult male
    reference; >1 = shorter vocal tract, higher formants), plus voice-quality settings.

    ``rate`` multiplies phone durations (>1 = slower); ``jitter``/``shimmer`` are the relative
    period/amplitude perturbations per glottal cycle; ``breathiness`` the aspiration noise mixed
    into voicing; ``open_quotient`` the open fraction of the glottal cycle (KLGLOTT88 pulse).

    Example: ``Speaker("anna", f0=210.0, vtl=1.15)``.
    """

    name: str
    f0: float
    vtl: float = 1.0
    rate: float = 1.0
    breathiness: float = 0.05
    jitter: float = 0.01
    shimmer: float = 0.04
    open_quotient: float = 0.6

    def __post_init__(self):
        if not 50.0 <= self.f0 <= 500.0:
            raise ValueError(f"Speaker {self.name!r}: f0={self.f0} Hz outside [50, 500]")
        if not 0.7 <= self.vtl <= 1.4:
            raise ValueError(f"Speaker {self.name!r}: vtl={self.vtl} outside [0.7, 1.4]")
        if not 0.5 <= self.rate <= 2.0:
            raise ValueError(f"Speaker {self.name!r}: rate={self.rate} outside [0.5, 2]")
        if not 0.3 <= self.open_quotient <= 0.9:
            raise ValueError(f"Speaker {self.name!r}: open_quotient={self.open_quotient} outside [0.3, 0.9]")


SPEAKERS: tuple[Speaker, ...] = (
    Speaker("man_low", f0=92.0, vtl=0.88, rate=1.05),
    Speaker("man", f0=120.0, vtl=1.0),
    Speaker("woman", f0=210.0, vtl=1.15, breathiness=0.08),
    Speaker("girl", f0=260.0, vtl=1.25, rate=1.1, breathiness=0.08),
    Speaker("man_high", f0=135.0, vtl=0.95, rate=0.92),
    Speaker("woman_low", f0=185.0, vtl=1.12, rate=0.95, breathiness=0.07),
    Speaker("boy", f0=240.0, vtl=1.21, rate=1.05, breathiness=0.07),
    Speaker("woman_high", f0=235.0, vtl=1.18, breathiness=0.1),
)


def _check_rate(sample_rate) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) \
            or not MIN_RATE <= sample_rate <= MAX_RATE:
        raise ValueError(f"bad sample_rate {sample_rate!r}: expected an integer number of Hz between "
                         f"{MIN_RATE} and {MAX_RATE} (e.g. 8000, 16000, 22050)")
    return int(sample_rate)


def _check_word(word) -> tuple[str, ...]:
    key = word.lower() if isinstance(word, str) else word
    if key not in LEXICON:
        raise ValueError(f"unknown word {word!r}; expected one of: {', '.join(DIGIT_WORDS)}")
    return LEXICON[key]


def _check_phones(phones) -> list[str]:
    if isinstance(phones, str) or len(phones) == 0:
        raise ValueError(f"phones must be a non-empty sequence of phone names, got {phones!r}")
    for p in phones:
        if p not in PHONES:
            raise ValueError(f"unknown phone {p!r}; expected one of: {', '.join(PHONES)}")
    return list(phones)


def _durations(phones: list[str], speaker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """Random phone durations (s): table mean x speaker rate x token speaking rate x jitter."""
    rate = speaker.rate * rng.uniform(0.85, 1.15)
    d = np.array([PHONES[p].dur for p in phones]) * rate * np.exp(rng.normal(0.0, 0.12, len(phones)))
    if PHONES[phones[-1]].kind != "stop":
        d[-1] *= 1.3  # phrase-final lengthening
    return np.maximum(d, 0.04)


@lru_cache(maxsize=256)
def _bandpass(lo: float, hi: float, fs: int) -> tuple[np.ndarray, float]:
    """Order-2 Butterworth band-pass (sos) and the factor normalising white noise to unit RMS."""
    return signal.butter(2, [lo, hi], btype="band", fs=fs, output="sos"), float(np.sqrt(fs / 2 / (hi - lo)))


def _cascade(x: np.ndarray, freqs: np.ndarray, bws: np.ndarray, hop: int, fs: int) -> np.ndarray:
    """Cascade of Klatt resonators (unity gain at DC), coefficients updated every ``hop`` samples.

    freqs/bws: (n_frames, n_sections) Hz. Sections are multiplied into all-pole polynomials (all
    of them at 8-12 kHz, pairs above, for numerical conditioning), one ``lfilter`` call per frame
    and group; each frame's initial state is rebuilt from the last outputs with the new
    coefficients (direct-form I semantics: no clicks from stale state).
    """
    r = np.exp(-np.pi * bws / fs)
    a1, a2 = -2.0 * r * np.cos(2.0 * np.pi * freqs / fs), r * r
    group = 4 if fs <= 12000 else 2
    y = x
    for g0 in range(0, freqs.shape[1], group):
        b1, b2 = a1[:, g0:g0 + group], a2[:, g0:g0 + group]
        order = 2 * b1.shape[1]
        den = np.zeros((b1.shape[0], order + 1))
        den[:, 0] = 1.0
        for j in range(b1.shape[1]):  # multiply in (1 + a1 z^-1 + a2 z^-2)
            prev = den.copy()
            den[:, 1:] += b1[:, j:j + 1] * prev[:, :-1]
            den[:, 2:] += b2[:, j:j + 1] * prev[:, :-2]
        gain = np.prod(1.0 + b1 + b2, axis=1)
        idx = np.arange(order)[:, None] + np.arange(order)[None, :] + 1
        hank = np.where(idx <= order, den[:, np.minimum(idx, order)], 0.0)  # (n_frames, order, order)
        out = np.zeros(y.size + order)
        for f, s0 in enumerate(range(0, y.size, hop)):
            zi = -(hank[f] @ out[s0:s0 + order][::-1])
            out[order + s0:order + s0 + hop] = signal.lfilter(gain[f:f + 1], den[f], y[s0:s0 + hop], zi=zi)[0]
        y = out[order:]
    return y


def _glottal(f0: np.ndarray, speaker: Speaker, rng: np.random.Generator, fs: int):
    """KLGLOTT88-style differentiated glottal flow with jitter/shimmer; returns (pulse, open)."""
    phase0 = np.cumsum(f0 / fs) + rng.uniform()
    n_per = int(phase0[-1]) + 2
    jit = 1.0 + speaker.jitter * rng.standard_normal(n_per)
    shim = 1.0 + speaker.shimmer * rng.standard_normal(n_per)
    phase = np.cumsum(f0 * jit[phase0.astype(np.int64)] / fs) + phase0[0]
    k = np.minimum(phase.astype(np.int64), n_per - 1)
    u = (phase - np.floor(phase)) / speaker.open_quotient
    open_ = u < 1.0
    pulse = np.where(open_, 2.0 * u - 3.0 * u * u, 0.0) * shim[k] * np.sqrt(100.0 / f0)
    return pulse, open_


def _render(phones: list[str], durs: np.ndarray, speaker: Speaker, rng: np.random.Generator, fs: int,
            f0_scale: float = 1.0) -> np.ndarray:
    """Synthesise a phone string with given durations; float64, un-normalised."""
    vtl, n_ph = speaker.vtl, len(phones)
    starts = _LEAD + np.concatenate([[0.0], np.cumsum(durs)[:-1]])
    total = _LEAD + float(np.sum(durs)) + _TAIL
    n = int(round(total * fs))
    t = np.arange(n) / fs
    perturb = np.exp(rng.normal(0.0, 0.03, (n_ph, 3)))  # token-to-token formant variability
    kt, kf, kb, knz = [], [], [], []  # formant knots: time, (F1..F3), (B1..B3), nasal zero
    segs = []  # source segments: (start, end, voice, fric, asp, band, ramp)
    for i, p in enumerate(phones):
        ph, a, d = PHONES[p], starts[i], durs[i]
        b, tr = a + d, min(0.35 * d, 0.03)
        f_on = np.asarray(ph.formants) * perturb[i]
        f_off = np.asarray(ph.end_formants) * perturb[i] if ph.end_formants else f_on
        nz = _FNZ_NASAL if ph.kind == "nasal" else _FNP
        kt += [a + tr, b - tr]
        kf += [f_on, f_off]
        kb += [ph.bandwidths] * 2
        knz += [nz, nz]
        if ph.kind == "stop":  # closure, burst, aspiration
            asp = min(0.035, 0.35 * d)
            burst = a + d - asp - 0.012
            segs += [(a, burst, 0.0, 0.0, 0.0, ph.band, 0.006),
                     (burst, burst + 0.012, 0.0, ph.fric, 0.0, ph.band, 0.002),
                     (burst + 0.012, b, 0.0, 0.1 * ph.fric, ph.asp, ph.band, 0.006)]
        else:
            segs.append((a, b, ph.voice, ph.fric, ph.asp, ph.band, 0.012 if ph.fric else 0.008))
    # source amplitude tracks (piecewise constant with linear ramps)
    at, av, ah = [0.0], [0.0], [0.0]
    for a, b, v, _, h, _, r in segs:
        r = min(r, 0.25 * (b - a))
        at += [a + r, b - r]
        av += [v, v]
        ah += [h, h]
    at.append(total)
    av.append(0.0)
    ah.append(0.0)
    voice, asp = np.interp(t, at, av), np.interp(t, at, ah)
    # pitch: speaker f0 x token scale, with declination from +5% to -5% over the word
    f0 = speaker.f0 * f0_scale * np.exp(np.clip(rng.normal(0.0, 0.02), -0.04, 0.04))
    f0 = f0 * (1.05 - 0.10 * t / total)
    pulse, open_ = _glottal(f0, speaker, rng, fs)
    noise = rng.standard_normal(n)
    src = voice * pulse + (asp + speaker.breathiness * voice * open_) * noise * 0.5
    # nasal antiresonator (FIR, per-sample coefficients): cancels the nasal pole outside nasals
    fnz = np.interp(t, kt, knz) * vtl
    rz = np.exp(-np.pi * _BNP / fs)
    za1, za2 = -2.0 * rz * np.cos(2.0 * np.pi * fnz / fs), rz * rz
    g = 1.0 / (1.0 + za1 + za2)
    x = src * g
    x[1:] += za1[1:] * g[1:] * src[:-1]
    x[2:] += za2 * g[2:] * src[:-2]
    # cascade resonators, coefficients per 5 ms frame, state carried across frames
    hop = max(1, int(round(_FRAME * fs)))
    tc = (np.arange(0, n, hop) + hop / 2) / fs
    nyq = 0.46 * fs
    fr = np.minimum(np.stack([np.interp(tc, kt, [f[j] for f in kf]) for j in range(3)], 1) * vtl, nyq)
    bw = np.stack([np.interp(tc, kt, [b[j] for b in kb]) for j in range(3)], 1) * vtl
    extra = [(f * vtl, b * vtl) for f, b in _HIGHER if f * 1.3 < 0.45 * fs]
    freqs = np.concatenate([np.full((len(tc), 1), _FNP * vtl), fr] +
                           [np.full((len(tc), 1), f) for f, _ in extra], 1)
    bws = np.concatenate([np.full((len(tc), 1), _BNP * vtl), bw] +
                         [np.full((len(tc), 1), b) for _, b in extra], 1)
    y = _cascade(x, freqs, bws, hop, fs)
    # parallel frication branch: band-passed noise per segment, trapezoid envelope
    for a, b, v, fa, _, (lo, hi), r in segs:
        if fa <= 0.0:
            continue
        hi_ = min(hi * vtl, nyq)
        lo_ = min(lo * vtl, 0.7 * hi_)
        sos_bp, norm = _bandpass(round(lo_, 1), round(hi_, 1), fs)
        i0, i1 = max(0, int((a - r) * fs)), min(n, int((b + r) * fs))
        ts = t[i0:i1]
        env = np.clip(np.minimum(ts - (a - r), (b + r) - ts) / (2 * r), 0.0, 1.0)
        if v > 0:  # voiced fricative: noise modulated by the glottal cycle
            env = env * np.where(open_[i0:i1], 1.0, 0.5)
        y[i0:i1] += fa * norm * env * signal.sosfilt(sos_bp, rng.standard_normal(i1 - i0))
    return y


def _finish(y: np.ndarray, peak: float = 0.9) -> np.ndarray:
    m = np.max(np.abs(y))
    return (y * (peak / m if m > 0 else 1.0)).astype(np.float32)


def synthesize_phones(phones: Sequence[str], speaker: Speaker, rng: np.random.Generator,
                      sample_rate: int = 8000, durations: Sequence[float] | None = None) -> np.ndarray:
    """Synthesise a phone string (names from :data:`mmml.data.phones.PHONES`), Klatt (1980) style.

    ``durations`` (seconds per phone) overrides the random durations. Returns float32 (n,) in
    [-1, 1] (peak 0.9), including 10 ms leading and 30 ms trailing silence.

    Example: ``synthesize_phones(["aa"], SPEAKERS[1], np.random.default_rng(0), durations=[0.5])``.
    """
    fs = _check_rate(sample_rate)
    phones = _check_phones(phones)
    if durations is None:
        durs = _durations(phones, speaker, rng)
    else:
        durs = np.asarray(durations, dtype=float)
        if durs.shape != (len(phones),) or not np.all(durs >= 0.02):
            raise ValueError(f"durations {durations!r} must give one value >= 0.02 s per phone {phones}")
    return _finish(_render(phones, durs, speaker, rng, fs))


def synthesize_word(word: str, speaker: Speaker, rng: np.random.Generator,
                    sample_rate: int = 8000) -> np.ndarray:
    """Synthesise one spoken digit word with a Klatt (1980) cascade formant synthesiser.

    ``word`` is one of :data:`DIGIT_WORDS`. Phone durations, pitch and formant targets vary
    randomly from token to token (drawn from ``rng``). Returns float32 (n,) in [-1, 1], peak 0.9,
    with ~10 ms of silence before and ~30 ms after the word (n is about 0.3-0.7 s x sample_rate).

    Example: ``synthesize_word("three", SPEAKERS[3], np.random.default_rng(7), sample_rate=16000)``.
    """
    fs = _check_rate(sample_rate)
    phones = list(_check_word(word))
    return _finish(_render(phones, _durations(phones, speaker, rng), speaker, rng, fs))


def synthesize_sequence(words: Sequence[str], speaker: Speaker, rng: np.random.Generator,
                        sample_rate: int = 8000, pause: tuple[float, float] = (0.05, 0.3)
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Synthesise a string of digit words (Klatt 1980 formant synthesis) with word boundaries.

    Leading silence, pauses between words and trailing silence are each drawn uniformly from
    ``pause`` (seconds); pitch declines slightly over the sequence and word levels vary by a random
    gain. Returns ``(wave, bounds)``: wave float32 (n,) in [-1, 1]; bounds int64 (n_words, 2)
    holding each word's start and (exclusive) end sample, so ``wave[s:e]`` is the word (a
    word-initial stop's closure counts as part of the word, as in TIMIT).

    Example::

        >>> wave, bounds = synthesize_sequence(["one", "nine"], SPEAKERS[0], np.random.default_rng(0))
        >>> bounds.dtype, bounds.shape
        (dtype('int64'), (2, 2))
    """
    fs = _check_rate(sample_rate)
    if isinstance(words, str) or len(words) == 0:
        raise ValueError(f"words must be a non-empty sequence of digit words, got {words!r}")
    lex = [list(_check_word(w)) for w in words]
    lo, hi = pause
    if not 0.0 <= lo <= hi:
        raise ValueError(f"bad pause {pause!r}: expected (min, max) seconds with 0 <= min <= max")
    parts, bounds, pos = [], [], 0
    for i, phones in enumerate(lex):
        gap = np.zeros(int(round(rng.uniform(lo, hi) * fs)))
        scale = 1.04 - 0.08 * i / max(1, len(lex) - 1)
        y = _render(phones, _durations(phones, speaker, rng), speaker, rng, fs, f0_scale=scale)
        y *= rng.uniform(0.6, 1.0) / np.max(np.abs(y))
        parts += [gap, y]
        pos += len(gap)
        bounds.append((pos, pos + len(y)))
        pos += len(y)
    parts.append(np.zeros(int(round(rng.uniform(lo, hi) * fs))))
    return _finish(np.concatenate(parts)), np.asarray(bounds, dtype=np.int64)


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` dB relative to the power of the non-silent part.

    Non-silent = 256-sample frames whose power is within 50 dB of the loudest frame (so pauses do
    not dilute the signal power). Returns float32 of the same shape (n,); not clipped, so it may
    exceed [-1, 1] at low SNR.

    Example: ``noisy = add_noise(wave, 10.0, np.random.default_rng(0))``.
    """
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"wave must be a non-empty 1-D array, got shape {x.shape}")
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite, got {snr_db!r}")
    nf = -(-x.size // 256)
    frames = np.pad(x, (0, nf * 256 - x.size)).reshape(nf, 256)
    counts = np.minimum(256, x.size - 256 * np.arange(nf))
    fp = (frames ** 2).sum(1) / counts
    if fp.max() <= 0:
        raise ValueError("wave is all zeros: the SNR is undefined")
    active = fp >= fp.max() * 1e-5
    power = (frames[active] ** 2).sum() / counts[active].sum()
    sigma = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (x + sigma * rng.standard_normal(x.size)).astype(np.float32)
