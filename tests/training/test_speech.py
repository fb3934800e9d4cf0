"""Spoken digits (issue 19, first part): the FSDD loader on the real files, the download of the release tarball
against a server on 127.0.0.1 (the withheld speaker never extracted), the WAV reader on every accepted form and
every refused one, the log-mel features against librosa, and the classical baselines on a small split."""
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from training.data import DataError
from training.speech.baselines import held_out
from training.speech.data import SPEAKERS, download, load_recordings, split
from training.speech.strings import Augmentation, draw_utterances
from zoo.tasks.speech.audio import (
    HOP,
    LOG_FLOOR,
    MEL_BANDS,
    SAMPLE_RATE,
    STACK,
    WINDOW,
    AudioError,
    log_mel,
    read_wav,
    recording_steps,
    resample,
)
from zoo.tasks.speech.ctc import BLANK, greedy_digits


@pytest.fixture(scope="module")
def recordings(data_dir):
    return load_recordings(data_dir)


def test_the_real_files_hold_five_speakers_fifty_takes_of_each_digit(recordings):
    assert len(recordings) == 2500
    for speaker in SPEAKERS:
        mine = [r for r in recordings if r.speaker == speaker]
        assert sorted(r.digit for r in mine) == sorted(list(range(10)) * 50)
    assert all(r.samples.dtype == np.float32 and 0.1 < r.seconds < 2.5 for r in recordings)


def test_the_withheld_speaker_is_refused(data_dir):
    with pytest.raises(ValueError, match="speakers: george, jackson, lucas, nicolas, yweweler \\(theo is withheld\\)"):
        load_recordings(data_dir, speakers=("theo",))


def release_tarball(source: Path, tamper: bool = False) -> bytes:
    """A tarball shaped like the v1.0.10 release: the five speakers' recordings, the withheld speaker's and other
    files beside them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"free-spoken-digit-dataset-1.0.10/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for i, path in enumerate(sorted((source / "recordings").iterdir())):
            data = path.read_bytes()
            add(f"recordings/{path.name}", data + b"\0" if tamper and i == 7 else data)
        add("recordings/3_theo_0.wav", b"RIFF-not-to-be-read")
        add("README.md", b"# FSDD\n")
    return buffer.getvalue()


def test_the_release_is_downloaded_checked_and_the_withheld_speaker_left_out(data_dir, http_root, tmp_path):
    root, url = http_root
    (root / "fsdd.tar.gz").write_bytes(release_tarball(data_dir / "fsdd"))
    target = tmp_path / "data"
    target.mkdir()
    download(target, f"{url}/fsdd.tar.gz")
    assert (target / "fsdd" / "SHA256SUMS").read_bytes() == (data_dir / "fsdd" / "SHA256SUMS").read_bytes()
    assert not list((target / "fsdd" / "recordings").glob("*theo*"))
    assert len(load_recordings(target)) == 2500

    (root / "tampered.tar.gz").write_bytes(release_tarball(data_dir / "fsdd", tamper=True))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(DataError, match="list to sha256 .*; not using them"):
        download(elsewhere, f"{url}/tampered.tar.gz")
    assert not (elsewhere / "fsdd").exists()
    with pytest.raises(DataError, match="downloading .* failed"):
        download(elsewhere, f"{url}/missing.tar.gz")


def wav(samples: np.ndarray, rate: int = 8000, bits: int = 16, channels: int = 1, float_samples: bool = False,
        extensible: bool = False) -> bytes:
    """A WAV file written by hand, for the forms the standard library's `wave` cannot write."""
    frames = np.repeat(samples[:, None], channels, axis=1).ravel()
    if float_samples:
        payload = frames.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        payload = np.clip(np.round(frames * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 24:
        ints = np.clip(np.round(frames * (1 << 23)), -(1 << 23), (1 << 23) - 1).astype("<i4")
        payload = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        kind = "<i2" if bits == 16 else "<i4"
        payload = np.clip(np.round(frames * (1 << (bits - 1))), -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype(kind).tobytes()
    tag = 3 if float_samples else 1
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\0"
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("form", [dict(bits=8), dict(bits=16), dict(bits=24), dict(bits=32),
                                  dict(bits=32, float_samples=True), dict(bits=64, float_samples=True),
                                  dict(bits=16, channels=2), dict(bits=24, extensible=True),
                                  dict(bits=32, float_samples=True, extensible=True), dict(bits=16, rate=44100)])
def test_every_accepted_wav_form_reads_back(form):
    rng = np.random.default_rng(0)
    samples = (0.8 * np.sin(np.arange(801) / 7) * rng.uniform(0.5, 1, 801)).astype(np.float32)
    read, rate = read_wav(wav(samples, **form))
    assert rate == form.get("rate", 8000) and read.dtype == np.float32 and read.shape == samples.shape
    assert np.abs(read - samples).max() <= (1 / 64 if form["bits"] == 8 else 1e-4)


@pytest.mark.parametrize("data, message", [
    (b"ID3\x03 an mp3", "not a WAV file"),
    (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
    (wav(np.zeros(10, np.float32))[:-20].replace(b"data", b"junk"), "no data chunk"),
    (wav(np.zeros(0, np.float32)), "holds no samples"),
    (wav(np.zeros(10, np.float32), channels=3), "3 channels"),
    (wav(np.zeros(10, np.float32), rate=1000), "at 1000 Hz"),
    (wav(np.zeros(10, np.float32), bits=12), "12-bit integer"),
    (wav(np.zeros(10, np.float32)).replace(b"\x01\x00\x01\x00", b"\x02\x00\x01\x00", 1), "format tag 2"),
    (wav(np.array([np.nan, 0], np.float32), bits=32, float_samples=True), "non-finite"),
    (wav(np.array([1e18, 0], np.float32), bits=32, float_samples=True), "float samples reach 1e"),
])
def test_refused_audio_says_what_is_accepted(data, message):
    with pytest.raises(AudioError, match=message):
        read_wav(data)


def test_log_mel_matches_librosa(recordings):
    librosa = pytest.importorskip("librosa")
    samples = recordings[123].samples
    ours = log_mel(samples)
    assert ours.shape == (1 + (len(samples) - WINDOW) // HOP, MEL_BANDS)
    # librosa frames n_fft=256 samples with the 200-sample window centred in them: pad 28 samples on each side
    # so that its frame t reads the samples ours does
    shift = (256 - WINDOW) // 2
    padded = np.concatenate([np.zeros(shift), samples, np.zeros(shift)]).astype(np.float64)
    reference = librosa.feature.melspectrogram(
        y=padded, sr=SAMPLE_RATE, n_fft=256, hop_length=HOP, win_length=WINDOW, window="hann", center=False,
        power=2.0, n_mels=MEL_BANDS, fmin=20.0, fmax=SAMPLE_RATE / 2, htk=True, norm=None).T
    assert reference.shape == ours.shape
    assert np.abs(ours - np.log(reference + LOG_FLOOR)).max() < 1e-3
    assert log_mel(samples[:WINDOW - 1]).shape == (0, MEL_BANDS)


def test_a_stream_cut_anywhere_gives_the_same_frames(recordings):
    samples = recordings[7].samples
    whole = log_mel(samples)
    cut = 1234  # frames only start at multiples of the hop, so the second part restarts at the frame it needs
    first = log_mel(samples[:cut])
    rest = log_mel(samples[len(first) * HOP:])
    assert np.allclose(np.vstack([first, rest]), whole, atol=1e-5)


def test_the_baselines_run_on_a_small_speaker_independent_split(recordings):
    # GMM-HMMs need several voices: trained on one speaker's 20 takes per digit, EM left one digit's model NaN
    few = [r for r in recordings if r.speaker != "yweweler" and r.index < 15]
    result = held_out(few, "jackson")
    assert result.recordings == 150 and result.majority == pytest.approx(0.1)
    assert result.dtw > 0.3 and result.hmm > 0.3  # far above chance, from 15 takes per digit of three voices


def test_a_state_em_left_unused_is_repaired_so_the_gmm_hmm_scores(recordings):
    """Fitted on lucas, yweweler and jackson, EM leaves the last state of "seven" with no way out and zero
    variance, and hmmlearn refused to score anything (the voices study crashed on it)."""
    from training.speech.baselines import gmm_hmm, stacked, without_dead_states

    X, y, lengths = stacked([r for r in recordings if r.speaker in ("lucas", "yweweler", "jackson")])
    hmm = gmm_hmm().fit(X, y, lengths=lengths)
    seven = hmm.models[7].model
    assert seven.transmat_[4].sum() == 0 and seven.covars_[4].min() == 0  # what EM left
    untouched = {digit: w.model.transmat_.copy() for digit, w in hmm.models.items() if digit != 7}
    without_dead_states(hmm)
    assert seven.transmat_[4].tolist() == [0, 0, 0, 0, 1] and seven.covars_[4].tolist() == seven.covars_[3].tolist()
    assert all(np.array_equal(hmm.models[d].model.transmat_, t) for d, t in untouched.items())
    X_test, y_test, test_lengths = stacked([r for r in recordings if r.speaker == "nicolas"])
    assert np.mean(hmm.predict(X_test, lengths=test_lengths) == y_test) > 0.4  # far above chance (0.1)


@pytest.mark.parametrize("rate", [11025, 16000, 22050, 44100, 48000])
def test_resampling_keeps_the_band_and_removes_what_would_alias(rate):
    t = np.arange(rate) / rate  # one second
    tone = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), rate)
    assert len(tone) == SAMPLE_RATE and tone.dtype == np.float32
    expected = np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    assert np.abs(tone - expected)[100:-100].max() < 3e-3  # a 1 kHz tone stays a 1 kHz tone
    above = resample(np.sin(2 * np.pi * 4600 * t).astype(np.float32), rate)  # above the 4 kHz Nyquist frequency
    assert np.abs(above)[100:-100].max() < 0.02  # filtered out, not folded back to 3.4 kHz
    assert resample(tone, SAMPLE_RATE) is not tone and np.array_equal(resample(tone, SAMPLE_RATE), tone)


def test_utterances_join_one_voice_with_silences_and_are_seeded(recordings):
    some = [r for r in recordings if r.index < 5]
    first = draw_utterances(some, 40, seed=3, augmentation=Augmentation())
    again = draw_utterances(some, 40, seed=3, augmentation=Augmentation())
    assert all(np.array_equal(a.samples, b.samples) and a.digits == b.digits for a, b in zip(first, again))
    assert {len(u.digits) for u in first} <= set(range(1, 8)) and 1 in {len(u.digits) for u in first}
    clean = draw_utterances(some, 20, seed=4, augmentation=Augmentation.none())
    for u in clean:
        assert len(u.spans) == len(u.digits)
        assert u.spans[0][0] >= int(0.1 * SAMPLE_RATE) and all(a[1] < b[0] for a, b in zip(u.spans, u.spans[1:]))
        silent = np.ones(len(u.samples), bool)
        for start, end in u.spans:
            silent[start:end] = False
        assert not u.samples[silent].any()  # no noise added: between the digits is silence


def test_greedy_ctc_decoding_merges_repeats_and_drops_blanks():
    path = [BLANK, 4, 4, BLANK, 1, 1, 1, 1, BLANK, 4, BLANK, 5]
    logits = np.full((len(path), 11), -5.0)
    logits[np.arange(len(path)), path] = 5.0
    digits = greedy_digits(logits, first_step=10)
    assert [d.digit for d in digits] == [4, 1, 4, 5]
    assert digits[0].start_s == pytest.approx(11 * STACK * HOP / SAMPLE_RATE)  # step 11: frames 33-35
    assert digits[0].end_s == pytest.approx(((12 * STACK + STACK - 1) * HOP + WINDOW) / SAMPLE_RATE)
    assert all(0.99 < d.confidence <= 1 for d in digits)
    early = greedy_digits(logits, first_step=-2)  # two steps of lead-in before the audio: times start at 0
    assert early[0].start_s == 0.0 and early[0].end_s == pytest.approx(((STACK - 1) * HOP + WINDOW) / SAMPLE_RATE)
    assert greedy_digits(np.zeros((0, 11))) == [] and greedy_digits(np.tile(logits[:1], (5, 1))) == []


def test_the_split_never_trains_on_the_test_speaker(recordings):
    parts = split(recordings)
    assert {r.speaker for r in parts["test"]} == {"george"} and len(parts["test"]) == 500
    assert {r.speaker for r in parts["train"]} == {"jackson", "lucas", "nicolas", "yweweler"}


def test_synthetic_voices_say_every_digit_and_are_seeded():
    from training.speech.synthetic import synthetic_speakers

    voices = synthetic_speakers(2, seed=3)
    assert [r.digit for r in voices] == list(range(10)) * 2
    assert len({r.speaker for r in voices}) == 2 and all(r.speaker.startswith("espeak:en") for r in voices)
    assert all(0.15 < r.seconds < 1.5 and np.abs(r.samples).max() > 0.05 for r in voices)  # a word, trimmed
    again = synthetic_speakers.__wrapped__(2, seed=3)  # synthesised anew, not the cached list
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(voices, again))


def test_aligned_targets_put_each_digit_at_the_step_where_its_recording_ends(recordings):
    import torch

    from training.speech.train import aligned_targets

    (utterance,) = draw_utterances(recordings[:50], 1, seed=4, augmentation=Augmentation.none(), single_share=0.0)
    length = len(log_mel(utterance.samples)) // STACK
    targets = aligned_targets([utterance], torch.tensor([length]))[0]
    marked = torch.nonzero(targets >= 0).flatten().tolist()
    assert targets[marked].tolist() == utterance.digits
    for step, (_, end) in zip(marked, utterance.spans):
        assert step == (end - WINDOW) // HOP // STACK  # the step holding the recording's last whole frame


def test_vocal_tract_warp_moves_the_formants_and_keeps_the_band(recordings):
    """VTLP on the normalised bands: factor 1 changes nothing; > 1 moves a spectral peak to higher bands (a shorter
    vocal tract), < 1 to lower ones; the lowest band stays, and the highest keeps most of its value (the
    piecewise-linear map sends Nyquist to Nyquist, so the top of the band is neither cut off nor repeated)."""
    from training.speech.train import BAND_CENTRES_HZ, warp_vocal_tract

    steps = recording_steps(recordings[0].samples, np.zeros(MEL_BANDS, np.float32), np.ones(MEL_BANDS, np.float32))
    assert np.allclose(warp_vocal_tract(steps, 1.0), steps, atol=1e-5)
    peak = np.zeros((1, STACK * MEL_BANDS), np.float32)
    peak[0, 20::MEL_BANDS] = 1.0  # every frame of the step: one band lit, at about 1.4 kHz
    centre = lambda warped: float(np.average(BAND_CENTRES_HZ, weights=warped.reshape(STACK, MEL_BANDS)[0]))  # noqa: E731
    assert centre(warp_vocal_tract(peak, 1.1)) > BAND_CENTRES_HZ[20] > centre(warp_vocal_tract(peak, 0.9))
    assert abs(centre(warp_vocal_tract(peak, 1.1)) / BAND_CENTRES_HZ[20] - 1.1) < 0.05  # stretched by the factor
    edges = np.zeros((1, STACK * MEL_BANDS), np.float32)
    edges[0, [0, MEL_BANDS - 1]] = [1.0, 2.0]
    for factor in (0.9, 1.1):
        warped = warp_vocal_tract(edges, factor)[0, :MEL_BANDS]
        assert warped[0] == pytest.approx(1.0, abs=0.2) and warped[-1] > 1.0


def test_leave_one_speaker_out_trains_and_measures_each_held_out_speaker(data_dir, tmp_path, capsys):
    from training.speech import loso
    from zoo.cards import ModelCard
    loso.main(["--model", "test-digits-gru", "--epochs", "1", "--utterances", "32", "--synthetic-voices", "0",
               "--monitor-voices", "0", "--speakers", "lucas", "--data-dir", str(data_dir),
               "--checkpoint-dir", str(tmp_path), "--artifacts-dir", str(tmp_path)])
    card = ModelCard.load(tmp_path / "lucas" / "test-digits-gru")
    assert card.preprocessing.statistics["speakers"] == {"test": "lucas",
                                                         "train": ["george", "jackson", "nicolas", "yweweler"]}
    accuracy = card.metric("isolated_digit_accuracy")
    assert accuracy.split.startswith("speaker lucas, never heard") and 0.3 < accuracy.baseline_value < 0.9
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| lucas |"))
    assert f"**{accuracy.value:.3f}** | {accuracy.baseline_value:.3f} |" in row

    # the decoding comparison on the same held-out model: unwarped, it is the card's number; a model rescored
    # with itself hears what it heard alone
    from training.speech.decoding import compare
    model = tmp_path / "lucas" / "test-digits-gru"
    rows = {name: (acc, der) for name, acc, der in compare([model, model], str(data_dir))}
    unwarped = rows["`test-digits-gru`, warp 1.0"]
    assert unwarped == pytest.approx((accuracy.value, card.metric("string_digit_error_rate").value), abs=1e-4)
    assert rows["`test-digits-gru` + `test-digits-gru`, hypotheses rescored"] == unwarped
    assert len(rows) == 9 + 3 + 1 + 1 + 2  # warps, warp averages, best warp, the second model, the combinations


def test_fewer_real_speakers_train_the_model_and_fit_its_baseline(data_dir, tmp_path):
    """--train-speakers (the study of how accuracy grows with the number of voices): the card names the speakers
    trained on, and the GMM-HMM beside the model is fitted on those same speakers."""
    from training.speech import train
    from training.speech.baselines import classical_baselines
    from training.speech.export import evaluation_strings, recordings
    from zoo.cards import ModelCard

    flags = ["--model", "test-digits-gru", "--epochs", "1", "--utterances", "16", "--synthetic-voices", "0",
             "--monitor-voices", "0", "--test-speaker", "lucas", "--data-dir", str(data_dir),
             "--checkpoint-dir", str(tmp_path), "--artifacts-dir", str(tmp_path)]
    with pytest.raises(SystemExit, match="not the test speaker"):
        train.main([*flags, "--train-speakers", "jackson,lucas"])
    train.main([*flags, "--train-speakers", "jackson,yweweler"])
    card = ModelCard.load(tmp_path / "test-digits-gru")
    assert card.preprocessing.statistics["speakers"] == {"test": "lucas", "train": ["jackson", "yweweler"]}
    every = recordings(str(data_dir))
    test = [r for r in every if r.speaker == "lucas"]
    two = classical_baselines([r for r in every if r.speaker in ("jackson", "yweweler")], test,
                              evaluation_strings(test))
    assert card.metric("isolated_digit_accuracy").baseline_value == pytest.approx(two.hmm_accuracy, abs=1e-4)


def test_rescoring_sums_every_alignment_and_every_model():
    """Two steps of 0.4 "3" / 0.6 blank: the best path says nothing, but "3" has 0.64 of the probability over its
    three alignments (3 3, 3 -, - 3) against the empty answer's 0.36. A second model whose best path is "3"
    brings that candidate in, and the summed likelihoods choose it."""
    from training.speech.decoding import best_path, log_likelihood, rescore

    unsure = np.zeros((2, BLANK + 1))
    unsure[:, 3], unsure[:, BLANK] = 0.4, 0.6
    assert best_path(unsure) == ()
    assert np.exp(log_likelihood(unsure, (3,))) == pytest.approx(0.64, abs=1e-6)
    assert np.exp(log_likelihood(unsure, ())) == pytest.approx(0.36, abs=1e-6)
    sure = np.zeros((2, BLANK + 1))
    sure[:, 3], sure[:, BLANK] = 0.7, 0.3
    assert rescore([unsure]) == () and rescore([unsure, sure]) == (3,)
