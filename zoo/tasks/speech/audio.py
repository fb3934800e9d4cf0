"""Audio in numpy: WAV bytes -> mono float samples at the models' rate. Shared by training and serving, so a
recording reaches a model the same way in both.

The WAV reader is written here because the standard library's `wave` refuses 32-bit float files (and, before
Python 3.12, WAVE_FORMAT_EXTENSIBLE headers), and scipy.io.wavfile would bring scipy into the served bento.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from zoo.task import InputError

SAMPLE_RATE = 8000  # Hz: the Free Spoken Digit Dataset's rate, and what every model reads
MAX_SECONDS = 60  # the longest recording /transcribe takes (also on each speech card); longer audio streams
PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
MAX_FLOAT_SAMPLE = 16.0  # float WAVs may go over full scale (1.0); far beyond it, the spectrum's power overflows
ACCEPTED = ("RIFF/WAVE, PCM 8/16/24/32-bit integer or 32/64-bit float, mono or stereo (channels are averaged), "
            "any sample rate from 4 to 192 kHz")


class AudioError(InputError):
    """Bytes that are not an accepted WAV file; the message says what was found and what is accepted."""


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """WAV bytes -> ((samples,) float32 mono in [-1, 1], sample rate)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"not a WAV file (no RIFF/WAVE header); accepted: {ACCEPTED}")
    chunks, position = {}, 12
    while position + 8 <= len(data):  # RIFF chunks: 4-byte id, little-endian size, payload padded to even
        name, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        chunks.setdefault(name, data[position + 8 : position + 8 + size])
        position += 8 + size + (size & 1)
    if b"fmt " not in chunks or b"data" not in chunks:
        missing = "fmt" if b"fmt " not in chunks else "data"
        raise AudioError(f"the WAV file has no {missing} chunk; accepted: {ACCEPTED}")
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise AudioError("the WAV fmt chunk is truncated")
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID starts with the format tag
    if tag not in (PCM, IEEE_FLOAT):
        raise AudioError(f"WAV format tag {tag} (compressed audio) is not accepted; accepted: {ACCEPTED}")
    if channels not in (1, 2) or not 4000 <= rate <= 192_000:
        raise AudioError(f"{channels} channels at {rate} Hz; accepted: {ACCEPTED}")
    width = bits // 8
    if (tag == PCM and bits not in (8, 16, 24, 32)) or (tag == IEEE_FLOAT and bits not in (32, 64)):
        raise AudioError(f"{bits}-bit {'float' if tag == IEEE_FLOAT else 'integer'} samples; accepted: {ACCEPTED}")
    payload = chunks[b"data"]
    frames = len(payload) // (width * channels)
    if frames == 0:
        raise AudioError("the WAV file holds no samples")
    raw = payload[: frames * width * channels]
    if tag == IEEE_FLOAT:
        samples = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif bits == 8:  # 8-bit WAV is unsigned, centred on 128
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 24:  # three little-endian bytes: widen to int32 with the sign in the top byte
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        samples = (np.where(values >= 1 << 23, values - (1 << 24), values) / float(1 << 23)).astype(np.float32)
    else:
        dtype = "<i2" if bits == 16 else "<i4"
        samples = (np.frombuffer(raw, dtype=dtype) / float(1 << (bits - 1))).astype(np.float32)
    if not np.isfinite(samples).all():
        raise AudioError("the WAV file holds non-finite float samples")
    if tag == IEEE_FLOAT and np.abs(samples).max(initial=0.0) > MAX_FLOAT_SAMPLE:
        raise AudioError(f"float samples reach {np.abs(samples).max():.3g}; full scale is 1 and at most "
                         f"{MAX_FLOAT_SAMPLE:g} (24 dB over it) is accepted")
    return samples.reshape(frames, channels).mean(axis=1).astype(np.float32), rate


WINDOW = 200  # samples: 25 ms at 8 kHz
HOP = 80  # samples: 10 ms, one frame
FFT_SIZE = 256
MEL_BANDS = 40
LOWEST_HZ, HIGHEST_HZ = 20.0, SAMPLE_RATE / 2
LOG_FLOOR = 1e-4  # power below this is silence: digital zeros and a quiet room's hiss look alike to the models


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)  # the HTK formula


def mel_band_edges(bands: int = MEL_BANDS) -> np.ndarray:
    """(bands + 2,) Hz: band i rises from edge i, peaks at edge i + 1 (its centre) and falls to edge i + 2."""
    edges_mel = np.linspace(hz_to_mel(LOWEST_HZ), hz_to_mel(HIGHEST_HZ), bands + 2)
    return 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)


def mel_filterbank(bands: int = MEL_BANDS, fft_size: int = FFT_SIZE, rate: int = SAMPLE_RATE) -> np.ndarray:
    """(bands, fft_size // 2 + 1) triangular filters, evenly spaced on the mel scale, peak 1."""
    edges = mel_band_edges(bands)  # (bands + 2,) Hz
    bins = np.linspace(0, rate / 2, fft_size // 2 + 1)  # (F,) the FFT bins' frequencies
    rising = (bins[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    falling = (edges[2:, None] - bins[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


_FILTERS = mel_filterbank()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float32)  # periodic Hann


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(N,) float samples at SAMPLE_RATE -> (T, 40) log mel power, T = 1 + (N - 200) // 80 frames (none when
    N < 200). Frames start at 0, 80, 160...: no padding in front, so a stream's frames are the same whichever
    chunks it arrives in."""
    count = 0 if len(samples) < WINDOW else 1 + (len(samples) - WINDOW) // HOP
    if count == 0:
        return np.zeros((0, MEL_BANDS), dtype=np.float32)
    starts = np.arange(count)[:, None] * HOP + np.arange(WINDOW)[None, :]  # (T, 200) sample indices
    spectrum = np.fft.rfft(samples[starts] * _HANN, n=FFT_SIZE)  # (T, 129)
    power = spectrum.real**2 + spectrum.imag**2
    return np.log(power @ _FILTERS.T + LOG_FLOOR).astype(np.float32)


RESAMPLE_ZEROS = 16  # zero crossings of the interpolating sinc on each side: about 80 dB of stop band with Kaiser


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) samples at `rate` -> (round(N * target / rate),) at `target`, band-limited: each output sample is a
    Kaiser-windowed sinc interpolation of the input around its instant, the sinc's cutoff at the lower Nyquist
    frequency, so downsampling does not fold what is above 4 kHz back into the band. Written here because the
    bento has no scipy (resample_poly) and no resampling library is numpy-only."""
    if rate == target:
        return samples.astype(np.float32)
    count = int(round(len(samples) * target / rate))
    scale = min(1.0, target / rate)  # cutoff as a fraction of the input's Nyquist frequency
    half_width = int(np.ceil(RESAMPLE_ZEROS / scale))  # input samples on each side of an output instant
    padded = np.concatenate([np.zeros(half_width), samples.astype(np.float64), np.zeros(half_width + 1)])
    outputs = []
    for start in range(0, count, 4096):  # in blocks: (block, 2 * half_width) weights at a time
        instants = np.arange(start, min(start + 4096, count)) * (rate / target)  # (n,) in input samples
        first = np.floor(instants).astype(np.int64) - half_width + 1  # (n,) first input sample used
        taps = first[:, None] + np.arange(2 * half_width)[None, :]  # (n, 2W)
        distance = instants[:, None] - taps  # (n, 2W) in input samples
        window = np.kaiser(2 * half_width + 1, 8.6)  # sampled continuously below by interpolation
        weights = scale * np.sinc(scale * distance) * np.interp(distance, np.linspace(-half_width, half_width,
                                                                                      len(window)), window)
        outputs.append((padded[taps + half_width] * weights).sum(axis=1))
    return np.concatenate(outputs).astype(np.float32) if outputs else np.zeros(0, np.float32)


def recording(samples: np.ndarray, rate: int, limit_s: float = MAX_SECONDS,
              hint: str = "") -> tuple[np.ndarray, float]:
    """(N,) samples at `rate` -> ((N',) samples at 8 kHz, the recording's seconds); AudioError if it is longer
    than `limit_s`."""
    seconds = len(samples) / rate
    if seconds > limit_s:
        raise AudioError(f"audio lasts {seconds:.1f} s; the maximum is {limit_s:g} s{hint}")
    return resample(samples, rate, SAMPLE_RATE), seconds


def wav_recording(data: bytes, limit_s: float = MAX_SECONDS, hint: str = "") -> tuple[np.ndarray, float]:
    """WAV bytes -> ((N,) samples at 8 kHz, the recording's seconds); AudioError saying what is wrong (not WAV,
    an unsupported encoding, longer than `limit_s`)."""
    return recording(*read_wav(data), limit_s, hint)


PRIOR_FRAMES = 10  # the training mean counts as this many frames when a recording starts
RUNNING_MEAN_RATE = 0.01  # the slowest the mean forgets: a time constant of 100 frames (1 s)
SPEECH_MARGIN = 3.0  # nats (13 dB) under the reference loudness below which a frame is not counted as speech
LEVEL_DECAY = 0.005  # nats per frame (2.2 dB a second) that the loudness level falls when nothing is as loud
SILENT = float(np.log(LOG_FLOOR)) + 1.0  # loudness within 1 nat (4 dB) of digital silence: never counted


@dataclass(frozen=True)
class RunningMean:
    """Where the running normalisation stands: each band's mean, the frames it counts, the loudness level."""
    mean: np.ndarray  # (40,) float64
    counted: int
    level: float  # a peak follower of the frames' loudness (their bands' mean log power), falling LEVEL_DECAY a frame


def normalise(frames: np.ndarray, mean: np.ndarray, std: np.ndarray,
              running: RunningMean | None = None) -> tuple[np.ndarray, RunningMean]:
    """(T, 40) log-mel frames -> ((T, 40) normalised, where the running mean stands after them).

    Per-utterance normalisation that can stream: each band's running mean is subtracted and the training spread
    (`std`) divided out, so a voice's or microphone's fixed colouring is taken away. The running mean starts at
    the training mean (`mean`, worth PRIOR_FRAMES frames) and is the plain mean of the frames counted so far
    until it has counted 90, then forgets exponentially, so it follows a long stream.

    Only speech is counted: a frame more than SPEECH_MARGIN quieter than the reference is normalised but leaves
    the mean alone. Why: a pause is not the voice's colouring; counted, 0.2 s of silence before a digit pulled
    the mean down for the whole word and cost a trained LSTM 8 points of accuracy on the unseen speaker. The
    reference is the running mean's own loudness, or a loudness level if that is lower: the level follows the
    loudest frames and falls slowly when nothing is as loud, so a voice that moves away from the microphone is
    counted again after a few seconds instead of never. A gain moves the mean, the level and the frames together.
    A whole recording and the same recording sent in chunks, with `running` carried, give the same numbers.
    """
    if running is None:
        running = RunningMean(mean.astype(np.float64), 0, float(mean.mean()))
    current, counted, level = running.mean, running.counted, running.level
    normalised = np.empty(frames.shape, dtype=np.float32)
    for t, frame in enumerate(frames):  # a recurrence over time; T is at most a few thousand frames
        loudness = float(frame.mean())
        level = max(loudness, level - LEVEL_DECAY)
        if loudness > max(SILENT, min(float(current.mean()), level) - SPEECH_MARGIN):
            counted += 1
            current = current + max(1.0 / (PRIOR_FRAMES + counted), RUNNING_MEAN_RATE) * (frame - current)
        normalised[t] = (frame - current) / std
    return normalised, RunningMean(current, counted, level)


STACK = 3  # log-mel frames per network step: 30 ms steps, a third of the recurrent work (Sak et al. 2015)
STEP_FEATURES = STACK * MEL_BANDS
END_SILENCE_S = 0.3  # appended when a recording ends: a digit is recognised once it has been heard to its end
LEAD_IN_STEPS = 7  # steps of silence (0.21 s) in front of every recording and stream: see FeatureState.start
LEAD_IN_SAMPLES = LEAD_IN_STEPS * STACK * HOP  # whole steps, so the audio's own steps follow them unchanged


@dataclass(frozen=True)
class FeatureState:
    """Where a stream's preprocessing stands between chunks."""
    pending: np.ndarray  # samples from the next frame's first sample on (fewer than a frame's hop + window)
    running: RunningMean | None  # normalise()'s; None before the first frame
    frames: np.ndarray  # (k < STACK, 40) normalised frames waiting for the rest of their step

    @classmethod
    def start(cls, lead_in: bool = True) -> "FeatureState":
        """Where a recording or stream starts: LEAD_IN_SAMPLES of silence already pending in front of its audio.

        Why: the training utterances have 0-0.5 s of silence before their first digit, the FSDD recordings are cut
        close to the voice, and a model that meets a voice in its very first frames hears it worse. With 0.2 s of
        silence in front, the LSTM recipe's accuracy rose on every speaker it was tried on when held out (jackson
        0.568 -> 0.758, lucas 0.890 -> 0.904, nicolas 0.664 -> 0.690, yweweler 0.784 -> 0.872). Digit times are
        given in the audio's own time (SpeechPredictor.decode takes the lead-in off)."""
        pending = np.zeros(LEAD_IN_SAMPLES if lead_in else 0, np.float32)
        return cls(pending, None, np.zeros((0, MEL_BANDS), np.float32))


def feature_steps(samples: np.ndarray, mean: np.ndarray, std: np.ndarray,
                  state: FeatureState | None = None) -> tuple[np.ndarray, FeatureState]:
    """(N,) samples at SAMPLE_RATE, following `state` -> ((S, 120) network steps, the state after them).

    A step is STACK consecutive normalised log-mel frames side by side. A recording cut into chunks of any sizes
    gives the same steps as the whole, because frames start at fixed sample positions and what is left over
    (samples short of a frame, frames short of a step) waits in the state. With no state, the audio is a
    recording's or stream's first and follows the lead-in (FeatureState.start)."""
    if state is None:
        state = FeatureState.start()
    audio = np.concatenate([state.pending, samples.astype(np.float32)])
    frames = log_mel(audio)  # (T, 40)
    normalised, running = normalise(frames, mean, std, state.running) if len(frames) else (frames, state.running)
    waiting = np.vstack([state.frames, normalised])
    count = len(waiting) // STACK
    steps = waiting[: count * STACK].reshape(count, STEP_FEATURES)  # (S, 120): frame 3s, 3s+1, 3s+2 in a row
    return steps, FeatureState(audio[len(frames) * HOP :], running, waiting[count * STACK :])


def recording_steps(samples: np.ndarray, mean: np.ndarray, std: np.ndarray, lead_in: bool = True) -> np.ndarray:
    """(N,) samples of a whole recording -> (S, 120) steps, LEAD_IN_STEPS of silence in front (unless `lead_in`
    is False) and END_SILENCE_S appended: how serving and evaluation present a finished recording to a model.
    Training passes lead_in=False: its utterances are drawn with silences of their own in front."""
    steps, state = feature_steps(samples, mean, std, FeatureState.start(lead_in))
    end, _ = feature_steps(np.zeros(int(END_SILENCE_S * SAMPLE_RATE), np.float32), mean, std, state)
    return np.vstack([steps, end])
