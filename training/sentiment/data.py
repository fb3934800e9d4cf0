"""SST-2 (GLUE): the sentiment task's training and evaluation sentences, and the held-out validation split."""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from training.data import DataError, RemoteFile, data_dir, fetch

SST2_FILES = {
    "train": RemoteFile("sst2/train.tsv", "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                        "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1", "SST-2/train.tsv"),
    "dev": RemoteFile("sst2/dev.tsv", "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                      "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", "SST-2/dev.tsv"),
}
SST2_LICENSE = "GLUE SST-2, research use; cite Socher et al. 2013 and Wang et al. 2018"
# The weights' license follows the data's terms (a Hugging Face license id, and what it asks of users).
WEIGHTS_LICENSE, WEIGHTS_TERMS = "other", ("research use, as SST-2 (GLUE), which they were trained on; "
                                           "cite Socher et al. 2013 and Wang et al. 2018")



@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def read_sst2_tsv(path: Path) -> LabelledTexts:
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header[:2] != ["sentence", "label"]:
            raise DataError(f"{path} should start with a 'sentence<TAB>label' header, got {header}")
        for line_number, row in enumerate(reader, start=2):
            if len(row) != 2 or row[1] not in ("0", "1"):
                raise DataError(f"{path}:{line_number} is not 'sentence<TAB>0|1': {row!r}")
            texts.append(row[0].strip())
            labels.append(int(row[1]))
    return LabelledTexts(texts, labels)


def load_sst2(split: str, directory: Path | None = None) -> LabelledTexts:
    """SST-2 `train` (67,349 phrases) or `dev` (872 sentences, the split the cards report)."""
    if split not in SST2_FILES:
        raise ValueError(f"unknown SST-2 split {split!r}; splits: {sorted(SST2_FILES)}")
    return read_sst2_tsv(fetch(SST2_FILES[split], data_dir(directory)))


def hold_out_sentences(texts: list[str], count: int, seed: int) -> tuple[list[int], list[int]]:
    """Split SST-2 train into (train rows, validation rows) with no sentence on both sides.

    train.tsv holds every phrase of each treebank sentence, so a random phrase split validates on
    fragments of training sentences and flatters the model. Here validation is `count` whole
    sentences (phrases contained in no other phrase), like dev; every phrase that occurs inside
    one of them leaves the training side.
    """
    blob = "\n" + "\n".join(texts) + "\n"
    candidates = [i for i, text in enumerate(texts) if len(text.split()) >= 4]
    random.Random(seed).shuffle(candidates)
    validation: list[int] = []
    for row in candidates:
        if blob.count(texts[row]) == 1:  # occurs only as itself: a whole sentence
            validation.append(row)
            if len(validation) == count:
                break
    held_out = "\n".join(texts[row] for row in validation)
    train = [row for row, text in enumerate(texts) if text not in held_out]
    return train, validation
