"""Test-time corruptions of one modality, for robustness tables.

A condition string names one corruption: ``"clean"``, ``"audio:drop"`` (absent from the batch),
``"audio:zero"``, ``"image:noise@0.5"`` (Gaussian noise at level 0.5 in [0, 1]) or
``"audio:snr@0"`` (additive white noise at 0 dB SNR). Several corruptions join with ``+``:
``"audio:drop+image:noise@0.3"``.

Noise at level ``a`` mixes signal and noise so that 0 is clean and 1 carries no information:
``(1 - a) * x + a * s * e`` with ``e ~ N(0, 1)`` and ``s`` the per-feature standard deviation of the
clean split (for tokens: each token replaced by a random one with probability ``a``).
SNR noise on log-mel features is added in the mel power domain: the expected power of white noise
is flat across bands, so ``log(exp(x) + P_s / 10^(snr/10) * chi2_2 / 2)`` with ``P_s`` the
utterance's mean mel power over its valid frames (an approximation of adding noise to the
waveform, exact in expectation for a flat filter bank).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import Tensor

from mmml.data.sequences import valid_mask
from mmml.data.spec import ModalitySpec

KINDS = ("drop", "zero", "noise", "snr")
_PATTERN = re.compile(r"^(?P<modality>[A-Za-z0-9_]+):(?P<kind>[a-z]+)(?:@(?P<level>-?[0-9.eE+-]+))?$")


@dataclass(frozen=True)
class Corruption:
    """One corruption of one modality (see the module docstring for the meaning of each kind)."""

    modality: str
    kind: str
    level: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"corruption kind {self.kind!r} of {self.modality!r}; use one of {list(KINDS)}")
        if self.kind in ("noise", "snr") and self.level is None:
            raise ValueError(f"corruption '{self.modality}:{self.kind}' needs a level, e.g. "
                             f"'{self.modality}:{self.kind}@0.5'")
        if self.kind == "noise" and not 0.0 <= float(self.level) <= 1.0:
            raise ValueError(f"noise level {self.level} for {self.modality!r} is outside [0, 1]")

    @property
    def name(self) -> str:
        """Column-friendly name: ``audio_drop``, ``image_noise0.5``, ``audio_snr0``."""
        level = "" if self.level is None else f"{self.level:g}"
        return f"{self.modality}_{self.kind}{level}"


@dataclass(frozen=True)
class Condition:
    """A named test condition: no corruption (``clean``) or several applied together."""

    corruptions: tuple[Corruption, ...] = ()

    @property
    def name(self) -> str:
        return "+".join(c.name for c in self.corruptions) or "clean"

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``"clean"`` or ``"audio:drop+image:noise@0.5"``."""
        text = str(text).strip()
        if text == "clean":
            return cls()
        parts = []
        for part in text.split("+"):
            m = _PATTERN.match(part.strip())
            if not m:
                raise ValueError(
                    f"test condition {text!r} is not understood; write 'clean' or "
                    "'<modality>:<drop|zero|noise@level|snr@dB>', joined by '+'"
                )
            level = m.group("level")
            parts.append(Corruption(m.group("modality"), m.group("kind"), None if level is None else float(level)))
        return cls(tuple(parts))


def apply_condition(
    batch: dict[str, Tensor],
    condition: Condition,
    specs: dict[str, ModalitySpec],
    generator: torch.Generator,
    stats: dict[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """Return a corrupted copy of ``batch`` (the input is never modified).

    Args:
        batch: a batch dict.
        condition: what to apply.
        specs: modality specs (kind decides how noise acts).
        generator: seeded generator, so a condition gives the same corruption every run.
        stats: per-modality feature standard deviation of the clean split (defaults to the batch's).
    """
    out = dict(batch)
    for c in condition.corruptions:
        if c.modality not in specs:
            raise KeyError(f"test condition {condition.name!r} corrupts {c.modality!r}, which is not one of "
                           f"data.modalities {sorted(specs)}; fix data.test_conditions")
        if c.modality not in out:
            continue
        x = out[c.modality]
        spec = specs[c.modality]
        if c.kind == "drop":
            n = x.shape[0]
            del out[c.modality]
            out.pop(f"{c.modality}_lengths", None)
            out[f"{c.modality}_present"] = torch.zeros(n, dtype=torch.bool, device=x.device)
        elif c.kind == "zero":
            out[c.modality] = torch.zeros_like(x)
        elif c.kind == "noise":
            std = None if stats is None else stats.get(c.modality)
            out[c.modality] = _noise(x, spec, float(c.level), generator, std)
        else:
            out[c.modality] = _snr(x, spec, float(c.level), generator, out.get(f"{c.modality}_lengths"))
    return out


def _randn(shape, generator: torch.Generator, device) -> Tensor:
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def _noise(x: Tensor, spec: ModalitySpec, level: float, generator: torch.Generator, std: Tensor | None) -> Tensor:
    if spec.kind == "tokens":
        replace = torch.rand(x.shape, generator=generator, device=generator.device).to(x.device) < level
        random = torch.randint(1, len(spec.vocab), x.shape, generator=generator, device=generator.device).to(x.device)
        return torch.where(replace & (x != 0), random, x)
    if std is None:
        std = x.float().std(dim=0)
    return (1.0 - level) * x + level * std.to(x.device) * _randn(x.shape, generator, x.device)


def _snr(x: Tensor, spec: ModalitySpec, snr_db: float, generator: torch.Generator, lengths: Tensor | None) -> Tensor:
    if not spec.log_mel:
        raise ValueError(f"'snr' corruption needs a log-mel sequence; {spec.name!r} is a {spec.kind} "
                         "without log_mel=True. Use '<modality>:noise@level' instead")
    power = x.exp()
    n, t = x.shape[0], x.shape[1]
    valid = torch.ones(n, t, dtype=torch.bool, device=x.device)
    if lengths is not None:
        valid = valid_mask(lengths, t)
    mean_power = (power * valid[..., None]).sum(dim=(1, 2)) / (valid.sum(1) * x.shape[2]).clamp_min(1)
    noise_power = mean_power / (10.0 ** (snr_db / 10.0))
    chi2 = _randn(x.shape, generator, x.device) ** 2 + _randn(x.shape, generator, x.device) ** 2
    noisy = (power + noise_power[:, None, None] * chi2 / 2.0).log()
    return torch.where(valid[..., None], noisy, x)
