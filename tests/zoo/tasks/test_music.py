"""Music preprocessing and predictor (issue 18): pitch lists <-> piano rolls, drawing frames key by key, MIDI
files, and a tiny trained model's scoring and sampling agreeing with each other; the shipped models re-measured
against their cards."""
import io

import mido
import numpy as np
import pytest

from training.music import train
from training.music.baselines import bernoulli_nll
from training.music.data import load_pieces
from training.music.export import validation_nll
from zoo import get_spec, list_models
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard
from zoo.task import InputError
from zoo.tasks.music import dataset_of
from zoo.tasks.music.predictor import FRAMES_PER_CALL, MusicPredictor
from zoo.tasks.music.rolls import (
    KEYS,
    MIDI_TEMPO_BPM,
    TICKS_PER_FRAME,
    conditional_logits,
    draw_frames,
    frame_nll,
    midi_file,
    model_inputs,
    pitches_from_roll,
    roll_from_pitches,
)

CHORDS = [[48, 60, 64, 67], [48, 60, 64, 67], [], [53, 65, 69, 72], [21, 108]]


def test_pitch_lists_and_rolls_round_trip():
    roll = roll_from_pitches(CHORDS)
    assert roll.shape == (5, KEYS) and roll.dtype == np.float32 and roll.sum() == 14
    assert roll[4, 0] == 1 and roll[4, 87] == 1  # A0 and C8, the keyboard's ends
    assert pitches_from_roll(roll) == CHORDS
    assert pitches_from_roll(roll_from_pitches([[67, 60, 64, 60]])) == [[60, 64, 67]]  # sorted, a pitch once
    inputs = model_inputs(roll)
    assert not inputs[0].any() and (inputs[1:] == roll[:-1]).all()  # the silent start frame, then shifted


@pytest.mark.parametrize("pitch", [20, 109, 0, -1, 128])
def test_pitches_off_the_keyboard_are_refused_with_the_range(pitch):
    with pytest.raises(InputError, match=f"frame 1: pitch {pitch} is off the 88-key piano roll; allowed: MIDI "
                                         "pitches 21-108"):
        roll_from_pitches([[60], [64, pitch]])


def test_frame_nll_is_the_bernoulli_nll_of_the_baselines():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (7, KEYS))
    roll = (rng.random((7, KEYS)) < 0.1).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits))
    assert np.allclose(frame_nll(logits, roll), bernoulli_nll(probabilities, roll), atol=1e-5)
    assert np.isfinite(frame_nll(np.array([[800.0, -800.0]]), np.array([[0.0, 1.0]]))).all()  # no overflow


def test_drawing_key_by_key_follows_the_coupling():
    rng = np.random.default_rng(1)
    logits = rng.normal(-2, 2, (16, KEYS))
    uniform = rng.random((16, KEYS))
    independent, p = draw_frames(logits, np.zeros((KEYS, KEYS)), uniform)
    assert (independent == (uniform < 1 / (1 + np.exp(-logits)))).all() and np.allclose(p, 1 / (1 + np.exp(-logits)))
    coupling = np.tril(rng.normal(0, 1, (KEYS, KEYS)), -1)
    frames, probabilities = draw_frames(logits, coupling, uniform)
    # each key was drawn with its probability given the keys below it: the conditional logits of the result
    assert np.allclose(probabilities, 1 / (1 + np.exp(-conditional_logits(logits, coupling, frames))), atol=1e-6)
    assert (frames == (uniform < probabilities)).all()
    greedy, _ = draw_frames(logits, coupling, np.full((16, KEYS), 0.5))
    assert (greedy == (conditional_logits(logits, coupling, greedy) > 0)).all()
    cold, _ = draw_frames(logits, coupling, uniform, temperature=np.full((16, 1), 1e-6))
    assert (cold == greedy).all()  # a temperature near 0 draws the likeliest frame


def test_midi_files_hold_the_frames_at_the_documented_tempo():
    midi = mido.MidiFile(file=io.BytesIO(midi_file(CHORDS)))
    assert midi.type == 0 and midi.ticks_per_beat == 2 * TICKS_PER_FRAME
    tempo = next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo")
    assert round(mido.tempo2bpm(tempo)) == MIDI_TEMPO_BPM
    notes, now, sounding = [], 0, {}
    for message in midi.tracks[0]:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding[message.note] = now
        elif message.type in ("note_off", "note_on"):
            notes.append((message.note, sounding.pop(message.note) // TICKS_PER_FRAME, now // TICKS_PER_FRAME))
    assert not sounding
    # a pitch held over frames 0-1 is one note; the rest in frame 2 sounds nothing
    assert sorted(notes) == sorted([(48, 0, 2), (60, 0, 2), (64, 0, 2), (67, 0, 2), (53, 3, 4), (65, 3, 4),
                                    (69, 3, 4), (72, 3, 4), (21, 4, 5), (108, 4, 5)])
    assert midi.length == pytest.approx(5 * 0.25)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_dir) -> MusicPredictor:
    """test-jsb-gru trained for 2 epochs on 16 pieces and exported by the real scripts."""
    root = tmp_path_factory.mktemp("music")
    train.main(["--model", "test-jsb-gru", "--epochs", "2", "--limit-pieces", "16", "--data-dir", str(data_dir),
                "--checkpoint-dir", str(root / "checkpoints"), "--artifacts-dir", str(root / "zoo")])
    return MusicPredictor(root / "zoo" / "test-jsb-gru", ["CPUExecutionProvider"])


def test_a_tiny_model_scores_pieces_alone_or_together(tiny, data_dir):
    assert get_spec("test-jsb-gru").arguments["joint_keys"] and tiny.coupling.any()
    assert not np.triu(tiny.coupling).any()  # a key is moved by keys below it only
    pieces = [p.astype(np.float32) for p in load_pieces("jsb", "validation", data_dir)[:6]]
    together = tiny.run(pieces)
    for piece, losses in zip(pieces, together):
        (alone,) = tiny.run([piece])
        assert losses.shape == (len(piece),) and np.allclose(losses, alone, atol=1e-4)
    card = ModelCard.load(tiny.directory)
    assert card.metrics[0].value == pytest.approx(validation_nll(tiny, load_pieces("jsb", "validation", data_dir)),
                                                  abs=1e-4)
    assert card.metrics[0].examples == 4_602


def test_scoring_splits_long_batches_into_bounded_calls(tiny, monkeypatch):
    calls = []
    score = tiny._score
    monkeypatch.setattr(tiny, "_score", lambda rolls: calls.append(len(rolls) * max(map(len, rolls))) or score(rolls))
    rng = np.random.default_rng(2)
    pieces = [(rng.random((length, KEYS)) < 0.05).astype(np.float32) for length in (3, 900, 40, 2000, 7)]
    monkeypatch.setattr("zoo.tasks.music.predictor.FRAMES_PER_CALL", 2500)
    losses = tiny.run(pieces)
    assert [len(x) for x in losses] == [3, 900, 40, 2000, 7]
    assert len(calls) > 1 and max(calls) <= 2500 or max(calls) == 2000  # a piece longer than the bound goes alone
    monkeypatch.setattr("zoo.tasks.music.predictor.FRAMES_PER_CALL", FRAMES_PER_CALL)
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(losses, tiny.run(pieces)))


def test_a_continuation_is_scored_as_its_sampling_probabilities_say(tiny):
    """The NLL run() gives a sampled piece equals minus the log of the probabilities its keys were drawn with."""
    primer = roll_from_pitches(CHORDS[:2])
    rng = np.random.default_rng(3)
    frames = tiny.continuation(primer, 12, rng)
    assert frames.shape == (12, KEYS) and set(np.unique(frames)) <= {0.0, 1.0}
    again = tiny.continuation(primer, 12, np.random.default_rng(3))
    assert (frames == again).all()  # seeded: the same piece
    piece = np.vstack([primer, frames])
    (losses,) = tiny.run([piece])
    heard = np.vstack([np.zeros((1, KEYS), np.float32), piece[:-1]])
    (logits,), _ = tiny.step(heard[None], tiny.initial_state(1))
    _, probabilities = draw_frames(logits[0], tiny.coupling, np.where(piece > 0, 0.0, 1.0))  # the drawn keys
    expected = -np.log(np.where(piece > 0, probabilities, 1 - probabilities)).sum(axis=1)
    assert np.allclose(losses, expected, atol=1e-3)


SHIPPED = [name for name in list_models("music") if not get_spec(name).quantized_from]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_music_cards_are_reproduced_by_onnxruntime(name, data_dir):
    card = ModelCard.load(ARTIFACTS_DIR / name)
    predictor = MusicPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"])
    validation = load_pieces(dataset_of(name), "validation", data_dir)
    measured = validation_nll(predictor, validation)
    assert all(abs(measured - metric.value) <= 1e-3 for metric in card.metrics)
    assert measured < min(metric.baseline_value for metric in card.metrics)  # beats both trivial baselines
    assert card.metrics[0].examples == sum(map(len, validation))


def test_the_key_coupling_stays_strictly_lower_triangular_in_training():
    import torch

    from zoo import create_model

    model = create_model("test-jsb-lstm")
    optimiser = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    frames = (torch.rand(3, 5, KEYS) < 0.1).float()
    for _ in range(3):
        logits, _ = model(frames, model.initial_state(3))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.conditional_logits(logits, frames), frames)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    coupling = model.key_coupling().detach()
    assert coupling.tril(-1).abs().sum() > 0 and not coupling.triu().any()  # learned below, zero on and above
