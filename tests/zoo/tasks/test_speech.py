"""Speech preprocessing and predictor (issue 19): the running normalisation streams, a tiny trained recogniser
transcribes recordings alone or batched the same, and the shipped models are re-measured against their cards."""
import numpy as np
import pytest

from training.speech import train
from training.speech.data import load_recordings
from training.speech.export import model_numbers
from zoo import get_spec, list_models
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard
from zoo.tasks.speech.audio import END_SILENCE_S, LEAD_IN_STEPS, SAMPLE_RATE, STACK, feature_steps, log_mel, normalise
from zoo.tasks.speech.ctc import BLANK, greedy_digits
from zoo.tasks.speech.predictor import SpeechPredictor, Transcription


@pytest.fixture(scope="module")
def recordings(data_dir):
    return load_recordings(data_dir)


def test_the_running_normalisation_gives_the_same_frames_in_chunks(recordings):
    frames = log_mel(np.concatenate([r.samples for r in recordings[:6]]))
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    whole, last = normalise(frames, mean, std)
    pieces, running = [], None
    for start in range(0, len(frames), 37):
        piece, running = normalise(frames[start : start + 37], mean, std, running)
        pieces.append(piece)
    assert np.allclose(np.vstack(pieces), whole, atol=1e-5) and np.allclose(running.mean, last.mean, atol=1e-5)
    assert running.counted == last.counted and 0.3 * len(frames) < last.counted < len(frames)  # pauses uncounted
    louder, _ = normalise(frames + 3.0, mean, std)  # +3 in log power: a fixed gain of 13 dB
    assert np.abs(louder - whole)[300:].max() < 0.05 * np.abs(3.0 / std).max()  # faded within 3 s
    assert np.abs(louder - whole)[40:].max() < 0.25 * np.abs(3.0 / std).max()  # mostly gone within 0.4 s


def test_silence_before_speech_leaves_the_running_mean_alone(recordings):
    speech = log_mel(recordings[0].samples)
    mean, std = speech.mean(axis=0) + 1.0, speech.std(axis=0)  # a prior a little off, as for a new speaker
    silence = log_mel(np.zeros(SAMPLE_RATE // 2, np.float32))  # 0.5 s of digital zeros: every band at the floor
    alone, _ = normalise(speech, mean, std)
    after_silence, running = normalise(np.vstack([silence, speech]), mean, std)
    assert running.counted <= len(speech)  # none of the silence
    assert np.abs(after_silence[len(silence) :] - alone).max() < 0.05 * np.abs(alone).max()
    hiss = silence + 1.0  # a quiet room's hiss, 4 dB over the floor and far under the speech
    after_hiss, _ = normalise(np.vstack([hiss, speech]), mean, std)
    assert np.abs(after_hiss[len(hiss) :] - alone).max() < 0.05 * np.abs(alone).max()


def test_a_voice_that_becomes_quieter_is_followed_again(recordings):
    near = log_mel(np.concatenate([r.samples for r in recordings[:10]]))  # about 5 s of one speaker
    mean, std = near.mean(axis=0), near.std(axis=0)
    drop = np.log(10.0 ** 1.6)  # 16 dB quieter: beyond the margin under the mean, still over the floor
    _, after_near = normalise(near, mean, std)
    _, after_far = normalise(near - drop, mean, std, after_near)
    assert after_far.counted > after_near.counted + 0.2 * len(near)  # counted again
    assert after_near.mean.mean() - after_far.mean.mean() > 0.75 * drop  # and the mean has followed it down


def test_steps_are_the_same_whatever_chunks_the_audio_arrives_in(recordings):
    samples = np.concatenate([r.samples for r in recordings[:4]])
    mean, std = np.zeros(40, np.float32), np.full(40, 3.0, np.float32)
    whole, _ = feature_steps(samples, mean, std)
    assert whole.shape == (LEAD_IN_STEPS + len(log_mel(samples)) // STACK, 40 * STACK)  # the lead-in first
    assert np.allclose(whole[: LEAD_IN_STEPS - 1], whole[0])  # silence, before the first frame the voice reaches
    rng, pieces, state, start = np.random.default_rng(0), [], None, 0
    while start < len(samples):  # chunks of 1 to 2,000 samples: shorter than a frame, longer than a step
        size = int(rng.integers(1, 2000))
        piece, state = feature_steps(samples[start : start + size], mean, std, state)
        pieces.append(piece)
        start += size
    assert np.allclose(np.vstack(pieces), whole, atol=1e-5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_dir) -> SpeechPredictor:
    root = tmp_path_factory.mktemp("speech")
    train.main(["--model", "test-digits-gru", "--epochs", "1", "--utterances", "48", "--synthetic-voices", "2",
                "--monitor-voices", "1",
                "--data-dir", str(data_dir), "--checkpoint-dir", str(root / "checkpoints"),
                "--artifacts-dir", str(root / "zoo")])
    return SpeechPredictor(root / "zoo" / "test-digits-gru", ["CPUExecutionProvider"])


def test_a_tiny_recogniser_reads_recordings_alone_or_batched_and_in_chunks(tiny, recordings):
    rows = [tiny.features(r.samples) for r in recordings[:5]]
    together = tiny.run(rows)
    for row, recording, logits in zip(rows, recordings, together):
        (alone,) = tiny.run([row])
        assert logits.shape == (len(row), 11) and np.allclose(logits, alone, atol=1e-4)
        ending = len(log_mel(np.zeros(int(END_SILENCE_S * SAMPLE_RATE) + len(recording.samples)))) // STACK
        assert len(row) == LEAD_IN_STEPS + ending  # silence in front, and the silence that lets the last digit out
    samples = np.concatenate([r.samples for r in recordings[:3]])
    (whole,) = tiny.run([tiny.features(samples)])
    stream = tiny.open_stream()
    for start in range(0, len(samples), 800):  # 100 ms of audio at a time
        heard = tiny.listen(stream, samples[start : start + 800])
    assert heard == tiny.transcribe(samples) and stream.samples == len(samples)
    assert stream.pending_from + len(stream.pending) == len(whole) - len(tiny.ending_steps(stream)) - LEAD_IN_STEPS
    for digit, timed in zip(tiny.decode(whole), tiny.transcribe(samples)):  # in the audio's time, lead-in taken off
        assert digit == timed and 0 <= digit.start_s < digit.end_s <= len(samples) / SAMPLE_RATE + END_SILENCE_S
    card = ModelCard.load(tiny.directory)
    assert [m.name for m in card.metrics] == ["isolated_digit_accuracy", "isolated_digit_accuracy_vs_majority",
                                              "string_digit_error_rate"]
    assert card.preprocessing.statistics["speakers"] == {"test": "george",
                                                         "train": ["jackson", "lucas", "nicolas", "yweweler"]}


def test_a_tiny_bidirectional_recogniser_reads_whole_recordings_alike_alone_or_padded_and_refuses_to_stream(
        tmp_path, data_dir, recordings):
    from zoo.task import InputError
    train.main(["--model", "test-digits-bigru", "--epochs", "1", "--utterances", "32", "--synthetic-voices", "0",
                "--monitor-voices", "0", "--data-dir", str(data_dir), "--checkpoint-dir", str(tmp_path / "checkpoints"),
                "--artifacts-dir", str(tmp_path / "zoo")])
    predictor = SpeechPredictor(tmp_path / "zoo" / "test-digits-bigru", ["CPUExecutionProvider"])
    assert predictor.card.architecture.bidirectional and not predictor.streams
    assert [spec.name for spec in predictor.card.inputs] == ["features", "lengths"]
    rows = [predictor.features(r.samples) for r in recordings[:4]]  # of different lengths: padded in one call
    assert len({len(row) for row in rows}) > 1
    for row, batched in zip(rows, predictor.run(rows)):
        (alone,) = predictor.run([row])
        assert np.abs(alone - batched).max() < 1e-5  # the backward direction never reads the padding
        # and the future counts: the first steps' scores change when the end of the recording does
        (cut,) = predictor.run([row[: len(row) // 2]])
        assert np.abs(cut[:5] - alone[:5]).max() > 0
    with pytest.raises(InputError, match="bidirectional.*needs the whole recording"):
        predictor.open_stream()


def test_a_stream_decoded_chunk_by_chunk_keeps_only_its_last_run_and_hears_what_the_whole_says():
    rng = np.random.default_rng(0)
    classes = np.repeat(rng.choice([*range(10), BLANK, BLANK, BLANK], 120), rng.integers(1, 9, 120))  # runs
    logits = rng.normal(0, 0.3, (len(classes), 11)).astype(np.float32)
    logits[np.arange(len(classes)), classes] += 3.0  # (S, 11): each step's best class is its run's
    stream, start = Transcription(state=[]), 0
    while start < len(logits):
        size = int(rng.integers(1, 12))
        stream.hear(logits[start : start + size])
        start = min(start + size, len(logits))
        assert stream.digits(np.zeros((0, 11))) == greedy_digits(logits[:start], first_step=-LEAD_IN_STEPS)
        kept = set(stream.pending.argmax(axis=-1).tolist())  # only the last run, and only if it is a digit
        assert kept == set() or (len(kept) == 1 and BLANK not in kept and classes[start - 1] in kept)
        assert stream.pending_from + len(stream.pending) == start - LEAD_IN_STEPS  # step 0 is the audio's first


SHIPPED = [name for name in list_models("speech") if not get_spec(name).quantized_from]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_speech_cards_are_reproduced_by_onnxruntime(name, data_dir):
    card = ModelCard.load(ARTIFACTS_DIR / name)
    numbers = model_numbers(SpeechPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"]), data_dir)
    assert card.metric("isolated_digit_accuracy").value == pytest.approx(numbers.accuracy, abs=1e-4)
    assert card.metric("string_digit_error_rate").value == pytest.approx(numbers.error_rate, abs=1e-4)
    assert numbers.accuracy > 3 * card.metric("isolated_digit_accuracy_vs_majority").baseline_value


def test_the_best_shipped_recogniser_beats_the_classical_one_on_both_measures():
    cards = [ModelCard.load(ARTIFACTS_DIR / name) for name in SHIPPED]
    accuracy, strings = (max(cards, key=lambda c: c.metric("isolated_digit_accuracy").value),
                         min(cards, key=lambda c: c.metric("string_digit_error_rate").value))
    assert accuracy.metric("isolated_digit_accuracy").value > accuracy.metric("isolated_digit_accuracy").baseline_value
    assert strings.metric("string_digit_error_rate").value < strings.metric("string_digit_error_rate").baseline_value


def test_frequency_filters_follow_a_formant_along_the_bands_and_never_mix_steps():
    """The filters are shared by every band: a peak moved up two bands moves the filtered map up one pooled band
    and leaves its values as they were. Each step is filtered alone, so changing one step changes only its own
    output, which is what lets the recogniser stream."""
    import torch

    from zoo.tasks.speech.audio import MEL_BANDS
    from zoo.tasks.speech.network import FrequencyFilters

    torch.manual_seed(0)
    front = FrequencyFilters(4).eval()
    steps = torch.zeros(1, 3, STACK * MEL_BANDS)  # (B, S, 120)
    low, high = steps.clone(), steps.clone()
    low[0, 1, 10::MEL_BANDS], high[0, 1, 12::MEL_BANDS] = 3.0, 3.0  # every frame of step 1: one band lit
    with torch.no_grad():
        low_map, high_map = (front(x).reshape(3, 4, MEL_BANDS // 2) for x in (low, high))  # (S, filters, 20)
    assert torch.allclose(low_map[1, :, 3:8], high_map[1, :, 4:9])  # the same response, one pooled band higher
    assert not torch.allclose(low_map[1], high_map[1])
    assert torch.equal(low_map[0], high_map[0]) and torch.equal(low_map[2], high_map[2])  # the other steps
    assert front(steps).shape == (1, 3, 4 * MEL_BANDS // 2)
