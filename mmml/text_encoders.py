"""Text encoders for free text (token ids of :class:`mmml.tokenizer.WordTokenizer`): a Transformer and CBOW.

The two text towers of CLIP's experiments (Radford et al. 2021, Sec. 2.3-2.4): a Transformer with
masked (causal) self-attention whose features at the ``<eos>`` token, layer-normalised, are the text's
representation (Vaswani et al. 2017; Radford et al. 2019), and the bag-of-words baseline of their
Fig. 2, here a continuous bag of words (the mean of learned word embeddings, Mikolov et al. 2013).

``build_text_encoder(spec, out_dim, kind)`` sizes one from a token modality's spec.

Examples:
    >>> from mmml.data.spec import ModalitySpec
    >>> spec = ModalitySpec("caption", "tokens", (6,), vocab=("<pad>", "<unk>", "<bos>", "<eos>", "a", "b"))
    >>> ids, lengths = torch.tensor([[4, 5, 3, 0, 0, 0]]), torch.tensor([3])
    >>> [tuple(build_text_encoder(spec, 8, k)(ids, lengths).shape) for k in TEXT_ENCODERS]
    [(1, 8), (1, 8)]
"""

from __future__ import annotations

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


TEXT_ENCODERS = {"transformer": TransformerTextEncoder, "cbow": CBOWTextEncoder}


def build_text_encoder(spec: ModalitySpec, out_dim: int, kind: str = "transformer", **kwargs) -> nn.Module:
    """A text encoder of ``kind`` (``transformer`` or ``cbow``) for the token modality ``spec``."""
    if spec.kind != "tokens":
        raise ValueError(f"a text encoder reads token ids, but modality {spec.name!r} is a {spec.kind}; "
                         "name the data set's caption modality (model.net.text)")
    if kind not in TEXT_ENCODERS:
        raise ValueError(f"text encoder {kind!r} is unknown; choose one of {list(TEXT_ENCODERS)} "
                         "(model.net.text_encoder.kind)")
    return TEXT_ENCODERS[kind](spec, out_dim, **kwargs)
