"""MultiBench affect pickles (CMU-MOSI, CMU-MOSEI; Liang et al., "MultiBench", NeurIPS 2021 Datasets),
read through a restricted unpickler that never runs code.

Layout: ``{"train" | "valid" | "test": {"vision": (N, T, Fv), "audio": (N, T, Fa), "text": (N, T, Ft),
"labels": (N, 1, 1) sentiment in [-3, 3], "id": (N, ...)}}``. Sequences are padded at the front with
all-zero frames (MultiBench's loader drops them); here each modality's leading all-zero frames are
padding, the rest is moved to the front and its count is ``<m>_lengths`` (mmml pads at the end); an
example whose modality is all zeros keeps one zero frame.
Like MultiBench's loader, non-finite features (COVAREP audio has ``-inf``) become 0, with a warning.

A pickle is a program: :class:`RestrictedUnpickler` only lets it build numpy arrays, dicts, lists,
tuples, sets, strings, bytes and numbers (``pickle.Unpickler.find_class`` restricted, as the Python
documentation's "Restricting Globals" recipe does); anything else is refused naming the
``module.name`` it asked for.

Examples:
    >>> import io, pickle
    >>> blob = pickle.dumps({"x": np.arange(3), "names": ["a", "b"]})
    >>> RestrictedUnpickler(io.BytesIO(blob)).load()["x"].tolist()
    [0, 1, 2]
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = {"train": 0, "valid": 1, "test": 2}
MODALITIES = ("vision", "audio", "text")
#: numpy's array-reconstruction callables (numpy 1.x names, numpy 2 moved them to ``numpy._core``)
NUMPY_SAFE = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
              ("numpy.core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer")}
_NUMPY_CORE = "numpy._core" if importlib.util.find_spec("numpy._core") else "numpy.core"
BUILTINS_SAFE = {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float",
                 "complex", "bool"}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something other than numpy arrays and builtin containers, strings and numbers."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickle numpy arrays, dicts, lists, tuples, sets, strings, bytes and numbers only.

    Protocol-2 pickles written by Python 3 encode ``bytes`` through ``_codecs.encode``, which is allowed
    too; Python 2's ``__builtin__`` names map to ``builtins``. ``source`` names the file in errors.
    """

    def __init__(self, file: Any, source: str = "pickle") -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        canonical = module.replace("numpy._core", "numpy.core")
        if module in ("builtins", "__builtin__") and name in BUILTINS_SAFE:
            return super().find_class("builtins", name)
        if (canonical, name) in NUMPY_SAFE:
            return super().find_class(canonical.replace("numpy.core", _NUMPY_CORE), name)
        if (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.source}: the pickle asks for {module}.{name}, which a data file never needs; refused, since "
            "loading it could run code. Only numpy arrays, dicts, lists, strings and numbers are read: save the "
            "data with numpy.savez (or as a MultiBench dict of arrays) and try again")


def safe_load(path: str | os.PathLike) -> Any:
    """Load a pickle file with :class:`RestrictedUnpickler`; a truncated file is an error naming it."""
    path = Path(path)
    try:
        return RestrictedUnpickler(io.BytesIO(path.read_bytes()), source=str(path)).load()
    except UnsafePickleError:
        raise
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"{path} is truncated or not a pickle ({type(err).__name__}: {err}); "
                         "download or write it again") from err


def _left_align(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Front-padded ``(N, T, F)`` -> end-padded, with each example's frame count (leading all-zero rows dropped)."""
    nonzero = np.abs(x).sum(axis=2) > 0
    first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), x.shape[1])
    lengths = x.shape[1] - first
    out = np.zeros_like(x)
    for i, (start, n) in enumerate(zip(first, lengths, strict=True)):
        out[i, :n] = x[i, start:]
    return out, lengths.astype(np.int64)


def _ids(value: Any, n: int, split: str) -> list[str]:
    if value is None:
        return [f"{split}/{i}" for i in range(n)]
    rows = np.asarray(value, dtype=object).reshape(n, -1)
    return ["_".join(v.decode() if isinstance(v, bytes) else str(v) for v in row) for row in rows]


def read_affect(path: str | os.PathLike) -> dict[str, Any]:
    """Read a MultiBench affect pickle; returns ``{"modalities": {m: (x, lengths)}, "label", "split", "ids"}``.

    ``x``: ``(N, T, F)`` float32 end-padded; ``label``: ``(N,)`` (or ``(N, k)``) float32; ``split``:
    ``(N,)`` 0 train, 1 valid, 2 test; ``ids``: strings (MultiBench's ``id`` rows joined by ``_``).
    """
    data = safe_load(path)
    if not isinstance(data, dict) or any(s not in data for s in SPLITS):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: a MultiBench affect pickle is a dict with {list(SPLITS)}; this one has {keys}")
    present = [m for m in MODALITIES if m in data["train"]]
    if not present:
        raise ValueError(f"{path}: split 'train' has none of the modalities {list(MODALITIES)}")
    chunks: dict[str, list[np.ndarray]] = {m: [] for m in present}
    labels, split, ids = [], [], []
    for name, code in SPLITS.items():
        part = data[name]
        missing = [k for k in (*present, "labels") if k not in part]
        if missing:
            raise ValueError(f"{path}: split {name!r} lacks {missing}; every split needs {[*present, 'labels']}")
        n = len(part["labels"])
        if n == 0:
            raise ValueError(f"{path}: split {name!r} is empty; a MultiBench pickle has examples in every split")
        for m in present:
            x = np.asarray(part[m], dtype=np.float32)
            if x.ndim != 3 or len(x) != n:
                raise ValueError(f"{path}: {name}/{m} has shape {x.shape}; expected ({n}, T, F) like its labels")
            chunks[m].append(x)
        y = np.asarray(part["labels"], dtype=np.float32).reshape(n, -1)
        labels.append(y[:, 0] if y.shape[1] == 1 else y)
        split.append(np.full(n, code, dtype=np.int64))
        ids += _ids(part.get("id"), n, name)
    out: dict[str, Any] = {"modalities": {}, "label": np.concatenate(labels), "split": np.concatenate(split),
                           "ids": ids}
    for m, parts in chunks.items():
        width = max(p.shape[1] for p in parts)
        x = np.concatenate([np.pad(p, ((0, 0), (width - p.shape[1], 0), (0, 0))) for p in parts])
        bad = ~np.isfinite(x)
        if bad.any():
            warnings.warn(f"{path}: modality {m!r} holds {int(bad.sum())} non-finite values; set to 0 as "
                          "MultiBench's loader does", stacklevel=2)
            x = np.where(bad, 0.0, x).astype(np.float32)
        x, lengths = _left_align(x)
        if (lengths == 0).any():
            warnings.warn(f"{path}: modality {m!r} is all zeros (absent) in {int((lengths == 0).sum())} examples; "
                          "each keeps one zero frame", stacklevel=2)
        out["modalities"][m] = (x, np.maximum(lengths, 1))
    return out
