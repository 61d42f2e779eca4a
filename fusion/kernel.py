"""Kernel fusion (Baltrusaitis et al. 2017, Sec. 6.2): multiple kernel learning over per-view kernels.

Each view (modality) gets several kernels (linear, RBF at several widths, polynomial), computed with
torch so they run on a GPU. Their weights are learned with **EasyMKL** (Aiolli & Donini 2015,
"EasyMKL: a scalable multiple kernel learning algorithm", Neurocomputing 169): for a binary task with
labels ``y`` and the mean kernel ``K``, solve

    min_gamma (1 - lam) (y*gamma)^T K (y*gamma) + lam ||gamma||^2,  gamma >= 0, sum_pos gamma = sum_neg gamma = 1

(a distance between the convex hulls of the two classes), then weigh kernel ``r`` by
``d_r = (y*gamma)^T K_r (y*gamma)``, ``eta = d / ||d||``. Multiclass: one-vs-rest tasks, their ``eta``
averaged and normalised to sum 1. An SVM (scikit-learn ``SVC``, precomputed kernel) is then trained on
``sum_r eta_r K_r``. Baselines: ``weights="uniform"`` (the average of kernels) and ``weights="best"``
(the single kernel with the best cross-validated accuracy).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from mmml.fusion.views import check_views
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC
from torch import Tensor

from mmml.data.sequences import pooled_views

KINDS = ("linear", "rbf", "poly")
WEIGHTS = ("easymkl", "uniform", "best")


def kernel(X: Tensor, Y: Tensor, kind: str, gamma: float = 1.0, degree: int = 2, coef0: float = 1.0) -> Tensor:
    """Kernel matrix ``(n, m)`` between rows of ``X (n, d)`` and ``Y (m, d)`` (scikit-learn's definitions).

    ``linear``: ``<x, y>``; ``rbf``: ``exp(-gamma ||x - y||^2)``; ``poly``: ``(gamma <x, y> + coef0)^degree``.

    Examples:
        >>> kernel(torch.eye(2), torch.eye(2), "rbf", gamma=0.5)
        tensor([[1.0000, 0.3679],
                [0.3679, 1.0000]])
    """
    if kind == "linear":
        return X @ Y.T
    if kind == "rbf":
        sq = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * X @ Y.T
        return torch.exp(-gamma * sq.clamp_min(0.0))
    if kind == "poly":
        return (gamma * (X @ Y.T) + coef0) ** degree
    raise ValueError(f"kernel {kind!r} is unknown; choose from {list(KINDS)}")


def check_kernels(kernels: Any, name: str = "kernels") -> Tensor:
    """Stack a list of ``(n, n)`` kernel matrices into ``(R, n, n)``; errors name the offending one."""
    if isinstance(kernels, (Tensor, np.ndarray)) and np.ndim(kernels) == 2:
        kernels = [kernels]
    out = []
    for r, K in enumerate(kernels):
        K = torch.as_tensor(K, dtype=torch.float64)
        if K.dim() != 2 or K.shape[0] != K.shape[1]:
            raise ValueError(f"{name}[{r}] has shape {tuple(K.shape)}; a training kernel must be square (n, n)")
        if out and K.shape != out[0].shape:
            raise ValueError(f"{name}[{r}] has shape {tuple(K.shape)} but {name}[0] has {tuple(out[0].shape)}; "
                             "every kernel must cover the same samples")
        scale = K.abs().max().clamp_min(1e-300)
        if not torch.allclose(K, K.T, atol=1e-8 * float(scale), rtol=0):
            gap = float((K - K.T).abs().max())
            raise ValueError(f"{name}[{r}] is not symmetric (max |K - K^T| = {gap:.3g}); a kernel matrix must be "
                             "symmetric: pass K(X, X), or symmetrise with (K + K.T) / 2")
        out.append(K)
    if not out:
        raise ValueError(f"{name} is empty; give at least one (n, n) kernel matrix")
    return torch.stack(out)


def _project_two_simplices(v: Tensor, pos: Tensor) -> Tensor:
    """Euclidean projection of each row of ``v (C, n)`` onto {g >= 0, sum over pos = 1, sum over neg = 1}.

    The sort-based simplex projection of Duchi et al. 2008, applied to both groups of every row at once.
    """
    out = torch.zeros_like(v)
    for group in (pos, ~pos):
        masked = torch.where(group, v, torch.full_like(v, -1e30))
        u, order = masked.sort(dim=1, descending=True)
        in_group = group.gather(1, order)
        css = u.where(in_group, torch.zeros_like(u)).cumsum(1) - 1.0
        idx = torch.arange(1, v.shape[1] + 1, device=v.device, dtype=v.dtype)[None, :]
        ok = (u - css / idx > 0) & in_group
        rho = ok.sum(1, keepdim=True).clamp_min(1)
        theta = css.gather(1, rho - 1) / rho.to(v.dtype)
        out = torch.where(group, (v - theta).clamp_min(0.0), out)
    return out


def easymkl_gamma(K: Tensor, Y: Tensor, lam: float = 0.1, max_iter: int = 1000, tol: float = 1e-4) -> Tensor:
    """Solve EasyMKL's problem for every column of ``Y (n, C)`` (labels +-1) with kernel ``K (n, n)``.

    Accelerated projected gradient (FISTA, Beck & Teboulle 2009) over the two simplices, stopped when
    no entry of ``gamma`` moves by more than ``tol`` times the largest entry; returns ``gamma (C, n)``.
    """
    if not 0.0 < lam <= 1.0:
        raise ValueError(f"EasyMKL lam={lam}; use a value in (0, 1] (0.1 is usual)")
    Yt = Y.T.to(K.dtype)  # (C, n)
    pos = Yt > 0
    if (pos.sum(1) == 0).any() or ((~pos).sum(1) == 0).any():
        raise ValueError("EasyMKL needs both classes in every one-vs-rest task; each class needs a sample and "
                         "so does the rest")
    counts = torch.where(pos, pos.sum(1, keepdim=True), (~pos).sum(1, keepdim=True)).to(K.dtype)

    def centre(u: Tensor) -> Tensor:  # onto directions that keep both group sums (the feasible set's span)
        mean_pos = (u * pos).sum(1, keepdim=True) / pos.sum(1, keepdim=True)
        mean_neg = (u * ~pos).sum(1, keepdim=True) / (~pos).sum(1, keepdim=True)
        return u - torch.where(pos, mean_pos, mean_neg)

    g = torch.Generator(device="cpu").manual_seed(0)
    v = centre(torch.randn(Yt.shape, generator=g, dtype=K.dtype).to(K.device))
    top = torch.ones(Yt.shape[0], 1, dtype=K.dtype, device=K.device)
    for _ in range(60):  # power iteration for the curvature along feasible directions
        w = centre(Yt * ((Yt * v) @ K))
        top = w.norm(dim=1, keepdim=True)
        v = w / top.clamp_min(1e-300)
    step = 1.0 / (2.0 * ((1.0 - lam) * 1.05 * top + lam))
    gamma = 1.0 / counts
    z, t = gamma.clone(), 1.0
    for _ in range(int(max_iter)):
        grad = 2.0 * (1.0 - lam) * Yt * ((Yt * z) @ K) + 2.0 * lam * z
        new = _project_two_simplices(z - step * grad, pos)
        t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        z = new + ((t - 1.0) / t_new) * (new - gamma)
        done = float((new - gamma).abs().max()) <= tol * float(new.abs().max())
        gamma, t = new, t_new
        if done:
            break
    return gamma


def easymkl_weights(kernels: Any, y: Any, lam: float = 0.1, **solver: Any) -> Tensor:
    """EasyMKL kernel weights ``(R,)`` (non-negative, sum 1) for kernels ``(R, n, n)`` and labels ``(n,)``.

    Examples:
        >>> X = torch.randn(20, 2, dtype=torch.float64); y = (X[:, 0] > 0).long()
        >>> w = easymkl_weights([kernel(X[:, :1], X[:, :1], "linear"), kernel(X[:, 1:], X[:, 1:], "linear")], y)
        >>> bool(w[0] > w[1])
        True
    """
    Ks = check_kernels(kernels)
    y = np.asarray(y)
    if y.shape != (Ks.shape[1],):
        raise ValueError(f"labels have shape {y.shape} but the kernels cover {Ks.shape[1]} samples")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"EasyMKL needs at least two classes; the labels hold only {classes.tolist()}")
    cols = classes[1:] if len(classes) == 2 else classes
    Y = torch.as_tensor(np.stack([np.where(y == c, 1.0, -1.0) for c in cols], 1), device=Ks.device)
    gamma = easymkl_gamma(Ks.mean(0), Y, lam, **solver)  # (C, n)
    u = gamma * Y.T
    d = torch.einsum("ci,rij,cj->cr", u, Ks, u).clamp_min(0.0)  # (C, R)
    eta = (d / d.norm(dim=1, keepdim=True).clamp_min(1e-300)).mean(0)
    return eta / eta.sum()


class MultipleKernelFusion(ClassifierMixin, BaseEstimator):
    """Multiple kernel learning over per-view kernels, then an SVM on the weighted sum of kernels.

    Args:
        kernels: kinds per view, from ``linear``, ``rbf``, ``poly``. gammas: RBF widths as multiples of
            scikit-learn's ``"scale"`` (``1 / (d var(X))``). degree, coef0: polynomial kernel.
        weights: ``"easymkl"`` (learned), ``"uniform"`` (average) or ``"best"`` (single best kernel by
            ``cv``-fold accuracy). lam: EasyMKL's regularisation. C: the SVM's C.
        standardize: standardise each view with training statistics. normalize: divide each kernel by
            its mean diagonal on the training set (trace normalisation).
        max_train: fit on at most this many training samples (stratified draw; ``None``: all).
        device: where kernels are computed (default: CUDA when available). random_state: seed.

    Fitted: ``weights_`` (R,), ``kernel_names_``, ``svm_``, ``classes_``, ``n_params_``.
    A view missing at prediction time contributes its kernels' training means (the expected kernel value);
    with every view missing (``(n, 0)`` arrays from :meth:`views_from_batch`) the prediction is constant.

    Examples:
        >>> rng = np.random.default_rng(0); y = rng.integers(0, 2, 40)
        >>> Xs = [rng.normal(size=(40, 3)) + y[:, None], rng.normal(size=(40, 2))]
        >>> MultipleKernelFusion().fit(Xs, y).predict_proba(Xs).shape
        (40, 2)
    """

    def __init__(self, kernels: tuple[str, ...] | list[str] = ("linear", "rbf", "poly"),
                 gammas: tuple[float, ...] | list[float] = (0.5, 1.0, 2.0), degree: int = 2, coef0: float = 1.0,
                 weights: str = "easymkl", lam: float = 0.1, C: float = 1.0, standardize: bool = True,
                 normalize: bool = True, cv: int = 3, max_train: int | None = None, device: str | None = None,
                 random_state: int = 0) -> None:
        self.kernels, self.gammas, self.degree, self.coef0 = kernels, gammas, degree, coef0
        self.weights, self.lam, self.C, self.standardize, self.normalize = weights, lam, C, standardize, normalize
        self.cv, self.max_train, self.device, self.random_state = cv, max_train, device, random_state

    def views_from_batch(self, batch: dict[str, Tensor], modalities: list[str]) -> list[np.ndarray | None]:
        """Fixed-size views (images flattened, frame sequences pooled): :func:`mmml.data.sequences.pooled_views`.

        When every view is missing (a single-view SVM whose view is dropped) each becomes an ``(n, 0)``
        array, which :meth:`combined_kernel` treats as missing: every kernel is its training mean.
        """
        views = pooled_views(batch, modalities)
        if views and all(v is None for v in views):
            n = len(next(iter(batch.values())))
            views = [np.empty((n, 0)) for _ in views]
        return views

    def _device(self) -> torch.device:
        return torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def _specs(self, d: int, var: float) -> list[tuple[str, float]]:
        unknown = [k for k in self.kernels if k not in KINDS]
        if unknown or not self.kernels:
            raise ValueError(f"model.net.kernels={list(self.kernels)}; choose kinds from {list(KINDS)}")
        base = 1.0 / (d * var) if var > 0 else 1.0
        out = []
        for k in self.kernels:
            out += [(k, base * g) for g in self.gammas] if k == "rbf" else [(k, base)]
        return out

    def _view_kernels(self, i: int, X: Tensor, Z: Tensor) -> list[Tensor]:
        return [kernel(Z, X, kind, gamma, self.degree, self.coef0) for kind, gamma in self.specs_[i]]

    def fit(self, Xs: list, y: Any) -> MultipleKernelFusion:
        if self.weights not in WEIGHTS:
            raise ValueError(f"model.net.weights={self.weights!r}; choose one of {list(WEIGHTS)}")
        Xs = check_views(Xs, type(self).__name__)
        y = np.asarray(y)
        if y.shape[0] != Xs[0].shape[0]:
            raise ValueError(f"{len(y)} labels for {Xs[0].shape[0]} samples; give one label per sample")
        keep = self._subsample(y)
        y = y[keep]
        dev = self._device()
        self.classes_ = np.unique(y)
        self._kernel_cache = OrderedDict()
        self.train_, self.mean_, self.std_, self.specs_, self.kernel_names_ = [], [], [], [], []
        for i, X in enumerate(Xs):
            X = torch.as_tensor(X[keep], dtype=torch.float64, device=dev)
            mean = X.mean(0) if self.standardize else torch.zeros(X.shape[1], dtype=X.dtype, device=dev)
            std = X.std(0).clamp_min(1e-9) if self.standardize else torch.ones_like(mean)
            X = (X - mean) / std
            self.mean_.append(mean), self.std_.append(std), self.train_.append(X)
            self.specs_.append(self._specs(X.shape[1], float(X.var(unbiased=False))))
            self.kernel_names_ += [f"view{i}:{k}" + (f"@{g:.3g}" if k == "rbf" else "") for k, g in self.specs_[i]]
        Ks = torch.stack([K for i, X in enumerate(self.train_) for K in self._view_kernels(i, X, X)])
        Ks = (Ks + Ks.transpose(1, 2)) / 2
        self.scale_ = Ks.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-12) if self.normalize else \
            torch.ones(len(Ks), dtype=Ks.dtype, device=dev)
        Ks = Ks / self.scale_[:, None, None]
        self.col_mean_ = Ks.mean(1)  # (R, n): a missing view's expected kernel value against each train sample
        self.weights_ = self._learn_weights(Ks, y)
        K = torch.einsum("r,rij->ij", self.weights_, Ks).cpu().numpy()
        self.svm_ = SVC(kernel="precomputed", C=self.C, decision_function_shape="ovr").fit(K, y)
        self.n_params_ = int(self.svm_.dual_coef_.size + self.svm_.intercept_.size + len(self.weights_))
        return self

    def _subsample(self, y: np.ndarray) -> np.ndarray:
        if self.max_train is None or len(y) <= int(self.max_train):
            return np.arange(len(y))
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(len(y)), train_size=int(self.max_train), stratify=y,
                                   random_state=self.random_state)
        return np.sort(keep)

    def _learn_weights(self, Ks: Tensor, y: np.ndarray) -> Tensor:
        R = Ks.shape[0]
        if self.weights == "uniform" or R == 1:
            return torch.full((R,), 1.0 / R, dtype=Ks.dtype, device=Ks.device)
        if self.weights == "easymkl":
            return easymkl_weights(Ks, y, lam=self.lam)
        folds = list(StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(y, y))
        scores = []
        for r in range(R):
            K = Ks[r].cpu().numpy()
            acc = [SVC(kernel="precomputed", C=self.C).fit(K[np.ix_(a, a)], y[a]).score(K[np.ix_(b, a)], y[b])
                   for a, b in folds]
            scores.append(np.mean(acc))
        self.cv_scores_ = np.array(scores)
        w = torch.zeros(R, dtype=Ks.dtype, device=Ks.device)
        w[int(np.argmax(scores))] = 1.0
        return w

    def combined_kernel(self, Xs: list) -> np.ndarray:
        """``(n_test, n_train)`` weighted kernel between new samples and the training samples."""
        if not hasattr(self, "weights_"):
            raise RuntimeError("MultipleKernelFusion is not fitted; call fit(Xs, y) first")
        Xs = check_views(Xs, type(self).__name__, allow_missing=True)
        if len(Xs) != len(self.train_):
            raise ValueError(f"got {len(Xs)} views but the model was fitted on {len(self.train_)}")
        n = next(X.shape[0] for X in Xs if X is not None)
        K, r = None, 0
        for i, X in enumerate(Xs):
            for j, part in enumerate(self._test_kernels(i, X, n)):
                term = self.weights_[r + j] * part / self.scale_[r + j]
                K = term if K is None else K + term
            r += len(self.specs_[i])
        return K.cpu().numpy()

    def _test_kernels(self, i: int, X: np.ndarray | None, n: int) -> list[Tensor]:
        first = sum(len(s) for s in self.specs_[:i])
        if X is None or X.shape[1] == 0:  # missing (``(n, 0)``: missing with the sample count known)
            return [(self.col_mean_[first + j] * self.scale_[first + j])[None].expand(n, -1)
                    for j in range(len(self.specs_[i]))]
        if X.shape[1] != self.train_[i].shape[1]:
            raise ValueError(f"view {i} has {X.shape[1]} features but was fitted with {self.train_[i].shape[1]}")
        key = (i, X.shape, hashlib.blake2b(np.ascontiguousarray(X).tobytes(), digest_size=16).digest())
        cache = self.__dict__.setdefault("_kernel_cache", OrderedDict())
        if key not in cache:  # test conditions corrupt one view at a time: the others' kernels are reused
            Z = (torch.as_tensor(X, dtype=torch.float64, device=self.train_[i].device) - self.mean_[i]) / self.std_[i]
            cache[key] = self._view_kernels(i, self.train_[i], Z)
            while len(cache) > 2 * len(self.train_):
                cache.popitem(last=False)
        cache.move_to_end(key)
        return cache[key]

    def decision_function(self, Xs: list) -> np.ndarray:
        return self.svm_.decision_function(self.combined_kernel(Xs))

    def predict(self, Xs: list) -> np.ndarray:
        return self.svm_.predict(self.combined_kernel(Xs))

    def predict_proba(self, Xs: list) -> np.ndarray:
        """Softmax of the one-vs-rest decision values (scores for ranking, not calibrated probabilities)."""
        d = self.decision_function(Xs)
        if d.ndim == 1:
            d = np.stack([-d, d], 1)
        d = d - d.max(1, keepdims=True)
        e = np.exp(d)
        return e / e.sum(1, keepdims=True)
