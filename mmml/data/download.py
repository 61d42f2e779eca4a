"""Fetching real data sets from their public homes, safely: checksums before use, no path escapes.

Nothing downloaded is used before it is checked against a digest pinned here; archives are
extracted member by member, refusing any member that would land outside the target folder (absolute
paths, ``..``, links); every file is written to a temporary name and renamed when complete.

Pins: FSDD recordings (Jackson et al., CC BY-SA 4.0) are checked file by file against the digest of
the 2,500 recordings of speakers george, jackson, nicolas, theo and yweweler; recordings of other
speakers in the archive cannot be verified and are left out, with a warning. UCI Multiple Features
(van Breukelen et al. 1998, CC BY 4.0) is checked on its parsed values, view by view.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
from pathlib import Path

import numpy as np

from mmml.io import atomic_write

FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.zip"
FSDD_KNOWN_DIGEST = "bcbeff5e932d8044c568f9328797022709156a65c8e084fab28071460f35e496"
FSDD_KNOWN_SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
MFEAT_URL = "https://archive.ics.uci.edu/static/public/72/multiple+features.zip"
MFEAT_DIGESTS = {
    "fou": "02b7797e21bd296fb602e2144e9667ca3423907ae2bbee1b95dc0a6218330c91",
    "fac": "9b0ec35b591d5e71c3e72762dcb14280997659bd3a5db689903d6ed7a00f0717",
    "kar": "96e4613832c7458d092e9d06500f9982944256b42fea99583751badc7283749e",
    "pix": "e8bdfbd1d74394d5954e186f2aab1bccd259b28c334318e5a670bba2de48b9e0",
    "zer": "a942b80c25bb3096d391efc30a737659dfb7147b1d36419f9648cb4a56882e17",
    "mor": "a3f2453c73acf36b59c8add222626f605d1ee610bfaae054234608e6871147e5",
}


class ChecksumError(ValueError):
    """Downloaded content does not match its pinned digest; it was discarded."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through a temporary file; with ``sha256``, refuse a mismatch."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if sha256 is not None and h.hexdigest() != sha256:
            raise ChecksumError(f"{url} has sha256 {h.hexdigest()}, expected {sha256}; the download was discarded")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _inside(target: Path, name: str) -> Path:
    path = (target / name).resolve()
    if name.startswith(("/", "\\")) or os.path.isabs(name) or not path.is_relative_to(target.resolve()):
        raise ValueError(f"archive member {name!r} would be written outside {target}; refusing to extract it")
    return path


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Extract a zip or tar archive into ``target``, refusing members that escape it or are links."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for m in members:  # check every member before writing any
                _inside(target, m.filename)
                if (m.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ValueError(f"archive member {m.filename!r} is a symbolic link; refusing to extract it")
            for m in members:
                path = _inside(target, m.filename)
                if m.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(m) as src:
                    atomic_write(path, lambda f, src=src: shutil.copyfileobj(src, f), mode="wb")
                written.append(path)
        return written
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            _inside(target, m.name)
            if m.issym() or m.islnk() or m.isdev():
                raise ValueError(f"archive member {m.name!r} is a link or device; refusing to extract it")
        for m in members:
            path = _inside(target, m.name)
            if m.isdir():
                path.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                src = tf.extractfile(m)
                atomic_write(path, lambda f, src=src: shutil.copyfileobj(src, f), mode="wb")
                written.append(path)
    return written


def fsdd_digest(files: dict[str, bytes]) -> str:
    """Digest of recordings: sha256 of the sorted lines ``"<name> <sha256>"``."""
    lines = "".join(f"{name} {hashlib.sha256(data).hexdigest()}\n" for name, data in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def fetch_fsdd(folder: str | os.PathLike, url: str = FSDD_URL) -> Path:
    """Download FSDD into ``folder/recordings``, keeping only recordings verified against the pin."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory(dir=folder.parent if folder.parent.exists() else None) as tmp:
        archive = download(url, Path(tmp) / "fsdd.zip")
        safe_extract(archive, Path(tmp) / "x")
        wavs = {p.name: p for p in (Path(tmp) / "x").rglob("recordings/*.wav")}
        known = {n: p.read_bytes() for n, p in wavs.items() if n.split("_")[1] in FSDD_KNOWN_SPEAKERS}
        if fsdd_digest(known) != FSDD_KNOWN_DIGEST:
            raise ChecksumError(f"the FSDD recordings from {url} do not match the pinned digest; nothing was kept")
        dropped = len(wavs) - len(known)
        if dropped:
            warnings.warn(f"{dropped} FSDD recordings of speakers outside {FSDD_KNOWN_SPEAKERS} cannot be verified "
                          "against the pin and were left out", stacklevel=2)
        out = folder / "recordings"
        out.mkdir(parents=True, exist_ok=True)
        for name, data in known.items():
            atomic_write(out / name, lambda f, data=data: f.write(data), mode="wb")
    return out


def mfeat_digest(values: np.ndarray) -> str:
    """Digest of one view's values (float64, little-endian, row-major)."""
    return hashlib.sha256(np.ascontiguousarray(values).astype("<f8").tobytes()).hexdigest()


def fetch_mfeat(folder: str | os.PathLike, url: str = MFEAT_URL) -> Path:
    """Download UCI Multiple Features, check each view's values, write ``mfeat-<view>.csv`` with labels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        archive = download(url, Path(tmp) / "mfeat.zip")
        safe_extract(archive, Path(tmp) / "x")
        views = {}
        for view, digest in MFEAT_DIGESTS.items():
            found = [p for p in (Path(tmp) / "x").rglob(f"mfeat-{view}") if p.is_file()]
            if not found:
                raise ChecksumError(f"{url} holds no mfeat-{view}; nothing was kept")
            values = np.loadtxt(found[0])
            if mfeat_digest(values) != digest:
                raise ChecksumError(f"mfeat-{view} from {url} does not match the pinned digest; nothing was kept")
            views[view] = values
        labels = np.repeat(np.arange(10), 200)
        for view, values in views.items():
            buf = io.StringIO()
            np.savetxt(buf, np.column_stack([values, labels]), delimiter=",", fmt="%.10g",
                       header=",".join(str(i) for i in range(values.shape[1] + 1)), comments="")
            text = buf.getvalue()
            atomic_write(folder / f"mfeat-{view}.csv", lambda f, text=text: f.write(text))
    return folder
