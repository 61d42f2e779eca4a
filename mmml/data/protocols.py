"""Split protocols of the FSDD-based data sets (``data.split``): official, held-out speakers, leave-one-out.

FSDD's official split (recording index 0-4 in test) puts every speaker in train and test, so a score on
it is speaker-*dependent*. ``speakers`` holds whole speakers out (``data.test_speakers``,
``data.val_speakers``); ``logo`` is leave-one-speaker-out (one test speaker, validation by the rule below),
the protocol to rotate over speakers (Hastie et al., *Elements of Statistical Learning*, Sec. 7.10 on
cross-validation with grouped data: a group must not straddle a split).

Rules:

- ``official``: test = recording index 0-4 of every speaker and digit; validation = index 5-9
  (``official_val="index"``) or drawn by ``seed`` from the rest (``official_val="draw"``, ``fsdd``).
- ``speakers``: test = every recording of ``test_speakers``; validation = every recording of
  ``val_speakers``; train = the other speakers. ``val_speakers: null`` applies the rotation rule.
- ``logo``: exactly one test speaker; validation is the rotation rule's speaker (``val_speakers`` must be
  left null).
- Rotation rule: validation is the first speaker after the last test speaker in the sorted list of the
  speakers present, cyclically, skipping test speakers (george -> jackson -> nicolas -> theo -> yweweler
  -> george for the public FSDD).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SPLIT_PROTOCOLS = ("official", "speakers", "logo")
TRAIN, VAL, TEST, DRAW = 0, 1, 2, -1
OFFICIAL_TEST_MAX_INDEX = 4  # FSDD: index 0-4 of each speaker and digit are the official test files
OFFICIAL_VAL_MAX_INDEX = 9   # mmml: index 5-9 are validation where a data set fixes it at build time


class SpeakerProtocol:
    """``data.split`` with its speakers, validated; :meth:`assign` gives each recording its split.

    Args:
        split: ``"official"``, ``"speakers"`` or ``"logo"``.
        test_speakers: held-out test speakers (``speakers``: one or more; ``logo``: exactly one).
        val_speakers: held-out validation speakers (``speakers`` only; ``None``: the rotation rule).
        official_val: ``"index"`` (index 5-9 validate) or ``"draw"`` (validation drawn later by ``seed``).

    Examples:
        >>> p = SpeakerProtocol("logo", test_speakers=["theo"])
        >>> p.resolve(["george", "jackson", "nicolas", "theo", "yweweler"])
        (['theo'], ['yweweler'])
        >>> p.assign(np.array(["theo", "george", "yweweler"]), np.array([0, 7, 30]),
        ...          ["george", "jackson", "nicolas", "theo", "yweweler"]).tolist()
        [2, 0, 1]
    """

    def __init__(self, split: str = "official", test_speakers: Sequence[str] | None = ("theo",),
                 val_speakers: Sequence[str] | None = None, official_val: str = "index") -> None:
        if split not in SPLIT_PROTOCOLS:
            raise ValueError(f"data.split={split!r}; use one of {list(SPLIT_PROTOCOLS)} (official: FSDD's "
                             "index 0-4 in test; speakers: held-out data.test_speakers/val_speakers; "
                             "logo: leave one speaker out)")
        if official_val not in ("index", "draw"):
            raise ValueError(f"official_val={official_val!r}; use 'index' or 'draw'")
        self.split, self.official_val = split, official_val
        self.test_speakers = _names(test_speakers, "data.test_speakers")
        self.val_speakers = None if val_speakers is None else _names(val_speakers, "data.val_speakers")
        if split == "official":
            return
        if not self.test_speakers:
            raise ValueError(f"data.split={split} needs data.test_speakers (e.g. [theo]); it is empty")
        if split == "logo":
            if len(self.test_speakers) != 1:
                raise ValueError(f"data.split=logo holds out one speaker; data.test_speakers="
                                 f"{self.test_speakers} names {len(self.test_speakers)}; give one, or use "
                                 "data.split=speakers")
            if self.val_speakers is not None:
                raise ValueError(f"data.split=logo picks the validation speaker by its rotation rule; leave "
                                 f"data.val_speakers null (it is {self.val_speakers}) or use data.split=speakers")
        if self.val_speakers is not None and not self.val_speakers:
            raise ValueError("data.val_speakers=[] leaves validation without a speaker (its images and strings would "
                             "share the training pools); name one, or leave it null for the rotation rule")
        if self.val_speakers is not None and set(self.val_speakers) & set(self.test_speakers):
            raise ValueError(f"data.val_speakers {self.val_speakers} and data.test_speakers {self.test_speakers} "
                             "overlap; a speaker can be in one held-out split only")

    def resolve(self, known: Sequence[str]) -> tuple[list[str], list[str]]:
        """``(test_speakers, val_speakers)`` among the ``known`` speakers (empty lists for ``official``)."""
        if self.split == "official":
            return [], []
        known = sorted(set(known))
        for what, names in (("data.test_speakers", self.test_speakers), ("data.val_speakers", self.val_speakers)):
            unknown = [s for s in names or [] if s not in known]
            if unknown:
                raise ValueError(f"{what} names {unknown}, who are not among the speakers read: {known} "
                                 "(data.speakers restricts them)")
        val = list(self.val_speakers) if self.val_speakers is not None else rotation_val(known, self.test_speakers)
        if not set(known) - set(self.test_speakers) - set(val):
            raise ValueError(f"data.split={self.split}: test {self.test_speakers} and validation {val} leave no "
                             f"training speaker among {known}; hold out fewer speakers")
        return list(self.test_speakers), val

    def assign(self, speakers: np.ndarray, index: np.ndarray, known: Sequence[str]) -> np.ndarray:
        """Split code of each recording (0 train, 1 val, 2 test, -1: validation to draw by ``seed``)."""
        speakers, index = np.asarray(speakers), np.asarray(index)
        if self.split == "official":
            out = np.where(index <= OFFICIAL_TEST_MAX_INDEX, TEST, TRAIN)
            if self.official_val == "index":
                out[(index > OFFICIAL_TEST_MAX_INDEX) & (index <= OFFICIAL_VAL_MAX_INDEX)] = VAL
            return out.astype(np.int64)
        test, val = self.resolve(known)
        out = np.full(len(speakers), TRAIN, dtype=np.int64)
        out[np.isin(speakers, val)] = VAL
        out[np.isin(speakers, test)] = TEST
        return out

    def describe(self, known: Sequence[str]) -> dict[str, Any]:
        """The protocol as recorded in a result (``record["protocol"]``)."""
        if self.split == "official":
            val = ("recording index 5-9" if self.official_val == "index"
                   else "drawn by seed from index 5-49 (data.val_fraction)")
            return {"split": "official", "test": "recording index 0-4", "val": val,
                    "test_speakers": sorted(set(known)), "val_speakers": sorted(set(known)),
                    "speakers_overlap": True}
        test, val = self.resolve(known)
        return {"split": self.split, "test": f"every recording of {', '.join(test)}",
                "val": f"every recording of {', '.join(val)}", "test_speakers": test, "val_speakers": val,
                "train_speakers": sorted(set(known) - set(test) - set(val)), "speakers_overlap": False}

    def params(self) -> dict[str, Any]:
        """What keys a feature cache built under this protocol."""
        return {"split": self.split, "test": self.test_speakers, "val": self.val_speakers,
                "official_val": self.official_val}


def rotation_val(known: Sequence[str], test: Sequence[str]) -> list[str]:
    """The rotation rule: the first speaker after the last test speaker (sorted, cyclic), skipping test ones."""
    known = sorted(set(known))
    if not test:
        raise ValueError("the rotation rule needs at least one test speaker")
    start = max(known.index(s) for s in test)
    for k in range(1, len(known)):
        cand = known[(start + k) % len(known)]
        if cand not in test:
            return [cand]
    raise ValueError(f"data.test_speakers {list(test)} are every speaker read ({known}); none is left to "
                     "validate or train on")


def _names(value: Sequence[str] | str | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    out = [str(v) for v in value]
    if len(set(out)) != len(out):
        raise ValueError(f"{what}={out} repeats a speaker")
    return out
