"""Reading one source of a manifest (:mod:`mmml.data.files`): arrays, tables, or a folder of wav/png files.

A *source* is a manifest section (a mapping) naming where values live:

- ``file: x.npy`` (``numpy.load(allow_pickle=False)``), ``file: x.npz`` + ``key`` (an array name; a
  one-array file needs none), ``file: x.h5`` + ``key`` (a dataset, or a group of one dataset per id:
  a ragged sequence), ``file: x.csv`` / ``x.parquet`` + ``columns`` (a list, or one ``fnmatch``
  pattern such as ``"f*"``; default: every numeric column but the ids) or ``column`` (one);
- ``folder: wav/`` or ``folder: png/``: one file per example, named ``<id>.wav`` / ``<id>.png``.

Ids (optional for files): ``ids: <array or dataset name>`` (npz, HDF5) or ``id_column: <name>``
(tables); a folder's ids are its file names. Every reader returns a :class:`Read`. Nothing is
unpickled: npy/npz load with ``allow_pickle=False``, HDF5 through h5py, tables through pandas/pyarrow.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); np.savez(d / "x.npz", a=np.zeros((3, 2)))
    >>> read_source({"file": "x.npz", "key": "a"}, d, "modality 'a'").values.shape
    (3, 2)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ARRAYS = (".npy", ".npz")
HDF5 = (".h5", ".hdf5", ".hdf")
TABLES = (".csv", ".tsv", ".parquet", ".pq")
FOLDER_KINDS = {".wav": "audio", ".png": "image"}


@dataclass
class Read:
    """What a source holds.

    ``values``: an ``(N, ...)`` array, or a list of per-example arrays (ragged sequences, images from
    a folder); ``ids``: per-row ids or ``None`` (rows follow the manifest's id order); ``lengths``:
    per-example frame counts when the source names them; ``columns``: a table's column names;
    ``paths``: the files of a folder (for wav and png decoding); ``label``: where it came from.
    """

    values: Any
    ids: list[str] | None
    label: str
    lengths: np.ndarray | None = None
    columns: list[str] | None = None
    paths: list[Path] = field(default_factory=list)


def resolve(base: Path, name: str, where: str, folder: bool = False) -> Path:
    """``base / name``, raising naming the manifest field when it does not exist."""
    path = (base / str(name)).expanduser()
    if folder and not path.is_dir():
        raise FileNotFoundError(f"{where}: folder {path} does not exist; fix 'folder:' in the manifest (paths are "
                                f"relative to the manifest's folder {base})")
    if not folder and not path.is_file():
        raise FileNotFoundError(f"{where}: file {path} does not exist; fix 'file:' in the manifest (paths are "
                                f"relative to the manifest's folder {base})")
    return path


def read_source(section: dict[str, Any], base: Path, where: str, default_key: str | None = None) -> Read:
    """Read the source a manifest section names (see the module docstring).

    ``default_key``: the npz array / HDF5 dataset read when the section sets no ``key`` (the modality's name).
    """
    if "folder" in section:
        return read_folder(resolve(base, section["folder"], where, folder=True), where)
    if "file" not in section:
        raise ValueError(f"{where}: name a 'file:' (npy, npz, h5, csv, parquet) or a 'folder:' (wav, png files)")
    path = resolve(base, section["file"], where)
    suffix = path.suffix.lower()
    if suffix in ARRAYS:
        return _read_numpy(path, section, where, default_key)
    if suffix in HDF5:
        return _read_hdf5(path, section, where, default_key)
    if suffix in TABLES:
        return _read_table(path, section, where)
    raise ValueError(f"{where}: {path.name} has suffix {suffix!r}; use one of "
                     f"{list(ARRAYS + HDF5 + TABLES)} or a folder of .wav/.png files")


def _as_ids(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(len(values), -1)[:, 0]]


def _guarded(read: Callable[[], Any], what: str, where: str) -> Any:
    """Run a numpy read of ``what``; its errors become ones that name it and the fix."""
    try:
        return read()
    except Exception as err:  # ValueError, zlib, zipfile or EOF errors of a cut file
        if isinstance(err, ValueError) and "allow_pickle" in str(err):
            raise ValueError(f"{where}: {what} holds Python objects (e.g. a ragged array saved as dtype=object), "
                             "which mmml never unpickles; save ragged sequences packed, frames stacked as (total "
                             "frames, F) with a 'lengths' array, or padded as (N, T, F) with 'lengths'") from err
        raise ValueError(f"{where}: {what} is truncated or not a numpy file ({err}); write it again") from err


def _npz_get(npz: Any, path: Path, key: str, where: str) -> np.ndarray:
    if key not in npz.files:
        raise KeyError(f"{where}: {path.name} has no array {key!r}; its arrays are {npz.files} (set 'key:')")
    return _guarded(lambda: npz[key], f"array {key!r} of {path}", where)


def _read_numpy(path: Path, section: dict[str, Any], where: str, default_key: str | None) -> Read:
    loaded = _guarded(lambda: np.load(path, allow_pickle=False), str(path), where)
    if isinstance(loaded, np.ndarray):
        return Read(loaded, None, str(path))
    with loaded as npz:
        key = section.get("key") or (default_key if default_key in npz.files else None)
        if key is None:
            data_keys = [k for k in npz.files if k not in (section.get("ids"), section.get("lengths"))]
            if len(data_keys) != 1:
                raise ValueError(f"{where}: {path.name} holds arrays {npz.files}; say which with 'key:'")
            key = data_keys[0]
        values = _npz_get(npz, path, key, where)
        ids = _as_ids(_npz_get(npz, path, section["ids"], where)) if section.get("ids") else None
        lengths = _npz_get(npz, path, section["lengths"], where) if section.get("lengths") else None
    return Read(values, ids, f"{path}:{key}", lengths=lengths)


def _read_hdf5(path: Path, section: dict[str, Any], where: str, default_key: str | None) -> Read:
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py is in the files extra
        raise ImportError(f"{where}: reading {path.name} needs h5py: pip install 'mmml[files]'") from err
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{where}: {path} is truncated or not an HDF5 file ({err}); write it again") from err
    with f:
        key = section.get("key") or default_key
        if key not in f:
            raise KeyError(f"{where}: {path.name} has no dataset {key!r}; it holds {sorted(f.keys())} (set 'key:')")
        item = f[key]
        try:
            if isinstance(item, h5py.Group):  # ragged: one dataset per id
                names = sorted(item.keys())
                values, ids = [np.asarray(item[n][()]) for n in names], names
            else:
                values = np.asarray(item[()])
                ids = _as_ids(f[section["ids"]][()]) if section.get("ids") else None
            lengths = np.asarray(f[section["lengths"]][()]) if section.get("lengths") else None
        except KeyError as err:
            raise KeyError(f"{where}: {path.name} lacks {err}; it holds {sorted(f.keys())}") from err
        except OSError as err:
            raise ValueError(f"{where}: {path} is truncated or corrupt ({err}); write it again") from err
    return Read(values, ids, f"{path}:{key}", lengths=lengths)


def _read_table(path: Path, section: dict[str, Any], where: str) -> Read:
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except ImportError as err:  # pragma: no cover - pyarrow is in the files extra
        raise ImportError(f"{where}: reading {path.name} needs pyarrow: pip install 'mmml[files]'") from err
    except Exception as err:
        raise ValueError(f"{where}: {path} is truncated or not a table ({type(err).__name__}: {err}); "
                         "write it again") from err
    id_col = section.get("id_column")
    if id_col is not None and id_col not in table.columns:
        raise KeyError(f"{where}: {path.name} has no id column {id_col!r}; its columns are {list(table.columns)}")
    wanted = section.get("columns", section.get("column"))
    if wanted is None:
        columns = [c for c in table.columns if c != id_col and pd.api.types.is_numeric_dtype(table[c])]
    elif isinstance(wanted, str) and wanted not in table.columns:
        columns = [c for c in table.columns if fnmatch.fnmatch(str(c), wanted) and c != id_col]
    else:
        columns = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [c for c in columns if c not in table.columns]
    if missing or not columns:
        raise KeyError(f"{where}: {path.name} has no column(s) {missing or wanted}; its columns are "
                       f"{list(table.columns)}")
    values = table[columns].to_numpy()
    if "column" in section and isinstance(wanted, str):
        values = values[:, 0]
    ids = [str(v) for v in table[id_col].tolist()] if id_col is not None else None
    return Read(values, ids, str(path), columns=[str(c) for c in columns])


def read_folder(folder: Path, where: str) -> Read:
    """The ``.wav`` or ``.png`` files of ``folder`` (not decoded yet), ids = file names without suffix."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FOLDER_KINDS)
    kinds = {p.suffix.lower() for p in files}
    if not files:
        raise FileNotFoundError(f"{where}: folder {folder} holds no .wav or .png files (named <id>.wav / <id>.png)")
    if len(kinds) > 1:
        raise ValueError(f"{where}: folder {folder} mixes {sorted(kinds)} files; one folder per modality")
    return Read(None, [p.stem for p in files], str(folder), paths=files)


def decode_wavs(paths: list[Path], section: dict[str, Any], where: str) -> tuple[Any, Any, float]:
    """Log-mel frames of mono wav files (:class:`mmml.data.audio.LogMel`): ``(feats, lengths, frame_rate)``.

    ``sample_rate`` (default: the first file's) must be every file's; ``hop_length`` (default 10 ms),
    ``n_fft`` (default: the power of two at or above 25 ms), ``n_mels`` (40) and ``max_frames``
    (default: the longest file's) set the features.
    """
    import soundfile as sf

    from mmml.data.audio import LogMel, read_wav

    rates = {}
    for p in paths:
        try:
            rates[p] = sf.info(str(p)).samplerate
        except Exception as err:
            raise ValueError(f"{where}: {p} is corrupt or not a wav ({err}); delete it or write it again") from err
    rate = int(section.get("sample_rate") or rates[paths[0]])
    for p, r in rates.items():
        if r != rate:
            raise ValueError(f"{where}: {p} is at {r} Hz but {rate} Hz is expected ('sample_rate:' in the manifest, "
                             "else the first file's); resample it (torchaudio.functional.resample) or remove it")
    waves = [read_wav(p, rate) for p in paths]
    hop = int(section.get("hop_length") or max(1, rate // 100))
    n_fft = int(section.get("n_fft") or 2 ** int(np.ceil(np.log2(0.025 * rate))))
    max_frames = int(section.get("max_frames") or 1 + max(len(w) for w in waves) // hop)
    logmel = LogMel(sample_rate=rate, n_fft=n_fft, hop_length=hop, n_mels=int(section.get("n_mels", 40)),
                    max_frames=max_frames)
    feats, lengths = logmel(waves)
    return feats, lengths, logmel.frame_rate


def decode_pngs(paths: list[Path], where: str) -> np.ndarray:
    """PNG files as one ``(N, C, H, W)`` float32 array in [0, 1]: grey (C=1) or RGB (C=3), one size for all."""
    from PIL import Image

    images = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                grey = im.mode in ("1", "L", "I", "I;16", "F")
                arr = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0
        except Exception as err:
            raise ValueError(f"{where}: {p} is corrupt or not a png ({err}); delete it or write it again") from err
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if images and arr.shape != images[0].shape:
            raise ValueError(f"{where}: {p.name} is {arr.shape} (C, H, W) but {paths[0].name} is {images[0].shape}; "
                             "resize the images to one size (and one colour mode)")
        images.append(arr)
    return np.stack(images)
