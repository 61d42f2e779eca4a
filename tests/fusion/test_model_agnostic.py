"""Model-agnostic fusion: late combinations by hand, hybrid heads, stacking against scikit-learn."""

import numpy as np
import pytest
import torch
from mmml.fusion import EarlyFusion, HybridFusion, LateFusion, StackedLateFusion, Unimodal
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from mmml.data.sequences import pooled_view
from mmml.data.spec import ModalitySpec

SPECS = {"a": ModalitySpec("a", "vector", (3,)), "b": ModalitySpec("b", "vector", (2,)),
         "s": ModalitySpec("s", "sequence", (6, 2))}


def batch(n=4):
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(n, 3, generator=g), "b": torch.randn(n, 2, generator=g),
            "s": torch.randn(n, 6, 2, generator=g), "s_lengths": torch.tensor([6, 3, 1, 6][:n])}


@pytest.mark.parametrize("combine", ["mean", "product", "learned"])
def test_late_combinations_by_hand(combine):
    net = LateFusion(SPECS, num_classes=3, hidden=4, combine=combine).eval()
    out = net(batch())
    lp = torch.stack([out["unimodal"][m] for m in SPECS], 1)
    if combine == "mean":
        want = lp.exp().mean(1).log()
    elif combine == "product":
        want = torch.log_softmax(lp.sum(1), -1)
    else:
        want = torch.log_softmax((torch.softmax(net.weights, 0)[None, :, None] * lp).sum(1), -1)
    torch.testing.assert_close(out["logits"], want)


def test_encoder_arguments_reach_the_encoders():
    net = EarlyFusion(SPECS, num_classes=3, hidden=4, encoder={"sequence": {"channels": 5}, "vector": {"hidden": 7}})
    assert net.front.encoders["s"].conv[0].out_channels == 5
    assert net.front.encoders["a"].net[0].out_features == 7
    with pytest.raises(ValueError, match="neither modalities of the data set"):
        Unimodal(SPECS, num_classes=3, modality="a", encoder={"audio": {}})


def test_hybrid_heads_and_missing_modality():
    net = HybridFusion(SPECS, num_classes=3, hidden=4, fuse_at=(1, 3)).eval()
    out = net(batch())
    assert set(out["heads"]) == {"fused@1", "fused@3", "a", "b", "s"}
    want = torch.stack(list(out["heads"].values()), 1).exp().mean(1).log()
    torch.testing.assert_close(out["logits"], want)
    dropped = {k: v for k, v in batch().items() if k != "b"} | {"b_present": torch.zeros(4, dtype=torch.bool)}
    out = net(dropped)
    heads = [h for k, h in out["heads"].items() if k != "b"]  # the missing modality's head is left out
    torch.testing.assert_close(out["logits"], torch.stack(heads, 1).exp().mean(1).log())
    net.train()
    assert net({**batch(), "label": torch.tensor([0, 1, 2, 0])})["aux_loss"].ndim == 0
    with pytest.raises(ValueError, match="fuse_at"):
        HybridFusion(SPECS, num_classes=3, fuse_at=[0])


def test_stacking_uses_out_of_fold_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    Xs = [rng.normal(size=(90, 4)) + y[:, None], rng.normal(size=(90, 3)) + 0.5 * y[:, None]]
    base = LogisticRegression(max_iter=300)
    model = StackedLateFusion(base=base, cv=3, random_state=0).fit(Xs, y)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    oof = [cross_val_predict(base, X, y, cv=folds, method="predict_proba") for X in Xs]
    meta = LogisticRegression(max_iter=500).fit(np.log(np.clip(np.concatenate(oof, 1), 1e-6, None)), y)
    np.testing.assert_allclose(model.meta_.coef_, meta.coef_, atol=1e-6)
    probs = [LogisticRegression(max_iter=300).fit(X, y).predict_proba(X) for X in Xs]
    want = meta.predict_proba(np.log(np.clip(np.concatenate(probs, 1), 1e-6, None)))
    np.testing.assert_allclose(model.predict_proba(Xs), want, atol=1e-6)
    assert model.predict_proba([Xs[0], None]).shape == (90, 3)
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.fit([Xs[0], Xs[1][:10]], y)


def test_pooled_views():
    """The views kernel and stacking fusion take (the core's pooling is tested in tests/mmml/test_sequences.py)."""
    b = batch()
    v = pooled_view(b, "s")
    x = b["s"][1, :3].double()
    np.testing.assert_allclose(v[1], np.concatenate([x.mean(0), x.std(0, unbiased=False)]))
    assert pooled_view({"s_present": torch.zeros(2, dtype=torch.bool)}, "s") is None
    empty = pooled_view({**b, "s_lengths": torch.tensor([6, 0, 1, 6])}, "s")
    assert (empty[1] == 0).all() and np.isfinite(empty).all()  # an empty sequence pools to zeros
    with pytest.raises(TypeError, match="tokens"):
        pooled_view({"t": torch.ones(2, 3, dtype=torch.long)}, "t")
