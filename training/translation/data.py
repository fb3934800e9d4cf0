"""Multi30k task 1 (Elliott et al. 2016): English descriptions of Flickr30k images and their German translations,
29,000 training and 1,014 validation pairs, one sentence per line, line i of `.de` translating line i of `.en`.

Only `train` and `val` are read: the test sets are withheld for independent evaluation, so every reported number
is on `val`.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from training.data import DataError, RemoteFile, data_dir, fetch

LICENSE = "research use; cite Elliott, Frank, Sima'an and Specia, 'Multi30K: Multilingual English-German Image " \
          "Descriptions', 2016"
# The weights' license follows the data's terms (a Hugging Face license id, and what it asks of users).
WEIGHTS_LICENSE, WEIGHTS_TERMS = "other", ("research use, as Multi30k, which they were trained on; "
                                           "cite Elliott, Frank, Sima'an and Specia 2016")
SOURCE = "https://github.com/multi30k/dataset (data/task1/raw)"
_RAW = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
SIZES = {"train": 29_000, "val": 1_014}
FILES = {
    ("train", "de"): "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    ("train", "en"): "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    ("val", "de"): "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    ("val", "en"): "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
}
REMOTE = {key: RemoteFile(f"multi30k/{key[0]}.{key[1]}.gz", f"{_RAW}/{key[0]}.{key[1]}.gz", sha256)
          for key, sha256 in FILES.items()}


@dataclass(frozen=True)
class Pair:
    german: str
    english: str


def read_lines(path: Path) -> list[str]:
    """A gzipped UTF-8 file -> its lines without the newline (the file ends with one, so no empty last line)."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not gzipped UTF-8 text: {error}") from None
    return text.removesuffix("\n").split("\n")


def load_pairs(split: str, directory: str | Path | None = None) -> list[Pair]:
    """The `split` ("train" or "val") as German-English pairs, checksums verified (downloaded if absent)."""
    if split not in SIZES:
        raise ValueError(f"split {split!r}: Multi30k here has {sorted(SIZES)} (the test sets are withheld)")
    root = data_dir(directory)
    german, english = (read_lines(fetch(REMOTE[split, language], root)) for language in ("de", "en"))
    if len(german) != SIZES[split] or len(english) != SIZES[split]:
        raise DataError(f"multi30k {split}: {len(german)} German and {len(english)} English lines, "
                        f"expected {SIZES[split]} of each")
    return [Pair(g.strip(), e.strip()) for g, e in zip(german, english)]
