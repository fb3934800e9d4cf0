"""ICU stays of the PhysioNet/CinC Challenge 2012 (set-a for training, set-b for evaluation) with their outcomes."""
from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from training.data import DataError, RemoteFile, data_dir, fetch

_PHYSIONET = "https://physionet.org/files/challenge-2012/1.0.0"


def records_digest(payload: bytes) -> str:
    """sha256 of a set's record files (each `name sha256` line, sorted by file name), whatever the tarball's
    packing: the official tarballs and the repacked copies in the shared data folder hold the same records in
    different bytes, so both are checked by what they hold."""
    lines = []
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".txt"):
                record = archive.extractfile(member).read()
                lines.append(f"{Path(member.name).name} {hashlib.sha256(record).hexdigest()}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


PHYSIONET_FILES = {
    "set-a": RemoteFile("physionet2012/set-a.tar.gz", f"{_PHYSIONET}/set-a.tar.gz",
                        "57e293250294026dd9adb15286dcabf22fe52452d80c5e8c8aa634b54f007ff7", digest=records_digest),
    "set-b": RemoteFile("physionet2012/set-b.tar.gz", f"{_PHYSIONET}/set-b.tar.gz",
                        "6ea36cb7c57d1722825071a1eaed1f7060dee742cde1635d82037cb0cec17c8a", digest=records_digest),
}
PHYSIONET_OUTCOMES = {
    "set-a": RemoteFile("physionet2012/Outcomes-a.txt", f"{_PHYSIONET}/Outcomes-a.txt",
                        "2613ea60ccda29f87571a7d6b09ad130858a8ccd66325bd073365925026883c2"),
    "set-b": RemoteFile("physionet2012/Outcomes-b.txt", f"{_PHYSIONET}/Outcomes-b.txt",
                        "1305f29734da374a809483229a99f33a9230aa8d4fa74b1a2d6ad788136423d5"),
}
PHYSIONET_LICENSE = "ODC-BY 1.0; cite Silva et al., Computing in Cardiology 2012"
# The weights' license follows the data's terms (a Hugging Face license id, and what it asks of users).
WEIGHTS_LICENSE, WEIGHTS_TERMS = "apache-2.0", ("trained on PhysioNet 2012 (ODC-BY 1.0): attribute "
                                                "the data, cite Silva et al., Computing in Cardiology 2012")


@dataclass
class Stay:
    record_id: int
    record_text: str  # the record file as published: Time,Parameter,Value rows
    died: int  # In-hospital_death
    saps1: float  # SAPS-I score, -1 where the challenge has none


def load_physionet(set_name: str, directory: Path | None = None) -> list[Stay]:
    """The 4,000 stays of `set-a` or `set-b` with their outcomes, in RecordID order."""
    if set_name not in PHYSIONET_FILES:
        raise ValueError(f"unknown PhysioNet 2012 set {set_name!r}; sets: {sorted(PHYSIONET_FILES)}")
    root = data_dir(directory)
    outcomes = {}
    with open(fetch(PHYSIONET_OUTCOMES[set_name], root), newline="") as file:
        for row in csv.DictReader(file):
            outcomes[int(row["RecordID"])] = (int(row["In-hospital_death"]), float(row["SAPS-I"]))
    stays = []
    with tarfile.open(fetch(PHYSIONET_FILES[set_name], root), "r:gz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".txt"):
                continue
            record_id = int(Path(member.name).stem)
            died, saps1 = outcomes[record_id]
            stays.append(Stay(record_id, archive.extractfile(member).read().decode("utf-8"), died, saps1))
    if len(stays) != len(outcomes):
        raise DataError(f"{set_name}: {len(stays)} records but {len(outcomes)} outcomes")
    return sorted(stays, key=lambda stay: stay.record_id)
