"""Free Spoken Digit Dataset (real speech) and ``avdigits_fsdd`` (FSDD audio paired with digit images).

FSDD: Jackson et al., github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0). Files are
``recordings/{digit}_{speaker}_{index}.wav``, mono 8 kHz; the official split puts index 0-4 in test.
Any set of speakers is read (the public repository has more than the copy used in CI).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmml.data.audio import LogMel, read_wav
from mmml.data.avdigits import degraded_digit_images
from mmml.data.datamodule import MultimodalDataModule
from mmml.data.roots import MissingDataError, data_root, require_dir
from mmml.data.spec import ModalitySpec
from mmml.data.text import DIGIT_WORDS_EN

FILENAME = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9]+)_(?P<index>[0-9]+)\.wav$")
ARCHIVE_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.zip"


def list_recordings(folder: Path, speakers: Sequence[str] | None = None) -> list[tuple[Path, int, str, int]]:
    """``(path, digit, speaker, index)`` of every recording in ``folder``, sorted by name."""
    out = []
    for path in sorted(folder.glob("*.wav")):
        m = FILENAME.match(path.name)
        if not m:
            continue
        if speakers is not None and m.group("speaker") not in speakers:
            continue
        out.append((path, int(m.group("digit")), m.group("speaker"), int(m.group("index"))))
    if not out:
        raise MissingDataError(f"no FSDD recordings ('<digit>_<speaker>_<index>.wav') in {folder}"
                                + (f" for speakers {list(speakers)}" if speakers else "")
                                + "; point data.root at the folder holding fsdd/recordings")
    return out


class FSDDMixin:
    """Reading FSDD recordings from ``<root>/fsdd/recordings`` into log-mel frames."""

    root: Any
    download: bool
    speakers: Sequence[str] | None
    logmel: LogMel

    def recordings_dir(self) -> Path:
        root = data_root(self.root)
        folder = root / "fsdd" / "recordings"
        if not folder.is_dir() and self.download:
            from mmml.data.download import fetch_fsdd

            fetch_fsdd(root / "fsdd")
        require_dir(root, "data root", download_hint=True)
        return require_dir(folder, "FSDD recordings")

    def read_fsdd(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, list[str]]:
        recs = list_recordings(self.recordings_dir(), self.speakers)
        waves = [read_wav(p, self.logmel.sample_rate) for p, *_ in recs]
        feats, lengths = self.logmel(waves)
        digits = np.array([d for _, d, _, _ in recs], dtype=np.int64)
        is_test = np.array([i <= 4 for *_, i in recs])
        return feats, lengths, digits, is_test, [s for _, _, s, _ in recs]


class FSDD(FSDDMixin, MultimodalDataModule):
    """Spoken digits from FSDD as log-mel frames (modality ``audio``); official test split (index 0-4).

    Args:
        root: data root (``$MMML_DATA`` by default); recordings under ``root/fsdd/recordings``.
        download: fetch the public repository's recordings when the folder is missing.
        speakers: restrict to these speakers (default: every speaker found).
        n_mels, max_frames, hop_length: log-mel features at 8 kHz.
    """

    name = "fsdd"

    def __init__(self, root: str | None = None, download: bool = False, speakers: Sequence[str] | None = None,
                 n_mels: int = 40, max_frames: int = 80, hop_length: int = 128,
                 modalities: Sequence[str] | None = ("audio",), **kwargs: Any) -> None:
        super().__init__(modalities=modalities, **kwargs)
        self.root, self.download = root, download
        self.speakers = list(speakers) if speakers is not None else None
        self.logmel = LogMel(n_mels=int(n_mels), max_frames=int(max_frames), hop_length=int(hop_length))

    def params(self) -> dict[str, Any]:
        return {"root": str(data_root(self.root)), "speakers": self.speakers, "logmel": self.logmel.__dict__}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        return {"audio": ModalitySpec("audio", "sequence", (self.logmel.max_frames, self.logmel.n_mels),
                                      frame_rate=self.logmel.frame_rate, log_mel=True)}, DIGIT_WORDS_EN

    def build(self) -> dict[str, Any]:
        feats, lengths, digits, is_test, _ = self.read_fsdd()
        split = torch.where(torch.from_numpy(is_test), 2, 0)
        return {"audio": feats, "audio_lengths": lengths, "label": torch.from_numpy(digits), "split": split}


class AVDigitsFSDD(FSDDMixin, MultimodalDataModule):
    """Real FSDD speech paired by label with scikit-learn digit images (AV-MNIST style).

    Images are split by label into train and test first (``test_fraction``), then each recording is
    paired with an image of its digit from its own split (FSDD's official split), so no image is
    shared between train and test.

    Args: as :class:`FSDD`, plus ``image_energy_removed`` and ``image_noise`` as in
    :class:`~mmml.data.avdigits.AVDigits`.
    """

    name = "avdigits_fsdd"

    def __init__(self, root: str | None = None, download: bool = False, speakers: Sequence[str] | None = None,
                 image_energy_removed: float = 0.5, image_noise: float = 0.1, n_mels: int = 40,
                 max_frames: int = 80, hop_length: int = 128, data_seed: int = 0,
                 modalities: Sequence[str] | None = ("image", "audio"), **kwargs: Any) -> None:
        super().__init__(modalities=modalities, **kwargs)
        self.root, self.download = root, download
        self.speakers = list(speakers) if speakers is not None else None
        self.image_energy_removed, self.image_noise = float(image_energy_removed), float(image_noise)
        self.logmel = LogMel(n_mels=int(n_mels), max_frames=int(max_frames), hop_length=int(hop_length))
        self.data_seed = int(data_seed)

    def params(self) -> dict[str, Any]:
        return {"root": str(data_root(self.root)), "speakers": self.speakers, "logmel": self.logmel.__dict__,
                "energy": self.image_energy_removed, "image_noise": self.image_noise, "seed": self.data_seed,
                "test_fraction": self.test_fraction}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        return {
            "image": ModalitySpec("image", "image", (1, 8, 8)),
            "audio": ModalitySpec("audio", "sequence", (self.logmel.max_frames, self.logmel.n_mels),
                                  frame_rate=self.logmel.frame_rate, log_mel=True),
        }, DIGIT_WORDS_EN

    def build(self) -> dict[str, Any]:
        feats, lengths, digits, is_test, _ = self.read_fsdd()
        images, labels = degraded_digit_images(self.image_energy_removed, self.image_noise, self.data_seed)
        rng = np.random.default_rng(self.data_seed)
        chosen = np.zeros(len(digits), dtype=np.int64)
        for d in range(10):
            pool = rng.permutation(np.flatnonzero(labels == d))
            n_test = max(1, int(round(len(pool) * self.test_fraction)))
            for test, imgs in ((True, pool[:n_test]), (False, pool[n_test:])):
                where = np.flatnonzero((digits == d) & (is_test == test))
                chosen[where] = imgs[np.arange(len(where)) % len(imgs)]
        split = torch.where(torch.from_numpy(is_test), 2, 0)
        return {"image": torch.from_numpy(images[chosen])[:, None], "audio": feats, "audio_lengths": lengths,
                "label": torch.from_numpy(digits), "split": split}
