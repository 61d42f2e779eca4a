"""A torch model as a scikit-learn classifier, so that co-training can use an mmml network per view.

:class:`TorchViewClassifier` trains an MLP (:func:`mmml.encoders.mlp`) with full-batch L-BFGS on
the cross-entropy plus an L2 penalty ``alpha * ||W||^2 / (2 n)`` on the weights, the objective of
scikit-learn's ``MLPClassifier``. Without hidden layers it is multinomial logistic regression, and
converges to scikit-learn's ``LogisticRegression(C=1/alpha)`` (checked in the tests).

Examples:
    >>> import numpy as np
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2))]; y = np.r_[np.zeros(5), np.ones(5)].astype(int)
    >>> TorchViewClassifier(hidden=(), random_state=0).fit(X, y).predict(X).tolist() == y.tolist()
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mmml.encoders import mlp


class TorchViewClassifier(ClassifierMixin, BaseEstimator):
    """An MLP classifier on one view, trained by full-batch L-BFGS (scikit-learn API).

    Args:
        hidden: hidden layer sizes (``()``: multinomial logistic regression).
        alpha: L2 penalty on the weights (biases free), as in ``MLPClassifier``; ``1/C`` of
            ``LogisticRegression``.
        max_iter: L-BFGS iterations. random_state: seeds the initial weights.

    Shapes: ``fit(X (n, d), y (n,))``, ``predict_proba(X) -> (n, n_classes)``. After ``fit``: ``classes_``,
    ``n_features_in_`` (and ``feature_names_in_`` for a DataFrame), ``n_iter_`` (L-BFGS iterations run).
    Passes scikit-learn's ``parametrize_with_checks`` (tests/mmml/test_sklearn_checks.py).
    """

    def __init__(self, hidden: Sequence[int] = (64,), alpha: float = 1.0, max_iter: int = 200,
                 random_state: int | None = None) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y) -> TorchViewClassifier:
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)  # a continuous y is a ValueError naming it, not 100 classes
        self.classes_, target = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y holds one class {self.classes_.tolist()}; a classifier needs at least two")
        gen = torch.Generator().manual_seed(0 if self.random_state is None else int(self.random_state))
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
            self.net_ = mlp([X.shape[1], *map(int, self.hidden), len(self.classes_)]).double()
        x, t = torch.from_numpy(np.require(X, requirements="W")), torch.from_numpy(target)  # a read-only X is copied
        weights = [p for name, p in self.net_.named_parameters() if name.endswith("weight")]
        opt = torch.optim.LBFGS(self.net_.parameters(), max_iter=int(self.max_iter), tolerance_grad=1e-9,
                                tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(self.net_(x), t)
            loss = loss + self.alpha * sum((w**2).sum() for w in weights) / (2 * len(t))
            loss.backward()
            return loss

        opt.step(closure)
        self.n_iter_ = int(opt.state_dict()["state"].get(0, {}).get("n_iter", 0))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, columns in the order of ``classes_``."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)  # names the fitted n_features_in_
        with torch.no_grad():
            return F.softmax(self.net_(torch.from_numpy(np.require(X, requirements="W"))), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)  # first: an unfitted classifier raises NotFittedError, not AttributeError
        return self.classes_[proba.argmax(1)]
