"""Bad input to ``data=files``: each error names the file or manifest field and the fix, and a failed read
leaves nothing in the feature cache."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from file_layouts import write_csv_wav, write_hdf5, write_multibench, write_npz

from mmml.data.files import FileDataset
from mmml.data.multibench import UnsafePickleError


def edit(manifest: Path, change) -> Path:
    data = yaml.safe_load(manifest.read_text())
    change(data)
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    return manifest


def setup_fails(manifest: Path, cache: Path, error: type, match: str) -> None:
    """Building the data set raises ``error`` matching ``match``, and the cache folder stays empty."""
    with pytest.raises(error, match=match):
        FileDataset(manifest, cache_dir=cache).setup()
    assert not cache.exists() or not any(cache.iterdir()), list(cache.iterdir())


def test_a_missing_file_is_named_with_the_field_to_fix(tmp_path):
    manifest = edit(write_npz(tmp_path), lambda m: m["modalities"]["seq"].update(file="nowhere.npz"))
    setup_fails(manifest, tmp_path / "cache", FileNotFoundError,
                r"modalities.seq: file .*nowhere.npz does not exist; fix 'file:'")
    with pytest.raises(FileNotFoundError, match="manifest .*absent.yaml does not exist; set data.manifest"):
        FileDataset(tmp_path / "absent.yaml")


def test_ids_that_differ_across_modalities_are_listed(tmp_path):
    manifest = write_csv_wav(tmp_path)
    (tmp_path / "wav" / "ex005.wav").rename(tmp_path / "wav" / "stray.wav")
    setup_fails(manifest, tmp_path / "cache", ValueError,
                r"modalities.speech: ids differ from the data set's: 1 missing \['ex005'\], 1 unknown \['stray'\]")


def test_ragged_arrays_without_lengths_are_refused_with_both_fixes(tmp_path):
    np.savez(tmp_path / "r.npz", packed=np.zeros((50, 3)), label=np.arange(10) % 2)
    manifest = {"modalities": {"packed": {"file": "r.npz"}}, "labels": {"file": "r.npz"}}
    with pytest.raises(ValueError, match=r"has 50 rows for 10 examples. A ragged sequence stored packed .*needs "
                                         "'lengths:'"):
        FileDataset(manifest, root=tmp_path, cache=False).read()
    ragged = np.empty(3, dtype=object)
    ragged[:] = [np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((1, 3))]
    np.save(tmp_path / "objects.npy", ragged, allow_pickle=True)
    manifest = {"modalities": {"seq": {"file": "objects.npy"}}, "labels": {"file": "r.npz"}}
    with pytest.raises(ValueError, match="holds Python objects .* which mmml never unpickles; save ragged sequences "
                                         "packed"):
        FileDataset(manifest, root=tmp_path, cache=False).read()


def test_nan_in_features_names_the_file_and_the_example(tmp_path):
    manifest = write_npz(tmp_path)
    arrays = dict(np.load(tmp_path / "data.npz"))
    arrays["vec"][7, 2] = np.nan
    np.savez(tmp_path / "data.npz", **arrays)
    setup_fails(manifest, tmp_path / "cache", ValueError,
                r"modalities.vec: .*data.npz:vec holds 1 NaN/Inf values \(first in example 'ex007'\); clean or impute")


def test_a_label_out_of_range_names_the_classes_and_the_fix(tmp_path):
    manifest = write_npz(tmp_path)
    arrays = dict(np.load(tmp_path / "data.npz"))
    arrays["y"][4] = 3  # three classes: 0..2
    np.savez(tmp_path / "data.npz", **arrays)
    setup_fails(manifest, tmp_path / "cache", ValueError,
                r"labels: 1 labels lie outside 0..2 for the classes \['low', 'mid', 'high'\] \(example 'ex004' has 3\)"
                r"; fix the labels or list every class in 'classes:'")


def test_an_unknown_class_name_is_refused(tmp_path):
    manifest = edit(write_csv_wav(tmp_path), lambda m: m.update(classes=["low", "mid"]))
    setup_fails(manifest, tmp_path / "cache", ValueError, r"labels \['high'\] are not among the classes")


def test_an_empty_split_is_named(tmp_path):
    manifest = edit(write_npz(tmp_path), lambda m: m["split"].update(test=[]))
    setup_fails(manifest, tmp_path / "cache", ValueError, "split.test lists no ids; list the test examples or leave")
    np.savez(tmp_path / "s.npz", x=np.zeros((6, 2)), label=np.arange(6) % 2, split=np.array(["train"] * 6))
    manifest = {"modalities": {"x": {"file": "s.npz"}}, "labels": {"file": "s.npz"}, "split": {"file": "s.npz"}}
    with pytest.raises(ValueError, match="the 'test' split is empty and every example is assigned elsewhere"):
        FileDataset(manifest, root=tmp_path, cache=False).read()


def test_an_unsafe_pickle_is_refused_before_it_runs(tmp_path):
    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    path = tmp_path / "affect.pkl"
    path.write_bytes(pickle.dumps({"train": Exploit()}))
    setup_fails(path, tmp_path / "cache", UnsafePickleError, r"asks for (posix|os|nt)\.system, which a data file "
                                                             "never needs; refused")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("layout", ["npz", "hdf5", "pickle"])
def test_a_truncated_file_is_named_and_nothing_is_cached(tmp_path, layout):
    write = {"npz": write_npz, "hdf5": write_hdf5, "pickle": write_multibench}[layout]
    manifest = write(tmp_path)
    name = {"npz": "data.npz", "hdf5": "data.h5", "pickle": "affect.pkl"}[layout]
    blob = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(blob[: len(blob) // 2])
    setup_fails(manifest, tmp_path / "cache", ValueError, f"{name}.* is truncated or (not|corrupt)")


def test_a_wav_at_another_sample_rate_is_named(tmp_path):
    manifest = write_csv_wav(tmp_path)
    sf.write(tmp_path / "wav" / "ex003.wav", np.zeros(1600, dtype=np.float32), 16000)
    setup_fails(manifest, tmp_path / "cache", ValueError,
                r"ex003.wav is at 16000 Hz but 8000 Hz is expected \('sample_rate:' in the manifest.*resample it")


def test_a_misspelt_manifest_key_is_named_with_the_closest_key(tmp_path):
    manifest = edit(write_npz(tmp_path), lambda m: m.update(modalitys=m.pop("modalities")))
    with pytest.raises(ValueError, match="unknown key 'modalitys' \\(did you mean 'modalities'\\?\\)"):
        FileDataset(manifest)
    manifest = edit(write_npz(tmp_path), lambda m: m["modalities"]["seq"].update(lenghts="seq_lengths"))
    with pytest.raises(ValueError, match="modalities.seq: unknown key 'lenghts' \\(did you mean 'lengths'\\?\\)"):
        FileDataset(manifest)


def test_empty_sequences_are_refused(tmp_path):
    manifest = write_npz(tmp_path)
    arrays = dict(np.load(tmp_path / "data.npz"))
    arrays["seq_lengths"][[2, 9]] = 0
    np.savez(tmp_path / "data.npz", **arrays)
    setup_fails(manifest, tmp_path / "cache", ValueError,
                r"modalities.seq: examples \['ex002', 'ex009'\] have empty sequences \(length 0\); drop them")


def test_a_missing_key_in_an_array_file_lists_what_is_there(tmp_path):
    manifest = edit(write_npz(tmp_path), lambda m: m["modalities"]["seq"].update(key="sequence"))
    setup_fails(manifest, tmp_path / "cache", KeyError, r"data.npz has no array 'sequence'; its arrays are \[")
