"""``data=files``: your own data set, described by a manifest instead of a datamodule (``docs/data.md``).

The manifest (:mod:`mmml.data.manifest`) names each modality's source (:mod:`mmml.data.readers`):
npy/npz arrays, an HDF5 file, a CSV or Parquet table, a folder of ``<id>.wav`` or ``<id>.png``
files, or a MultiBench affect pickle (:mod:`mmml.data.multibench`); plus the labels, the ids and the
split. Rows are matched across sources by id; each modality's :class:`~mmml.data.spec.ModalitySpec`
is inferred from its values and checked against what the manifest declares:

- ``(N, F)`` floats, or a table's columns -> ``vector``;
- ``(N, T, F)`` padded (with ``lengths``), packed ``(sum T, F)`` + ``lengths``, an HDF5 group of
  ``(T, F)`` datasets, or a wav folder (log-mel frames) -> ``sequence`` with ``<m>_lengths``;
- ``(N, C, H, W)`` (or ``(N, H, W, C)``, or ``(N, H, W)`` with ``kind: image``), or a png folder -> ``image``;
- ``(N, L)`` integers with ``kind: tokens`` and a ``vocab`` (id 0 = padding) -> ``tokens``.

The values are built once and kept in the feature cache, keyed by the manifest and the size and time
of every file it names; a source that fails to read leaves no cache entry.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> np.savez(d / "toy.npz", a=rng.normal(size=(40, 3)), b=rng.normal(size=(40, 5, 2)), y=np.arange(40) % 2)
    >>> dm = FileDataset({"modalities": {"a": {"file": "toy.npz"}, "b": {"file": "toy.npz"}},
    ...                   "labels": {"file": "toy.npz", "key": "y"}}, root=d, cache=False)
    >>> [(s.kind, s.shape) for s in dm.specs.values()], dm.class_names
    ([('vector', (3,)), ('sequence', (5, 2))], ('0', '1'))
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmml.data.datamodule import MultimodalDataModule
from mmml.data.manifest import load_manifest, referenced_paths
from mmml.data.readers import Read, decode_pngs, decode_wavs, read_source
from mmml.data.spec import KINDS, ModalitySpec
from mmml.data.targets import as_label_tensor

SPLIT_NAMES = {"train": 0, "val": 1, "valid": 1, "validation": 1, "dev": 1, "test": 2}


def _show(items: Sequence[Any], most: int = 5) -> str:
    items = list(items)
    return f"{items[:most]}" + (f" ({len(items)} in all)" if len(items) > most else "")


def align(values: Any, ids: list[str] | None, master: list[str], where: str) -> Any:
    """Reorder per-example ``values`` (array or list) from their own ``ids`` into the ``master`` order."""
    n = len(values)
    if ids is None:
        if n != len(master):
            raise ValueError(f"{where}: has {n} rows for {len(master)} examples; give its ids ('ids:' for npz/HDF5, "
                             "'id_column:' for tables) so rows can be matched, or write one row per example")
        return values
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"{where}: ids {_show(dup)} appear more than once; every example needs one id")
    pos = {i: k for k, i in enumerate(ids)}
    extra, missing = sorted(set(ids) - set(master)), [i for i in master if i not in pos]
    if extra or missing:
        raise ValueError(f"{where}: ids differ from the data set's: {len(missing)} missing {_show(missing)}, "
                         f"{len(extra)} unknown {_show(extra)}; every source must list the same examples")
    order = [pos[i] for i in master]
    return values[np.asarray(order)] if isinstance(values, np.ndarray) else [values[k] for k in order]


def _per_example(read: Read, n: int, where: str) -> tuple[Any, np.ndarray | None]:
    """Values as one entry per example: packed ragged frames are cut by their lengths."""
    values, lengths = read.values, read.lengths
    if isinstance(values, np.ndarray) and lengths is not None and len(values) != len(lengths):
        lengths = np.asarray(lengths).astype(np.int64).ravel()
        if lengths.sum() != len(values):
            raise ValueError(f"{where}: {read.label} has {len(values)} frames but its lengths sum to {lengths.sum()}; "
                             "packed sequences need one length per example, summing to the frame count")
        return np.split(values, np.cumsum(lengths)[:-1]), None
    if isinstance(values, np.ndarray) and lengths is None and read.ids is None and len(values) != n:
        raise ValueError(f"{where}: {read.label} has {len(values)} rows for {n} examples. A ragged sequence stored "
                         "packed (every example's frames stacked) needs 'lengths:' naming its frame counts; rows "
                         "that are examples need 'ids:' / 'id_column:' to be matched")
    return values, lengths


def _pad(items: list[np.ndarray], where: str, max_length: int | None) -> tuple[np.ndarray, np.ndarray]:
    frames = [np.asarray(x, dtype=np.float32).reshape(len(x), -1) for x in items]
    widths = {f.shape[1] for f in frames}
    if len(widths) > 1:
        raise ValueError(f"{where}: sequences have frames of different sizes {sorted(widths)}; one size per modality")
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    t = int(max_length or max(1, lengths.max()))
    out = np.zeros((len(frames), t, widths.pop()), dtype=np.float32)
    for i, f in enumerate(frames):
        out[i, : min(len(f), t)] = f[:t]
    return out, np.minimum(lengths, t)


def _image_layout(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):  # (N, H, W, C) -> (N, C, H, W)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def _kind_of(x: np.ndarray, sec: Mapping[str, Any], ragged: bool) -> str:
    declared = sec.get("kind")
    if declared is not None and declared not in KINDS:
        raise ValueError(f"kind: {declared!r} is not a modality kind; use one of {list(KINDS)}")
    if ragged:
        inferred = "tokens" if declared == "tokens" else "sequence"
    elif x.ndim <= 2:
        inferred = "tokens" if declared == "tokens" or (sec.get("vocab") and x.dtype.kind in "iu") else "vector"
    elif x.ndim == 3:
        inferred = "image" if declared == "image" else "sequence"
    elif x.ndim == 4:
        inferred = "image"
    else:
        raise ValueError(f"values of shape {x.shape} fit no modality kind; use (N, F), (N, T, F) or (N, C, H, W)")
    if declared is not None and declared != inferred:
        raise ValueError(f"declared kind: {declared} but the values {x.shape if not ragged else '(ragged)'} are a "
                         f"{inferred}; fix 'kind:' or the array")
    return inferred


def _vocab(sec: Mapping[str, Any], base: Path, where: str) -> tuple[str, ...]:
    vocab = sec.get("vocab")
    if vocab is None:
        raise ValueError(f"{where}: a tokens modality needs 'vocab:' (a list, or a file with one token a line)")
    if isinstance(vocab, str):
        vocab = (base / vocab).read_text().splitlines()
    return tuple(str(v) for v in vocab)


def modality(name: str, read: Read, sec: Mapping[str, Any], master: list[str], base: Path,
             where: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """One modality's tensors (``name``, ``name_lengths``) in ``master`` order, and its spec as plain values."""
    extra: dict[str, Any] = {}
    if read.paths:  # a folder of files, decoded in master order
        paths = align(read.paths, read.ids, master, where)
        if paths[0].suffix.lower() == ".wav":
            feats, lengths, rate = decode_wavs(paths, dict(sec), where)
            x, lengths = feats.numpy(), lengths.numpy()
            extra = {"frame_rate": rate, "log_mel": True}
        else:
            x, lengths = decode_pngs(paths, where), None
        ragged = False
    else:
        values, lengths = _per_example(read, len(master), where)
        values = align(values, read.ids, master, where)
        lengths = align(np.asarray(lengths).ravel(), read.ids, master, where) if lengths is not None else None
        ragged = isinstance(values, list)
        if ragged:
            x, lengths = _pad(values, where, sec.get("max_length"))
        else:
            x = np.asarray(values)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {read.label} holds {x.dtype} values; features must be numbers")
    try:
        kind = "sequence" if extra.get("log_mel") else "image" if read.paths else _kind_of(x, sec, ragged)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    if kind == "image":
        x = _image_layout(x)
    if kind == "vector" and x.ndim == 1:
        x = x[:, None]
    x = x.astype(np.int64) if kind == "tokens" else x.astype(np.float32)
    if kind == "tokens":
        extra["vocab"] = list(_vocab(sec, base, where))
        if lengths is None:
            lengths = (x != 0).sum(1)
    if kind == "sequence" and lengths is None:
        lengths = np.full(len(x), x.shape[1], dtype=np.int64)
    out = {name: torch.from_numpy(np.ascontiguousarray(x))}
    if kind in ("sequence", "tokens"):
        lengths = np.asarray(lengths).astype(np.int64)
        _check_lengths(lengths, x.shape[1], master, where)
        out[f"{name}_lengths"] = torch.from_numpy(lengths)
    if kind != "tokens":
        bad = ~np.isfinite(x)
        if bad.any():
            first = master[int(np.flatnonzero(bad.reshape(len(x), -1).any(1))[0])]
            raise ValueError(f"{where}: {read.label} holds {int(bad.sum())} NaN/Inf values (first in example "
                             f"{first!r}); clean or impute them (e.g. numpy.nan_to_num) before training")
    shape = tuple(int(s) for s in x.shape[1:])
    if sec.get("shape") is not None and tuple(int(s) for s in sec["shape"]) != shape:
        raise ValueError(f"{where}: declared shape {list(sec['shape'])} but each example is {list(shape)}; fix "
                         "'shape:' or the data")
    if sec.get("frame_rate") is not None:
        extra["frame_rate"] = float(sec["frame_rate"])
    return out, {"kind": kind, "shape": list(shape), **extra}


def _check_lengths(lengths: np.ndarray, t: int, master: list[str], where: str) -> None:
    if len(lengths) != len(master):
        raise ValueError(f"{where}: {len(lengths)} lengths for {len(master)} examples; give one per example")
    empty = [master[i] for i in np.flatnonzero(lengths <= 0)]
    if empty:
        raise ValueError(f"{where}: examples {_show(empty)} have empty sequences (length 0); drop them or give "
                         "each at least one frame")
    if (lengths > t).any():
        raise ValueError(f"{where}: lengths up to {int(lengths.max())} exceed the padded length {t}; fix 'lengths:'")


def labels_of(read: Read, master: list[str], target: str, classes: list[str] | None,
              where: str) -> tuple[torch.Tensor, list[str]]:
    """The labels in ``master`` order as the target's tensor, and the class / output / label names."""
    y = np.asarray(align(np.asarray(read.values), read.ids, master, where))
    if y.ndim == 2 and y.shape[1] == 1 and target != "multilabel":
        y = y[:, 0]
    if target == "classification":
        if y.ndim != 1:
            raise ValueError(f"{where}: classification needs one label per example, got shape {y.shape}; for "
                             "several labels per example set target: multilabel")
        if y.dtype.kind in "OSU":
            text = [v.decode() if isinstance(v, bytes) else str(v) for v in y]
            names = classes or sorted(set(text))
            index = {c: i for i, c in enumerate(names)}
            unknown = sorted({t for t in text if t not in index})
            if unknown:
                raise ValueError(f"{where}: labels {_show(unknown)} are not among the classes {names}; add them to "
                                 "'classes:' or fix the labels")
            return as_label_tensor(np.array([index[t] for t in text]), target), names
        if y.dtype.kind == "f" and (not np.isfinite(y).all() or (y != np.round(y)).any()):
            raise ValueError(f"{where}: classification labels must be whole class indices; {read.label} holds "
                             "fractions or NaN (for a continuous target set target: regression)")
        y = y.astype(np.int64)
        names = classes or [str(i) for i in range(int(y.max()) + 1)]
        bad = (y < 0) | (y >= len(names))
        if bad.any():
            first = master[int(np.flatnonzero(bad)[0])]
            raise ValueError(f"{where}: {int(bad.sum())} labels lie outside 0..{len(names) - 1} for the classes "
                             f"{names} (example {first!r} has {int(y[bad][0])}); fix the labels or list every class "
                             "in 'classes:'")
        return as_label_tensor(y, target), names
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {target} labels must be numbers; {read.label} holds {y.dtype}")
    if not np.isfinite(y.astype(np.float64)).all():
        raise ValueError(f"{where}: {read.label} holds NaN/Inf labels; drop those examples or fill them in")
    width = 1 if y.ndim == 1 else y.shape[1]
    names = classes or read.columns or ([("target" if target == "regression" else "label")] if width == 1 else
                                        [str(i) for i in range(width)])
    if target == "multilabel":
        if y.ndim != 2 or not np.isin(y, (0, 1)).all():
            raise ValueError(f"{where}: multi-label targets are an (N, labels) array of 0/1; {read.label} has "
                             f"shape {y.shape} with values {_show(np.unique(y).tolist())}")
    if len(names) != width:
        raise ValueError(f"{where}: {width} label columns but {len(names)} names {names}; fix 'classes:'")
    return as_label_tensor(y, target), list(names)


def split_of(section: Mapping[str, Any], master: list[str], base: Path, where: str) -> torch.Tensor:
    """``(N,)`` 0 train, 1 val, 2 test, -1 drawn by the datamodule, from a column or from id lists."""
    pos = {i: k for k, i in enumerate(master)}
    split = np.full(len(master), -1, dtype=np.int64)
    lists = {k: section[k] for k in ("train", "val", "test") if k in section}
    if lists:
        for name, ids in lists.items():
            ids = (base / ids).read_text().split() if isinstance(ids, str) else [str(i) for i in ids or []]
            if not ids:
                raise ValueError(f"{where}.{name} lists no ids; list the {name} examples or leave '{name}' out "
                                 "to draw them")
            unknown = [i for i in ids if i not in pos]
            if unknown:
                raise ValueError(f"{where}.{name}: ids {_show(unknown)} are not in the data set")
            idx = np.array([pos[i] for i in ids])
            if (split[idx] >= 0).any():
                raise ValueError(f"{where}.{name}: ids {_show([master[i] for i in idx[split[idx] >= 0]])} are "
                                 "already in another split")
            split[idx] = SPLIT_NAMES[name]
    else:
        read = read_source(dict(section), base, where, default_key="split")
        values = np.asarray(align(np.asarray(read.values).reshape(len(read.values), -1)[:, 0], read.ids, master,
                                  where))
        for i, v in enumerate(values):
            v = v.decode() if isinstance(v, bytes) else v
            if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() in ("", "-1"):
                continue
            key = str(v).strip().lower()
            code = SPLIT_NAMES.get(key, {"0": 0, "1": 1, "2": 2, "0.0": 0, "1.0": 1, "2.0": 2}.get(key))
            if code is None:
                raise ValueError(f"{where}: example {master[i]!r} has split {v!r}; use train, val (valid, dev) or "
                                 "test, or 0/1/2 (empty: drawn)")
            split[i] = code
    if not (split == -1).any():
        for name, code in (("train", 0), ("test", 2)):
            if not (split == code).any():
                raise ValueError(f"{where}: the '{name}' split is empty and every example is assigned elsewhere; "
                                 f"give it examples (or leave some unassigned to draw it)")
    return torch.from_numpy(split)


class FileDataset(MultimodalDataModule):
    """A data set read from files that a manifest names (``data=files data.manifest=...``).

    Args:
        manifest: a manifest YAML, a MultiBench affect pickle, or the manifest as a mapping.
        root: the folder that relative paths start from (default: the manifest's own folder).
        standardize: standardise float modalities with train statistics (default ``True``).
        **kwargs: see :class:`~mmml.data.datamodule.MultimodalDataModule` (modalities, batch_size, seed...).
    """

    name = "files"
    #: matched against a model config's ``requires.datasets`` (the records name the manifest's ``name``)
    config_name = "files"

    def __init__(self, manifest: str | os.PathLike | Mapping[str, Any], root: str | os.PathLike | None = None,
                 modalities: Sequence[str] | None = None, standardize: bool | Sequence[str] = True,
                 **kwargs: Any) -> None:
        super().__init__(modalities=modalities, standardize=standardize, **kwargs)
        self.manifest, self.base, self.where = load_manifest(manifest, root)
        self.name = self.manifest["name"]
        self.target_type = self.manifest["target"]
        self._memo: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        files = []
        for p in referenced_paths(self.manifest, self.base):
            st = p.stat() if p.exists() else None
            files.append([str(p.resolve()), st.st_size if st else None, st.st_mtime_ns if st else None])
        blob = json.dumps(self.manifest, sort_keys=True, default=str)
        return {"manifest": hashlib.sha256(blob.encode()).hexdigest()[:16], "files": files}

    def describe(self) -> tuple[dict[str, ModalitySpec], tuple[str, ...]]:
        data = self._data()
        specs = {m: ModalitySpec(m, s["kind"], tuple(s["shape"]), vocab=tuple(s["vocab"]) if s.get("vocab") else None,
                                 frame_rate=s.get("frame_rate"), log_mel=bool(s.get("log_mel", False)))
                 for m, s in data["_specs"].items()}
        return specs, tuple(data["_classes"])

    def build(self) -> dict[str, Any]:
        return self._data()

    def _data(self) -> dict[str, Any]:
        if self._memo is None:
            self._memo = self.cache.get_or_build(self.name, {"params": self.params(), "v": 1}, self.read)
        return self._memo

    def read(self) -> dict[str, Any]:
        """Read every source and return the tensors, plus ``_specs`` and ``_classes`` (plain values)."""
        mf, base, where = self.manifest, self.base, self.where
        if "multibench" in mf:
            return self._read_multibench(base / mf["multibench"])
        labels = read_source(mf["labels"], base, f"{where}, labels", default_key="label")
        ids_read = read_source(mf["ids"], base, f"{where}, ids", default_key="id") if "ids" in mf else None
        reads = {m: read_source(sec, base, f"{where}, modalities.{m}", default_key=m)
                 for m, sec in mf["modalities"].items()}
        if ids_read is not None:
            master = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(ids_read.values).ravel()]
        else:
            master = labels.ids or next((r.ids for r in reads.values() if r.ids is not None), None) or \
                [str(i) for i in range(len(labels.values))]
        if len(set(master)) != len(master):
            raise ValueError(f"{where}: the ids repeat; every example needs its own id")
        out: dict[str, Any] = {"_specs": {}}
        for m, read in reads.items():
            tensors, spec = modality(m, read, mf["modalities"][m], master, base, f"{where}, modalities.{m}")
            out.update(tensors)
            out["_specs"][m] = spec
        out["label"], out["_classes"] = labels_of(labels, master, mf["target"], mf.get("classes"), f"{where}, labels")
        if "split" in mf:
            out["split"] = split_of(mf["split"], master, base, f"{where}, split")
        return out

    def _read_multibench(self, path: Path) -> dict[str, Any]:
        from mmml.data.multibench import read_affect

        if not path.is_file():
            raise FileNotFoundError(f"{self.where}: MultiBench pickle {path} does not exist; fix 'multibench:'")
        raw = read_affect(path)
        out: dict[str, Any] = {"_specs": {}}
        for m, (x, lengths) in raw["modalities"].items():
            out[m], out[f"{m}_lengths"] = torch.from_numpy(x), torch.from_numpy(lengths)
            out["_specs"][m] = {"kind": "sequence", "shape": list(x.shape[1:])}
        read = Read(raw["label"], None, str(path))
        out["label"], out["_classes"] = labels_of(read, raw["ids"], self.target_type,
                                                  self.manifest.get("classes") or ["sentiment"], str(path))
        out["split"] = torch.from_numpy(raw["split"])
        return out
