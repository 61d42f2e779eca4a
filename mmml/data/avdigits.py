"""``avdigits``: the embedded default data set, offline on a fresh machine.

Real handwritten digits bundled with scikit-learn (1,797 8x8 images, Alpaydin & Kaynak 1998),
paired by label with spoken digits from mmml's own formant synthesiser (:mod:`mmml.data.synth`,
several synthetic speakers, white noise at a set SNR) as log-mel frames, and the digit word as
character tokens in English (``text``) and French (``text_fr``). Each modality alone is imperfect
by default: the images lose their leading principal components (as AV-MNIST removes 75% of the
PCA energy, Vielzeuf et al. 2018), the audio is noisy, the text has typos.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from mmml.data.audio import LogMel
from mmml.data.cache import source_fingerprint
from mmml.data.datamodule import MultimodalDataModule
from mmml.data.spec import ModalitySpec
from mmml.data.text import DIGIT_WORDS_EN, DIGIT_WORDS_FR, Vocab

CHAR_VOCAB = Vocab(sorted({c for w in DIGIT_WORDS_EN + DIGIT_WORDS_FR for c in w}))
MAX_WORD = max(len(w) for w in DIGIT_WORDS_EN + DIGIT_WORDS_FR)


def degraded_digit_images(energy_removed: float, noise: float, seed: int, fit: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits in [0, 1], with the leading principal components holding
    ``energy_removed`` of the variance projected out, plus Gaussian noise of std ``noise``.

    The principal components (and the mean) are fitted on the images ``fit`` (indices or a boolean mask:
    the training pool, so that no held-out image shapes the degradation; ``None``: every image).

    Returns ``(images (N, 8, 8) float32, labels (N,) int64)``.
    """
    digits = load_digits()
    x = remove_leading_components(digits.data.astype(np.float64) / 16.0, energy_removed, fit)
    rng = np.random.default_rng(seed)
    x = x + noise * rng.standard_normal(x.shape)
    return x.reshape(-1, 8, 8).astype(np.float32), digits.target.astype(np.int64)


def remove_leading_components(x: np.ndarray, energy_removed: float, fit: np.ndarray | None = None) -> np.ndarray:
    """``x`` minus its projection on the fewest leading principal components of ``x[fit]`` that hold
    ``energy_removed`` of ``x[fit]``'s variance (PCA by SVD of the centred ``x[fit]``; Vielzeuf et al.
    2018 remove PCA energy from MNIST the same way)."""
    mean, basis = leading_components(x if fit is None else x[np.asarray(fit)], energy_removed)
    return x - (x - mean) @ basis.T @ basis


def leading_components(ref: np.ndarray, energy_removed: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and the fewest leading principal axes ``(k, D)`` of ``ref`` holding ``energy_removed``
    of its variance (``k = 0`` when nothing is removed)."""
    if not 0.0 <= energy_removed < 1.0:
        raise ValueError(f"image_energy_removed={energy_removed}; use a fraction in [0, 1)")
    if len(ref) < 2:
        raise ValueError(f"the PCA of the image degradation needs at least 2 training images, got {len(ref)}")
    mean = ref.mean(0)
    if energy_removed == 0:
        return mean, np.zeros((0, ref.shape[1]))
    _, s, vt = np.linalg.svd(ref - mean, full_matrices=False)
    share = np.cumsum(s**2) / np.sum(s**2)
    k = int(np.searchsorted(share, energy_removed) + 1)
    return mean, vt[:k]


def spoken_digits(labels: np.ndarray, snr_db: float | None, seed: int, sample_rate: int = 8000) -> list[np.ndarray]:
    """One synthetic utterance per label (random speaker and speaking rate), noise at ``snr_db``."""
    from mmml.data import synth

    waves = []
    for i, y in enumerate(labels):
        rng = np.random.default_rng([seed, i])
        speaker = synth.SPEAKERS[int(rng.integers(len(synth.SPEAKERS)))]
        wave = synth.synthesize_word(synth.DIGIT_WORDS[int(y)], speaker, rng, sample_rate=sample_rate)
        if snr_db is not None:
            wave = synth.add_noise(wave, snr_db, rng)
        waves.append(wave)
    return waves


def typo_words(words: Sequence[str], rate: float, seed: int) -> list[list[str]]:
    """Characters of each word, each replaced by a random letter with probability ``rate``."""
    rng = np.random.default_rng(seed)
    letters = CHAR_VOCAB.tokens[4:]
    out = []
    for w in words:
        chars = [letters[rng.integers(len(letters))] if rng.random() < rate else c for c in w]
        out.append(chars)
    return out


class AVDigits(MultimodalDataModule):
    """Audio-visual digits: image (1x8x8), audio (log-mel frames), text and text_fr (characters).

    Args:
        image_energy_removed: share of PCA variance projected out of the images.
        image_noise: std of Gaussian noise added to the images (pixel range [0, 1]).
        snr_db: SNR of white noise added to the speech (``None``: clean).
        text_noise: probability that a character of the word is replaced by a random letter.
        n_mels, max_frames, hop_length: log-mel features at 8 kHz.
        data_seed: seed of the synthesis (fixed data; ``seed`` only draws the split).

    The images are degraded once the split is drawn: the principal components are fitted on the train
    split only (no validation or test image shapes them), then the noise is drawn (seeded by
    ``data_seed``, ``seed`` and the split).
        **kwargs: see :class:`~mmml.data.datamodule.MultimodalDataModule`.

    Examples (skipped by the doctest run: they synthesise the whole data set, a minute of CPU;
    ``tests/mmml/test_avdigits.py`` builds it):

        >>> dm = AVDigits(modalities=["image", "audio"], cache=False)  # doctest: +SKIP
        >>> dm.setup(); dm.split("train")["audio"].shape  # doctest: +SKIP
        torch.Size([1221, 80, 40])
    """

    name = "avdigits"

    def __init__(
        self,
        modalities: Sequence[str] | None = ("image", "audio"),
        image_energy_removed: float = 0.5,
        image_noise: float = 0.1,
        snr_db: float | None = -10.0,
        text_noise: float = 0.3,
        n_mels: int = 40,
        max_frames: int = 80,
        hop_length: int = 128,
        data_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(modalities=modalities, **kwargs)
        self.image_energy_removed = float(image_energy_removed)
        self.image_noise = float(image_noise)
        self.snr_db = None if snr_db is None else float(snr_db)
        self.text_noise = float(text_noise)
        self.logmel = LogMel(n_mels=int(n_mels), max_frames=int(max_frames), hop_length=int(hop_length))
        self.data_seed = int(data_seed)

    def params(self) -> dict[str, Any]:
        return {"images": "clean, degraded after the split", "snr": self.snr_db,
                "text_noise": self.text_noise, "logmel": self.logmel.__dict__, "seed": self.data_seed,
                "synth": source_fingerprint("mmml.data.synth", "mmml.data.phones")}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        specs = {
            "image": ModalitySpec("image", "image", (1, 8, 8)),
            "audio": ModalitySpec("audio", "sequence", (self.logmel.max_frames, self.logmel.n_mels),
                                  frame_rate=self.logmel.frame_rate, log_mel=True),
            "text": ModalitySpec("text", "tokens", (MAX_WORD,), vocab=CHAR_VOCAB.tokens),
            "text_fr": ModalitySpec("text_fr", "tokens", (MAX_WORD,), vocab=CHAR_VOCAB.tokens),
        }
        return specs, DIGIT_WORDS_EN

    def build(self) -> dict[str, Any]:
        images, labels = degraded_digit_images(0.0, 0.0, self.data_seed)  # degraded after the split
        audio, audio_lengths = self.logmel(spoken_digits(labels, self.snr_db, self.data_seed))
        out: dict[str, Any] = {
            "image": torch.from_numpy(images)[:, None],
            "audio": audio,
            "audio_lengths": audio_lengths,
            "label": torch.from_numpy(labels),
        }
        for key, words, offset in (("text", DIGIT_WORDS_EN, 1), ("text_fr", DIGIT_WORDS_FR, 2)):
            chars = typo_words([words[y] for y in labels], self.text_noise, self.data_seed * 10 + offset)
            out[key], out[f"{key}_lengths"] = CHAR_VOCAB.encode(chars, max_length=MAX_WORD)
        return out

    def _standardize(self) -> None:
        """Degrade the images once the splits are drawn (PCA fitted on the train split only), then
        standardise as configured."""
        if "image" in self.splits["train"]:
            flat = {s: self.splits[s]["image"].reshape(len(self.splits[s]["image"]), -1).double().numpy()
                    for s in self.splits}
            mean, basis = leading_components(flat["train"], self.image_energy_removed)
            for i, s in enumerate(self.splits):
                x = flat[s] - (flat[s] - mean) @ basis.T @ basis
                rng = np.random.default_rng([self.data_seed, self.seed, i])
                x = x + self.image_noise * rng.standard_normal(x.shape)
                self.splits[s]["image"] = torch.from_numpy(x.astype(np.float32)).reshape(
                    self.splits[s]["image"].shape)
        super()._standardize()
