"""Every task's downloader against a server on 127.0.0.1 laid out as the canonical sources (issue 21): with an empty
data directory and RNNZOO_DATA_MIRROR pointing at it, each loader fetches its files through pooch, checks them,
and reads what it reads from the shared data folder; a source whose bytes differ from the pinned copy (the
PhysioNet tarballs) is checked by its records; a tampered source is refused and nothing of it kept."""
import io
import shutil
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.training.test_speech import release_tarball
from training.data import MIRROR_ENV, DataError, source_url
from training.generation.data import TINY_SHAKESPEARE, load_tinyshakespeare
from training.music.data import DATASETS, load_pieces
from training.sentiment.data import SST2_FILES, load_sst2
from training.speech.data import SOURCE as FSDD_SOURCE
from training.speech.data import load_recordings
from training.translation.data import REMOTE as MULTI30K
from training.translation.data import load_pairs
from training.vitals.data import PHYSIONET_FILES, PHYSIONET_OUTCOMES, load_physionet


def canonical_path(root: Path, url: str) -> Path:
    """Where the mirror serves `url`: {root}/{host}/{path}."""
    parts = urlsplit(url)
    path = root / parts.netloc / parts.path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def repacked(tarball: bytes, tamper: str | None = None) -> bytes:
    """The same records in other bytes, as the official tarball differs from the shared copy: another compression
    level, the members in reverse order, new modification times; `tamper` changes that record."""
    members = []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive:
            if member.isfile():
                data = archive.extractfile(member).read()
                members.append((member.name, data + b"\n00:01,HR,200" if member.name.endswith(tamper or "?") else data))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as archive:
        for name, data in reversed(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture()
def mirror(http_root, monkeypatch):
    root, url = http_root
    monkeypatch.setenv(MIRROR_ENV, url)
    return root


def test_the_mirror_keeps_the_canonical_layout(monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:8000/mirror/")
    assert source_url("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip") == \
        "http://127.0.0.1:8000/mirror/dl.fbaipublicfiles.com/glue/data/SST-2.zip"
    monkeypatch.delenv(MIRROR_ENV)
    assert source_url(TINY_SHAKESPEARE.url) == TINY_SHAKESPEARE.url


def test_text_generation_and_translation_download_their_files(mirror, data_dir, tmp_path):
    shutil.copy(data_dir / TINY_SHAKESPEARE.relative_path, canonical_path(mirror, TINY_SHAKESPEARE.url))
    for remote in MULTI30K.values():
        shutil.copy(data_dir / remote.relative_path, canonical_path(mirror, remote.url))
    fresh = tmp_path / "data"
    assert load_tinyshakespeare("validation", fresh) == load_tinyshakespeare("validation", data_dir)
    assert load_pairs("val", fresh) == load_pairs("val", data_dir)
    assert (fresh / TINY_SHAKESPEARE.relative_path).read_bytes() == (data_dir / TINY_SHAKESPEARE.relative_path).read_bytes()


def test_sentiment_unzips_its_members_from_the_glue_archive(mirror, data_dir, tmp_path):
    with zipfile.ZipFile(canonical_path(mirror, SST2_FILES["train"].url), "w") as archive:
        for remote in SST2_FILES.values():
            archive.write(data_dir / remote.relative_path, remote.zip_member)
        archive.writestr("SST-2/test.tsv", "index\tsentence\n0\tnot read\n")
    fresh = tmp_path / "data"
    dev = load_sst2("dev", fresh)
    assert dev.texts == load_sst2("dev", data_dir).texts
    assert load_sst2("train", fresh).labels == load_sst2("train", data_dir).labels


def test_vitals_checks_the_official_tarballs_by_their_records(mirror, data_dir, tmp_path):
    for name in ("set-a", "set-b"):
        canonical = canonical_path(mirror, PHYSIONET_FILES[name].url)
        canonical.write_bytes(repacked((data_dir / PHYSIONET_FILES[name].relative_path).read_bytes()))
        assert canonical.read_bytes() != (data_dir / PHYSIONET_FILES[name].relative_path).read_bytes()
        shutil.copy(data_dir / PHYSIONET_OUTCOMES[name].relative_path, canonical_path(mirror, PHYSIONET_OUTCOMES[name].url))
    fresh = tmp_path / "data"
    stays = load_physionet("set-b", fresh)
    assert [(s.record_id, s.record_text, s.died) for s in stays[:50]] == \
        [(s.record_id, s.record_text, s.died) for s in load_physionet("set-b", data_dir)[:50]]

    canonical_path(mirror, PHYSIONET_FILES["set-a"].url).write_bytes(
        repacked((data_dir / PHYSIONET_FILES["set-a"].relative_path).read_bytes(), tamper="132539.txt"))
    with pytest.raises(DataError, match="expected 57e29325"):
        load_physionet("set-a", fresh)
    assert not (fresh / PHYSIONET_FILES["set-a"].relative_path).exists()
    assert not [p for p in (fresh / "downloads").rglob("set-a*")]  # the refused download is not kept


def test_music_reads_its_rolls_from_the_mat_files(mirror, data_dir, tmp_path):
    for remote in DATASETS.values():
        shutil.copy(data_dir / remote.relative_path, canonical_path(mirror, remote.url))
    fresh = tmp_path / "data"
    for dataset in DATASETS:
        ours, shared = load_pieces(dataset, "validation", fresh), load_pieces(dataset, "validation", data_dir)
        assert len(ours) == len(shared) and all(np.array_equal(a, b) for a, b in zip(ours, shared))
    canonical_path(mirror, DATASETS["jsb"].url).write_bytes(b"MATLAB 5.0 MAT-file, but not the rolls")
    with pytest.raises(DataError):
        load_pieces("jsb", "train", tmp_path / "other")


def test_speech_keeps_the_five_speakers_of_the_release_tarball(mirror, data_dir, tmp_path):
    canonical_path(mirror, FSDD_SOURCE).write_bytes(release_tarball(data_dir / "fsdd"))
    fresh = tmp_path / "data"
    recordings = load_recordings(fresh)
    assert len(recordings) == 2500 and not list((fresh / "fsdd" / "recordings").glob("*theo*"))
    assert not [p for p in (fresh / "downloads").rglob("*.tar.gz")]  # unpacked, then not kept


def test_an_unreachable_source_says_where_to_put_the_data(mirror, tmp_path):
    with pytest.raises(DataError, match="RNNZOO_DATA or --data-dir"):
        load_pairs("val", tmp_path / "data")
