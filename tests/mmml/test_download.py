"""Safe by default: downloads checked against pinned digests, archives that cannot escape their folder."""

import io
import tarfile
import zipfile

import numpy as np
import pytest

from mmml.data.download import ChecksumError, download, fetch_fsdd, fetch_mfeat, safe_extract, sha256_file
from mmml.data.fsdd import FSDD
from mmml.data.mfeat import read_mfeat


def test_download_checks_sha256_and_leaves_nothing_on_mismatch(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    good = download(src.as_uri(), tmp_path / "out" / "a.bin", sha256=sha256_file(src))
    assert good.read_bytes() == b"hello"
    with pytest.raises(ChecksumError, match="expected 00"):
        download(src.as_uri(), tmp_path / "out" / "b.bin", sha256="00" * 32)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bin"]  # no partial file


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_members_escaping_the_target_are_refused(tmp_path, name):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(name, "evil")
    with pytest.raises(ValueError, match="outside"):
        safe_extract(archive, tmp_path / "x")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "x" / "fine.txt").exists()


def test_tar_links_and_escapes_are_refused(tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(ValueError, match="link"):
        safe_extract(archive, tmp_path / "x")
    ok = tmp_path / "ok.tar"
    with tarfile.open(ok, "w") as tf:
        data = b"fine"
        info = tarfile.TarInfo("d/fine.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert [p.read_bytes() for p in safe_extract(ok, tmp_path / "y")] == [b"fine"]


def test_fsdd_download_keeps_only_verified_recordings(fsdd_dir, tmp_path):
    archive = tmp_path / "fsdd.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for p in sorted((fsdd_dir / "recordings").glob("*.wav")):
            zf.write(p, f"free-spoken-digit-dataset-1.0.10/recordings/{p.name}")
        zf.write(fsdd_dir / "recordings" / "0_george_0.wav", "fsdd-1.0.10/recordings/0_lucas_0.wav")
    with pytest.warns(UserWarning, match="1 FSDD recordings of speakers outside"):
        out = fetch_fsdd(tmp_path / "root" / "fsdd", url=archive.as_uri())
    assert len(list(out.glob("*.wav"))) == 2500 and not (out / "0_lucas_0.wav").exists()
    dm = FSDD(root=str(tmp_path / "root"), cache=False, speakers=["theo"])
    dm.setup()
    assert len(dm.split("test")["label"]) == 50


def test_fsdd_download_with_tampered_file_is_rejected(fsdd_dir, tmp_path):
    archive = tmp_path / "fsdd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted((fsdd_dir / "recordings").glob("*.wav"))[:-1]:
            zf.write(p, f"r/recordings/{p.name}")
        last = sorted((fsdd_dir / "recordings").glob("*.wav"))[-1]
        zf.writestr(f"r/recordings/{last.name}", last.read_bytes()[:-2] + b"\x00\x01")
    with pytest.raises(ChecksumError, match="do not match the pinned digest"):
        fetch_fsdd(tmp_path / "fsdd", url=archive.as_uri())
    assert not (tmp_path / "fsdd" / "recordings").exists()


def test_mfeat_download_checks_values_and_writes_labelled_csvs(mfeat_dir, tmp_path):
    views, labels = read_mfeat(mfeat_dir)
    archive = tmp_path / "mfeat.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for v in views:
            raw = np.loadtxt(mfeat_dir / f"mfeat-{v}.csv", delimiter=",", skiprows=1)[:, :-1]
            buf = io.StringIO()
            np.savetxt(buf, raw, fmt="%.10g")
            zf.writestr(f"mfeat-{v}", buf.getvalue())
    folder = fetch_mfeat(tmp_path / "mfeat", url=archive.as_uri())
    again, again_labels = read_mfeat(folder)
    assert np.array_equal(again_labels, labels)
    for v in views:
        assert np.allclose(again[v], views[v], rtol=1e-6)
