"""The manifest of a file-based data set (``data=files``): a YAML file that names where everything lives.

Paths are relative to the manifest's folder. Every key is checked: a misspelt one is an error that
names it and the closest valid key. See ``docs/data.md`` for worked examples.

.. code-block:: yaml

    name: my_data                  # the records' data-set name (default: the manifest's file name)
    target: classification         # or regression, multilabel (mmml.data.targets)
    classes: [cat, dog]            # class / output / label names (default: from the labels)
    labels: {file: meta.csv, column: label, id_column: id}
    split: {file: meta.csv, column: split, id_column: id}   # train/val/test per id (val: also valid, dev)
    # split: {train: train.txt, test: [id3, id7]}           # or id lists (a file: one id a line)
    ids: {file: meta.csv, column: id}                       # optional: the ids, in this order
    modalities:
      image: {file: arrays.npz, key: image, ids: ids}       # (N, C, H, W), or (N, H, W) with kind: image
      audio: {file: feats.h5, key: audio, lengths: audio_lengths}  # padded (N, T, F) + lengths
      speech: {folder: wav, sample_rate: 16000}             # <id>.wav files -> log-mel frames
      table: {file: feats.parquet, columns: "f*", id_column: id}   # columns as a vector view

Or, for a MultiBench affect pickle, ``multibench: mosi_data.pkl`` instead of modalities, labels and split
(or give the pickle itself as the manifest).

Examples:
    >>> check_keys({"modalitys": {}}, TOP_KEYS, "manifest m.yaml")
    Traceback (most recent call last):
    ...
    ValueError: manifest m.yaml: unknown key 'modalitys' (did you mean 'modalities'?); valid keys: ...
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mmml.data.targets import check_target

TOP_KEYS = ("name", "description", "target", "classes", "ids", "labels", "split", "modalities", "multibench")
SOURCE_KEYS = ("file", "folder", "key", "column", "columns", "ids", "id_column", "lengths")
MODALITY_KEYS = SOURCE_KEYS + ("kind", "shape", "vocab", "frame_rate", "max_length", "sample_rate", "n_mels",
                               "hop_length", "n_fft", "max_frames")
SPLIT_KEYS = SOURCE_KEYS + ("train", "val", "test")
PICKLE_SUFFIXES = (".pkl", ".pickle")


def check_keys(section: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Raise on a key not in ``allowed``, naming the closest valid one."""
    allowed = list(allowed)
    for key in section:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: unknown key {key!r}{hint}; valid keys: {allowed}")


def _source(value: Any, where: str, allowed: Iterable[str] = SOURCE_KEYS) -> dict[str, Any]:
    """A source section; a bare string is shorthand for ``{file: <it>}``."""
    if isinstance(value, (str, os.PathLike)):
        return {"file": str(value)}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a file name or a mapping such as {{file: x.npz, key: x}}, got {value!r}")
    check_keys(value, allowed, where)
    return dict(value)


def load_manifest(manifest: str | os.PathLike | Mapping[str, Any], root: str | os.PathLike | None = None
                  ) -> tuple[dict[str, Any], Path, str]:
    """Read and check a manifest; returns ``(manifest, base folder, label for messages)``.

    ``manifest``: a YAML file, a MultiBench pickle (``.pkl``), or a mapping (its paths relative to ``root``,
    default the current folder).
    """
    if isinstance(manifest, Mapping):
        raw, base, where = dict(manifest), Path(root or ".").expanduser(), "manifest"
    else:
        path = Path(manifest).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"manifest {path} does not exist; set data.manifest to a manifest YAML or a "
                                    "MultiBench pickle (see docs/data.md)")
        base, where = Path(root).expanduser() if root else path.parent, f"manifest {path}"
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raw = {"name": path.stem, "multibench": path.name}
        else:
            try:
                raw = yaml.safe_load(path.read_text())
            except yaml.YAMLError as err:
                raise ValueError(f"{where} is not valid YAML: {err}") from err
            if not isinstance(raw, Mapping):
                raise ValueError(f"{where} must be a mapping with 'modalities', 'labels'... (see docs/data.md)")
            raw = dict(raw)
            raw.setdefault("name", path.stem)
    check_keys(raw, TOP_KEYS, where)
    out: dict[str, Any] = {"name": str(raw.get("name") or "files"), "target": check_target(
        str(raw.get("target", "regression" if "multibench" in raw else "classification")))}
    if raw.get("classes") is not None:
        out["classes"] = [str(c) for c in raw["classes"]]
    if "multibench" in raw:
        extra = [k for k in ("modalities", "labels", "split", "ids") if k in raw]
        if extra:
            raise ValueError(f"{where}: 'multibench' brings its own modalities, labels and split; remove {extra}")
        out["multibench"] = str(raw["multibench"])
        return out, base, where
    for key in ("modalities", "labels"):
        if key not in raw:
            raise ValueError(f"{where}: '{key}' is missing; a manifest names its modalities and labels "
                             "(or a MultiBench pickle with 'multibench:'), see docs/data.md")
    mods = raw["modalities"]
    if not isinstance(mods, Mapping) or not mods:
        raise ValueError(f"{where}: 'modalities' must map each modality name to its source, e.g. "
                         "{image: {file: x.npz, key: image}}")
    out["modalities"] = {str(m): _source(s, f"{where}, modalities.{m}", MODALITY_KEYS) for m, s in mods.items()}
    bad = [m for m in out["modalities"] if m == "label" or m.endswith(("_lengths", "_boundaries", "_present"))]
    if bad:
        raise ValueError(f"{where}: modality names {bad} clash with batch keys ('label', '<m>_lengths'...); rename")
    out["labels"] = _source(raw["labels"], f"{where}, labels")
    if raw.get("ids") is not None:
        out["ids"] = _source(raw["ids"], f"{where}, ids")
    if raw.get("split") is not None:
        out["split"] = _source(raw["split"], f"{where}, split", SPLIT_KEYS)
    return out, base, where


def referenced_paths(manifest: Mapping[str, Any], base: Path) -> list[Path]:
    """Every file the manifest names (folders expanded), for the feature cache's key."""
    sections = [manifest.get("labels"), manifest.get("ids"), manifest.get("split"),
                *manifest.get("modalities", {}).values()]
    paths = [base / manifest["multibench"]] if "multibench" in manifest else []
    for s in sections:
        if not s:
            continue
        if "file" in s:
            paths.append(base / s["file"])
        if "folder" in s and (base / s["folder"]).is_dir():
            paths.extend(sorted((base / s["folder"]).iterdir()))
        for name in ("train", "val", "test"):
            if isinstance(s.get(name), str):
                paths.append(base / s[name])
    return paths
