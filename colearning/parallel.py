"""Parallel co-learning (Baltrusaitis et al. 2017, Sec. 7.1): modalities observed on the same examples.

- :class:`CoTraining`: co-training (Blum & Mitchell, COLT 1998), a scikit-learn estimator over a list
  of views. Each view's classifier labels the unlabelled examples it is most confident about, and
  those pseudo-labels train every view. Any number of views and classes, any classifier with
  ``predict_proba`` per view.
- :class:`HelperTransfer`: a classifier of a target modality trained with a helper modality that is
  seen only during training, either through a coordinated space (the helper's and the target's
  embeddings of the same example pulled together by a symmetric InfoNCE loss on every training
  example, labelled or not) or by distillation (the target matches the helper classifier's soft
  predictions, Gupta et al., CVPR 2016 "Cross Modal Distillation for Supervision Transfer").
  At test time only the target modality is read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch.nn.functional as F
from mmml.colearning.supervision import observed_labels
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.naive_bayes import GaussianNB
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted
from torch import Tensor, nn

from mmml.coordinated import info_nce
from mmml.data.contract import require
from mmml.data.spec import ModalitySpec
from mmml.encoders import EncoderBank

UNLABELLED = -1
COMBINES = ("product", "mean")


def check_views(Xs: Sequence, name: str = "Xs") -> list[np.ndarray]:
    """Validate a list of views: each a 2-D finite array, all with the same number of rows."""
    if isinstance(Xs, np.ndarray) or not isinstance(Xs, (list, tuple)) or len(Xs) == 0:
        raise ValueError(f"{name} must be a non-empty list of views (one (n, d) array per view), "
                         f"got {type(Xs).__name__}; wrap a single view as [X]")
    views = [check_array(X, dtype=np.float64, ensure_all_finite=True, input_name=f"{name}[{i}]")
             for i, X in enumerate(Xs)]
    counts = [len(X) for X in views]
    if len(set(counts)) > 1:
        raise ValueError(f"views have different sample counts {counts}; every view must describe the same "
                         "examples in the same order (row i of each view is example i)")
    return views


class CoTraining(ClassifierMixin, BaseEstimator):
    """Co-training over any number of views (Blum & Mitchell 1998), with class-balanced growth.

    Each round, every view's classifier is fitted on the labelled set (given plus pseudo-labelled),
    predicts the unlabelled examples of a pool, and proposes those whose confidence (largest class
    probability) exceeds ``threshold``: per class its ``n_per_round * prior(class)`` most confident
    (``class_balanced``, Blum & Mitchell's p positives and n negatives per round), or its
    ``n_per_round`` most confident overall, or all of them (``n_per_round=None``). Proposals of all
    views join the labelled set (a disagreement goes to the most confident view) and the pool is
    refilled from the unlabelled examples. The prediction multiplies (``combine="product"``, as in the
    paper) or averages the views' class probabilities.

    With one view this is self-training; ``max_iter=0`` or an unreachable ``threshold`` (>= 1) gives the
    supervised base learners fitted on the labelled examples only.

    Args:
        estimator: a classifier with ``predict_proba``, or one per view (default Gaussian naive Bayes,
            as the paper's naive Bayes).
        threshold: minimum confidence of a pseudo-label (strictly greater than).
        n_per_round: pseudo-labels each view adds per round (``None``: every confident example).
        class_balanced: split ``n_per_round`` across classes in the labelled class proportions.
        pool_size: size of the unlabelled pool drawn each round (``None``: all unlabelled examples).
        max_iter: maximum number of rounds.
        combine: ``"product"`` or ``"mean"`` of the views' probabilities.
        random_state: seeds the pool draws.

    Shapes: ``fit(Xs, y)`` with ``Xs`` a list of ``(n, d_v)`` arrays and ``y`` ``(n,)``, ``-1`` for
    unlabelled; ``predict_proba(Xs) -> (n, n_classes)``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1, 2], 20); X = y[:, None] + rng.normal(0, 0.3, (60, 2))
        >>> y_obs = np.where(np.arange(60) % 10 == 0, y, -1)
        >>> CoTraining(n_per_round=6).fit([X[:, :1], X[:, 1:]], y_obs).score([X[:, :1], X[:, 1:]], y) > 0.9
        True
    """

    def __init__(self, estimator=None, threshold: float = 0.0, n_per_round: int | None = 10,
                 class_balanced: bool = True, pool_size: int | None = None, max_iter: int = 30,
                 combine: str = "product", random_state=None) -> None:
        self.estimator = estimator
        self.threshold = threshold
        self.n_per_round = n_per_round
        self.class_balanced = class_balanced
        self.pool_size = pool_size
        self.max_iter = max_iter
        self.combine = combine
        self.random_state = random_state

    # ---- fitting ---------------------------------------------------------------------------------
    def _base_estimators(self, n_views: int) -> list:
        est = self.estimator if self.estimator is not None else GaussianNB()
        if isinstance(est, (list, tuple)):
            if len(est) != n_views:
                raise ValueError(f"estimator lists {len(est)} classifiers for {n_views} views; give one per "
                                 "view or a single classifier for all")
            ests = [clone(e) for e in est]
        else:
            ests = [clone(est) for _ in range(n_views)]
        for i, e in enumerate(ests):
            if not hasattr(e, "predict_proba"):
                raise ValueError(f"estimator of view {i} ({type(e).__name__}) has no predict_proba; "
                                 "co-training ranks pseudo-labels by confidence (e.g. SVC(probability=True))")
        return ests

    def _check_params(self) -> None:
        if self.combine not in COMBINES:
            raise ValueError(f"combine={self.combine!r}; choose one of {list(COMBINES)}")
        if self.n_per_round is not None and int(self.n_per_round) < 1:
            raise ValueError(f"n_per_round={self.n_per_round}; use a positive number or None (every "
                             "confident example)")
        if self.pool_size is not None and int(self.pool_size) < 1:
            raise ValueError(f"pool_size={self.pool_size}; use a positive number or None (all unlabelled "
                             "examples)")
        if int(self.max_iter) < 0:
            raise ValueError(f"max_iter={self.max_iter}; use 0 (supervised only) or more rounds")

    def fit(self, Xs: Sequence, y) -> CoTraining:
        """Fit on views ``Xs`` and labels ``y`` (``-1`` marks an unlabelled example); returns ``self``."""
        self._check_params()
        views = check_views(Xs)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(views[0]):
            raise ValueError(f"y has shape {y.shape} but the views hold {len(views[0])} examples; give one "
                             "label per example, -1 for unlabelled")
        has_label = y != UNLABELLED
        classes = np.unique(y[has_label])
        if len(classes) < 2:
            raise ValueError(f"y has labelled classes {classes.tolist()}; co-training needs labelled "
                             "examples of at least two classes (raise the labelled fraction)")
        rng = check_random_state(self.random_state)
        ests = self._base_estimators(len(views))
        labels = y.copy()
        self.labeled_iter_ = np.where(has_label, 0, -1)
        unlabelled = rng.permutation(np.flatnonzero(~has_label))
        size = len(unlabelled) if self.pool_size is None else int(self.pool_size)
        pool, reserve = unlabelled[:size], unlabelled[size:]
        prior = np.array([(y[has_label] == c).mean() for c in classes])
        self.n_iter_, self.termination_condition_ = 0, "max_iter"
        while self.n_iter_ < int(self.max_iter):
            if len(pool) == 0:
                self.termination_condition_ = "all_labeled"
                break
            self.n_iter_ += 1
            best: dict[int, tuple[float, int]] = {}
            for est, X in zip(ests, views, strict=True):
                est.fit(X[has_label], labels[has_label])
                proba = est.predict_proba(X[pool])
                conf, pred = proba.max(1), est.classes_[proba.argmax(1)]
                for i in self._select(conf, pred, classes, prior):
                    if pool[i] not in best or conf[i] > best[pool[i]][0]:
                        best[pool[i]] = (conf[i], pred[i])
            if not best:
                self.termination_condition_ = "no_change"
                break
            chosen = np.fromiter(best, dtype=np.int64)
            labels[chosen] = [best[i][1] for i in chosen]
            has_label[chosen] = True
            self.labeled_iter_[chosen] = self.n_iter_
            pool = pool[~np.isin(pool, chosen)]
            refill = size - len(pool)
            pool, reserve = np.concatenate([pool, reserve[:refill]]), reserve[refill:]
        for est, X in zip(ests, views, strict=True):
            est.fit(X[has_label], labels[has_label])
        self.estimators_, self.classes_, self.transduction_ = ests, classes, labels
        self.n_views_ = len(views)
        return self

    def _select(self, conf: np.ndarray, pred: np.ndarray, classes: np.ndarray,
                prior: np.ndarray) -> np.ndarray:
        """Indices (into the pool) of one view's proposals."""
        ok = conf > self.threshold
        if self.n_per_round is None:
            return np.flatnonzero(ok)
        if not self.class_balanced:
            idx = np.flatnonzero(ok)
            return idx[np.argsort(-conf[idx], kind="stable")[: int(self.n_per_round)]]
        chosen = []
        for c, p in zip(classes, prior, strict=True):
            idx = np.flatnonzero(ok & (pred == c))
            quota = max(1, int(round(int(self.n_per_round) * p)))
            chosen.append(idx[np.argsort(-conf[idx], kind="stable")[:quota]])
        return np.concatenate(chosen)

    # ---- prediction ------------------------------------------------------------------------------
    def view_log_proba(self, Xs: Sequence) -> list[np.ndarray | None]:
        """Each view's class log-probabilities ``(n, n_classes)`` (``None`` for a view given as ``None``)."""
        check_is_fitted(self, "estimators_")
        if len(Xs) != self.n_views_:
            raise ValueError(f"got {len(Xs)} views but the model was fitted on {self.n_views_}; pass them "
                             "in the same order as in fit (None for a missing view)")
        given = [X for X in Xs if X is not None]
        if not given:
            raise ValueError("every view is None; at least one view is needed to predict")
        check_views(given)
        out = []
        for est, X in zip(self.estimators_, Xs, strict=True):
            if X is None:
                out.append(None)
                continue
            logp = np.full((len(X), len(self.classes_)), -np.inf)
            X = np.asarray(X, dtype=np.float64)
            if hasattr(est, "predict_log_proba"):  # exact where probabilities underflow (naive Bayes)
                view_logp = est.predict_log_proba(X)
            else:
                with np.errstate(divide="ignore"):
                    view_logp = np.log(est.predict_proba(X))
            logp[:, np.searchsorted(self.classes_, est.classes_)] = view_logp
            out.append(logp)
        return out

    def predict_proba(self, Xs: Sequence) -> np.ndarray:
        """Combined class probabilities of the views present (a ``None`` view is left out)."""
        logps = [lp for lp in self.view_log_proba(Xs) if lp is not None]
        if self.combine == "mean":
            return np.mean([np.exp(lp) for lp in logps], axis=0)
        return softmax(np.sum(logps, axis=0), axis=1)

    def predict(self, Xs: Sequence) -> np.ndarray:
        return self.classes_[self.predict_proba(Xs).argmax(1)]


MODES = ("coordinated", "distill")


class HelperTransfer(nn.Module):
    """A target-modality classifier trained with a helper modality seen only during training.

    ``mode="coordinated"``: target and helper encoders map into a shared space, tied by a symmetric
    InfoNCE loss over the paired examples of each batch (labelled or not; Radford et al. 2021's
    objective used as the coordination constraint of Baltrusaitis et al. 2017, Sec. 3.2).
    ``mode="distill"``: a helper classifier learns from the observed labels, and the target matches its
    temperature-softened predictions on every example (Hinton et al. 2015; Gupta et al. 2016).
    ``helper=None`` gives the target-only supervised baseline with the same architecture.

    Args:
        specs: modality specs. num_classes: classes. target, helper: modality names.
        mode: ``"coordinated"`` or ``"distill"``. dim: encoder output size.
        weight: weight of the helper loss. temperature: of InfoNCE (coordinated) or of distillation.
        encoder: encoder options keyed by modality name or kind (:class:`mmml.encoders.EncoderBank`),
            e.g. ``{"audio": {"channels": 32}}``.

    Shapes: batch dict -> ``{"logits": (B, C), "aux_loss": scalar (training with a helper)}``.

    Examples:
        >>> import torch
        >>> specs = {"image": ModalitySpec("image", "image", (1, 8, 8)),
        ...          "audio": ModalitySpec("audio", "vector", (5,))}
        >>> net = HelperTransfer(specs, 10, target="image", helper="audio")
        >>> net.eval()({"image": torch.zeros(2, 1, 8, 8)})["logits"].shape
        torch.Size([2, 10])
    """

    def __init__(self, specs: dict[str, ModalitySpec], num_classes: int, target: str = "image",
                 helper: str | None = "audio", mode: str = "coordinated", dim: int = 64, weight: float = 1.0,
                 temperature: float = 0.1, encoder: dict[str, dict] | None = None) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"model.net.mode={mode!r}; choose one of {list(MODES)}")
        for role, m in (("target", target), ("helper", helper)):
            if m is not None and m not in specs:
                raise ValueError(f"model.net.{role}={m!r} is not served by the data set ({list(specs)}); "
                                 "fix the model config or data.modalities")
        if helper == target:
            raise ValueError(f"model.net.helper equals the target {target!r}; the helper must be another "
                             "modality")
        self.target, self.helper, self.mode = target, helper, mode
        self.weight, self.temperature = float(weight), float(temperature)
        # the helper's encoder is built after the head, as it always was, so that initialisation is unchanged
        self.encoders = EncoderBank(specs, dim, [target], encoder)
        self.head = nn.Linear(dim, num_classes)
        if helper is not None:
            self.encoders.add(helper)
            self.project = nn.Linear(dim, dim)
            self.helper_project = nn.Linear(dim, dim)
            self.helper_head = nn.Linear(dim, num_classes)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        require(batch, [self.target], allow_dropped=False)
        z = self.encoders.encode(batch, self.target)
        out = {"logits": self.head(z)}
        if self.training and self.helper is not None:
            require(batch, [self.helper], allow_dropped=False)
            h = self.encoders.encode(batch, self.helper)
            out["aux_loss"] = self.weight * self._helper_loss(batch, z, h, out["logits"])
        return out

    def _helper_loss(self, batch: dict[str, Tensor], z: Tensor, h: Tensor, logits: Tensor) -> Tensor:
        if self.mode == "coordinated":
            return info_nce(self.project(z), self.helper_project(h), self.temperature)
        helper_logits = self.helper_head(h)
        seen = observed_labels(batch)
        loss = logits.new_zeros(())
        if seen.any():
            loss = F.cross_entropy(helper_logits[seen], batch["label"][seen])
        t = self.temperature
        soft = F.softmax(helper_logits.detach() / t, dim=-1)
        return loss + (t * t) * F.kl_div(F.log_softmax(logits / t, dim=-1), soft, reduction="batchmean")
