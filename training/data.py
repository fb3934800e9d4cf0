"""The data directory and checksum-verified downloads (pooch); each task's loaders live in training/<task>/data.py.

A file is looked for where the shared data folder keeps it (`relative_path` under the data directory: RNNZOO_DATA,
--data-dir, or the user cache) and checked against its pinned sha256 before use. If absent, pooch downloads the
canonical source (retries, a progress bar on a terminal) into `downloads/` beside it; the file the loader reads
(the source itself, or one member of its zip) is checked and moved into place only if it matches. Where the
canonical bytes differ from the copy the pins were taken from (a repacked archive, a file holding a withheld
split too), the pin is of what is read from it, computed by the file's `digest`, so a fresh download is checked
member by member. RNNZOO_DATA_MIRROR serves every source from a mirror laid out as the canonical hosts
(`{mirror}/{host}/{path}`): an air-gapped cluster, or the tests' server on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import pooch
import requests

DATA_ENV = "RNNZOO_DATA"
MIRROR_ENV = "RNNZOO_DATA_MIRROR"
DOWNLOADS = "downloads"  # under the data directory: the canonical files as fetched
RETRIES = 2  # further attempts after a failed download (pooch waits 1 s, then 2 s)


class DataError(RuntimeError):
    """Data that is missing, cannot be fetched, or does not match its published checksum."""


@dataclass(frozen=True)
class RemoteFile:
    relative_path: str  # where it lives inside the data directory
    url: str  # canonical source
    sha256: str  # of the file itself (for a zip member, of the member); with `digest`, what `digest` returns
    zip_member: str | None = None  # the file inside the downloaded zip, if the source is a zip
    # For a source whose bytes differ from the copy the project checks (the canonical file holds more, such
    # as a withheld split, or is packed differently): the sha256 of the part that is used, from the file's bytes.
    digest: Callable[[bytes], str] | None = None
    source_sha256: str | None = None  # of the canonical file as downloaded, where it is known

    def checksum(self, payload: bytes) -> str:
        """sha256 of the payload, or its digest's; "unreadable: ..." where a digest cannot read it (not the data)."""
        try:
            return (self.digest or sha256_hex)(payload)
        except Exception as error:  # a digest parses the file (a .mat, a tarball): what it cannot read is not the data
            return f"unreadable: {error!r}"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $RNNZOO_DATA, else the user cache directory."""
    if override:
        return Path(override)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "rnnzoo"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_url(url: str) -> str:
    """The canonical URL, or its copy on $RNNZOO_DATA_MIRROR (`{mirror}/{host}/{path}`)."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return url
    if urlsplit(mirror).scheme not in ("http", "https"):
        raise DataError(f"{MIRROR_ENV}={mirror!r} is not an http(s) URL such as http://mirror.internal:8080/data")
    parts = urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def fetch_source(url: str, directory: Path, known_hash: str | None = None, timeout_s: float = 120.0,
             hint: str = "") -> Path:
    """The canonical file at `url`, fetched by pooch into `directory`/downloads/{host}/{path} (or found there):
    retried, checked against `known_hash` when there is one. DataError saying what to do if it cannot be had."""
    parts = urlsplit(url)
    name = f"{parts.netloc}{parts.path}"  # named as the canonical source, from a mirror too
    url = source_url(url)
    fetcher = pooch.create(path=Path(directory) / DOWNLOADS, base_url="", registry={name: known_hash},
                           urls={name: url}, retry_if_failed=RETRIES)
    try:
        # pooch shows its progress bar through the downloader it is given (tqdm: the train extra)
        downloader = pooch.HTTPDownloader(timeout=timeout_s, progressbar=sys.stderr.isatty())
        return Path(fetcher.fetch(name, downloader=downloader))
    except requests.exceptions.RequestException as error:  # unreachable, 404, timeout, a malformed URL
        hint = hint or f"Point {DATA_ENV} or --data-dir at a folder that has the data"
        raise DataError(f"downloading {url} failed: {error}. {hint}") from None
    except ValueError as error:  # pooch: the hash does not match (the file is not kept)
        raise DataError(f"download of {url} does not match its sha256: {error}; not using it") from None
    except OSError as error:  # the downloads folder cannot be written
        raise DataError(f"cannot keep the download of {url} under {directory}: {error}") from None


def fetch(remote: RemoteFile, directory: Path, timeout_s: float = 120.0) -> Path:
    """The local path of `remote`, downloading it first if absent; never returns unverified bytes."""
    target = Path(directory) / remote.relative_path
    if target.exists():
        actual = remote.checksum(target.read_bytes())
        if actual != remote.sha256:
            raise DataError(f"{target} has sha256 {actual}, expected {remote.sha256}; "
                            f"delete it to download a fresh copy from {remote.url}")
        return target
    source = fetch_source(remote.url, directory, remote.source_sha256, timeout_s,
                      f"{target} is absent: point {DATA_ENV} or --data-dir at a folder that has {remote.relative_path}")
    try:
        if remote.zip_member:
            try:
                (extracted,) = pooch.Unzip(members=[remote.zip_member])(str(source), "download", None)
                payload = Path(extracted).read_bytes()
            except (zipfile.BadZipFile, KeyError, ValueError) as error:
                raise DataError(f"{remote.url} is not a zip holding {remote.zip_member}: {error}") from None
        else:
            payload = source.read_bytes()
        actual = remote.checksum(payload)
        if actual != remote.sha256:
            raise DataError(f"download of {remote.url} has sha256 {actual}, expected {remote.sha256}; not using it")
    except DataError:  # nothing unverified stays behind: the download and what was unzipped from it
        source.unlink(missing_ok=True)
        shutil.rmtree(f"{source}.unzip", ignore_errors=True)
        raise
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a crash never leaves a half file under the real name.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        partial.write(payload)
    shutil.move(partial.name, target)
    return target
