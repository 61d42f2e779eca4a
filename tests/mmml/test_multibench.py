"""MultiBench affect pickles: the restricted unpickler and the reader of the train/valid/test layout."""

from __future__ import annotations

import io
import pickle
import subprocess

import numpy as np
import pytest
from file_layouts import multibench_dict

from mmml.data.multibench import RestrictedUnpickler, UnsafePickleError, read_affect, safe_load


class _Call:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("fn, args, name", [
    (eval, ("1 + 1",), "builtins.eval"),
    (subprocess.call, (["true"],), "subprocess.call"),
    (getattr, ("text", "upper"), "builtins.getattr"),
    (np.load, ("x.npy",), "numpy.load"),
])
def test_anything_but_arrays_and_containers_is_refused_by_name(fn, args, name):
    blob = pickle.dumps([1, {"a": _Call(fn, *args)}])
    with pytest.raises(UnsafePickleError, match=f"asks for {name}, which a data file never needs"):
        RestrictedUnpickler(io.BytesIO(blob)).load()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_arrays_containers_strings_and_numbers_load_at_every_protocol(protocol):
    value = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array([b"a", "b"], dtype=object),
             "n": np.float64(2.5), "list": [1, 2.0, "three", (4, b"five")], "set": {1, 2}, "flag": True}
    out = RestrictedUnpickler(io.BytesIO(pickle.dumps(value, protocol=protocol))).load()
    assert np.array_equal(out["x"], value["x"]) and out["x"].dtype == np.float32
    assert out["ids"].tolist() == [b"a", "b"] and out["n"] == 2.5 and out["list"] == value["list"]
    assert out["set"] == {1, 2} and out["flag"] is True


def test_numpy_1_names_in_old_pickles_are_read():
    blob = pickle.dumps({"x": np.arange(3)}, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    assert RestrictedUnpickler(io.BytesIO(blob)).load()["x"].tolist() == [0, 1, 2]


def test_the_reader_left_aligns_front_padded_sequences_and_keeps_the_splits(tmp_path):
    raw = multibench_dict(sizes=(5, 3, 4))
    raw["test"]["audio"][1, :, 0] = -np.inf  # COVAREP's -inf, zeroed as MultiBench's loader does
    raw["test"]["audio"][1, :2] = 0.0  # leading padding stays padding
    path = tmp_path / "mosi.pkl"
    path.write_bytes(pickle.dumps(raw))
    with pytest.warns(UserWarning, match="'audio' holds 4 non-finite values; set to 0"):
        out = read_affect(path)
    assert out["split"].tolist() == [0] * 5 + [1] * 3 + [2] * 4
    assert np.allclose(out["label"], np.concatenate([raw[s]["labels"].ravel() for s in ("train", "valid", "test")]))
    assert out["ids"][:2] == ["vid0_0", "vid1_1"] and out["ids"][5] == "vid5_0"
    for m in ("vision", "text"):
        x, lengths = out["modalities"][m]
        every = np.concatenate([raw[s][m] for s in ("train", "valid", "test")])
        for i in range(len(every)):
            frames = every[i][np.abs(every[i]).sum(1) > 0]
            assert lengths[i] == len(frames) and np.array_equal(x[i, : lengths[i]], frames)
            assert not x[i, lengths[i]:].any()


def test_a_pickle_without_the_layout_says_what_it_expects(tmp_path):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"train": {}, "test": {}}))
    with pytest.raises(ValueError, match=r"is a dict with \['train', 'valid', 'test'\]; this one has \['test', "):
        read_affect(path)
    path.write_bytes(pickle.dumps({"train": {"labels": np.zeros(2)}, "valid": {}, "test": {}}))
    with pytest.raises(ValueError, match="split 'train' has none of the modalities"):
        read_affect(path)


def test_safe_load_names_a_file_that_is_not_a_pickle(tmp_path):
    path = tmp_path / "broken.pkl"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="broken.pkl is truncated or not a pickle"):
        safe_load(path)
