"""Tests for the formant digit synthesiser: determinism, pitch, formant scaling, sequences, noise,
and speaker-independent recognisability (checked with independent estimators, not the synth's own
tables)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy import signal

from mmml.data.synth import (
    DIGIT_WORDS,
    LEXICON,
    SPEAKERS,
    Speaker,
    add_noise,
    synthesize_phones,
    synthesize_sequence,
    synthesize_word,
)

FS = 8000


def _f0_autocorr(y: np.ndarray, fs: int) -> float:
    """Pitch by normalised autocorrelation: first local maximum within 85% of the best peak."""
    x = y - y.mean()
    r = np.correlate(x, x, "full")[x.size - 1:]
    r = r / r[0]
    lo, hi = int(fs / 400), int(fs / 60)
    seg = r[lo:hi]
    k = lo + int(np.argmax(seg))
    for c in np.nonzero(seg >= 0.85 * seg.max())[0]:
        j = lo + int(c)
        if r[j] >= r[j - 1] and r[j] >= r[j + 1]:
            k = j
            break
    a, b, c = r[k - 1], r[k], r[k + 1]
    return fs / (k + 0.5 * (a - c) / (a - 2 * b + c))


def _lpc_formants(y: np.ndarray, fs: int, order: int = 10) -> np.ndarray:
    """Formant frequencies from the roots of an autocorrelation-method LPC polynomial."""
    x = y * np.hamming(y.size)
    x = np.append(x[0], x[1:] - 0.63 * x[:-1])
    r = np.correlate(x, x, "full")[x.size - 1:x.size + order + 1]
    a = scipy.linalg.solve_toeplitz(r[:order], -r[1:order + 1])
    roots = np.roots(np.r_[1.0, a])
    roots = roots[roots.imag > 0]
    f = np.angle(roots) * fs / (2 * np.pi)
    bw = -np.log(np.abs(roots)) * fs / np.pi
    return np.sort(f[(bw < 500) & (f > 150)])


def test_inventory_and_speakers():
    assert DIGIT_WORDS == ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    assert set(LEXICON) == set(DIGIT_WORDS)
    assert LEXICON["seven"] == ("s", "eh", "v", "ah", "n") and LEXICON["two"] == ("t", "uw")
    assert len(SPEAKERS) >= 6 and len({s.name for s in SPEAKERS}) == len(SPEAKERS)
    f0s, vtls = [s.f0 for s in SPEAKERS], [s.vtl for s in SPEAKERS]
    assert min(f0s) <= 100 and max(f0s) >= 250
    assert min(vtls) <= 0.9 and max(vtls) >= 1.2


@pytest.mark.parametrize("fs", [8000, 16000])
def test_word_output_and_determinism(fs):
    spk = SPEAKERS[3]
    a = synthesize_word("seven", spk, np.random.default_rng(5), sample_rate=fs)
    b = synthesize_word("seven", spk, np.random.default_rng(5), sample_rate=fs)
    c = synthesize_word("seven", spk, np.random.default_rng(6), sample_rate=fs)
    assert a.dtype == np.float32 and a.ndim == 1
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)
    assert np.all(np.isfinite(a)) and np.abs(a).max() <= 1.0
    assert 0.25 * fs < a.size < 1.2 * fs  # a spoken digit lasts a few hundred ms
    s1 = synthesize_sequence(["one", "two"], spk, np.random.default_rng(1), sample_rate=fs)
    s2 = synthesize_sequence(["one", "two"], spk, np.random.default_rng(1), sample_rate=fs)
    assert np.array_equal(s1[0], s2[0]) and np.array_equal(s1[1], s2[1])
    n1, n2 = (add_noise(a, 10.0, np.random.default_rng(0)) for _ in range(2))
    assert np.array_equal(n1, n2)


def test_sample_rate_scales_duration():
    # durations are drawn first from the rng, so the same seed gives the same timing at any rate
    a = synthesize_word("four", SPEAKERS[1], np.random.default_rng(3), sample_rate=8000)
    b = synthesize_word("four", SPEAKERS[1], np.random.default_rng(3), sample_rate=16000)
    assert abs(b.size - 2 * a.size) <= 2


@pytest.mark.parametrize("fs", [8000, 16000])
@pytest.mark.parametrize("spk", SPEAKERS, ids=[s.name for s in SPEAKERS])
def test_sustained_vowel_pitch(spk, fs):
    y = synthesize_phones(["aa"], spk, np.random.default_rng(0), sample_rate=fs, durations=[0.5])
    f0 = _f0_autocorr(y[int(0.1 * fs):int(0.45 * fs)].astype(np.float64), fs)
    assert abs(f0 / spk.f0 - 1) < 0.05, (spk, f0)


def test_pitch_inside_words():
    # vowel nucleus of "two" (t uw): its pitch follows the speaker's
    for spk in (SPEAKERS[0], SPEAKERS[3]):
        y = synthesize_word("two", spk, np.random.default_rng(2)).astype(np.float64)
        n = y.size
        f0 = _f0_autocorr(y[int(0.35 * n):int(0.8 * n)], FS)
        assert abs(f0 / spk.f0 - 1) < 0.08, (spk.name, f0)


def test_formants_match_references_and_scale_with_vtl():
    # Peterson & Barney (1952) adult male F1/F2 averages (Hz)
    ref = {"aa": (730, 1090), "iy": (270, 2290), "uw": (300, 870), "ah": (640, 1190)}
    base, short = Speaker("ref", f0=100.0, vtl=1.0), Speaker("short", f0=100.0, vtl=1.2)
    for vowel, (f1, f2) in ref.items():
        ya = synthesize_phones([vowel], base, np.random.default_rng(0), durations=[0.5])
        yb = synthesize_phones([vowel], short, np.random.default_rng(0), durations=[0.5])
        fa = _lpc_formants(ya[800:3600].astype(np.float64), FS)
        fb = _lpc_formants(yb[800:3600].astype(np.float64), FS)
        assert abs(fa[0] / f1 - 1) < 0.12 and abs(fa[1] / f2 - 1) < 0.1, (vowel, fa)
        assert abs(fb[1] / fa[1] - 1.2) < 0.05 * 1.2, (vowel, fa, fb)  # F2 moves by the vtl factor
        assert abs(fb[0] / fa[0] - 1.2) < 0.1 * 1.2, (vowel, fa, fb)


def test_welch_peak_and_fricative_band():
    # spectral peak below 1.5 kHz (F1/F2 region of /aa/) scales with vtl; /s/ is high-frequency noise
    peaks = []
    for vtl in (1.0, 1.25):
        spk = Speaker("x", f0=100.0, vtl=vtl)
        y = synthesize_phones(["aa"], spk, np.random.default_rng(1), durations=[0.6])
        f, p = signal.welch(y[800:4400], FS, nperseg=1024)
        band = (f > 500) & (f < 1500)
        peaks.append(np.sum(f[band] * p[band]) / np.sum(p[band]))  # centroid of the F1/F2 region
    assert 1.1 < peaks[1] / peaks[0] < 1.35, peaks
    s = synthesize_phones(["s"], SPEAKERS[1], np.random.default_rng(0), durations=[0.3])
    f, p = signal.welch(s, FS, nperseg=256)
    assert p[f > 2500].sum() > 5 * p[f < 1500].sum()


def test_sequence_bounds_and_energy():
    rng = np.random.default_rng(11)
    for spk in SPEAKERS[:3]:
        words = [DIGIT_WORDS[i] for i in rng.integers(0, 10, 6)]
        wave, bounds = synthesize_sequence(words, spk, rng, pause=(0.05, 0.3))
        assert wave.dtype == np.float32 and bounds.dtype == np.int64 and bounds.shape == (6, 2)
        assert bounds[0, 0] >= 0.05 * FS and bounds[-1, 1] <= wave.size - 0.05 * FS
        assert np.all(bounds[:, 1] > bounds[:, 0]) and np.all(bounds[1:, 0] >= bounds[:-1, 1] + 0.05 * FS)
        assert np.all(bounds[1:, 0] - bounds[:-1, 1] <= 0.3 * FS + 1)
        inside = np.zeros(wave.size, bool)
        for s, e in bounds:
            inside[s:e] = True
            assert np.mean(wave[s:e] ** 2) > 1e-3  # every word is audible
        assert np.mean(wave[inside] ** 2) > 1e4 * (np.mean(wave[~inside] ** 2) + 1e-12)


def test_add_noise_snr():
    t = np.arange(8000) / FS
    sine = 0.5 * np.sin(2 * np.pi * 440 * t)
    x = np.concatenate([np.zeros(4000), sine, np.zeros(4000)]).astype(np.float32)  # power 0.125 when on
    for snr in (0.0, 10.0, 25.0):
        y = add_noise(x, snr, np.random.default_rng(int(snr)))
        assert y.dtype == np.float32 and y.shape == x.shape
        noise = y.astype(np.float64) - x
        assert abs(10 * np.log10(0.125 / np.mean(noise ** 2)) - snr) < 0.5
    wave, bounds = synthesize_sequence(["three", "eight", "one"], SPEAKERS[4], np.random.default_rng(0))
    noisy = add_noise(wave, 5.0, np.random.default_rng(1))
    speech = np.concatenate([wave[s:e] for s, e in bounds]).astype(np.float64)
    measured = 10 * np.log10(np.mean(speech ** 2) / np.mean((noisy - wave).astype(np.float64) ** 2))
    assert abs(measured - 5.0) < 1.0  # pauses do not count as signal


def test_errors_name_the_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"'ten'.*zero.*nine"):
        synthesize_word("ten", SPEAKERS[0], rng)
    with pytest.raises(ValueError, match=r"'eleven'.*zero"):
        synthesize_sequence(["one", "eleven"], SPEAKERS[0], rng)
    with pytest.raises(ValueError, match=r"'qq'.*iy"):
        synthesize_phones(["aa", "qq"], SPEAKERS[0], rng)
    for bad in (4000, 8000.5, 96000):
        with pytest.raises(ValueError, match=rf"{bad}.*8000"):
            synthesize_word("one", SPEAKERS[0], rng, sample_rate=bad)
    with pytest.raises(ValueError, match="pause"):
        synthesize_sequence(["one"], SPEAKERS[0], rng, pause=(0.3, 0.1))
    with pytest.raises(ValueError, match="f0"):
        Speaker("bad", f0=5.0)


def test_words_recognisable_across_speakers():
    """MFCC summary + logistic regression trained on 4 speakers recognises 2 unseen speakers, in
    isolation and inside sequences cut at the returned bounds."""
    torch = pytest.importorskip("torch")
    transforms = pytest.importorskip("torchaudio.transforms")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    torch.set_num_threads(1)
    mfcc = transforms.MFCC(sample_rate=FS, n_mfcc=13, melkwargs=dict(n_fft=256, hop_length=80, n_mels=40))

    def feats(y):
        m = mfcc(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))).numpy()
        return np.concatenate([s.mean(1) for s in np.array_split(m, 4, axis=1)] + [m.std(1)])

    def words(spks, reps, rng):
        X, Y = [], []
        for spk in spks:
            for _ in range(reps):
                for d, w in enumerate(DIGIT_WORDS):
                    X.append(feats(synthesize_word(w, spk, rng)))
                    Y.append(d)
        return np.array(X), np.array(Y)

    Xtr, Ytr = words(SPEAKERS[:4], 6, np.random.default_rng(0))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(Xtr, Ytr)
    Xte, Yte = words(SPEAKERS[4:6], 6, np.random.default_rng(1))
    acc = clf.score(Xte, Yte)
    assert acc > 0.85, acc
    rng = np.random.default_rng(2)
    hits = total = 0
    for spk in SPEAKERS[4:6]:
        for _ in range(3):
            digits = rng.integers(0, 10, 5)
            wave, bounds = synthesize_sequence([DIGIT_WORDS[d] for d in digits], spk, rng)
            pred = clf.predict(np.array([feats(wave[s:e]) for s, e in bounds]))
            hits += int(np.sum(pred == digits))
            total += digits.size
    assert hits / total > 0.8, hits / total
