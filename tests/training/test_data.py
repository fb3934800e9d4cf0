"""training.data, the downloader: where data goes, and fetching against a real HTTP server on 127.0.0.1
(checksums, zip members, corrupted copies, unreachable sources)."""
import hashlib
import io
import zipfile

import pytest

from tests.helpers import SST2_PAYLOAD as PAYLOAD
from training.data import DATA_ENV, DataError, RemoteFile, data_dir, fetch


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "rnnzoo"


RIGHT = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_with_the_right_checksum(http_root, tmp_path):
    root, url = http_root
    (root / "train.tsv").write_bytes(PAYLOAD)
    remote = RemoteFile("sst2/train.tsv", f"{url}/train.tsv", RIGHT)
    path = fetch(remote, tmp_path / "data")
    assert path.read_bytes() == PAYLOAD
    (root / "train.tsv").unlink()  # a second call uses the verified local copy
    assert fetch(remote, tmp_path / "data") == path


def test_download_with_a_wrong_checksum_is_refused_and_not_kept(http_root, tmp_path):
    root, url = http_root
    (root / "train.tsv").write_bytes(PAYLOAD + b"tampered\t1\n")
    remote = RemoteFile("sst2/train.tsv", f"{url}/train.tsv", RIGHT)
    with pytest.raises(DataError, match="expected " + RIGHT):
        fetch(remote, tmp_path / "data")
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]  # not even a partial file


def test_zip_member_is_extracted_and_verified(http_root, tmp_path):
    root, url = http_root
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("SST-2/train.tsv", PAYLOAD)
    (root / "SST-2.zip").write_bytes(archive.getvalue())
    remote = RemoteFile("sst2/train.tsv", f"{url}/SST-2.zip", RIGHT, zip_member="SST-2/train.tsv")
    assert fetch(remote, tmp_path / "data").read_bytes() == PAYLOAD
    wrong_member = RemoteFile("sst2/dev.tsv", f"{url}/SST-2.zip", RIGHT, zip_member="SST-2/dev.tsv")
    with pytest.raises(DataError, match="not a zip holding SST-2/dev.tsv"):
        fetch(wrong_member, tmp_path / "data")


def test_a_corrupted_local_copy_is_not_used(tmp_path):
    target = tmp_path / "sst2" / "train.tsv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"sentence\tlabel\n")
    with pytest.raises(DataError, match="delete it"):
        fetch(RemoteFile("sst2/train.tsv", "http://127.0.0.1:9/x", RIGHT), tmp_path)


def test_unreachable_source_says_how_to_point_at_local_data(http_root, tmp_path):
    _, url = http_root
    with pytest.raises(DataError, match="RNNZOO_DATA"):
        fetch(RemoteFile("sst2/train.tsv", f"{url}/absent.tsv", RIGHT), tmp_path)


def test_shared_data_passes_its_published_checksums(data_dir):
    from training.sentiment.data import SST2_FILES

    for remote in SST2_FILES.values():
        assert fetch(remote, data_dir).exists()
