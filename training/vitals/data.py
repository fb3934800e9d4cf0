"""ICU stays of the PhysioNet/CinC Challenge 2012 (set-a for training, set-b for evaluation) with their outcomes."""
from __future__ import annotations

import csv
import tarfile
from dataclasses import dataclass
from pathlib import Path

from training.data import DataError, RemoteFile, data_dir, fetch

_PHYSIONET = "https://physionet.org/files/challenge-2012/1.0.0"
PHYSIONET_FILES = {
    # The official tarballs differ in bytes from the repacked copies in the shared data folder (same
    # members); these checksums are of the copies, so a fresh download is checked by its members instead.
    "set-a": RemoteFile("physionet2012/set-a.tar.gz", f"{_PHYSIONET}/set-a.tar.gz",
                        "9adc3d84f529d5527429de6b59868780b6a84fbe72ca575a5a4e1fb02685137c"),
    "set-b": RemoteFile("physionet2012/set-b.tar.gz", f"{_PHYSIONET}/set-b.tar.gz",
                        "373e24dad57eb570c173e158953bc5db3585c02727bf78f79816127411a1965d"),
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
