"""Free Spoken Digit Dataset (real speech) and ``avdigits_fsdd`` (FSDD audio paired with digit images).

FSDD: Jackson et al., github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0). Files are
``recordings/{digit}_{speaker}_{index}.wav``, mono 8 kHz; the official split puts index 0-4 in test.
Any set of speakers is read (the public repository has more than the copy used in CI).

``data.split`` chooses the protocol (:mod:`mmml.data.protocols`): ``official`` (speakers shared by train
and test), ``speakers`` (held-out ``data.test_speakers``/``data.val_speakers``) or ``logo``
(leave one speaker out); :attr:`FSDDMixin.protocol` describes it for the result record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from mmml.data.audio import LogMel, read_wav
from mmml.data.avdigits import degraded_digit_images
from mmml.data.datamodule import MultimodalDataModule
from mmml.data.protocols import TEST, TRAIN, VAL, SpeakerProtocol
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
    """Reading FSDD recordings from ``<root>/fsdd/recordings`` into log-mel frames, under a split protocol."""

    root: Any
    download: bool
    speakers: Sequence[str] | None
    logmel: LogMel
    split_protocol: SpeakerProtocol

    def recordings_dir(self) -> Path:
        root = data_root(self.root)
        folder = root / "fsdd" / "recordings"
        if not folder.is_dir() and self.download:
            from mmml.data.download import fetch_fsdd

            fetch_fsdd(root / "fsdd")
        require_dir(root, "data root", download_hint=True)
        return require_dir(folder, "FSDD recordings")

    def known_speakers(self) -> list[str]:
        """The speakers read (``data.speakers`` checked against the folder)."""
        found = sorted({s for _, _, s, _ in list_recordings(self.recordings_dir())})
        if self.speakers is None:
            return found
        unknown = [s for s in self.speakers if s not in found]
        if unknown:
            raise ValueError(f"data.speakers names {unknown}, who have no recordings in {self.recordings_dir()}; "
                             f"choose from {found}")
        return sorted(set(self.speakers))

    @property
    def protocol(self) -> dict[str, Any]:
        """How the splits are made (``record["protocol"]``): split name, held-out speakers, overlap."""
        return {"data_set": getattr(self, "name", None), **self.split_protocol.describe(self.known_speakers())}

    def read_fsdd(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, list[str]]:
        """Log-mel frames, lengths, digits, split codes (0 train, 1 val, 2 test) and speakers of every recording."""
        known = self.known_speakers()
        recs = list_recordings(self.recordings_dir(), known)
        waves = [read_wav(p, self.logmel.sample_rate) for p, *_ in recs]
        feats, lengths = self.logmel(waves)
        digits = np.array([d for _, d, _, _ in recs], dtype=np.int64)
        codes = self.split_protocol.assign(np.array([s for _, _, s, _ in recs]),
                                           np.array([i for *_, i in recs]), known)
        return feats, lengths, digits, codes, [s for _, _, s, _ in recs]


class FSDD(FSDDMixin, MultimodalDataModule):
    """Spoken digits from FSDD as log-mel frames (modality ``audio``) under a split protocol.

    ``official``: test = index 0-4, validation drawn by ``seed`` from the rest (as before protocols).

    Args:
        root: data root (``$MMML_DATA`` by default); recordings under ``root/fsdd/recordings``.
        download: fetch the public repository's recordings when the folder is missing.
        speakers: restrict to these speakers (default: every speaker found).
        split, test_speakers, val_speakers: the split protocol (:mod:`mmml.data.protocols`).
        n_mels, max_frames, hop_length: log-mel features at 8 kHz.
    """

    name = "fsdd"

    def __init__(self, root: str | None = None, download: bool = False, speakers: Sequence[str] | None = None,
                 split: str = "official", test_speakers: Sequence[str] | None = ("theo",),
                 val_speakers: Sequence[str] | None = None,
                 n_mels: int = 40, max_frames: int = 80, hop_length: int = 128,
                 modalities: Sequence[str] | None = ("audio",), **kwargs: Any) -> None:
        super().__init__(modalities=modalities, **kwargs)
        self.root, self.download = root, download
        self.speakers = list(speakers) if speakers is not None else None
        self.split_protocol = SpeakerProtocol(split, test_speakers, val_speakers, official_val="draw")
        self.logmel = LogMel(n_mels=int(n_mels), max_frames=int(max_frames), hop_length=int(hop_length))

    def params(self) -> dict[str, Any]:
        return {"root": str(data_root(self.root)), "speakers": self.speakers, "logmel": self.logmel.__dict__,
                **({} if self.split_protocol.split == "official" else {"protocol": self.split_protocol.params()})}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        return {"audio": ModalitySpec("audio", "sequence", (self.logmel.max_frames, self.logmel.n_mels),
                                      frame_rate=self.logmel.frame_rate, log_mel=True)}, DIGIT_WORDS_EN

    def build(self) -> dict[str, Any]:
        feats, lengths, digits, codes, speakers = self.read_fsdd()
        names = sorted(set(speakers))
        return {"audio": feats, "audio_lengths": lengths, "label": torch.from_numpy(digits),
                "split": torch.from_numpy(codes), "source_recording": torch.arange(len(digits)),
                "source_speaker": torch.tensor([names.index(s) for s in speakers])}


class AVDigitsFSDD(FSDDMixin, MultimodalDataModule):
    """Real FSDD speech paired by label with scikit-learn digit images (AV-MNIST style).

    The recordings are split by the protocol (``official``: test = index 0-4, validation = index 5-9;
    ``speakers``/``logo``: by speaker) at build time; the images of each digit are split into disjoint
    test (``test_fraction``), validation (``val_fraction``) and train pools, and each recording is paired
    with an image of its digit from its own split's pool, so no image is in two splits. The images'
    PCA degradation is fitted on the train pool only.

    Args: as :class:`FSDD`, plus ``image_energy_removed`` and ``image_noise`` as in
    :class:`~mmml.data.avdigits.AVDigits`, and ``data_seed`` (image pools and pairing).
    """

    name = "avdigits_fsdd"

    def __init__(self, root: str | None = None, download: bool = False, speakers: Sequence[str] | None = None,
                 split: str = "official", test_speakers: Sequence[str] | None = ("theo",),
                 val_speakers: Sequence[str] | None = None,
                 image_energy_removed: float = 0.5, image_noise: float = 0.1, n_mels: int = 40,
                 max_frames: int = 80, hop_length: int = 128, data_seed: int = 0,
                 modalities: Sequence[str] | None = ("image", "audio"), **kwargs: Any) -> None:
        super().__init__(modalities=modalities, **kwargs)
        self.root, self.download = root, download
        self.speakers = list(speakers) if speakers is not None else None
        self.split_protocol = SpeakerProtocol(split, test_speakers, val_speakers, official_val="index")
        self.image_energy_removed, self.image_noise = float(image_energy_removed), float(image_noise)
        self.logmel = LogMel(n_mels=int(n_mels), max_frames=int(max_frames), hop_length=int(hop_length))
        self.data_seed = int(data_seed)

    def params(self) -> dict[str, Any]:
        return {"root": str(data_root(self.root)), "speakers": self.speakers, "logmel": self.logmel.__dict__,
                "energy": self.image_energy_removed, "image_noise": self.image_noise, "seed": self.data_seed,
                "test_fraction": self.test_fraction, "val_fraction": self.val_fraction,
                "protocol": self.split_protocol.params(), "pools": "train/val/test, pca on train"}

    @property
    def protocol(self) -> dict[str, Any]:
        return {**super().protocol, "images": "disjoint pools per split (test_fraction, val_fraction of each "
                                              "digit's images; data_seed)"}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        return {
            "image": ModalitySpec("image", "image", (1, 8, 8)),
            "audio": ModalitySpec("audio", "sequence", (self.logmel.max_frames, self.logmel.n_mels),
                                  frame_rate=self.logmel.frame_rate, log_mel=True),
        }, DIGIT_WORDS_EN

    def build(self) -> dict[str, Any]:
        feats, lengths, digits, codes, speakers = self.read_fsdd()
        labels = load_digits().target.astype(np.int64)
        pools = image_pools(labels, self.test_fraction, self.val_fraction, self.data_seed)
        train_pool = np.concatenate([pools[(TRAIN, d)] for d in range(10)])
        images, _ = degraded_digit_images(self.image_energy_removed, self.image_noise, self.data_seed,
                                          fit=train_pool)
        chosen = np.zeros(len(digits), dtype=np.int64)
        for (code, d), imgs in pools.items():
            where = np.flatnonzero((digits == d) & (codes == code))
            chosen[where] = imgs[np.arange(len(where)) % len(imgs)]
        names = sorted(set(speakers))
        return {"image": torch.from_numpy(images[chosen])[:, None], "audio": feats, "audio_lengths": lengths,
                "label": torch.from_numpy(digits), "split": torch.from_numpy(codes),
                "source_recording": torch.arange(len(digits)), "source_image": torch.from_numpy(chosen),
                "source_speaker": torch.tensor([names.index(s) for s in speakers])}


def image_pools(labels: np.ndarray, test_fraction: float, val_fraction: float, seed: int
                ) -> dict[tuple[int, int], np.ndarray]:
    """Disjoint image indices per ``(split code, digit)``: ``test_fraction`` of each digit's images to test,
    ``val_fraction`` to validation, the rest to train (each at least one), permuted by ``seed``."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[int, int], np.ndarray] = {}
    for d in range(10):
        pool = rng.permutation(np.flatnonzero(labels == d))
        n_test = max(1, int(round(len(pool) * test_fraction)))
        n_val = max(1, int(round(len(pool) * val_fraction)))
        if n_test + n_val >= len(pool):
            raise ValueError(f"digit {d} has {len(pool)} images; test_fraction={test_fraction} and "
                             f"val_fraction={val_fraction} leave none to train on")
        out[(TEST, d)], out[(VAL, d)], out[(TRAIN, d)] = (pool[:n_test], pool[n_test:n_test + n_val],
                                                          pool[n_test + n_val:])
    return out
