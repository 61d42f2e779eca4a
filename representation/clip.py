"""CLIP: contrastive pre-training of an image (or audio) encoder and a text encoder on free text.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021,
Fig. 3's pseudocode: each tower's features go through a linear projection (no bias) into one
space, are L2-normalised, and the symmetric cross-entropy over the batch's cosine similarities,
scaled by a learned temperature (``logit_scale``, initialised to ``log(1 / 0.07)`` and clipped at 100),
is the loss (:func:`mmml.coordinated.info_nce`). The batch's ``label`` is never read.

The input tower is the data set's encoder for its modality (:class:`mmml.encoders.EncoderBank`); the
text tower a Transformer or CBOW (:mod:`mmml.text_encoders`) over the caption's word ids.

Examples:
    >>> from mmml.data.spec import ModalitySpec
    >>> specs = {"image": ModalitySpec("image", "image", (1, 8, 8)),
    ...          "caption": ModalitySpec("caption", "tokens", (5,), vocab=("<pad>", "<unk>", "<bos>", "<eos>", "a"))}
    >>> net = CLIP(specs, dim=4, width=8, text_encoder="cbow")
    >>> batch = {"image": torch.rand(3, 1, 8, 8), "caption": torch.tensor([[4, 3, 0, 0, 0]] * 3),
    ...          "caption_lengths": torch.tensor([2, 2, 2])}
    >>> net.loss(batch).shape, net.embed(batch)["image"].shape
    (torch.Size([]), torch.Size([3, 4]))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmml.coordinated import info_nce
from mmml.data.spec import ModalitySpec
from mmml.encoders import EncoderBank
from mmml.text_encoders import build_text_encoder
from mmml.tokenizer import WordTokenizer

MAX_LOGIT_SCALE = math.log(100.0)


class CLIP(nn.Module):
    """Image-or-audio encoder and text encoder, linear projections, a learned temperature, symmetric InfoNCE.

    Args:
        specs: the data set's modality specs. modality: the input tower's modality (default: the first
            that is not tokens). text: the caption modality (token ids). dim: the joint space's size.
        width: output size of each tower before its projection. encoder: options of the input encoder
            (:class:`mmml.encoders.EncoderBank`). text_encoder: ``"transformer"`` or ``"cbow"``
            (:mod:`mmml.text_encoders`); text_options: its other keyword arguments (``layers``, ``heads``).
        temperature: initial temperature (CLIP: 0.07). learn_temperature: learn it (else fixed).

    Shapes: ``embed(batch) -> {modality: (B, dim), text: (B, dim)}`` unit vectors (either may be absent
    when the batch lacks it); ``loss(batch) -> ()``; :meth:`encode_text` ``(list of str) -> (N, dim)``.
    """

    family = "coordinated"

    def __init__(self, specs: Mapping[str, ModalitySpec], modality: str | None = None, text: str = "caption",
                 dim: int = 32, width: int = 64, encoder: Mapping[str, Mapping] | None = None,
                 text_encoder: str = "transformer", text_options: Mapping | None = None, temperature: float = 0.07,
                 learn_temperature: bool = True) -> None:
        super().__init__()
        if text not in specs or specs[text].kind != "tokens":
            raise ValueError(f"model.net.text={text!r} must name a token modality of the data set; it serves "
                             f"{ {m: s.kind for m, s in specs.items()} } (use a captioned data set, e.g. "
                             "data=captioned_digits)")
        if modality is None:
            others = [m for m, s in specs.items() if s.kind != "tokens"]
            if not others:
                raise ValueError(f"CLIP needs an image or audio modality beside {text!r}; the data set serves "
                                 f"{list(specs)}")
            modality = others[0]
        if modality not in specs or modality == text:
            raise ValueError(f"model.net.modality={modality!r}; choose one of {[m for m in specs if m != text]}")
        if temperature <= 0:
            raise ValueError(f"model.net.temperature={temperature}; use a positive temperature (CLIP: 0.07)")
        self.modality, self.text = modality, text
        self.modalities = [modality, text]
        self.encoders = EncoderBank(specs, width, [modality], encoder)
        self.text_encoder = build_text_encoder(specs[text], width, text_encoder, width=width,
                                               **dict(text_options or {}))
        self.project = nn.Linear(width, dim, bias=False)
        self.project_text = nn.Linear(width, dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)), requires_grad=learn_temperature)
        self.tokenizer = WordTokenizer.from_vocab(specs[text].vocab, specs[text].shape[0])

    def scale(self) -> Tensor:
        """The clipped logit scale ``exp(logit_scale)``, at most 100 (CLIP Sec. 2.5)."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()

    def embed_input(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Unit-norm ``(B, dim)`` embeddings of the batch's image or audio."""
        return F.normalize(self.project(self.encoders.encode(batch, self.modality)), dim=-1)

    def embed_tokens(self, ids: Tensor, lengths: Tensor | None) -> Tensor:
        """Unit-norm ``(N, dim)`` embeddings of token ids."""
        return F.normalize(self.project_text(self.text_encoder(ids, lengths)), dim=-1)

    def encode_text(self, texts: Sequence[str]) -> Tensor:
        """Unit-norm ``(N, dim)`` embeddings of free text (tokenised with the data set's vocabulary)."""
        ids, lengths = self.tokenizer.encode(list(texts))
        dev = self.logit_scale.device
        return self.embed_tokens(ids.to(dev), lengths.to(dev))

    def embed(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = {}
        if self.modality in batch:
            out[self.modality] = self.embed_input(batch)
        if self.text in batch:
            out[self.text] = self.embed_tokens(batch[self.text], batch.get(f"{self.text}_lengths"))
        return out

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.embed(batch)

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Symmetric InfoNCE of the batch's (input, caption) pairs; reads neither ``label`` nor anything else."""
        x = self.embed_input(batch)
        t = self.embed_tokens(batch[self.text], batch.get(f"{self.text}_lengths"))
        return info_nce(x, t, logit_scale=self.logit_scale.clamp(max=MAX_LOGIT_SCALE), normalize=False)
