"""Polyphonic music data (issue 18): the piano-roll loader on the real files, the download of the canonical
file (which also holds the withheld test split) against a server on 127.0.0.1, and the trivial baselines."""
import dataclasses
import io

import numpy as np
import pytest
import scipy.io

from training.data import DataError, fetch
from training.music.baselines import Baselines, bernoulli_nll
from training.music.data import DATASETS, KEYS, load_pieces, read_rolls


@pytest.mark.parametrize("dataset, pieces, frames", [
    ("jsb", (229, 76), (13_807, 4_602)),  # the data README's counts
    ("nottingham", (694, 173), (176_561, 45_513)),
])
def test_the_real_files_hold_the_documented_splits(data_dir, dataset, pieces, frames):
    for split, count, total in zip(("train", "validation"), pieces, frames):
        rolls = load_pieces(dataset, split, data_dir)
        assert len(rolls) == count and sum(len(piece) for piece in rolls) == total
        assert all(piece.shape[1] == KEYS and piece.dtype == np.uint8 and piece.max() <= 1 for piece in rolls)


def test_the_withheld_split_and_unknown_sets_are_refused(data_dir):
    with pytest.raises(ValueError, match="splits: train, validation \\(the test split is withheld\\)"):
        load_pieces("jsb", "test", data_dir)
    with pytest.raises(ValueError, match="data sets: jsb, nottingham"):
        load_pieces("bach", "train", data_dir)


def canonical_file(pieces: dict[str, list[np.ndarray]], test: list[np.ndarray]) -> bytes:
    """A .mat shaped like the canonical one: train, validation and a test split, as float cell arrays."""
    def cells(rolls):
        array = np.empty((1, len(rolls)), dtype=object)
        for i, roll in enumerate(rolls):
            array[0, i] = roll.astype(np.float64)
        return array

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"traindata": cells(pieces["train"]), "validdata": cells(pieces["validation"]),
                              "testdata": cells(test)})
    return buffer.getvalue()


def test_the_canonical_file_is_verified_by_the_splits_it_shares(data_dir, http_root, tmp_path):
    root, url = http_root
    local = read_rolls((data_dir / DATASETS["jsb"].relative_path).read_bytes())
    rng = np.random.default_rng(0)
    extra_test = [rng.integers(0, 2, (16, KEYS)).astype(np.uint8)]  # other bytes than the copy here
    (root / "JSB_Chorales.mat").write_bytes(canonical_file(local, extra_test))
    remote = dataclasses.replace(DATASETS["jsb"], url=f"{url}/JSB_Chorales.mat")
    path = fetch(remote, tmp_path / "data")
    assert [p.tobytes() for p in read_rolls(path.read_bytes())["validation"]] == [p.tobytes() for p in local["validation"]]

    tampered = {**local, "train": [local["train"][0] ^ np.eye(len(local["train"][0]), KEYS, dtype=np.uint8)]
                + local["train"][1:]}
    (root / "tampered.mat").write_bytes(canonical_file(tampered, extra_test))
    with pytest.raises(DataError, match="expected " + DATASETS["jsb"].sha256):
        fetch(dataclasses.replace(remote, url=f"{url}/tampered.mat", relative_path="other/JSB.mat"), tmp_path / "data")
    assert not (tmp_path / "data" / "other").exists()


def test_a_file_that_is_not_a_piano_roll_is_refused():
    with pytest.raises(DataError, match="not a MATLAB piano-roll file"):
        read_rolls(b"not a mat file")
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"traindata": np.zeros((1, 1))})
    with pytest.raises(DataError, match="no 'validdata' cell array"):
        read_rolls(buffer.getvalue())
    good = [np.zeros((3, KEYS), dtype=np.uint8)]
    with pytest.raises(DataError, match=r"traindata\[0\] is not a \(frames, 88\) 0/1 piano roll: \(3, 87\)"):
        read_rolls(canonical_file({"train": [np.zeros((3, KEYS - 1))], "validation": good}, good))


def test_baselines_on_a_piece_whose_answer_is_known():
    # key 0 always on, key 1 alternating, the rest always off: 4 frames
    piece = np.zeros((4, KEYS), dtype=np.uint8)
    piece[:, 0] = 1
    piece[::2, 1] = 1
    baselines = Baselines.fit([piece])
    assert baselines.marginal[0] == pytest.approx(5 / 6) and baselines.marginal[1] == pytest.approx(3 / 6)
    assert baselines.on_after_on[1] == pytest.approx(1 / 4) and baselines.on_after_off[1] == pytest.approx(2 / 3)
    expected = bernoulli_nll(np.broadcast_to(baselines.marginal, piece.shape), piece).mean()
    assert baselines.marginal_nll([piece]) == pytest.approx(expected)
    assert baselines.on_after_on[0] == pytest.approx(4 / 5) and baselines.on_after_off[0] == pytest.approx(1 / 2)
    expected = 0.0  # the sticky model written out key by key
    for t in range(len(piece)):
        for key in range(KEYS):
            p = (baselines.marginal[key] if t == 0 else
                 baselines.on_after_on[key] if piece[t - 1, key] else baselines.on_after_off[key])
            expected -= np.log(p if piece[t, key] else 1 - p)
    assert baselines.sticky_nll([piece]) == pytest.approx(expected / len(piece))


@pytest.mark.parametrize("dataset, marginal, sticky", [("jsb", 10.9521, 10.1293), ("nottingham", 10.0032, 5.2439)])
def test_the_baselines_on_the_validation_split(data_dir, dataset, marginal, sticky):
    """The numbers the music cards will report beside their models (nats per frame on validdata)."""
    baselines = Baselines.fit(load_pieces(dataset, "train", data_dir))
    validation = load_pieces(dataset, "validation", data_dir)
    assert baselines.marginal_nll(validation) == pytest.approx(marginal, abs=1e-4)
    assert baselines.sticky_nll(validation) == pytest.approx(sticky, abs=1e-4)
