"""Text encoders for free text (token ids of :class:`mmml.tokenizer.WordTokenizer`): a Transformer and CBOW.

The two text towers of CLIP's experiments (Radford et al. 2021, Sec. 2.3-2.4): a Transformer with
masked (causal) self-attention whose features at the ``<eos>`` token, layer-normalised, are the text's
representation (Vaswani et al. 2017; Radford et al. 2019), and the bag-of-words baseline of their
Fig. 2, here a continuous bag of words (the mean of learned word embeddings, Mikolov et al. 2013).
A third, :class:`PretrainedWordVectors`, is a frozen pretrained sentence encoder read from a local
file in word2vec format (Mikolov et al. 2013; fastText's ``.vec`` files are the same format): the mean
of the pretrained vectors of a text's words, then a trained linear layer, as DeViSE's frozen text side
(Frome et al. 2013).

``build_text_encoder(spec, out_dim, kind)`` sizes one from a token modality's spec.

Examples:
    >>> from mmml.data.spec import ModalitySpec
    >>> spec = ModalitySpec("caption", "tokens", (6,), vocab=("<pad>", "<unk>", "<bos>", "<eos>", "a", "b"))
    >>> ids, lengths = torch.tensor([[4, 5, 3, 0, 0, 0]]), torch.tensor([3])
    >>> [tuple(build_text_encoder(spec, 8, k)(ids, lengths).shape) for k in ("transformer", "cbow")]
    [(1, 8), (1, 8)]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from mmml.data.sequences import masked_mean
from mmml.data.spec import ModalitySpec
from mmml.data.text import PAD_ID


def _valid(ids: Tensor, lengths: Tensor | None) -> Tensor:
    if lengths is None:
        return ids != PAD_ID
    return torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]


class TransformerTextEncoder(nn.Module):
    """Causal Transformer over tokens; the layer-normalised features at the last token (``<eos>``), projected.

    Columns after the batch's longest text are dropped before the layers: they are padding, which the
    key-padding mask hides and causal attention never lets an earlier token see.

    Args:
        spec: the token modality (vocabulary size, padded length). out_dim: output size.
        width: model width. layers, heads: Transformer depth and attention heads. dropout: in the layers.

    Shapes: ``forward(ids (B, L), lengths (B,)) -> (B, out_dim)``.
    """

    def __init__(self, spec: ModalitySpec, out_dim: int, width: int = 64, layers: int = 2, heads: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"text encoder width={width} is not divisible by heads={heads}; choose e.g. "
                             f"width={heads * max(1, width // heads)}")
        self.token = nn.Embedding(spec.feature_dim, width, padding_idx=PAD_ID)
        self.position = nn.Parameter(torch.randn(spec.shape[0], width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, out_dim)

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        ids = ids.long()
        length = ids.shape[1]
        if length > self.position.shape[0]:
            raise ValueError(f"text of {length} tokens, but this encoder was sized for {self.position.shape[0]} "
                             "(the token modality's padded length); encode with the data set's tokenizer")
        valid = _valid(ids, lengths)
        used = max(1, int(valid.sum(1).max()))  # trailing padding is masked anyway: drop it (causal, so exact)
        ids, valid, length = ids[:, :used], valid[:, :used], used
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=ids.device), 1)
        h = self.token(ids) + self.position[:length]
        h = self.blocks(h, mask=causal, src_key_padding_mask=~valid)
        last = (valid.sum(1) - 1).clamp_min(0)
        return self.head(self.norm(h[torch.arange(len(ids), device=ids.device), last]))


class CBOWTextEncoder(nn.Module):
    """Continuous bag of words: the mean of the word embeddings of the valid tokens, then a linear layer.

    Shapes: ``forward(ids (B, L), lengths (B,)) -> (B, out_dim)``.
    """

    def __init__(self, spec: ModalitySpec, out_dim: int, width: int = 64) -> None:
        super().__init__()
        self.token = nn.Embedding(spec.feature_dim, width, padding_idx=PAD_ID)
        self.head = nn.Linear(width, out_dim)

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        valid = _valid(ids.long(), lengths)
        return self.head(masked_mean(self.token(ids.long()), valid.sum(1)))


def load_word_vectors(path: str | Path, binary: bool | None = None) -> tuple[list[str], np.ndarray]:
    """``(words, vectors (V, D) float32)`` of a word2vec-format file (a ``V D`` header line, then one word
    and its ``D`` values per entry: as text, or as ``D`` little-endian float32 when ``binary``; default:
    binary for a ``.bin`` file)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"word vectors {path} not found; give the path of a word2vec-format file "
                                "(model.net.text_options.path)")
    binary = path.suffix == ".bin" if binary is None else bool(binary)
    with open(path, "rb") as f:
        header = f.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise ValueError(f"{path} does not start with a word2vec header '<words> <dimensions>'; got {header!r}")
        n, dim = int(header[0]), int(header[1])
        words, rows = [], np.empty((n, dim), dtype=np.float32)
        for i in range(n):
            if binary:
                word = b""
                while (ch := f.read(1)) not in (b" ", b""):
                    word += ch
                rows[i] = np.frombuffer(f.read(4 * dim), dtype="<f4")
                words.append(word.decode("utf-8", errors="replace").lstrip("\n"))
            else:
                parts = f.readline().rstrip(b"\n").split(b" ")
                if len(parts) < dim + 1:
                    raise ValueError(f"{path}, entry {i + 1}: {len(parts) - 1} values, the header says {dim}")
                words.append(parts[0].decode("utf-8", errors="replace"))
                rows[i] = np.asarray(parts[1:dim + 1], dtype=np.float32)
    return words, rows


class PretrainedWordVectors(nn.Module):
    """A frozen pretrained sentence encoder: the mean of pretrained word vectors of the valid tokens, then a
    trained linear layer.

    The vectors (:func:`load_word_vectors`) are a buffer, never trained. A token takes the vector of the same
    word, or else of the file's first word equal to it ignoring case; tokens without one (``<eos>``, unknown
    words) are left out of the mean.

    Args:
        spec: the token modality (its ``vocab`` is matched to the file's words). out_dim: output size.
        path: the word2vec-format file. binary: its format (default: by suffix).
        width: unused (the vectors' size is the file's); accepted so :class:`mmml.representation.CLIP` can
            size any text tower alike.

    Shapes: ``forward(ids (B, L), lengths (B,)) -> (B, out_dim)``.
    """

    def __init__(self, spec: ModalitySpec, out_dim: int, path: str | Path | None = None, binary: bool | None = None,
                 width: int | None = None) -> None:
        super().__init__()
        if path is None:
            raise ValueError("the pretrained text encoder needs the path of its word vectors "
                             "(model.net.text_options.path=...)")
        words, vectors = load_word_vectors(path, binary)
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            index.setdefault(w, i)
        lowered: dict[str, int] = {}
        for i, w in enumerate(words):
            lowered.setdefault(w.lower(), i)
        table = np.zeros((len(spec.vocab), vectors.shape[1]), dtype=np.float32)
        known = np.zeros(len(spec.vocab), dtype=bool)
        for t, token in enumerate(spec.vocab):
            i = index.get(token, lowered.get(token.lower()))
            if i is not None:
                table[t], known[t] = vectors[i], True
        if not known.any():
            raise ValueError(f"none of the {len(spec.vocab)} words of {spec.name!r} is in {path}; use word vectors "
                             "of the data set's language")
        self.register_buffer("vectors", torch.from_numpy(table))
        self.register_buffer("known", torch.from_numpy(known))
        #: share of the vocabulary that has a pretrained vector
        self.coverage = float(known.mean())
        self.head = nn.Linear(vectors.shape[1], out_dim)

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        ids = ids.long()
        use = _valid(ids, lengths) & self.known[ids]
        total = (self.vectors[ids] * use[..., None]).sum(1)
        return self.head(total / use.sum(1, keepdim=True).clamp_min(1))


TEXT_ENCODERS = {"transformer": TransformerTextEncoder, "cbow": CBOWTextEncoder, "pretrained": PretrainedWordVectors}


def build_text_encoder(spec: ModalitySpec, out_dim: int, kind: str = "transformer", **kwargs) -> nn.Module:
    """A text encoder of ``kind`` (``transformer``, ``cbow`` or ``pretrained``) for the token modality ``spec``."""
    if spec.kind != "tokens":
        raise ValueError(f"a text encoder reads token ids, but modality {spec.name!r} is a {spec.kind}; "
                         "name the data set's caption modality (model.net.text)")
    if kind not in TEXT_ENCODERS:
        raise ValueError(f"text encoder {kind!r} is unknown; choose one of {list(TEXT_ENCODERS)} "
                         "(model.net.text_encoder.kind)")
    return TEXT_ENCODERS[kind](spec, out_dim, **kwargs)
