"""A classifier from label text: prompt templates, prompt ensembling, zero-shot prediction by cosine similarity.

Radford et al. 2021, Fig. 1 (2) and (3), Sec. 3.1.2-3.1.4: each class name is put into every prompt
template (``"a handwritten {}."``), the prompts go through the text encoder, and the class's weight
is the mean of the L2-normalised prompt embeddings, normalised again (prompt ensembling in embedding
space, as CLIP's ``zeroshot_classifier``). An input is classified by ``scale * cos(input, class)``.

:class:`ZeroShotClassifier` works for any coordinated text-X model: it takes a function from a list of
strings to text embeddings (``CLIP.encode_text``, or :func:`text_embedder` for a model with
``embed(batch)`` over a token modality, such as :class:`mmml.representation.ContrastiveEmbedding`).

Examples:
    >>> table = {"a cat": torch.tensor([1.0, 0.0]), "a dog": torch.tensor([0.0, 1.0])}
    >>> clf = ZeroShotClassifier(lambda ts: torch.stack([table[t] for t in ts]), ["cat", "dog"], ["a {}"])
    >>> clf(torch.tensor([[0.9, 0.1], [0.2, 0.8]])).argmax(1).tolist()
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmml.data.captions import fill


def ensemble_weights(embed_text: Callable[[list[str]], Tensor], class_names: Sequence[str],
                     templates: Sequence[str]) -> Tensor:
    """``(C, d)`` unit class weights: per class, the normalised mean of its normalised prompt embeddings."""
    if not class_names:
        raise ValueError("class_names is empty; give the names of the classes to tell apart")
    if not templates or any("{}" not in t for t in templates):
        raise ValueError(f"prompt templates {list(templates)} must be non-empty, each with one '{{}}' for the name")
    prompts = [fill(t, name) for name in class_names for t in templates]
    emb = F.normalize(embed_text(prompts).float(), dim=-1).reshape(len(class_names), len(templates), -1)
    return F.normalize(emb.mean(1), dim=-1)


class ZeroShotClassifier(nn.Module):
    """Logits over arbitrary class names from a text encoder: ``scale * normalize(x) @ W.T`` (CLIP Sec. 3.1.2).

    Args:
        embed_text: ``list[str] -> (N, d)`` text embeddings of the coordinated model.
        class_names: the classes, in label order. templates: prompt templates with ``{}``.
        scale: the logit scale (CLIP's learned ``exp(logit_scale)``; the argmax does not depend on it).

    Shapes: ``forward(x (B, d)) -> (B, C)``.
    """

    def __init__(self, embed_text: Callable[[list[str]], Tensor], class_names: Sequence[str],
                 templates: Sequence[str], scale: float = 1.0) -> None:
        super().__init__()
        with torch.no_grad():
            self.register_buffer("weights", ensemble_weights(embed_text, class_names, templates))
        self.class_names, self.templates, self.scale = list(class_names), list(templates), float(scale)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.weights.shape[1]:
            raise ValueError(f"inputs have {x.shape[-1]} features, the text embeddings {self.weights.shape[1]}; "
                             "embed the inputs with the same coordinated model")
        return self.scale * F.normalize(x.float(), dim=-1) @ self.weights.to(x.device).T


def text_embedder(model: nn.Module, text: str, tokenize: Callable[[list[str]], tuple[Tensor, Tensor]]
                  ) -> Callable[[list[str]], Tensor]:
    """``list[str] -> (N, d)`` for a model whose ``embed(batch)`` maps the token modality ``text`` into its space.

    The model's other modalities are marked absent (``<m>_present`` False), as a dropped modality is.
    """
    def embed(texts: list[str]) -> Tensor:
        ids, lengths = tokenize(texts)
        dev = next(model.parameters()).device
        batch: dict[str, Tensor] = {text: ids.to(dev), f"{text}_lengths": lengths.to(dev)}
        for m in getattr(model, "modalities", ()):  # the model's other modalities: absent on purpose
            if m != text:
                batch[f"{m}_present"] = torch.zeros(len(texts), dtype=torch.bool, device=dev)
        return model.embed(batch)[text]
    return embed
