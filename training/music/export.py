"""Music checkpoint (a piano-roll model) -> step-capable ONNX (frames + state in, logits + state out) -> parity
checks -> onnxruntime evaluation on the validation split beside the marginal and sticky baselines -> model
card with the piano roll of a seeded generated piece.

    python -m training.music.export checkpoints/jsb-gru.pt
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch

from training.checkpoints import load_checkpoint
from training.cli import run_export
from training.music.baselines import Baselines
from training.music.data import DATASETS, LICENSE, WEIGHTS_LICENSE, WEIGHTS_TERMS, load_pieces
from training.onnx_export import export_graph, export_record, rebuild_step_graph, state_names, training_record
from training.parity_vectors import from_torch
from training.task import TrainingTask
from zoo import get_spec
from zoo.artifacts import create_session
from zoo.cards import MODEL_FILE, Architecture, Metric, ModelCard, Preprocessing, TensorSpec, TrainingData
from zoo.models import parameter_count
from zoo.tasks.music import DATASETS as TITLES
from zoo.tasks.music.network import StepGraph
from zoo.tasks.music.predictor import MusicPredictor
from zoo.tasks.music.rolls import KEYS, LOWEST_PITCH, MIDI_TEMPO_BPM, TICKS_PER_FRAME

PARITY_TOLERANCE = 1e-4  # logits and state, torch (fp16-rounded weights) vs onnxruntime
STEP_TOLERANCE = 1e-5  # onnxruntime frame-by-frame vs one full-sequence call
MAX_FRAMES = 10_000  # longest piece /music/score takes, as on the card
FIGURE_FILE = "piano_roll.png"
SAMPLE = dict(steps=128, seed=7, temperature=1.0)  # the card's figure: a piece generated from silence
# Test-split numbers from the papers (NLL per frame, nats): beside the card's validation numbers, not comparable
# split for split. Chung et al. 2014 (about 20k parameters) and Bai et al. 2018 (the TCN paper).
LITERATURE = {"jsb": "Chung et al. 2014 test: tanh 9.10, GRU 8.54, LSTM 8.67; Bai et al. 2018 test: LSTM 8.45, "
                     "GRU 8.43, TCN 8.10; Boulanger-Lewandowski et al. 2012 RNN-NADE (joint keys) about 5.6",
              "nottingham": "Chung et al. 2014 test: tanh 3.13, GRU 3.23, LSTM 3.20; Bai et al. 2018 test: LSTM 3.29, "
                            "GRU 3.46, TCN 3.07"}


def rebuild(checkpoint: dict) -> StepGraph:
    return rebuild_step_graph(checkpoint, StepGraph)


def export_onnx(graph: StepGraph, cell: str, path: Path, fp16: bool = True) -> None:
    inputs, outputs = state_names(cell)
    frames = (torch.rand(2, 7, KEYS) < 0.05).float()  # a shape unlike every parity input, to catch specialisation
    state = graph.model.initial_state(2)
    dynamic = {"frames": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    dynamic.update({name: {1: "batch"} for name in inputs + outputs})
    export_graph(graph, (frames, *state), path, input_names=["frames", *inputs],
                 output_names=["logits", "key_coupling", *outputs],
                 dynamic_axes=dynamic, fp16=fp16)
    name_constant_output(path, 1, "key_coupling")


def name_constant_output(path: Path, index: int, name: str) -> None:
    """The TorchScript exporter folds an output computed from weights alone into a weight, and the output keeps
    the weight's number for a name: an Identity gives it its documented one."""
    model = onnx.load(str(path))
    output = model.graph.output[index]
    if output.name != name:
        model.graph.node.append(onnx.helper.make_node("Identity", [output.name], [name], name=f"{name}_output"))
        output.name = name
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(path))


def export_fp32(model: torch.nn.Module, card: ModelCard, path: Path) -> StepGraph:
    graph = StepGraph(model).eval()
    export_onnx(graph, card.architecture.cell, path, fp16=False)
    return graph


def parity(graph: StepGraph, path: Path, pieces: list[np.ndarray]) -> tuple[float, float]:
    """(max |torch - onnxruntime| from a random state, max |frame-by-frame - full sequence| in onnxruntime)."""
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    length = min(40, *(len(p) for p in pieces[:3]))
    frames = np.stack([p[:length] for p in pieces[:3]]).astype(np.float32)  # (3, T, 88) real music
    generator = torch.Generator().manual_seed(0)
    state = [torch.randn(s.shape, generator=generator) * 0.5 for s in graph.model.initial_state(len(frames))]
    onnx_out = session.run(None, {"frames": frames, **{n: s.numpy() for n, s in zip(names[1:], state)}})
    with torch.no_grad():
        torch_out = graph(torch.from_numpy(frames), *state)
    torch_diff = max(float(np.abs(o - t.numpy()).max()) for o, t in zip(onnx_out, torch_out))
    carried, step_logits = [s.numpy() for s in state], []
    for t in range(length):  # one frame per call, state carried: must equal the one-call result
        logits, *carried = session.run(None, {"frames": frames[:, t : t + 1], **dict(zip(names[1:], carried))})
        step_logits.append(logits)
        carried = carried[1:]  # after key_coupling
    step_diff = max(float(np.abs(np.concatenate(step_logits, axis=1) - onnx_out[0]).max()),
                    *(float(np.abs(c - o).max()) for c, o in zip(carried, onnx_out[2:])))
    return torch_diff, step_diff


def validation_nll(predictor: MusicPredictor, pieces: list[np.ndarray], batch: int = 32) -> float:
    """Mean NLL per frame over every frame of `pieces` (each from the initial state), with onnxruntime."""
    order = sorted(pieces, key=len)  # similar lengths share a call: little padding
    losses = [nll for start in range(0, len(order), batch)
              for nll in predictor.run([p.astype(np.float32) for p in order[start : start + batch]])]
    return float(np.concatenate(losses).mean())


def plot(roll: np.ndarray, title: str, path: Path) -> None:
    """A piano roll: time across, MIDI pitch up, a dark cell where a key sounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sounding = np.flatnonzero(roll.any(axis=0))
    low, high = (sounding[0] - 2, sounding[-1] + 3) if len(sounding) else (30, 60)
    figure, axis = plt.subplots(figsize=(9, 3))
    axis.imshow(roll[:, low:high].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                extent=(0, len(roll), LOWEST_PITCH + low - 0.5, LOWEST_PITCH + high - 0.5))
    axis.set_xlabel(f"frame ({TICKS_PER_FRAME / 480:g} beat at {MIDI_TEMPO_BPM} bpm in the MIDI files)")
    axis.set_ylabel("MIDI pitch")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def metrics(predictor: MusicPredictor, dataset: str, train: list[np.ndarray],
            validation: list[np.ndarray]) -> list[Metric]:
    baselines = Baselines.fit(train)
    model_nll, frames = round(validation_nll(predictor, validation), 4), sum(map(len, validation))
    split = f"{TITLES[dataset]} validdata"
    return [Metric("validation_nll_per_frame", split, model_nll,
                   "sticky: each key repeats or changes its last state with train's probabilities",
                   round(baselines.sticky_nll(validation), 4), frames),
            Metric("validation_nll_per_frame_vs_marginal", split, model_nll,
                   "marginal: each key on with its train frequency, independently",
                   round(baselines.marginal_nll(validation), 4), frames)]


def sample_figure(predictor: MusicPredictor, directory: Path) -> None:
    roll = predictor.continuation(np.zeros((0, KEYS), np.float32), SAMPLE["steps"],
                                  np.random.default_rng(SAMPLE["seed"]), SAMPLE["temperature"])
    plot(roll, f"{predictor.name}: {SAMPLE['steps']} frames generated from silence "
               f"(seed {SAMPLE['seed']}, temperature {SAMPLE['temperature']})", directory / FIGURE_FILE)


def export_music(checkpoint_path: Path, artifacts_dir: Path, data_dir: str | None, command: str = "") -> ModelCard:
    checkpoint = load_checkpoint(checkpoint_path)
    name, arguments, dataset = checkpoint["model_name"], checkpoint["model_arguments"], checkpoint["extras"]["dataset"]
    out = Path(artifacts_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    graph = rebuild(checkpoint)
    export_onnx(graph, arguments["cell"], out / MODEL_FILE)
    train, validation = load_pieces(dataset, "train", data_dir), load_pieces(dataset, "validation", data_dir)
    torch_diff, step_diff = parity(graph, out / MODEL_FILE, validation)
    if torch_diff > PARITY_TOLERANCE or step_diff > STEP_TOLERANCE:
        raise RuntimeError(f"{name}: parity torch {torch_diff:.1e} (max {PARITY_TOLERANCE}), "
                           f"frame-by-frame {step_diff:.1e} (max {STEP_TOLERANCE})")

    inputs, outputs = state_names(arguments["cell"])
    layers, hidden = arguments["num_layers"], arguments["hidden_size"]
    card = ModelCard(
        weights_license=WEIGHTS_LICENSE, weights_license_terms=WEIGHTS_TERMS,
        name=name, version="1.0.0", task="music", summary=get_spec(name).description,
        architecture=Architecture(cell=arguments["cell"], num_layers=layers, hidden_size=hidden, bidirectional=False,
                                  embedding_dim=0, vocab_size=0, parameter_count=parameter_count(graph)),
        inputs=[TensorSpec("frames", "float32", ["batch", "sequence", KEYS],
                           f"piano-roll frames, 1 where a key sounds (key 0 = MIDI {LOWEST_PITCH}); a piece is read "
                           "after an all-zero start frame")]
        + [TensorSpec(n, "float32", [layers, "batch", hidden], "state in; zeros start a piece") for n in inputs],
        outputs=[TensorSpec("logits", "float32", ["batch", "sequence", KEYS],
                            "logit of each key sounding in the frame after each input frame, given the state"),
                 TensorSpec("key_coupling", "float32", [KEYS, KEYS],
                            "strictly lower triangular: key k's logit gains coupling[k, j] for each key j < k "
                            "sounding in the same frame (keys drawn lowest first); zeros: independent keys")]
        + [TensorSpec(n, "float32", [layers, "batch", hidden], "state after the last frame") for n in outputs],
        preprocessing=Preprocessing(tokenizer_file="", tokenizer_sha256="", max_chars=MAX_FRAMES, labels=[],
                                    normalisation=f"none: 0/1 piano-roll frames of {KEYS} keys, MIDI pitches "
                                                  f"{LOWEST_PITCH}-{LOWEST_PITCH + KEYS - 1}",
                                    statistics={"dataset": dataset, "keys": KEYS, "lowest_pitch": LOWEST_PITCH,
                                                "max_frames": MAX_FRAMES}),
        training_data=TrainingData(dataset=f"{TITLES[dataset]} piano rolls (Boulanger-Lewandowski et al. 2012)",
                                   source=DATASETS[dataset].url, license=LICENSE,
                                   train_split=f"traindata: {len(train)} pieces, {sum(map(len, train)):,} frames",
                                   evaluation_split=f"validdata: {len(validation)} pieces, "
                                                    f"{sum(map(len, validation)):,} frames (the test split is withheld)"),
        metrics=[],
        training=training_record(checkpoint, name, command, "training.music.train",
                                 best_epoch=checkpoint["best_iteration"], history=checkpoint["extras"]["history"]),
        export=export_record(out / MODEL_FILE, max(torch_diff, step_diff), PARITY_TOLERANCE),
        intended_use="Teaching and demos: comparing RNN, LSTM and GRU on the polyphonic benchmark of Chung et al. "
                     "(2014), scoring piano rolls, and writing short pieces in the style of the data set.",
        limitations=["Validation split numbers: the canonical test split is withheld for independent evaluation.",
                     f"Literature, for scale: {LITERATURE[dataset]}.",
                     ("The keys of a frame are modelled jointly, lowest first, but only through a linear coupling "
                      "of the keys below: chords are drawn one key at a time, 88 small steps a frame."
                      if arguments.get("joint_keys") else
                      "Keys are independent given the state (one sigmoid each): the model cannot say 'exactly four "
                      "notes', so sampled chords are looser than the data's."),
                     "A piano roll has no note onsets: a key held over frames and a key struck again look alike.",
                     f"Pieces of at most {MAX_FRAMES:,} frames, pitches {LOWEST_PITCH}-{LOWEST_PITCH + KEYS - 1}."],
        figures=[FIGURE_FILE],
    )
    card = from_torch(out, card, graph)  # saves the card with its parity vectors
    predictor = MusicPredictor(out, ["CPUExecutionProvider"])
    card.metrics = metrics(predictor, dataset, train, validation)  # measured with onnxruntime on the shipped file
    sample_figure(predictor, out)
    card.save(out)
    headline = card.metrics[0]
    print(f"{name}: validation {headline.value:.4f} nats/frame (sticky {headline.baseline_value:.4f}, marginal "
          f"{card.metrics[1].baseline_value:.4f}), parity {torch_diff:.1e}/{step_diff:.1e}, "
          f"{card.export.size_bytes / 1e6:.2f} MB")
    return card


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    predictor = MusicPredictor(directory, ["CPUExecutionProvider"])
    dataset = card.preprocessing.statistics["dataset"]
    card.metrics = metrics(predictor, dataset, load_pieces(dataset, "train", data_dir),
                           load_pieces(dataset, "validation", data_dir))
    return card


TRAINING_TASK = TrainingTask(name=MusicPredictor.task, export=export_music, export_fp32=export_fp32, measure=measure)


def main() -> None:
    run_export(export_music, __doc__)


if __name__ == "__main__":
    main()
