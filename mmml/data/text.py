"""Token vocabularies for text modalities (characters or words), with padding and unknown ids."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
#: ids of the special tokens, the same in every :class:`Vocab` (the first ids, in the order of ``SPECIALS``)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = (SPECIALS.index(t) for t in (PAD, UNK, BOS, EOS))

DIGIT_WORDS_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_WORDS_FR = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")


class Vocab:
    """A fixed vocabulary: the specials first (``PAD_ID`` 0 padding, ``UNK_ID`` 1 unknown, ``BOS_ID`` 2
    begin, ``EOS_ID`` 3 end), then the given tokens.

    Examples:
        >>> (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
        (0, 1, 2, 3)
        >>> v = Vocab(["a", "b"])
        >>> v.encode([["a", "b"], ["b"]])[0].tolist()
        [[4, 5], [5, 0]]
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        seen = [t for t in dict.fromkeys(tokens) if t not in SPECIALS]
        self.tokens: tuple[str, ...] = SPECIALS + tuple(seen)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def bos_id(self) -> int:
        return BOS_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID

    def ids(self, seq: Sequence[str], warn: bool = True) -> list[int]:
        """Ids of a token sequence; unknown tokens map to ``<unk>`` with a warning, never a crash."""
        out = [self.index.get(t, UNK_ID) for t in seq]
        if warn and UNK_ID in out:
            unknown = sorted({t for t in seq if t not in self.index})
            warnings.warn(f"tokens {unknown} are not in the vocabulary; mapped to {UNK}", stacklevel=2)
        return out

    def encode(self, seqs: Sequence[Sequence[str]], max_length: int | None = None) -> tuple[Tensor, Tensor]:
        """Pad token sequences into ``(ids (N, L) long, lengths (N,) long)``; longer ones are cut."""
        rows = [self.ids(s) for s in seqs]
        length = max_length or max((len(r) for r in rows), default=1)
        ids = torch.zeros(len(rows), max(length, 1), dtype=torch.long)
        lengths = torch.zeros(len(rows), dtype=torch.long)
        for i, r in enumerate(rows):
            r = r[:length]
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            lengths[i] = len(r)
        return ids, lengths

    def decode(self, ids: Iterable[int], strip: bool = True) -> list[str]:
        """Tokens of an id sequence; stops at ``<eos>`` and drops specials when ``strip``."""
        out = []
        for i in ids:
            i = int(i)
            if strip and i == self.eos_id:
                break
            if strip and i < len(SPECIALS):
                continue
            out.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        return out
