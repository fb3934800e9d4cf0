"""The data directory and checksum-verified downloads; each task's loaders live in training/<task>/data.py."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DATA_ENV = "RNNZOO_DATA"


class DataError(RuntimeError):
    """Data that is missing, cannot be fetched, or does not match its published checksum."""


@dataclass(frozen=True)
class RemoteFile:
    relative_path: str  # where it lives inside the data directory
    url: str  # canonical source
    sha256: str  # of the file itself (for a zip member, of the member); with `digest`, what `digest` returns
    zip_member: str | None = None  # the file inside the downloaded zip, if the source is a zip
    # For a source whose bytes differ from the copy the project checks (the canonical file holds more, such
    # as a withheld split): the sha256 of the part that is used, computed from the file's bytes.
    digest: Callable[[bytes], str] | None = None

    def checksum(self, payload: bytes) -> str:
        return (self.digest or sha256_hex)(payload)


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


def fetch(remote: RemoteFile, directory: Path, timeout_s: float = 60.0) -> Path:
    """The local path of `remote`, downloading it first if absent; never returns unverified bytes."""
    target = Path(directory) / remote.relative_path
    if target.exists():
        actual = remote.checksum(target.read_bytes())
        if actual != remote.sha256:
            raise DataError(f"{target} has sha256 {actual}, expected {remote.sha256}; "
                            f"delete it to download a fresh copy from {remote.url}")
        return target
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout_s) as response:
            payload = response.read()
    except OSError as error:
        raise DataError(f"{target} is absent and downloading {remote.url} failed: {error}. "
                        f"Point {DATA_ENV} or --data-dir at a folder that has {remote.relative_path}") from None
    if remote.zip_member:
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                payload = archive.read(remote.zip_member)
        except (zipfile.BadZipFile, KeyError) as error:
            raise DataError(f"{remote.url} is not a zip holding {remote.zip_member}: {error}") from None
    actual = remote.checksum(payload)
    if actual != remote.sha256:
        raise DataError(f"download of {remote.url} has sha256 {actual}, expected {remote.sha256}; not using it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a crash never leaves a half file under the real name.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        partial.write(payload)
    shutil.move(partial.name, target)
    return target
