"""Canonical time warping: alternate CCA projections and DTW, to align sequences of different modalities.

References: F. Zhou and F. De la Torre, "Canonical Time Warping for Alignment of Human Behavior",
NIPS 2009 (linear projections); G. Trigeorgis, M. Nicolaou, S. Zafeiriou and B. Schuller, "Deep
Canonical Time Warping", CVPR 2016 (the projections are networks trained with the deep-CCA
objective of Andrew et al., ICML 2013).

Both start from the uniform (linear) warping, then repeat: fit the projections on the frame pairs
the current paths align (a frame warped onto several counts several times), and re-align with DTW
in the projected space, until the DTW cost stops decreasing. The two sequences may have different
feature sizes. Several pairs can be fitted at once; they share the projections.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from torch import Tensor, nn

from mmml.coordinated import canonical_weights, dcca_correlation

from .dynamic_time_warping import dtw

__all__ = ["CanonicalTimeWarping", "DeepCanonicalTimeWarping", "cca", "dcca_loss", "uniform_path"]


def uniform_path(n: int, m: int) -> np.ndarray:
    """The linear warping path of an n-frame and an m-frame sequence, (max(n, m), 2), from (0, 0) to (n-1, m-1)."""
    steps = max(n, m)
    t = np.arange(steps) / max(steps - 1, 1)
    return np.stack([np.rint(t * (n - 1)), np.rint(t * (m - 1))], 1).astype(np.int64)


def cca(a: Tensor, b: Tensor, n_components: int, reg: float = 1e-6) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form (ridge) CCA of paired rows (Hotelling 1936), as CTW uses it.

    :func:`mmml.coordinated.canonical_weights` (Cholesky whitening) with the ridge relative to each view's
    mean variance, so that it does not depend on the features' units.

    Args:
        a: (P, dx) and b: (P, dy) observations, row p of ``a`` paired with row p of ``b``.
        n_components: number of canonical pairs, <= min(dx, dy).
        reg: ridge on each covariance, relative to its mean variance.

    Returns:
        ``(wa (dx, k), wb (dy, k), corr (k,))``: ``a @ wa`` and ``b @ wb`` (centred) have unit variance and
        correlations ``corr`` in decreasing order.

    Examples:
        >>> g = torch.Generator().manual_seed(0); z = torch.randn(200, 1, generator=g, dtype=torch.float64)
        >>> a = torch.cat([z, torch.randn(200, 2, generator=g, dtype=torch.float64)], 1)
        >>> wa, wb, corr = cca(a - a.mean(0), 2 * z - (2 * z).mean(0), 1)
        >>> round(float(corr[0]), 4)
        1.0
    """
    return canonical_weights(a, b, n_components, reg, relative_reg=True)


def _as_list(data, name: str) -> list[Tensor]:
    seqs = [data] if isinstance(data, (np.ndarray, Tensor)) else list(data)
    out = []
    for i, s in enumerate(seqs):
        t = torch.as_tensor(np.asarray(s) if not isinstance(s, Tensor) else s.detach().cpu()).to(torch.float64)
        if t.dim() == 1:
            t = t[:, None]
        if t.dim() != 2:
            raise ValueError(f"{name}[{i}] has shape {tuple(t.shape)}; each sequence must be (frames, features)")
        if t.shape[0] == 0:
            raise ValueError(f"{name}[{i}] is an empty sequence (0 frames); drop it before aligning")
        out.append(t)
    if not out:
        raise ValueError(f"{name} holds no sequence")
    if len({t.shape[1] for t in out}) > 1:
        raise ValueError(f"the sequences in {name} have different feature sizes {sorted({t.shape[1] for t in out})}")
    return out


def _pad(seqs: list[Tensor]) -> tuple[Tensor, list[int]]:
    lengths = [s.shape[0] for s in seqs]
    return nn.utils.rnn.pad_sequence(seqs, batch_first=True), lengths


def _align(px: list[Tensor], py: list[Tensor], window: int | None, step_pattern: str):
    """Batched DTW between projected sequences: (total cost, paths as numpy arrays)."""
    x, xl = _pad(px)
    y, yl = _pad(py)
    cost, paths = dtw(x, y, xl, yl, window=window, step_pattern=step_pattern, return_path=True)
    return float(cost.sum()), [p.numpy() for p in paths]


def _pairs(xs: list[Tensor], ys: list[Tensor], paths: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    a = torch.cat([x[torch.as_tensor(p[:, 0])] for x, p in zip(xs, paths, strict=True)])
    b = torch.cat([y[torch.as_tensor(p[:, 1])] for y, p in zip(ys, paths, strict=True)])
    return a, b


def _check_pairs(xs: list[Tensor], ys: list[Tensor]) -> None:
    if len(xs) != len(ys):
        raise ValueError(f"X holds {len(xs)} sequences but Y holds {len(ys)}; pass one Y sequence per X sequence")


class CanonicalTimeWarping(BaseEstimator):
    """Canonical time warping (Zhou & De la Torre, NIPS 2009): CCA projections + DTW, alternated.

    Args:
        n_components: canonical dimensions used for warping (default: min(dx, dy)).
        reg: CCA ridge, relative to the mean variance.
        max_iter: most alternations; tol: stop when the relative decrease of the DTW cost is below it.
        window, step_pattern: passed to :func:`mmml.alignment.dynamic_time_warping.dtw`.

    ``fit(X, Y)`` takes one pair, X (Nx, dx) and Y (Ny, dy), or lists of pairs sharing projections.
    Learned: ``x_weights_`` (dx, k), ``y_weights_`` (dy, k), ``x_mean_``, ``y_mean_``,
    ``correlations_`` (k,), ``paths_`` (one (L, 2) array per pair), ``costs_`` (DTW cost per
    iteration), ``n_iter_`` (the iteration whose fit is kept: the lowest DTW cost). Like the paper's
    alternation it finds a local optimum near the uniform warping it starts from.

    Examples:
        >>> t = np.linspace(0, 1, 60); z = np.sin(6 * t)
        >>> X = np.stack([z, -z], 1); Y = 3 * np.sin(6 * t ** 1.5)[:, None]
        >>> ctw = CanonicalTimeWarping().fit(X, Y)
        >>> ctw.x_weights_.shape, ctw.paths_[0][-1].tolist()
        ((2, 1), [59, 59])
    """

    def __init__(self, n_components: int | None = None, reg: float = 1e-3, max_iter: int = 20,
                 tol: float = 1e-4, window: int | None = None, step_pattern: str = "symmetric1") -> None:
        self.n_components = n_components
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.window = window
        self.step_pattern = step_pattern

    def fit(self, X, Y) -> CanonicalTimeWarping:
        xs, ys = _as_list(X, "X"), _as_list(Y, "Y")
        _check_pairs(xs, ys)
        dx, dy = xs[0].shape[1], ys[0].shape[1]
        k = self.n_components or min(dx, dy)
        if not 1 <= k <= min(dx, dy):
            raise ValueError(f"n_components={k} must lie in 1..min(dx, dy) = {min(dx, dy)} (dx={dx}, dy={dy})")
        paths = [uniform_path(x.shape[0], y.shape[0]) for x, y in zip(xs, ys, strict=True)]
        self.costs_: list[float] = []
        best = None
        for it in range(1, self.max_iter + 1):
            a, b = _pairs(xs, ys, paths)
            mx, my = a.mean(0), b.mean(0)
            wx, wy, corr = cca(a - mx, b - my, k, self.reg)
            cost, new_paths = _align([(x - mx) @ wx for x in xs], [(y - my) @ wy for y in ys],
                                     self.window, self.step_pattern)
            prev = self.costs_[-1] if self.costs_ else None
            self.costs_.append(cost)
            if best is None or cost <= best[0]:  # the alternation need not decrease monotonically: keep the best
                best = (cost, mx, my, wx, wy, corr, new_paths, it)
            same = all(p.shape == q.shape and (p == q).all() for p, q in zip(paths, new_paths, strict=True))
            paths = new_paths
            if same or (prev is not None and abs(prev - cost) <= self.tol * abs(prev)):
                break
        _, mx, my, wx, wy, corr, self.paths_, self.n_iter_ = best
        self.x_mean_, self.y_mean_ = mx.numpy(), my.numpy()
        self.x_weights_, self.y_weights_, self.correlations_ = wx.numpy(), wy.numpy(), corr.numpy()
        return self

    def transform(self, X, Y) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Project sequences into the shared canonical space: lists of (N, k) and (M, k) arrays."""
        xs, ys = _as_list(X, "X"), _as_list(Y, "Y")
        wx, wy = torch.as_tensor(self.x_weights_), torch.as_tensor(self.y_weights_)
        mx, my = torch.as_tensor(self.x_mean_), torch.as_tensor(self.y_mean_)
        return [((x - mx) @ wx).numpy() for x in xs], [((y - my) @ wy).numpy() for y in ys]

    def align(self, X, Y) -> list[np.ndarray]:
        """Warping paths of new pairs under the learned projections, one (L, 2) array per pair."""
        px, py = self.transform(X, Y)
        _check_pairs(px, py)
        return _align([torch.as_tensor(p) for p in px], [torch.as_tensor(p) for p in py],
                      self.window, self.step_pattern)[1]


def _mlp(d_in: int, hidden: Sequence[int], d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.Tanh()]
        d_in = h
    layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


def dcca_loss(h1: Tensor, h2: Tensor, reg: float = 1e-3) -> Tensor:
    """Negative total canonical correlation of two views (Andrew et al., 2013), (P, k1) and (P, k2) -> scalar.

    :func:`mmml.coordinated.dcca_correlation` with the ridge relative to each view's mean variance; its
    Cholesky whitening keeps the gradient finite when the outputs' covariance has repeated eigenvalues.
    """
    return -dcca_correlation(h1, h2, reg=reg, relative_reg=True)


class DeepCanonicalTimeWarping(nn.Module):
    """Deep canonical time warping (Trigeorgis et al., CVPR 2016): MLP projections + DTW, alternated.

    Each alternation trains the two MLPs for ``epochs`` full-batch Adam steps on the deep-CCA
    objective over the currently aligned frame pairs, fits a linear CCA on their outputs, and
    re-aligns with DTW on the canonical variates.

    Args:
        x_features, y_features: feature sizes of the two modalities (may differ).
        n_components: output size of each network (the canonical dimensions).
        hidden: hidden layer sizes; reg: covariance ridge; lr, epochs: optimiser settings per alternation.
        max_iter, tol, window, step_pattern: as :class:`CanonicalTimeWarping`; random_state seeds the networks.
        init: first paths, ``"ctw"`` (linear CTW's, default) or ``"uniform"`` (the paper's). Networks fitted
            to a single short pair can make a wrong alignment look highly correlated; starting from
            linear CTW and keeping ``epochs`` small limits that drift.

    Shapes: ``forward(x (N, dx), y (M, dy)) -> (N, k), (M, k)``; ``fit(X, Y)`` takes one pair or lists;
    ``align(X, Y)`` returns one (L, 2) path per pair; ``paths_`` holds the fitted pairs' paths.

    Examples:
        >>> t = np.linspace(0, 1, 50); z = np.sin(6 * t)
        >>> X = np.stack([z, z ** 2], 1); Y = np.tanh(2 * np.sin(6 * t ** 1.3))[:, None]
        >>> m = DeepCanonicalTimeWarping(2, 1, n_components=1, max_iter=2, epochs=20, random_state=0).fit(X, Y)
        >>> m.paths_[0][-1].tolist()
        [49, 49]
    """

    def __init__(self, x_features: int, y_features: int, n_components: int = 2, hidden: Sequence[int] = (32,),
                 reg: float = 1e-3, lr: float = 1e-2, epochs: int = 100, max_iter: int = 10, tol: float = 1e-4,
                 window: int | None = None, step_pattern: str = "symmetric1", init: str = "ctw",
                 random_state: int | None = None):
        super().__init__()
        if init not in ("ctw", "uniform"):
            raise ValueError(f"init={init!r} is not supported; choose 'ctw' (linear CTW's paths) or 'uniform'")
        seed = check_random_state(random_state).randint(2**31 - 1)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.f = _mlp(x_features, hidden, n_components).double()
            self.g = _mlp(y_features, hidden, n_components).double()
        self.x_features, self.y_features, self.n_components = x_features, y_features, n_components
        self.reg, self.lr, self.epochs, self.max_iter, self.tol = reg, lr, epochs, max_iter, tol
        self.window, self.step_pattern, self.init = window, step_pattern, init

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.f(x), self.g(y)

    def _canonical(self, xs: list[Tensor], ys: list[Tensor], paths: list[np.ndarray]):
        with torch.no_grad():
            hx, hy = [self.f(x) for x in xs], [self.g(y) for y in ys]
            a, b = _pairs(hx, hy, paths)
            mx, my = a.mean(0), b.mean(0)
            wx, wy, corr = cca(a - mx, b - my, self.n_components, self.reg)
        return (mx, wx, my, wy, corr), hx, hy

    def fit(self, X, Y) -> DeepCanonicalTimeWarping:
        xs, ys = _as_list(X, "X"), _as_list(Y, "Y")
        _check_pairs(xs, ys)
        if xs[0].shape[1] != self.x_features or ys[0].shape[1] != self.y_features:
            raise ValueError(
                f"X has {xs[0].shape[1]} and Y has {ys[0].shape[1]} features but the model was built for "
                f"x_features={self.x_features}, y_features={self.y_features}"
            )
        if self.init == "ctw":
            k = min(self.n_components, self.x_features, self.y_features)
            paths = CanonicalTimeWarping(k, self.reg, window=self.window, step_pattern=self.step_pattern).fit(
                xs, ys).paths_
        else:
            paths = [uniform_path(x.shape[0], y.shape[0]) for x, y in zip(xs, ys, strict=True)]
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        self.costs_: list[float] = []
        best = None
        for it in range(1, self.max_iter + 1):
            a, b = _pairs(xs, ys, paths)
            for _ in range(self.epochs):
                opt.zero_grad()
                loss = dcca_loss(self.f(a), self.g(b), self.reg)
                loss.backward()
                opt.step()
            proj, hx, hy = self._canonical(xs, ys, paths)
            mx, wx, my, wy, corr = proj
            cost, new_paths = _align([(h - mx) @ wx for h in hx], [(h - my) @ wy for h in hy],
                                     self.window, self.step_pattern)
            prev = self.costs_[-1] if self.costs_ else None
            self.costs_.append(cost)
            if best is None or cost <= best[0]:
                best = (cost, copy.deepcopy(self.state_dict()), proj, new_paths, it)
            same = all(p.shape == q.shape and (p == q).all() for p, q in zip(paths, new_paths, strict=True))
            paths = new_paths
            if same or (prev is not None and abs(prev - cost) <= self.tol * abs(prev)):
                break
        _, state, self.projection_, self.paths_, self.n_iter_ = best
        self.load_state_dict(state)
        self.correlations_ = self.projection_[4].numpy()
        return self

    def transform(self, X, Y) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Canonical variates of sequences after the networks: lists of (N, k) and (M, k) arrays."""
        xs, ys = _as_list(X, "X"), _as_list(Y, "Y")
        mx, wx, my, wy, _ = self.projection_
        with torch.no_grad():
            return [((self.f(x) - mx) @ wx).numpy() for x in xs], [((self.g(y) - my) @ wy).numpy() for y in ys]

    def align(self, X, Y) -> list[np.ndarray]:
        """Warping paths of pairs under the learned networks, one (L, 2) array per pair."""
        px, py = self.transform(X, Y)
        _check_pairs(px, py)
        return _align([torch.as_tensor(p) for p in px], [torch.as_tensor(p) for p in py],
                      self.window, self.step_pattern)[1]
