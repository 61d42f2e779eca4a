"""Small data sets written in each layout ``data=files`` reads, for the tests (and the docs' example).

Each writer puts files and a ``manifest.yaml`` under a folder and returns the manifest's path. The
values carry the label (class means differ), so trained methods score above chance.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

N, CLASSES = 36, ("low", "mid", "high")


def _labels(n: int = N) -> np.ndarray:
    return np.arange(n) % len(CLASSES)


def _ids(n: int = N) -> list[str]:
    return [f"ex{i:03d}" for i in range(n)]


def write_manifest(folder: Path, manifest: dict) -> Path:
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def write_npz(folder: Path, seed: int = 0) -> Path:
    """npz: an image stack, a vector view and a padded sequence with lengths; id lists for the split."""
    rng = np.random.default_rng(seed)
    y, ids = _labels(), _ids()
    image = rng.normal(size=(N, 1, 8, 8)).astype(np.float32) + y[:, None, None, None]
    vec = rng.normal(size=(N, 12)).astype(np.float32) + y[:, None]
    lengths = rng.integers(3, 11, size=N)
    seq = np.zeros((N, 10, 4), dtype=np.float32)
    for i, t in enumerate(lengths):
        seq[i, :t] = rng.normal(size=(t, 4)) + y[i]
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data.npz", image=image, vec=vec, seq=seq, seq_lengths=lengths, ids=np.array(ids), y=y)
    test = ids[::4]
    (folder / "test_ids.txt").write_text("\n".join(test) + "\n")
    return write_manifest(folder, {
        "name": "toy_npz", "classes": list(CLASSES),
        "labels": {"file": "data.npz", "key": "y", "ids": "ids"},
        "split": {"train": [i for i in ids if i not in test], "test": "test_ids.txt"},
        "modalities": {"image": {"file": "data.npz", "ids": "ids"},
                       "vec": {"file": "data.npz", "ids": "ids"},
                       "seq": {"file": "data.npz", "ids": "ids", "lengths": "seq_lengths"}}})


def write_hdf5(folder: Path, seed: int = 1) -> Path:
    """HDF5: a vector dataset, a ragged sequence (one dataset per id), labels, ids and a split column."""
    import h5py

    rng = np.random.default_rng(seed)
    y, ids = _labels(), _ids()
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "data.h5", "w") as f:
        f["ids"] = np.array(ids, dtype="S")
        f["label"] = y
        f["feat"] = rng.normal(size=(N, 5)).astype(np.float32) + y[:, None]
        f["split"] = np.array(["train", "train", "val", "test"] * (N // 4), dtype="S")
        group = f.create_group("motion")
        for i in rng.permutation(N):  # stored out of order: matched by id
            group[ids[i]] = (rng.normal(size=(int(rng.integers(2, 9)), 3)) + y[i]).astype(np.float32)
    return write_manifest(folder, {
        "name": "toy_hdf5", "classes": list(CLASSES),
        "labels": {"file": "data.h5", "ids": "ids"},
        "split": {"file": "data.h5", "ids": "ids"},
        "modalities": {"feat": {"file": "data.h5", "ids": "ids"}, "motion": {"file": "data.h5"}}})


def write_csv_wav(folder: Path, seed: int = 2, sample_rate: int = 8000) -> Path:
    """A CSV table (ids, labels, split, feature columns) and a folder of ``<id>.wav`` tones."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    y, ids = _labels(), _ids()
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"id": ids, "label": [CLASSES[k] for k in y],
                          "split": ["train", "val", "", "test"] * (N // 4)})
    for j in range(4):
        table[f"f{j}"] = rng.normal(size=N) + y
    table.sample(frac=1.0, random_state=seed).to_csv(folder / "meta.csv", index=False)  # rows shuffled
    (folder / "wav").mkdir(exist_ok=True)
    for i, k in zip(ids, y, strict=True):
        t = np.arange(int(sample_rate * rng.uniform(0.1, 0.2))) / sample_rate
        wave = 0.5 * np.sin(2 * np.pi * (300 + 400 * k) * t) + 0.01 * rng.normal(size=len(t))
        sf.write(folder / "wav" / f"{i}.wav", wave.astype(np.float32), sample_rate)
    return write_manifest(folder, {
        "name": "toy_csv_wav", "classes": list(CLASSES),
        "labels": {"file": "meta.csv", "column": "label", "id_column": "id"},
        "split": {"file": "meta.csv", "column": "split", "id_column": "id"},
        "modalities": {"table": {"file": "meta.csv", "columns": "f*", "id_column": "id"},
                       "speech": {"folder": "wav", "sample_rate": sample_rate, "n_mels": 16}}})


def multibench_dict(seed: int = 3, sizes: tuple[int, int, int] = (24, 8, 8), steps: int = 6) -> dict:
    """A dict in MultiBench's affect layout: front-padded sequences, (n, 1, 1) sentiment labels."""
    rng = np.random.default_rng(seed)
    out, start = {}, 0
    for name, n in zip(("train", "valid", "test"), sizes, strict=True):
        y = rng.uniform(-3, 3, size=n).round(1)
        part = {"labels": y.reshape(n, 1, 1).astype(np.float32),
                "id": np.array([[f"vid{start + i}", str(i)] for i in range(n)])}
        for m, width in (("vision", 5), ("audio", 6), ("text", 7)):
            x = np.zeros((n, steps, width), dtype=np.float32)
            for i in range(n):
                t = int(rng.integers(2, steps + 1))
                x[i, steps - t:] = rng.normal(size=(t, width)) + y[i]
            part[m] = x
        out[name], start = part, start + n
    return out


def write_multibench(folder: Path, seed: int = 3) -> Path:
    """A MultiBench affect pickle (the pickle itself is the manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "affect.pkl"
    path.write_bytes(pickle.dumps(multibench_dict(seed), protocol=4))
    return path


def write_multilabel(folder: Path, seed: int = 4, labels: int = 4) -> Path:
    """Parquet features and an npz of 0/1 labels (MM-IMDb style multi-label genres)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    n, ids = 48, _ids(48)
    y = (rng.random(size=(n, labels)) < 0.4).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": ids, **{f"p{j}": rng.normal(size=n) + y[:, j % labels] for j in range(12)}}).to_parquet(
        folder / "poster.parquet")
    text = rng.normal(size=(n, 12)).astype(np.float32) + y @ rng.normal(size=(labels, 12)).astype(np.float32)
    np.savez(folder / "text.npz", text=text, genres=y)
    return write_manifest(folder, {
        "name": "toy_multilabel", "target": "multilabel", "classes": [f"genre{j}" for j in range(labels)],
        "labels": {"file": "text.npz", "key": "genres"},
        "ids": {"file": "poster.parquet", "column": "id"},
        "modalities": {"poster": {"file": "poster.parquet", "columns": "p*", "id_column": "id"},
                       "text": {"file": "text.npz"}}})
