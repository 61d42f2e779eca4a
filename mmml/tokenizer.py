"""A word tokenizer mmml owns: free text to ids and back, over a :class:`mmml.data.text.Vocab`.

Text is normalised (lower case, words and punctuation split apart, whitespace collapsed), so that
``decode(encode(text)) == normalize(text)`` for any text whose words are in the vocabulary: the
round trip that captions, prompts and retrieval queries rely on. Encoded rows end with ``<eos>``,
whose position a Transformer text encoder reads (CLIP reads the features at its end-of-text token,
Radford et al. 2021, Sec. 2.4).

Examples:
    >>> tok = WordTokenizer.from_texts(["a thick seven, slanted."])
    >>> ids, lengths = tok.encode(["A  thick seven , slanted."])
    >>> lengths.tolist(), tok.decode(ids[0])
    ([7], 'a thick seven, slanted.')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from mmml.data.text import EOS_ID, Vocab

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_NO_SPACE_BEFORE = set(",.;:!?)")


def split_words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks of ``text``, in order.

    Examples:
        >>> split_words("The number 7, written small!")
        ['the', 'number', '7', ',', 'written', 'small', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__} ({text!r})")
    return _TOKEN.findall(text.lower())


def join_words(words: Sequence[str]) -> str:
    """The inverse of :func:`split_words` on normalised text: words joined by spaces, no space before punctuation."""
    out = ""
    for w in words:
        out += w if (not out or w in _NO_SPACE_BEFORE) else " " + w
    return out


def normalize(text: str) -> str:
    """The normal form the tokenizer round-trips to: ``join_words(split_words(text))``."""
    return join_words(split_words(text))


class WordTokenizer:
    """Words and punctuation to ids (``<pad>`` 0, ``<unk>`` 1, then the words), each row ending in ``<eos>``.

    Args:
        words: the vocabulary (any order; duplicates dropped, kept in first-seen order).
        max_length: padded length of :meth:`encode` rows, ``<eos>`` included (longer text is cut,
            keeping its ``<eos>``).
    """

    def __init__(self, words: Iterable[str], max_length: int = 32) -> None:
        if int(max_length) < 2:
            raise ValueError(f"max_length={max_length}; use at least 2 (one word and <eos>)")
        self.vocab = Vocab(words)
        self.max_length = int(max_length)

    @classmethod
    def from_texts(cls, texts: Iterable[str], max_length: int = 32) -> WordTokenizer:
        """A tokenizer whose vocabulary is every word of ``texts``, sorted."""
        return cls(sorted({w for t in texts for w in split_words(t)}), max_length)

    @classmethod
    def from_vocab(cls, tokens: Sequence[str], max_length: int) -> WordTokenizer:
        """The tokenizer of a token modality's ``spec.vocab`` (specials first, as :class:`Vocab` orders them)."""
        return cls(tokens, max_length)

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.vocab.tokens

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, texts: Sequence[str] | str) -> tuple[Tensor, Tensor]:
        """``(ids (N, max_length) long, lengths (N,) long)``; unknown words become ``<unk>`` with a warning."""
        if isinstance(texts, str):
            texts = [texts]
        rows = [split_words(t)[: self.max_length - 1] for t in texts]
        ids, lengths = self.vocab.encode(rows, max_length=self.max_length)
        ids[torch.arange(len(rows)), lengths] = EOS_ID
        return ids, lengths + 1

    def decode(self, ids: Iterable[int]) -> str:
        """Normalised text of one id row (stops at ``<eos>``, drops padding)."""
        return join_words(self.vocab.decode(ids))
