"""Multimodal deep belief network (Srivastava & Salakhutdinov, "Multimodal Learning with Deep Boltzmann
Machines", NIPS 2012 / JMLR 2014; its DBN variant, Sec. 3), trained layer-wise by contrastive divergence.

Each modality has a pathway of RBMs (the first with Gaussian visible units of unit variance for
real-valued inputs, standardised with train statistics, or Bernoulli units for one-hot tokens), and a
joint RBM sits on the concatenated top layers. A missing modality is inferred in the joint RBM by
alternating updates of the joint layer and the missing pathway's top layer with the observed one
clamped: mean field (probabilities) or Gibbs sampling, averaging the conditional means over the
second half of the chain (Srivastava & Salakhutdinov, Sec. 4.2).
Training is not by gradient descent on a loss, so the model has ``fit(train_split)`` and no ``loss``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from mmml.representation.base import JointModel, choose_modalities
from mmml.representation.joint import keep_mask
from mmml.representation.views import vector_view, view_dim
from torch import Tensor, nn

from mmml.data.spec import ModalitySpec

VISIBLE = ("bernoulli", "gaussian")


class RBM(nn.Module):
    """RBM: Bernoulli hidden units; Bernoulli or unit-variance Gaussian visible units.

    Energy ``E(v, h) = -b'v - c'h - v'Wh`` (Bernoulli visible) or ``||v - b||^2 / 2 - c'h - v'Wh``
    (Gaussian visible); trained by CD-k (Hinton, "Training Products of Experts by Minimizing Contrastive
    Divergence", 2002; "A Practical Guide to Training RBMs", 2010): hidden states sampled, visible
    reconstructions as means, momentum and weight decay.

    Args:
        n_visible, n_hidden: layer sizes. visible: ``"bernoulli"`` or ``"gaussian"``.

    Shapes: ``hidden_probs(v (B, n_visible)) -> (B, n_hidden)``; ``visible_mean(h) -> (B, n_visible)``.

    Examples:
        >>> rbm = RBM(6, 3)
        >>> rbm.hidden_probs(torch.zeros(2, 6)).shape
        torch.Size([2, 3])
    """

    def __init__(self, n_visible: int, n_hidden: int, visible: str = "bernoulli") -> None:
        super().__init__()
        if visible not in VISIBLE:
            raise ValueError(f"visible={visible!r}; choose one of {list(VISIBLE)}")
        self.visible = visible
        self.weight = nn.Parameter(0.01 * torch.randn(n_visible, n_hidden))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))

    def hidden_probs(self, v: Tensor) -> Tensor:
        return torch.sigmoid(v @ self.weight + self.hidden_bias)

    def visible_mean(self, h: Tensor) -> Tensor:
        pre = h @ self.weight.T + self.visible_bias
        return pre if self.visible == "gaussian" else torch.sigmoid(pre)

    def free_energy(self, v: Tensor) -> Tensor:
        """``F(v) = -log sum_h exp(-E(v, h))``, ``(B,)``."""
        hidden = F.softplus(v @ self.weight + self.hidden_bias).sum(1)
        if self.visible == "gaussian":
            return 0.5 * ((v - self.visible_bias) ** 2).sum(1) - hidden
        return -(v @ self.visible_bias) - hidden

    def reconstruction_error(self, v: Tensor) -> float:
        """Mean squared error of the one-step mean reconstruction ``E[v | E[h | v]]``."""
        with torch.no_grad():
            return float(((v - self.visible_mean(self.hidden_probs(v))) ** 2).mean())

    @torch.no_grad()
    def fit(self, v: Tensor, epochs: int = 10, batch_size: int = 64, lr: float = 0.01, k: int = 1,
            momentum: float = 0.5, weight_decay: float = 1e-4,
            generator: torch.Generator | None = None) -> RBM:
        """Train by CD-``k`` on the rows of ``v`` (mini-batches in a seeded random order)."""
        if v.dim() != 2 or v.shape[1] != self.weight.shape[0]:
            raise ValueError(f"RBM with {self.weight.shape[0]} visible units got data of shape "
                             f"{tuple(v.shape)}")
        if k < 1 or epochs < 1:
            raise ValueError(f"k={k}, epochs={epochs}; both must be >= 1")
        velocity = [torch.zeros_like(p) for p in (self.weight, self.visible_bias, self.hidden_bias)]
        for _ in range(epochs):
            device = generator.device if generator is not None else "cpu"
            order = torch.randperm(v.shape[0], generator=generator, device=device)
            for start in range(0, v.shape[0], batch_size):
                v0 = v[order[start : start + batch_size].to(v.device)]
                ph0 = self.hidden_probs(v0)
                pk, vk = ph0, v0
                for _ in range(k):
                    h = torch.bernoulli(pk, generator=generator)
                    vk = self.visible_mean(h)
                    pk = self.hidden_probs(vk)
                n = v0.shape[0]
                grads = ((v0.T @ ph0 - vk.T @ pk) / n - weight_decay * self.weight,
                         (v0 - vk).mean(0), (ph0 - pk).mean(0))
                params = (self.weight, self.visible_bias, self.hidden_bias)
                for p, vel, g in zip(params, velocity, grads, strict=True):
                    vel.mul_(momentum).add_(lr * g)
                    p.add_(vel)
        return self


class MultimodalDBN(JointModel):
    """Multimodal DBN: an RBM pathway per modality under a joint RBM, trained greedily by CD.

    Srivastava & Salakhutdinov, "Multimodal Learning with Deep Boltzmann Machines", JMLR 2014 (the
    multimodal DBN of its Sec. 3; layer-wise pretraining as Hinton et al. 2006).

    Args:
        specs: modality specs. modalities: default all served. hidden: sizes of each pathway's
            layers. joint: size of the joint layer. epochs, batch_size, lr, k: CD training (``lr`` is
            divided by 10 for Gaussian-visible layers, as the practical guide advises). sequence: view
            of sequences (see :mod:`mmml.representation.views`). inference: ``"mean_field"`` or ``"gibbs"``
            for a missing modality; steps: its number of alternating updates.

    Shapes: ``fuse(batch) -> (B, joint)`` joint-layer probabilities. ``fit(train_split) -> self``.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], modalities: list[str] | None = None,
                 hidden: tuple[int, ...] = (64,), joint: int = 64, epochs: int = 10, batch_size: int = 64,
                 lr: float = 0.05, k: int = 1, sequence: str = "stats", inference: str = "mean_field",
                 steps: int = 10) -> None:
        super().__init__()
        if inference not in ("mean_field", "gibbs"):
            raise ValueError(f"inference={inference!r}; choose 'mean_field' or 'gibbs'")
        self.modalities = choose_modalities(specs, modalities)
        self.specs = {m: specs[m] for m in self.modalities}
        self.sequence, self.inference, self.steps = sequence, inference, int(steps)
        self.train_options = {"epochs": int(epochs), "batch_size": int(batch_size), "k": int(k)}
        self.lr = float(lr)
        self.pathways = nn.ModuleDict()
        for m, spec in self.specs.items():
            sizes = [view_dim(spec, sequence), *hidden]
            kind = "bernoulli" if spec.kind == "tokens" else "gaussian"
            layers = zip(sizes[:-1], sizes[1:], strict=True)
            self.pathways[m] = nn.ModuleList(
                [RBM(a, b, kind if i == 0 else "bernoulli") for i, (a, b) in enumerate(layers)])
            self.register_buffer(f"mean_{m}", torch.zeros(sizes[0]))
            self.register_buffer(f"std_{m}", torch.ones(sizes[0]))
        self.top = [hidden[-1]] * len(self.modalities)
        self.joint = RBM(sum(self.top), joint)

    def _input(self, batch: Mapping[str, Tensor], m: str) -> Tensor:
        v = vector_view(batch, self.specs[m], self.sequence)
        if self.specs[m].kind == "tokens":
            return v
        return (v - getattr(self, f"mean_{m}")) / getattr(self, f"std_{m}")

    def _up(self, m: str, v: Tensor) -> Tensor:
        for rbm in self.pathways[m]:
            v = rbm.hidden_probs(v)
        return v

    @torch.no_grad()
    def fit(self, train_split: Mapping[str, Tensor]) -> MultimodalDBN:
        """Greedy layer-wise CD training on the whole train split (the training contract's ``fit``)."""
        device = self.joint.weight.device
        g = torch.Generator(device=device).manual_seed(int(torch.randint(2**31 - 1, (1,))))
        tops = []
        for m in self.modalities:
            v = vector_view(train_split, self.specs[m], self.sequence).to(device)
            if self.specs[m].kind != "tokens":
                getattr(self, f"mean_{m}").copy_(v.mean(0))
                getattr(self, f"std_{m}").copy_(v.std(0).clamp_min(1e-6))
                v = self._input(train_split, m).to(device)
            for rbm in self.pathways[m]:
                lr = self.lr / 10 if rbm.visible == "gaussian" else self.lr
                rbm.fit(v, lr=lr, generator=g, **self.train_options)
                v = rbm.hidden_probs(v)
            tops.append(v)
        self.joint.fit(torch.cat(tops, 1), lr=self.lr, generator=g, **self.train_options)
        return self

    @torch.no_grad()
    def top_layers(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Every pathway's top layer ``(B, sum of top sizes)``, a missing one inferred in the joint RBM."""
        mask = keep_mask(batch, self.modalities)  # (B, M)
        n, device = mask.shape[0], mask.device
        parts = [self._up(m, self._input(batch, m)) if m in batch else torch.full((n, d), 0.5, device=device)
                 for m, d in zip(self.modalities, self.top, strict=True)]
        observed = torch.cat([mask[:, i : i + 1].expand(-1, d) for i, d in enumerate(self.top)], 1)
        tops = torch.cat(parts, 1)
        clamped = tops * observed
        g = torch.Generator(device=device).manual_seed(0)
        gibbs = self.inference == "gibbs"
        average, count = torch.zeros_like(tops), 0
        for step in range(self.steps if (observed < 1).any() else 0):
            h = self.joint.hidden_probs(tops)
            guess = self.joint.visible_mean(torch.bernoulli(h, generator=g) if gibbs else h)
            if gibbs:  # average the conditional means over the second half of the chain, go on from a sample
                if step >= self.steps // 2:
                    average, count = average + guess, count + 1
                guess = torch.bernoulli(guess, generator=g)
            tops = clamped + guess * (1 - observed)
        if count:
            tops = clamped + average / count * (1 - observed)
        return tops

    def fuse(self, batch: Mapping[str, Tensor]) -> Tensor:
        with torch.no_grad():
            return self.joint.hidden_probs(self.top_layers(batch))
