"""Translation (issue 20): the Multi30k loader on the real files and its download against a server on 127.0.0.1, the
BPE vocabularies, the baselines, and a tiny translator trained, exported as two graphs, and served by its predictor."""
import dataclasses
import gzip
import shutil

import numpy as np
import pytest
import sacrebleu

from training.data import DataError, fetch
from training.translation import train
from training.translation.baselines import copy_source, lexical_baseline, words
from training.translation.data import REMOTE, SIZES, Pair, load_pairs
from training.translation.export import ENCODER_FILE, corpus_bleu
from training.translation.subwords import learn_bpe
from zoo.artifacts import ArtifactError
from zoo.cards import ModelCard
from zoo.checks import ValidationError
from zoo.task import TextError
from zoo.tasks.translation.predictor import TranslationPredictor
from zoo.tasks.translation.vocabulary import EOS_ID, UNK_ID, SubwordVocabulary


def test_the_real_files_hold_the_documented_splits(data_dir):
    for split, size in SIZES.items():
        pairs = load_pairs(split, data_dir)
        assert len(pairs) == size and all(p.german and p.english for p in pairs)
    assert load_pairs("val", data_dir)[0] == Pair("Eine Gruppe von Männern lädt Baumwolle auf einen Lastwagen",
                                                  "A group of men are loading cotton onto a truck")
    with pytest.raises(ValueError, match="the test sets are withheld"):
        load_pairs("test2016", data_dir)


def test_a_download_is_verified_before_it_is_kept(data_dir, http_root, tmp_path):
    root, url = http_root
    remote = REMOTE["val", "de"]
    shutil.copy(data_dir / remote.relative_path, root / "val.de.gz")
    path = fetch(dataclasses.replace(remote, url=f"{url}/val.de.gz"), tmp_path / "data")
    assert path.read_bytes() == (data_dir / remote.relative_path).read_bytes()
    (root / "bad.gz").write_bytes(gzip.compress(b"Ein Hund.\n"))
    with pytest.raises(DataError, match="expected " + remote.sha256):
        fetch(dataclasses.replace(remote, url=f"{url}/bad.gz"), tmp_path / "other")
    assert not (tmp_path / "other" / remote.relative_path).exists()


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory, data_dir) -> SubwordVocabulary:
    path = tmp_path_factory.mktemp("bpe") / "de.json"
    learn_bpe([p.german for p in load_pairs("train", data_dir)[:3000]], 1000).save(str(path))
    return SubwordVocabulary(path)


def test_subwords_give_back_the_text_and_report_what_they_cannot_read(vocabulary, data_dir):
    texts = [p.german for p in load_pairs("val", data_dir)[:200]]
    for text, encoded in zip(texts, vocabulary.encode(texts)):
        assert encoded.ids[-1] == EOS_ID and vocabulary.decode(encoded.ids) == " ".join(text.split())
    (snowman,) = vocabulary.encode(["Ein  Hund\tim ☃ Schnee"])
    assert snowman.unknown == ["☃"] and UNK_ID in snowman.ids
    assert vocabulary.decode(vocabulary.encode(["Ein  Hund\tim Schnee"])[0].ids) == "Ein Hund im Schnee"
    for bad, message in (([""], "empty"), (["x" * 1001], "1001 characters"), ([3], "is a int")):
        with pytest.raises(ValueError, match=message):
            vocabulary.encode(bad)


def test_the_baselines_on_a_known_pair():
    pairs = [Pair("ein Hund läuft", "a dog runs"), Pair("ein Mann läuft", "a man runs"),
             Pair("ein Hund schläft", "a dog sleeps"), Pair("Hund .", "dog .")]
    translate = lexical_baseline(pairs)
    assert translate("Ein Mann schläft.") == "a man sleeps."  # IBM model 1 sorts the words out from 4 pairs
    assert translate("Ein Vogel") == "a Vogel"  # an unseen word is copied
    assert words("Zwei Hunde, ein Ball.") == ["Zwei", "Hunde", ",", "ein", "Ball", "."]
    assert copy_source(["x"]) == ["x"]
    score, signature = corpus_bleu(["a man sleeps ."], ["a man sleeps ."])
    assert score == pytest.approx(100.0) and "tok:13a" in signature and "case:mixed" in signature


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("translation")
    train.main(["--model", "test-multi30k-de-en-lstm", "--pairs", "200", "--validation-pairs", "16", "--epochs", "2",
                "--warm-up-steps", "1", "--data-dir", str(data_dir), "--checkpoint-dir", str(root / "checkpoints"),
                "--artifacts-dir", str(root / "zoo"), "--threads", "1"])
    return root / "zoo" / "test-multi30k-de-en-lstm"


def test_a_tiny_translator_trains_exports_two_graphs_and_translates(tiny, data_dir):
    card = ModelCard.load(tiny)
    assert [g.role for g in card.graphs] == ["encoder"] and (tiny / ENCODER_FILE).exists()
    assert [m.name for m in card.metrics] == ["bleu_beam", "bleu_greedy", "bleu_beam_vs_copy"]
    assert card.metrics[0].baseline_value > 15 and card.metrics[2].baseline_value < 2  # IBM model 1, and copying
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in card.metrics[0].split
    predictor = TranslationPredictor(tiny, ["CPUExecutionProvider"])
    texts = [p.german for p in load_pairs("val", data_dir)[:5]]
    together = predictor.translate(texts, beam_size=3)
    for text, translation in zip(texts, together):
        (alone,) = predictor.translate([text], beam_size=3)
        assert alone.text == translation.text and alone.score == pytest.approx(translation.score, abs=1e-4)
        assert translation.attention.shape == (len(translation.target_pieces), len(translation.source_pieces))
        assert np.allclose(translation.attention.sum(axis=1), 1, atol=1e-3)
    assert [t.text for t in predictor.translate(texts, beam_size=1)] == [
        t.text for start in range(5) for t in predictor.translate(texts[start : start + 1], beam_size=1)]
    assert all(len(t.target_pieces) <= 3 for t in predictor.translate(texts, beam_size=2, max_length=3))
    too_long = r"texts\[1\] reads as \d+ subwords \(\d+ unknown characters\); the maximum is 250"
    with pytest.raises(TextError, match=too_long):
        predictor.encode(["Hund", "Hund " + "☃" * 300])


def test_decoder_calls_split_into_row_chunks_give_the_same_translations(tiny, data_dir, monkeypatch):
    from zoo.tasks.translation import predictor as module

    predictor = TranslationPredictor(tiny, ["CPUExecutionProvider"])
    texts = [p.german for p in load_pairs("val", data_dir)[:6]]
    whole = predictor.translate(texts, beam_size=4)
    monkeypatch.setattr(module, "ROWS_X_SOURCE_PER_CALL", 50)  # a few rows per call
    for one, other in zip(whole, predictor.translate(texts, beam_size=4)):
        assert one.text == other.text and one.score == pytest.approx(other.score, abs=1e-4)


def test_a_tampered_encoder_is_refused(tiny, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    data = bytearray((copy / ENCODER_FILE).read_bytes())
    data[-10] ^= 0xFF
    (copy / ENCODER_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="encoder.onnx has sha256 .* refusing to load it"):
        TranslationPredictor(copy, ["CPUExecutionProvider"])
    shutil.copy(tiny / ENCODER_FILE, copy / ENCODER_FILE)
    card = ModelCard.load(copy)
    card.graphs = []
    card.save(copy)
    with pytest.raises(ValidationError, match="has no 'encoder' graph"):
        TranslationPredictor(copy, ["CPUExecutionProvider"])


def test_sacrebleu_is_what_the_card_says(tiny, data_dir):
    """The card's greedy BLEU is what sacreBLEU gives the predictor's greedy translations of val, recomputed."""
    card = ModelCard.load(tiny)
    predictor = TranslationPredictor(tiny, ["CPUExecutionProvider"])
    pairs = load_pairs("val", data_dir)
    hypotheses = [t.text for start in range(0, len(pairs), 128)
                  for t in predictor.translate([p.german for p in pairs[start : start + 128]], beam_size=1)]
    assert round(sacrebleu.corpus_bleu(hypotheses, [[p.english for p in pairs]]).score, 2) == card.metric(
        "bleu_greedy").value
