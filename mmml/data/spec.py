"""Modality specifications: each datamodule describes its modalities once, models are sized from them."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("image", "sequence", "tokens", "vector")


@dataclass(frozen=True)
class ModalitySpec:
    """What one modality of a data set looks like.

    Args:
        name: key of the modality in a batch dict (``"image"``, ``"audio"``, ``"text"``, ``"fou"``...).
        kind: ``"image"`` (C, H, W floats), ``"sequence"`` (T, F float frames, with ``<name>_lengths``),
            ``"tokens"`` (L integer ids, with ``<name>_lengths``) or ``"vector"`` (F floats).
        shape: shape of one example without the batch dimension; for sequences and tokens the
            first entry is the padded length.
        vocab: token strings for ``"tokens"`` (index = id; id 0 is padding).
        frame_rate: frames per second for sequences (used to turn frames into milliseconds).
        log_mel: the sequence holds log-mel energies (so SNR corruptions act in the power domain).

    Examples:
        >>> ModalitySpec("image", "image", (1, 8, 8)).feature_dim
        64
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    vocab: tuple[str, ...] | None = None
    frame_rate: float | None = None
    log_mel: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"modality {self.name!r} has kind {self.kind!r}; use one of {list(KINDS)}")
        if self.kind == "tokens" and not self.vocab:
            raise ValueError(f"token modality {self.name!r} needs a vocab (tuple of token strings)")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def is_sequential(self) -> bool:
        """Whether batches carry ``<name>_lengths`` (sequences and tokens)."""
        return self.kind in ("sequence", "tokens")

    @property
    def feature_dim(self) -> int:
        """Size of one frame (sequence), vocabulary (tokens) or the flattened example (image, vector)."""
        if self.kind == "sequence":
            return self.shape[-1]
        if self.kind == "tokens":
            return len(self.vocab)
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def max_length(self) -> int | None:
        """Padded length for sequences and tokens, else ``None``."""
        return self.shape[0] if self.is_sequential else None
