"""Joint representations (Baltrusaitis et al. 2017, Sec. 3.1): one space for every modality.

- :class:`ConcatJoint`: unimodal encoders, concatenated, then a supervised MLP; its last hidden layer
  is the representation (the simplest joint network of the survey's Fig. 2a).
- :class:`MultimodalAutoencoder`: the bimodal deep autoencoder of Ngiam et al. 2011, trained with
  examples whose input keeps a single modality but which reconstruct every modality.
- :class:`ProductOfExpertsVAE`: the multimodal VAE of Wu & Goodman 2018, one Gaussian expert per
  modality combined with the prior by a product of experts, trained on the joint and unimodal ELBOs.
- The multimodal DBN (Srivastava & Salakhutdinov 2012) is :class:`mmml.representation.dbn.MultimodalDBN`.

A missing modality (absent from the batch, or ``<m>_present`` False for an example) is handled by
each model's own inference: zeroed features for the two networks, left out of the product for the VAE.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from mmml.representation.base import JointModel, ModalityEncoders, choose_modalities
from mmml.representation.decoders import ModalityDecoder, reconstruction_loss
from torch import Tensor, nn

from mmml.data.contract import batch_size, present_mask
from mmml.data.spec import ModalitySpec
from mmml.data.targets import check_target
from mmml.encoders import mlp
from mmml.tasks.targets import target_loss


def keep_mask(batch: Mapping[str, Tensor], modalities: list[str], drop_to_one: float = 0.0,
              training: bool = False) -> Tensor:
    """``(B, M)`` float mask of the modalities each example keeps.

    Observed modalities are kept; during training, with probability ``drop_to_one`` an example keeps
    only one of them, drawn uniformly (Ngiam et al. 2011's single-modality training examples).
    """
    n = batch_size(batch)
    device = batch["label"].device if "label" in batch else next(iter(batch.values())).device
    mask = torch.stack([present_mask(batch, m).to(device) if m in batch else
                        torch.zeros(n, dtype=torch.bool, device=device) for m in modalities], 1).float()
    if training and drop_to_one > 0:
        choice = F.one_hot(torch.multinomial(mask.clamp_min(1e-6), 1).squeeze(1), len(modalities)).float()
        alone = (torch.rand(n, 1, device=device) < drop_to_one).float()
        mask = alone * choice * mask + (1 - alone) * mask
    return mask


def _masked_concat(feats: Mapping[str, Tensor], modalities: list[str], mask: Tensor, dim: int) -> Tensor:
    zeros = mask.new_zeros(mask.shape[0], dim)
    return torch.cat([feats.get(m, zeros) * mask[:, i : i + 1] for i, m in enumerate(modalities)], dim=1)


class ConcatJoint(JointModel):
    """Supervised joint network: concatenated unimodal features -> MLP -> representation -> classes.

    Baltrusaitis et al. 2017, Sec. 3.1 (neural joint representation trained on the end task).

    Args:
        specs: modality specs. num_classes: classes (injected). modalities: default all served.
        dim: representation size. hidden: encoder width. modality_dropout: probability that a
            training example keeps one modality only. encoder: encoder options
            by modality or kind (:class:`mmml.encoders.EncoderBank`). target_type: the data set's
            (injected); a regression or multi-label target trains with that target's loss
            (:func:`mmml.tasks.targets.target_loss`).

    Shapes: ``fuse(batch) -> (B, dim)``; ``loss(batch) -> ()`` cross-entropy of the labels.

    Examples:
        >>> specs = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,))}
        >>> net = ConcatJoint(specs, num_classes=2, dim=4, hidden=8)
        >>> net.fuse({"a": torch.zeros(5, 3), "b_present": torch.zeros(5, dtype=torch.bool)}).shape
        torch.Size([5, 4])
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], num_classes: int,
                 modalities: list[str] | None = None, dim: int = 32, hidden: int = 64,
                 modality_dropout: float = 0.0,
                 encoder: Mapping[str, Mapping] | None = None, target_type: str = "classification") -> None:
        super().__init__()
        self.modalities = choose_modalities(specs, modalities)
        self.hidden, self.modality_dropout = hidden, modality_dropout
        self.target_type = check_target(target_type)
        self.front = ModalityEncoders(specs, hidden, self.modalities, encoder)
        self.body = mlp([hidden * len(self.modalities), hidden, dim], last_activation=True)
        self.head = nn.Linear(dim, num_classes)

    def fuse(self, batch: Mapping[str, Tensor]) -> Tensor:
        mask = keep_mask(batch, self.modalities, self.modality_dropout, self.training)
        return self.body(_masked_concat(self.front(batch), self.modalities, mask, self.hidden))

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        return target_loss(self.target_type, self.head(self.fuse(batch)), batch["label"])


class MultimodalAutoencoder(JointModel):
    """Bimodal deep autoencoder (Ngiam, Khosla, Kim, Nam, Lee & Ng, "Multimodal Deep Learning", ICML 2011).

    Unimodal encoders feed a shared layer (the representation) that decoders map back to every
    modality. Training examples keep a single modality with probability ``modality_dropout``
    (Ngiam's 2/3: one third both, one third each alone) yet reconstruct all of them, so the shared
    layer learns to infer a missing modality. Dropped modalities are zeroed at the encoder output.

    Args:
        specs: modality specs. modalities: default all served. dim: shared-layer size. hidden:
            encoder and decoder width. modality_dropout: see above. encoder: encoder
            options (:class:`mmml.encoders.EncoderBank`).
            sequence_target: what a sequence's decoder reconstructs, ``"frames"`` or ``"stats"``
            (per-feature mean and std, see :mod:`mmml.representation.decoders`).

    Shapes: ``fuse(batch) -> (B, dim)``; ``loss(batch) -> ()`` mean reconstruction error.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None = None, dim: int = 32,
                 hidden: int = 64, modality_dropout: float = 2 / 3,
                 encoder: Mapping[str, Mapping] | None = None, sequence_target: str = "frames") -> None:
        super().__init__()
        self.modalities = choose_modalities(specs, modalities)
        self.hidden, self.modality_dropout = hidden, modality_dropout
        self.front = ModalityEncoders(specs, hidden, self.modalities, encoder)
        self.shared = nn.Sequential(nn.Linear(hidden * len(self.modalities), dim), nn.ReLU())
        self.decoders = nn.ModuleDict({m: ModalityDecoder(specs[m], dim, hidden, sequence_target)
                                       for m in self.modalities})

    def fuse(self, batch: Mapping[str, Tensor]) -> Tensor:
        mask = keep_mask(batch, self.modalities, self.modality_dropout, self.training)
        return self.shared(_masked_concat(self.front(batch), self.modalities, mask, self.hidden))

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        return reconstruction_loss(self.decoders, self.fuse(batch), batch, self.modalities).mean()


def product_of_experts(mu: Tensor, logvar: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Product of Gaussian experts and a standard normal prior expert (Wu & Goodman 2018, Eq. 4).

    Args:
        mu, logvar: ``(K, B, d)`` means and log-variances of ``K`` experts. mask: ``(K, B)``, 0 for
            an expert that is absent (its modality is missing).

    Returns:
        ``(mu, logvar)`` of the product, ``(B, d)``: precision-weighted mean, summed precision.
    """
    precision = torch.exp(-logvar)
    if mask is not None:
        precision = precision * mask[..., None].to(precision.dtype)
    total = 1.0 + precision.sum(0)  # the prior expert N(0, I) has precision 1 and mean 0
    mean = (mu * precision).sum(0) / total
    return mean, -torch.log(total)


class ProductOfExpertsVAE(JointModel):
    """Multimodal VAE with a product-of-experts posterior (Wu & Goodman, "Multimodal Generative Models
    for Scalable Weakly-Supervised Learning", NeurIPS 2018).

    Each modality's encoder gives a Gaussian expert ``q(z | x_m)``; the posterior of any subset is
    their product with the prior (:func:`product_of_experts`), so a missing modality is simply left
    out. The loss is the negative ELBO of all modalities plus that of each modality alone (the paper's
    sub-sampled training), each ELBO reconstructing the modalities it conditions on; ``beta`` weighs
    the KL term (reconstructions are averaged per element, see :mod:`mmml.representation.decoders`).

    Args:
        specs: modality specs. modalities: default all served. dim: latent size. hidden: encoder
            and decoder width. beta: KL weight. encoder: encoder options
            by modality or kind (:class:`mmml.encoders.EncoderBank`).
            sequence_target: ``"frames"`` or ``"stats"``, as :class:`MultimodalAutoencoder`.

    Shapes: ``fuse(batch) -> (B, dim)`` posterior mean; ``loss(batch) -> ()``.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None = None, dim: int = 16,
                 hidden: int = 64, beta: float = 0.01, encoder: Mapping[str, Mapping] | None = None,
                 sequence_target: str = "frames") -> None:
        super().__init__()
        self.modalities = choose_modalities(specs, modalities)
        self.dim, self.beta = dim, beta
        self.front = ModalityEncoders(specs, 2 * dim, self.modalities, encoder, hidden=hidden)
        self.decoders = nn.ModuleDict({m: ModalityDecoder(specs[m], dim, hidden, sequence_target)
                                       for m in self.modalities})

    def experts(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """``(mu, logvar, mask)``: each modality's Gaussian expert ``(M, B, dim)`` and presence ``(M, B)``."""
        feats = self.front(batch)
        mask = keep_mask(batch, self.modalities).T
        zeros = mask.new_zeros(mask.shape[1], 2 * self.dim)
        stats = torch.stack([feats.get(m, zeros) for m in self.modalities])  # (M, B, 2d)
        return stats[..., : self.dim], stats[..., self.dim :].clamp(-8.0, 8.0), mask

    def posterior(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of ``q(z | the modalities present)``, each ``(B, dim)``."""
        return product_of_experts(*self.experts(batch))

    def fuse(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.posterior(batch)[0]

    def loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        mu_m, logvar_m, mask = self.experts(batch)
        total = mu_m.new_zeros(())
        for subset in [self.modalities] + [[m] for m in self.modalities]:
            chosen = torch.tensor([m in subset for m in self.modalities], device=mask.device, dtype=mask.dtype)
            mu, logvar = product_of_experts(mu_m, logvar_m, mask * chosen[:, None])
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
            kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
            total = total + (reconstruction_loss(self.decoders, z, batch, subset) + self.beta * kl).mean()
        return total
