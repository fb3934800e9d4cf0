"""The Free Spoken Digit Dataset (Jakobovski et al., CC BY-SA 4.0): 8 kHz mono recordings of the digits 0-9,
`{digit}_{speaker}_{index}.wav`, 50 per digit and speaker. Five speakers are here; a sixth (theo) is withheld
for independent evaluation and never read, downloaded or extracted.

The checksum list `fsdd/SHA256SUMS` names each recording's sha256, and its own sha256 is pinned here. A download
of the canonical release tarball is accepted only if the recordings of the five speakers, listed the same way,
reproduce that pinned list exactly.
"""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import DataError, data_dir, fetch_source
from zoo.tasks.speech.audio import SAMPLE_RATE, read_wav

SOURCE = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
LICENSE = "CC BY-SA 4.0 (Free Spoken Digit Dataset, Jakobovski et al.)"
# The weights' license follows the data's terms (a Hugging Face license id, and what it asks of users).
WEIGHTS_LICENSE, WEIGHTS_TERMS = "cc-by-sa-4.0", ("share-alike, as the Free Spoken Digit Dataset they "
                                                  "were trained on (CC BY-SA 4.0, Jakobovski et al.)")
CHECKSUMS = "fsdd/SHA256SUMS"
CHECKSUMS_SHA256 = "7ba4deefab61dff3c84d150938fd6fbfdde820d54cf5f15cc96bbc3018c4f679"
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "yweweler")  # theo is withheld
# Speaker-independent: the first alphabetically (a rule, not a choice) is never trained on.
TEST_SPEAKER = "george"
NAME = re.compile(r"(\d)_([a-z]+)_(\d+)\.wav")


@dataclass(frozen=True)
class Recording:
    digit: int
    speaker: str
    index: int
    samples: np.ndarray  # (N,) float32 at SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def checksum_list(recordings: dict[str, bytes]) -> bytes:
    """The SHA256SUMS text of recordings {name: bytes}: `sha256  recordings/name` lines sorted by name."""
    return "".join(f"{hashlib.sha256(data).hexdigest()}  recordings/{name}\n"
                   for name, data in sorted(recordings.items())).encode()


def download(directory: Path, url: str = SOURCE, timeout_s: float = 120.0) -> None:
    """Fetch the release tarball, keep the five speakers' recordings, and write them with their SHA256SUMS, only
    if that list's sha256 is the pinned one."""
    # The release tarball's own sha256 is not pinned (GitHub builds it on request): its recordings are checked.
    tarball = fetch_source(url, directory, timeout_s=timeout_s,
                           hint=f"{directory / 'fsdd'} is absent: point RNNZOO_DATA or --data-dir at a folder that has "
                                "fsdd/recordings and fsdd/SHA256SUMS")
    payload = tarball.read_bytes()
    recordings = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
            for member in archive.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                match = NAME.fullmatch(name)
                if member.isfile() and "/recordings/" in member.name and match and match[2] in SPEAKERS:
                    recordings[name] = archive.extractfile(member).read()  # read, never extracted to disk as is
    except (tarfile.TarError, OSError) as error:
        tarball.unlink()
        raise DataError(f"{url} is not the FSDD release tarball: {error}") from None
    listing = checksum_list(recordings)
    actual = hashlib.sha256(listing).hexdigest()
    if actual != CHECKSUMS_SHA256:
        tarball.unlink()  # not kept: a later call downloads afresh
        raise DataError(f"the {len(recordings)} recordings of {url} list to sha256 {actual}, expected "
                        f"{CHECKSUMS_SHA256}; not using them")
    target = Path(directory) / "fsdd"
    with tempfile.TemporaryDirectory(dir=Path(directory)) as scratch:  # complete, then renamed into place
        staged = Path(scratch) / "fsdd"
        (staged / "recordings").mkdir(parents=True)
        for name, data in recordings.items():
            (staged / "recordings" / name).write_bytes(data)
        (staged / "SHA256SUMS").write_bytes(listing)
        shutil.move(str(staged), target)
    tarball.unlink()  # its five speakers are in place; the rest of it (the withheld speaker) is not kept


def load_recordings(directory: Path | str | None = None, speakers: tuple[str, ...] = SPEAKERS) -> list[Recording]:
    """The recordings of `speakers`, each checked against SHA256SUMS (itself checked against the pinned sha256),
    sorted by speaker, digit and index."""
    root = data_dir(directory)
    unknown = sorted(set(speakers) - set(SPEAKERS))
    if unknown:
        raise ValueError(f"unknown speakers {unknown}; speakers: {', '.join(SPEAKERS)} (theo is withheld)")
    listing_path = root / CHECKSUMS
    if not listing_path.exists():
        root.mkdir(parents=True, exist_ok=True)
        download(root)
    listing = listing_path.read_bytes()
    if hashlib.sha256(listing).hexdigest() != CHECKSUMS_SHA256:
        raise DataError(f"{listing_path} has the wrong sha256; delete {root / 'fsdd'} to download a fresh copy")
    recordings = []
    for line in listing.decode().splitlines():
        expected, relative = line.split("  ", 1)
        digit, speaker, index = NAME.fullmatch(relative.removeprefix("recordings/")).groups()
        if speaker not in speakers:
            continue
        data = (root / "fsdd" / relative).read_bytes()
        if hashlib.sha256(data).hexdigest() != expected:
            raise DataError(f"{root / 'fsdd' / relative} does not match its sha256 in SHA256SUMS")
        samples, rate = read_wav(data)
        if rate != SAMPLE_RATE:
            raise DataError(f"{relative} is at {rate} Hz, not {SAMPLE_RATE}")
        recordings.append(Recording(int(digit), speaker, int(index), samples))
    return sorted(recordings, key=lambda r: (r.speaker, r.digit, r.index))


def split(recordings: list[Recording], test_speaker: str = TEST_SPEAKER) -> dict[str, list[Recording]]:
    """train: every other speaker; test: `test_speaker`, never trained on. No speaker is spent on validation:
    four voices are already few, so training runs a fixed schedule and keeps its last epoch."""
    return {"train": [r for r in recordings if r.speaker != test_speaker],
            "test": [r for r in recordings if r.speaker == test_speaker]}
