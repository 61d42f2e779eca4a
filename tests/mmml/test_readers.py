"""Real-data readers (FSDD, mfeat) on ../shared/data, and wav validation."""

import numpy as np
import pytest
import soundfile as sf
import torch

from mmml.data.audio import read_wav
from mmml.data.fsdd import FSDD, AVDigitsFSDD, list_recordings
from mmml.data.mfeat import VIEWS, MFeat, read_mfeat


def test_fsdd_reader_official_split(fsdd_dir, tmp_path):
    recs = list_recordings(fsdd_dir / "recordings")
    speakers = sorted({s for _, _, s, _ in recs})
    assert len(recs) == 2500 and len(speakers) == 5
    dm = FSDD(root=str(fsdd_dir.parent), cache_dir=str(tmp_path), speakers=speakers[:2])
    dm.setup()
    test = dm.split("test")
    assert len(test["label"]) == 2 * 10 * 5  # index 0-4 of each digit and speaker
    assert torch.bincount(test["label"]).tolist() == [10] * 10
    # the features are torchaudio's log-mel of the file, frame for frame
    path = fsdd_dir / "recordings" / "0_george_0.wav"
    wave, sr = sf.read(path, dtype="float32")
    assert sr == 8000
    feats, length = dm.logmel([wave])
    assert feats.shape[1:] == dm.specs["audio"].shape
    assert int(length[0]) == min(1 + len(wave) // 128, dm.logmel.max_frames)


def test_avdigits_fsdd_pairs_labels_and_keeps_images_apart(fsdd_dir, tmp_path):
    dm = AVDigitsFSDD(root=str(fsdd_dir.parent), cache_dir=str(tmp_path), speakers=["george"])
    dm.setup()
    tr, te = dm.split("train"), dm.split("test")
    assert set(te) >= {"image", "audio", "audio_lengths", "label"}
    flat = lambda s: {tuple(x.flatten().tolist()) for x in s["image"]}  # noqa: E731
    assert not flat(tr) & flat(te)


def test_mfeat_reader(mfeat_dir, tmp_path):
    views, labels = read_mfeat(mfeat_dir)
    assert {v: x.shape[1] for v, x in views.items()} == VIEWS
    assert len(labels) == 2000 and np.bincount(labels).tolist() == [200] * 10
    raw = np.loadtxt(mfeat_dir / "mfeat-mor.csv", delimiter=",", skiprows=1)
    assert np.allclose(views["mor"], raw[:, :-1], atol=1e-4)
    dm = MFeat(root=str(mfeat_dir.parent), cache_dir=str(tmp_path), modalities=["fou", "kar"])
    dm.setup()
    assert dm.specs["fou"].feature_dim == 76 and abs(float(dm.split("train")["fou"].mean())) < 1e-4


def test_missing_data_root_names_the_folder_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist; set data.root .*download=true"):
        FSDD(root=str(tmp_path / "nowhere"), cache=False).setup()
    with pytest.raises(FileNotFoundError, match="mfeat"):
        MFeat(root=str(tmp_path / "nowhere"), cache=False).setup()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.write_bytes(b"RIFF not really a wav"), "corrupt or not a wav"),
        (lambda p: sf.write(p, np.zeros((0,), dtype="float32"), 8000), "empty"),
        (lambda p: sf.write(p, np.zeros((800, 2), dtype="float32"), 8000), "2 channels"),
        (lambda p: sf.write(p, np.zeros(1600, dtype="float32"), 16000), "16000 Hz but 8000 Hz"),
    ],
)
def test_bad_wavs_are_named(tmp_path, make, match):
    path = tmp_path / "0_x_0.wav"
    make(path)
    with pytest.raises(ValueError, match=match):
        read_wav(path, 8000)


def test_fsdd_folder_with_a_bad_wav_fails_naming_the_file(tmp_path):
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for i in range(3):
        sf.write(rec / f"1_anna_{i}.wav", np.zeros(800, dtype="float32"), 8000)
    sf.write(rec / "2_anna_0.wav", np.zeros(800, dtype="float32"), 22050)
    with pytest.raises(ValueError, match="2_anna_0.wav is at 22050 Hz"):
        FSDD(root=str(tmp_path), cache=False).setup()
