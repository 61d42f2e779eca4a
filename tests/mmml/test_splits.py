"""Split protocols (mmml.data.protocols): for every FSDD-based data set and every ``data.split``, no held-out
speaker, no recording and no image is in two splits; the official split is still index 0-4 in test; the
synthetic data sets' image pools are disjoint too. The speech is faked (the split depends on file names
only) so that each build takes a fraction of a second instead of a log-mel pass over 2,500 files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmml.data import avdigits as avdigits_module
from mmml.data import digit_sequences as ds_module
from mmml.data import fsdd as fsdd_module
from mmml.data.avdigits import AVDigits
from mmml.data.digit_sequences import DigitSequences, DigitSequencesFSDD, draw_strings
from mmml.data.fsdd import FSDD, AVDigitsFSDD, list_recordings
from mmml.data.protocols import SpeakerProtocol, rotation_val

SPEAKERS = ["george", "jackson", "nicolas", "theo", "yweweler"]
SPLITS = ("official", "speakers", "logo")


class FakeLogMel:
    """Stands in for the log-mel front end: the split code does not look at the features."""

    sample_rate, max_frames, n_mels, hop_length, frame_rate = 8000, 100_000, 2, 128, 62.5

    def __call__(self, waves):
        return torch.zeros(len(waves), 4, self.n_mels), torch.full((len(waves),), 4)


@pytest.fixture
def fast_speech(monkeypatch):
    short = np.ones(256, dtype=np.float32)
    monkeypatch.setattr(fsdd_module, "read_wav", lambda path, sr: short)
    monkeypatch.setattr(ds_module, "read_wav", lambda path, sr: short)


def _make(cls, fsdd_dir, split, **kw):
    extra = {"n_sequences": 300} if cls is DigitSequencesFSDD else {}
    dm = cls(root=str(fsdd_dir.parent), split=split, cache=False, **extra, **kw)
    dm.logmel = FakeLogMel()
    return dm


def _codes(dm, data):
    """The split of every example, as setup() assigns it."""
    return dm._assign_splits(data["label"], data.get("split")).numpy()


def _ids(data, key, codes, split):
    x = data[key][torch.from_numpy(codes == split)]
    return {int(v) for v in x.flatten() if v >= 0}


def _disjoint(data, key, codes):
    sets = [_ids(data, key, codes, s) for s in (0, 1, 2)]
    assert all(sets), key
    for a in range(3):
        for b in range(a + 1, 3):
            assert not sets[a] & sets[b], (key, a, b, sorted(sets[a] & sets[b])[:5])


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("cls", [FSDD, AVDigitsFSDD, DigitSequencesFSDD])
def test_nothing_crosses_splits(cls, split, fsdd_dir, fast_speech):
    dm = _make(cls, fsdd_dir, split)
    data = dm.build()
    codes = _codes(dm, data)
    _disjoint(data, "source_recording", codes)
    if cls is not FSDD:
        _disjoint(data, "source_image", codes)
    if split != "official":
        _disjoint(data, "source_speaker", codes)
        assert dm.protocol["speakers_overlap"] is False
        held = {s: sorted({SPEAKERS[i] for i in _ids(data, "source_speaker", codes, s)}) for s in (1, 2)}
        assert held == {2: ["theo"], 1: ["yweweler"]}  # default: theo tested, the rotation rule's next validates
        assert dm.protocol["test_speakers"] == ["theo"] and dm.protocol["val_speakers"] == ["yweweler"]
    else:
        assert dm.protocol["speakers_overlap"] is True and dm.protocol["split"] == "official"


def test_official_split_is_unchanged(fsdd_dir, fast_speech):
    recs = list_recordings(fsdd_dir / "recordings")
    index = np.array([i for *_, i in recs])
    for cls in (FSDD, AVDigitsFSDD):
        dm = _make(cls, fsdd_dir, "official")
        codes = _codes(dm, dm.build())
        assert np.array_equal(codes == 2, index <= 4), cls.name  # FSDD's official test files
        assert ((codes == 1) <= (index > 4)).all()
    # fsdd: validation drawn by seed from the rest, as before protocols; avdigits_fsdd: index 5-9
    assert np.array_equal(_codes(dm, dm.build()) == 1, (index > 4) & (index <= 9))
    dm = _make(DigitSequencesFSDD, fsdd_dir, "official")
    data = dm.build()
    codes = _codes(dm, data)
    rng = np.random.default_rng(0)  # the test strings are drawn as before protocols
    strings = draw_strings(300, 3, 8, rng)
    before = np.zeros(300, dtype=bool)
    before[rng.permutation(300)[:60]] = True
    assert np.array_equal(codes == 2, before)
    assert [int(s[0]) for s in strings] == data["label"].tolist()
    for s, lo, hi in ((2, 0, 4), (1, 5, 9), (0, 10, 49)):
        used = _ids(data, "source_recording", codes, s)
        assert used and all(lo <= index[r] <= hi for r in used)


def test_speakers_protocol_with_explicit_speakers(fsdd_dir, fast_speech):
    dm = _make(FSDD, fsdd_dir, "speakers", test_speakers=["george", "nicolas"], val_speakers=["jackson"])
    data = dm.build()
    codes = _codes(dm, data)
    names = np.array(SPEAKERS)[data["source_speaker"].numpy()]
    assert set(names[codes == 2]) == {"george", "nicolas"} and set(names[codes == 1]) == {"jackson"}
    assert set(names[codes == 0]) == {"theo", "yweweler"}
    assert dm.protocol["train_speakers"] == ["theo", "yweweler"]


def test_setup_serves_the_protocol_splits(fsdd_dir, fast_speech):
    dm = _make(FSDD, fsdd_dir, "logo", test_speakers=["nicolas"], speakers=["george", "nicolas", "theo"])
    dm.setup()
    assert [len(dm.split(s)["label"]) for s in ("train", "val", "test")] == [500, 500, 500]
    assert dm.protocol["val_speakers"] == ["theo"]


def test_rotation_rule():
    assert rotation_val(SPEAKERS, ["theo"]) == ["yweweler"]
    assert rotation_val(SPEAKERS, ["yweweler"]) == ["george"]  # cyclic
    assert rotation_val(SPEAKERS, ["theo", "yweweler"]) == ["george"]  # skips test speakers
    assert rotation_val(SPEAKERS, ["george", "theo"]) == ["yweweler"]


def test_bad_protocols_fail_clearly(fsdd_dir):
    with pytest.raises(ValueError, match=r"data.split='random'; use one of \['official', 'speakers', 'logo'\]"):
        SpeakerProtocol("random")
    with pytest.raises(ValueError, match="logo holds out one speaker"):
        SpeakerProtocol("logo", test_speakers=["theo", "george"])
    with pytest.raises(ValueError, match="leave data.val_speakers null"):
        SpeakerProtocol("logo", test_speakers=["theo"], val_speakers=["george"])
    with pytest.raises(ValueError, match="overlap"):
        SpeakerProtocol("speakers", test_speakers=["theo"], val_speakers=["theo"])
    with pytest.raises(ValueError, match=r"data.val_speakers=\[\] leaves validation without a speaker"):
        SpeakerProtocol("speakers", test_speakers=["theo"], val_speakers=[])
    with pytest.raises(ValueError, match="needs data.test_speakers"):
        SpeakerProtocol("speakers", test_speakers=[])
    with pytest.raises(ValueError, match=r"names \['bob'\].*'george', 'jackson', 'nicolas', 'theo', 'yweweler'"):
        SpeakerProtocol("speakers", test_speakers=["bob"]).resolve(SPEAKERS)
    with pytest.raises(ValueError, match="leave no training speaker"):
        SpeakerProtocol("speakers", test_speakers=["george"], val_speakers=["theo"]).resolve(["george", "theo"])
    dm = FSDD(root=str(fsdd_dir.parent), split="speakers", test_speakers=["alice"], cache=False)
    with pytest.raises(ValueError, match=r"data.test_speakers names \['alice'\].*yweweler"):
        _ = dm.protocol


def test_synthetic_digit_sequences_image_pools_are_disjoint():
    dm = DigitSequences(n_sequences=100, snr_db=None, cache=False)
    data = dm.build()
    codes = _codes(dm, data)
    assert np.bincount(codes).tolist() == [68, 12, 20]
    _disjoint(data, "source_image", codes)
    first = data["label"].numpy()
    assert len(set(first[codes == 1].tolist())) >= 8  # validation stratified by first digit


@pytest.fixture
def fast_avdigits(monkeypatch):
    monkeypatch.setattr(avdigits_module, "spoken_digits",
                        lambda labels, snr, seed, sample_rate=8000: [np.ones(256, np.float32)] * len(labels))


def _sorted_rows(x):
    x = np.round(x, 5)
    return x[np.lexsort(x.T[::-1])]


def test_avdigits_images_one_split_each_and_pca_fitted_on_train(fast_avdigits):
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    flat = lambda dm, s: dm.split(s)["image"].reshape(-1, 64).double().numpy()  # noqa: E731
    dm0 = AVDigits(modalities=["image"], image_energy_removed=0.0, image_noise=0.0, cache=False)
    dm0.setup()
    clean = load_digits().data / 16.0
    served = np.concatenate([flat(dm0, s) for s in ("train", "val", "test")])
    assert np.array_equal(_sorted_rows(served), _sorted_rows(clean))  # each image once, in one split

    dm = AVDigits(modalities=["image"], image_energy_removed=0.5, image_noise=0.0, cache=False)
    dm.setup()
    train = flat(dm0, "train")  # reference: sklearn's PCA fitted on the train split's clean images only
    k = int(np.searchsorted(np.cumsum(PCA().fit(train).explained_variance_ratio_), 0.5) + 1)
    pca = PCA(n_components=k).fit(train)
    for s in ("train", "val", "test"):
        raw = flat(dm0, s)
        assert np.allclose(flat(dm, s), raw - (pca.inverse_transform(pca.transform(raw)) - pca.mean_),
                           atol=1e-5), s
    full = PCA(n_components=k).fit(clean)  # fitted on every image (test included), it would differ
    assert not np.allclose(flat(dm, "train"), train - (full.inverse_transform(full.transform(train)) - full.mean_),
                           atol=1e-4)
    noisy = AVDigits(modalities=["image"], image_energy_removed=0.5, image_noise=0.1, cache=False)
    noisy.setup()
    residual = flat(noisy, "test") - flat(dm, "test")
    assert abs(residual.std() - 0.1) < 0.005  # the noise is added after the projection, at its std


def test_avdigits_fsdd_pca_fitted_on_its_train_pool():
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    from mmml.data.avdigits import degraded_digit_images
    from mmml.data.fsdd import image_pools

    labels = load_digits().target
    pools = image_pools(labels, 0.2, 0.15, 0)
    train = np.concatenate([pools[(0, d)] for d in range(10)])
    assert len(set(train.tolist())) == len(train)
    images, _ = degraded_digit_images(0.5, 0.0, 0, fit=train)
    clean = load_digits().data / 16.0
    k = int(np.searchsorted(np.cumsum(PCA().fit(clean[train]).explained_variance_ratio_), 0.5) + 1)
    pca = PCA(n_components=k).fit(clean[train])
    assert np.allclose(images.reshape(-1, 64), clean - (pca.inverse_transform(pca.transform(clean)) - pca.mean_),
                       atol=1e-5)
