"""Captioned digits and captioned speech: examples paired with free text (:mod:`mmml.data.captions`), not labels.

- ``captioned_digits`` (:class:`CaptionedDigits`, embedded): scikit-learn's 1,797 handwritten digits
  (Alpaydin & Kaynak 1998), clean, in [0, 1], each with a caption of its measured properties;
- ``captioned_fsdd`` (:class:`CaptionedFSDD`, real data): FSDD recordings (log-mel frames) with
  descriptions of pitch, speed and loudness; some speakers are held out of every split.

The text modality is ``caption``: word ids of :class:`mmml.tokenizer.WordTokenizer` over the
grammar's vocabulary (``spec.vocab``), so prompts in the same words encode without ``<unk>``.
``label`` is still served, for evaluation only (CLIP's pre-training never reads it).

Test conditions are distribution shifts (Taori et al. 2020; Radford et al. 2021, Sec. 3.3), one test
loader each: ``clean``; any :mod:`mmml.data.corruptions` condition (``image:noise@0.3``,
``audio:snr@0``); ``image:rotate@<degrees>``; ``image:invert`` (``1 - x``); ``speakers`` (the held-out
speakers' recordings, :class:`CaptionedFSDD` only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor

from mmml.data.audio import LogMel, read_wav
from mmml.data.captions import (
    IMAGE_GRAMMAR,
    SPEECH_GRAMMAR,
    Grammar,
    compose_captions,
    image_properties,
    property_buckets,
    speech_properties,
)
from mmml.data.corruptions import Condition
from mmml.data.datamodule import MultimodalDataModule
from mmml.data.fsdd import list_recordings
from mmml.data.loader import Batch, TensorBatches
from mmml.data.roots import data_root, require_dir
from mmml.data.spec import ModalitySpec
from mmml.data.text import DIGIT_WORDS_EN
from mmml.tokenizer import WordTokenizer

CAPTION = "caption"
CAPTION_LENGTH = 24


def caption_tokenizer(grammar: Grammar) -> WordTokenizer:
    """The tokenizer of a captioned data set: the grammar's words, padded to :data:`CAPTION_LENGTH`."""
    return WordTokenizer(grammar.words(), CAPTION_LENGTH)


def rotate(images: Tensor, degrees: float) -> Tensor:
    """Images ``(N, C, H, W)`` rotated counter-clockwise by ``degrees`` about their centre (zeros outside)."""
    a = math.radians(float(degrees))
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]],
                         dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta.expand(len(images), 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


@dataclass(frozen=True)
class Shift:
    """One shifted test condition (its ``name`` is the condition's column, as :class:`Condition`'s)."""

    text: str

    @property
    def corruptions(self) -> tuple:
        return ()  # applied by the data module to the whole split, not per batch

    @property
    def name(self) -> str:
        kind, _, level = self.text.partition("@")
        if kind in ("clean", "speakers"):
            return kind
        if kind.endswith((":rotate", ":invert")):
            return kind.replace(":", "_") + level
        return Condition.parse(self.text).name


class ShiftedTestMixin:
    """Serve one test loader per shift in ``test_conditions`` (module docstring), built once per split."""

    shift_kinds = ("rotate", "invert")

    def _init_shifts(self, test_conditions: Sequence[str]) -> None:
        self.conditions = [Shift(str(t).strip()) for t in test_conditions]
        for c in self.conditions:
            kind = c.text.split("@")[0].split(":")[-1]
            if c.text == "speakers" and not getattr(self, "heldout_speakers", None):
                raise ValueError(f"test condition 'speakers' needs held-out speakers; {self.name!r} has none "
                                 "(set data.heldout_speakers, captioned_fsdd only)")
            if kind in self.shift_kinds:
                modality = c.text.split(":")[0]
                if modality != "image":
                    raise ValueError(f"test condition {c.text!r}: {kind} acts on 'image', not {modality!r}")
                if kind == "rotate" and "@" not in c.text:
                    raise ValueError(f"test condition {c.text!r} needs an angle, e.g. 'image:rotate@30'")
            elif c.text not in ("clean", "speakers"):
                Condition.parse(c.text)  # raises naming the accepted forms
        self._shifted: dict[str, Batch] = {}

    def heldout_split(self) -> Batch:
        raise ValueError(f"{self.name!r} has no held-out speakers")

    def shifted(self, shift: Shift) -> Batch:
        """The test split under ``shift`` (deterministic given the data module's seed)."""
        if shift.name not in self._shifted:
            test = self.split("test")
            kind = shift.text.split("@")[0].split(":")[-1]
            if shift.text == "clean":
                out = test
            elif shift.text == "speakers":
                out = self.heldout_split()
            elif kind == "rotate":
                out = {**test, "image": rotate(test["image"], float(shift.text.split("@")[1]))}
            elif kind == "invert":
                out = {**test, "image": 1.0 - test["image"]}
            else:
                out = self.corrupt(test, Condition.parse(shift.text), seed=self.conditions.index(shift))
            self._shifted[shift.name] = out
        return self._shifted[shift.name]

    def test_dataloader(self) -> list[TensorBatches]:
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        return [TensorBatches(self.shifted(c), self.eval_batch_size or 4096, rank=rank, world_size=world)
                for c in self.conditions]


class CaptionedDigits(ShiftedTestMixin, MultimodalDataModule):
    """scikit-learn's digit images (1x8x8, clean, in [0, 1]) with captions of their measured properties.

    Args:
        caption_seed: seed of the wording (fixed data; ``seed`` only draws the split).
        omit_digit: share of captions that do not name the digit.
        test_conditions: shifts (module docstring), e.g. ``[clean, image:noise@0.3, image:rotate@30]``.
        **kwargs: see :class:`~mmml.data.datamodule.MultimodalDataModule` (``standardize`` must stay off:
            inversion and rotation act on pixel values in [0, 1]).

    Examples:
        >>> dm = CaptionedDigits(cache=False, test_conditions=["clean", "image:invert"])
        >>> dm.setup(); sorted(dm.split("train")), dm.specs["caption"].shape
        (['caption', 'caption_lengths', 'image', 'label'], (24,))
    """

    name = "captioned_digits"
    grammar = IMAGE_GRAMMAR

    def __init__(self, modalities: Sequence[str] | None = ("image", CAPTION), caption_seed: int = 0,
                 omit_digit: float = 0.15, test_conditions: Sequence[str] = ("clean",), **kwargs: Any) -> None:
        if kwargs.get("standardize"):
            raise ValueError("data.standardize must be false for captioned_digits: the shifts (inversion, rotation) "
                             "act on pixel values in [0, 1]")
        super().__init__(modalities=modalities, **kwargs)
        self.caption_seed, self.omit_digit = int(caption_seed), float(omit_digit)
        self.tokenizer = caption_tokenizer(self.grammar)
        self._init_shifts(test_conditions)

    def params(self) -> dict[str, Any]:
        return {"caption_seed": self.caption_seed, "omit": self.omit_digit, "vocab": list(self.tokenizer.tokens)}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        return {"image": ModalitySpec("image", "image", (1, 8, 8)),
                CAPTION: ModalitySpec(CAPTION, "tokens", (CAPTION_LENGTH,), vocab=self.tokenizer.tokens)}, \
            DIGIT_WORDS_EN

    def captions(self, images: np.ndarray, digits: np.ndarray) -> list[str]:
        """The caption of each image (its digit and its measured properties)."""
        return compose_captions(digits, property_buckets(image_properties(images)), self.grammar, self.caption_seed,
                                self.omit_digit)

    def build(self) -> dict[str, Any]:
        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)
        ids, lengths = self.tokenizer.encode(self.captions(images, digits.target))
        return {"image": torch.from_numpy(images)[:, None], CAPTION: ids, f"{CAPTION}_lengths": lengths,
                "label": torch.from_numpy(digits.target.astype(np.int64))}


class CaptionedFSDD(ShiftedTestMixin, MultimodalDataModule):
    """FSDD recordings (log-mel ``audio``) with captions of their pitch, speed and loudness; official split.

    The ``heldout_speakers`` are in no split: their recordings are the ``speakers`` test condition
    (a speaker-independent shift beside the speaker-dependent test split).

    Args:
        root, download: as :class:`mmml.data.fsdd.FSDD`. heldout_speakers: speakers kept out.
        caption_seed, omit_digit, test_conditions: as :class:`CaptionedDigits`.
        n_mels, max_frames, hop_length: log-mel features at 8 kHz.
    """

    name = "captioned_fsdd"
    grammar = SPEECH_GRAMMAR

    def __init__(self, root: str | None = None, download: bool = False,
                 heldout_speakers: Sequence[str] = ("theo",), caption_seed: int = 0, omit_digit: float = 0.15,
                 n_mels: int = 40, max_frames: int = 80, hop_length: int = 128,
                 modalities: Sequence[str] | None = ("audio", CAPTION), test_conditions: Sequence[str] = ("clean",),
                 **kwargs: Any) -> None:
        if kwargs.get("standardize"):
            raise ValueError("data.standardize must be false for captioned_fsdd: the held-out speakers are not in a "
                             "split, so train statistics would not reach them")
        super().__init__(modalities=modalities, **kwargs)
        self.root, self.download = root, download
        self.heldout_speakers = list(heldout_speakers or [])
        self.caption_seed, self.omit_digit = int(caption_seed), float(omit_digit)
        self.logmel = LogMel(n_mels=int(n_mels), max_frames=int(max_frames), hop_length=int(hop_length))
        self.tokenizer = caption_tokenizer(self.grammar)
        self._all: dict[str, Tensor] | None = None
        self._init_shifts(test_conditions)

    def params(self) -> dict[str, Any]:
        return {"root": str(data_root(self.root)), "heldout": self.heldout_speakers, "logmel": self.logmel.__dict__,
                "caption_seed": self.caption_seed, "omit": self.omit_digit, "vocab": list(self.tokenizer.tokens)}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        return {"audio": ModalitySpec("audio", "sequence", (self.logmel.max_frames, self.logmel.n_mels),
                                      frame_rate=self.logmel.frame_rate, log_mel=True),
                CAPTION: ModalitySpec(CAPTION, "tokens", (CAPTION_LENGTH,), vocab=self.tokenizer.tokens)}, \
            DIGIT_WORDS_EN

    def _every_recording(self) -> dict[str, Tensor]:
        root = data_root(self.root)
        folder = root / "fsdd" / "recordings"
        if not folder.is_dir() and self.download:
            from mmml.data.download import fetch_fsdd

            fetch_fsdd(root / "fsdd")
        recs = list_recordings(require_dir(folder, "FSDD recordings"))
        unknown = sorted(set(self.heldout_speakers) - {s for _, _, s, _ in recs})
        if unknown:
            raise ValueError(f"data.heldout_speakers names {unknown}, who are not in {folder}; choose from "
                             f"{sorted({s for _, _, s, _ in recs})}")
        waves = [read_wav(p, self.logmel.sample_rate) for p, *_ in recs]
        feats, lengths = self.logmel(waves)
        digits = np.array([d for _, d, _, _ in recs], dtype=np.int64)
        props = property_buckets(speech_properties(waves, self.logmel.sample_rate))
        ids, cap_lengths = self.tokenizer.encode(compose_captions(digits, props, self.grammar, self.caption_seed,
                                                                  self.omit_digit))
        heldout = torch.tensor([s in self.heldout_speakers for _, _, s, _ in recs])
        split = torch.tensor([2 if i <= 4 else 0 for *_, i in recs])
        return {"audio": feats, "audio_lengths": lengths, CAPTION: ids, f"{CAPTION}_lengths": cap_lengths,
                "label": torch.from_numpy(digits), "split": split, "heldout": heldout}

    def every_recording(self) -> dict[str, Tensor]:
        """Every recording (held-out speakers included, flagged by ``heldout``), built once and cached."""
        if self._all is None:
            self._all = self.cache.get_or_build(f"{self.name}_all", {"params": self.params(), "v": 1},
                                                self._every_recording)
        return self._all

    def build(self) -> dict[str, Any]:
        data = self.every_recording()
        keep = ~data["heldout"]
        return {k: v[keep] for k, v in data.items() if k != "heldout"}

    def heldout_split(self) -> Batch:
        data = self.every_recording()
        keep = data["heldout"]
        served = {"label"} | {k for k in data if k.split("_")[0] in self.specs}
        dev = self.split("test")["label"].device
        return {k: v[keep].to(dev) for k, v in data.items() if k in served}
