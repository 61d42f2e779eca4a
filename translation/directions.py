"""Translation directions on ``digit_sequences``: which modalities are read and which one is produced.

Baltrusaitis et al. 2017, Sec. 4: translation maps an entity of one modality to another. Four
directions, each a (sources, target) pair of batch keys (see :mod:`mmml.data.digit_sequences`):

============  ==================  ========  ==============================================
direction     sources             target    what it is
============  ==================  ========  ==============================================
captioning    image               text      image strip -> English digit words
recognition   audio               text      speech -> words (recognition as translation)
synthesis     text                audio     words -> log-mel frames (continuous, time-aligned)
mmt           text, image         text_fr   English -> French with the image as context
============  ==================  ========  ==============================================

In ``mmt`` 30% of the English words are hidden (``<unk>``), in training and test alike (the
degradation of Caglayan et al. 2019, "Probing the need for visual context in multimodal machine
translation"), so the image carries information the text lacks.

Also here: the fixed-size views of sources and targets that example-based methods compare.

Examples:
    >>> DIRECTIONS["mmt"].sources, DIRECTIONS["mmt"].target
    (('text', 'image'), 'text_fr')
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mmml.data.contract import require
from mmml.data.sequences import lengths_of, resample_batch, valid_mask
from mmml.data.spec import ModalitySpec
from mmml.data.text import UNK_ID


@dataclass(frozen=True)
class Direction:
    """A translation direction: source modalities, the target modality, and the share of source words
    hidden (replaced by ``<unk>``) so that a second source must fill them in (Caglayan et al. 2019)."""

    name: str
    sources: tuple[str, ...]
    target: str
    source_mask: float = 0.0


DIRECTIONS: dict[str, Direction] = {d.name: d for d in (
    Direction("captioning", ("image",), "text"),
    Direction("recognition", ("audio",), "text"),
    Direction("synthesis", ("text",), "audio"),
    Direction("mmt", ("text", "image"), "text_fr", source_mask=0.3),
)}


def get_direction(name: str | Direction, specs: dict[str, ModalitySpec] | None = None) -> Direction:
    """The :class:`Direction` called ``name``, checked against the data set's modalities."""
    if isinstance(name, Direction):
        direction = name
    elif name in DIRECTIONS:
        direction = DIRECTIONS[name]
    else:
        raise ValueError(f"translation direction {name!r} is unknown; choose one of {list(DIRECTIONS)}")
    if specs is not None:
        missing = [m for m in (*direction.sources, direction.target) if m not in specs]
        if missing:
            raise ValueError(f"direction {direction.name!r} needs modalities {missing}, which the data set does "
                             f"not serve ({list(specs)}); use data=digit_sequences with data.modalities=null")
    return direction


def target_is_text(direction: Direction, specs: dict[str, ModalitySpec]) -> bool:
    """Whether the direction produces tokens (else log-mel frames)."""
    return specs[direction.target].kind == "tokens"


def check_batch(batch: dict[str, Tensor], direction: Direction, need_target: bool = False) -> None:
    """Fail clearly when a batch lacks the direction's sources (or its target, for training)."""
    require(batch, direction.sources + ((direction.target,) if need_target else ()), allow_dropped=False)


def fixed_view(batch: dict[str, Tensor], modality: str, spec: ModalitySpec, frames: int = 16) -> Tensor:
    """A fixed-size float vector per example: one-hot tokens by position (tokens), resampled frames
    (sequences, :func:`mmml.data.sequences.resample_batch`), or the flattened tensor; shape ``(B, d)``."""
    x = batch[modality]
    if spec.kind == "tokens":
        return F.one_hot(x.long(), len(spec.vocab)).float().flatten(1)
    if spec.kind == "sequence":
        return resample_batch(x, lengths_of(batch, modality), frames).flatten(1)
    return x.float().flatten(1)


def mask_tokens(batch: dict[str, Tensor], modality: str, rate: float, generator: torch.Generator | None = None
                ) -> dict[str, Tensor]:
    """A copy of ``batch`` whose ``modality`` words are replaced by ``<unk>`` (``UNK_ID``) with probability ``rate``."""
    if rate <= 0:
        return batch
    x = batch[modality]
    u = torch.rand(x.shape, generator=generator, device="cpu" if generator is not None else x.device).to(x.device)
    valid = valid_mask(lengths_of(batch, modality), x.shape[1])
    return {**batch, modality: torch.where(valid & (u < rate), torch.full_like(x, UNK_ID), x)}
