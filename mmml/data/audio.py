"""Audio input: wav reading (soundfile) with validation, and log-mel features (torchaudio.transforms)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch import Tensor


def read_wav(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Read a mono wav as float32 in [-1, 1], checking it is readable, non-empty, mono and at ``sample_rate``."""
    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        raise ValueError(f"wav file {path} is corrupt or not a wav ({err}); delete it or download it again") from err
    if sr != sample_rate:
        raise ValueError(f"wav file {path} is at {sr} Hz but {sample_rate} Hz is expected; resample it "
                         f"(torchaudio.functional.resample) or set data.sample_rate={sr}")
    if wave.shape[1] != 1:
        raise ValueError(f"wav file {path} has {wave.shape[1]} channels; mmml expects mono, "
                         "mix it down (e.g. wave.mean(axis=1)) first")
    if wave.shape[0] == 0:
        raise ValueError(f"wav file {path} is empty (0 samples); remove it from the data folder")
    return wave[:, 0]


@dataclass(frozen=True)
class LogMel:
    """Log-mel frames of waveforms with ``torchaudio.transforms.MelSpectrogram``.

    Args:
        sample_rate: Hz. n_fft, hop_length: in samples. n_mels: mel bands. max_frames: padded length
        (longer utterances are cut; their length is reported as ``max_frames``).

    Examples:
        >>> feats, lengths = LogMel(n_mels=20, max_frames=10)([np.zeros(800, dtype="float32")])
        >>> tuple(feats.shape), lengths.tolist()
        ((1, 10, 20), [7])
    """

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 128
    n_mels: int = 40
    max_frames: int = 80
    floor: float = 1e-6

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def __call__(self, waves: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
            f_min=20.0, f_max=self.sample_rate / 2, power=2.0, center=True)
        feats = torch.zeros(len(waves), self.max_frames, self.n_mels)
        lengths = torch.zeros(len(waves), dtype=torch.long)
        floor = float(np.log(self.floor))
        for i, w in enumerate(waves):
            m = (mel(torch.as_tensor(np.asarray(w, dtype=np.float32))) + self.floor).log().T  # (T, n_mels)
            t = min(m.shape[0], self.max_frames)
            feats[i, :t] = m[:t]
            feats[i, t:] = floor
            lengths[i] = t
        return feats, lengths
