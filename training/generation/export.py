"""Generation checkpoint (a character language model) -> step-capable ONNX (tokens + state in, logits + state
out) -> parity checks -> onnxruntime evaluation beside the Kneser-Ney baseline -> model card with a seeded sample.

    python -m training.generation.export checkpoints/shakespeare-lstm.pt
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from training.checkpoints import load_checkpoint
from training.cli import run_export
from training.generation.data import (
    TINY_SHAKESPEARE,
    TINY_SHAKESPEARE_LICENSE,
    WEIGHTS_LICENSE,
    WEIGHTS_TERMS,
    load_tinyshakespeare,
)
from training.generation.ngram import KneserNey
from training.onnx_export import export_graph, export_record, rebuild_step_graph, state_names, training_record
from training.parity_vectors import from_torch
from training.task import TrainingTask
from zoo import get_spec
from zoo.artifacts import create_session
from zoo.cards import (
    MODEL_FILE,
    Architecture,
    CardError,
    Metric,
    ModelCard,
    Preprocessing,
    TensorSpec,
    TrainingData,
    sha256_of,
)
from zoo.models import parameter_count
from zoo.tasks.generation.network import StepGraph
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.generation.vocabulary import CharVocabulary

PARITY_TOLERANCE = 1e-4  # logits and state, torch (fp16-rounded weights) vs onnxruntime
STEP_TOLERANCE = 1e-5  # onnxruntime step-by-step vs one full-sequence call
VOCABULARY_FILE = "vocab.json"
MAX_PROMPT_CHARS = 4000
NGRAM_ORDER = 5
SAMPLE = dict(prompt="ROMEO:", length=400, seed=7, temperature=0.8, top_k=40)


def rebuild(checkpoint: dict) -> StepGraph:
    return rebuild_step_graph(checkpoint, StepGraph)


def export_onnx(graph: StepGraph, cell: str, path: Path, fp16: bool = True) -> None:
    inputs, outputs = state_names(cell)
    tokens = torch.randint(0, 65, (2, 7))  # a shape unlike every parity input, to catch specialisation
    state = graph.model.initial_state(2)
    dynamic = {"tokens": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    dynamic.update({name: {1: "batch"} for name in inputs + outputs})
    export_graph(graph, (tokens, *state), path, input_names=["tokens", *inputs], output_names=["logits", *outputs],
                 dynamic_axes=dynamic, fp16=fp16)


def export_fp32(model: torch.nn.Module, card: ModelCard, path: Path) -> StepGraph:
    graph = StepGraph(model).eval()
    export_onnx(graph, card.architecture.cell, path, fp16=False)
    return graph


def parity(graph: StepGraph, path: Path, ids: np.ndarray) -> tuple[float, float]:
    """(max |torch - onnxruntime| from a random state, max |step-by-step - full sequence| in onnxruntime)."""
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    batch, length = 3, 57
    tokens = np.stack([ids[i * 1000 : i * 1000 + length] for i in range(batch)])  # (3, 57) real text
    generator = torch.Generator().manual_seed(0)
    state = [torch.randn(s.shape, generator=generator) * 0.5 for s in graph.model.initial_state(batch)]
    onnx_out = session.run(None, {"tokens": tokens, **{n: s.numpy() for n, s in zip(names[1:], state)}})
    with torch.no_grad():
        torch_out = graph(torch.from_numpy(tokens), *state)
    torch_diff = max(float(np.abs(o - t.numpy()).max()) for o, t in zip(onnx_out, torch_out))

    carried = [s.numpy() for s in state]
    step_logits = []
    for t in range(length):  # one character per call, state carried: must equal the one-call result
        logits, *carried = session.run(None, {"tokens": tokens[:, t : t + 1], **dict(zip(names[1:], carried))})
        step_logits.append(logits)
    step_diff = max(float(np.abs(np.concatenate(step_logits, axis=1) - onnx_out[0]).max()),
                    *(float(np.abs(c - o).max()) for c, o in zip(carried, onnx_out[1:])))
    return torch_diff, step_diff


def write_sample(generator: GenerationPredictor, prompt: str, length: int, seed: int, temperature: float, top_k: int) -> str:
    ids = generator.continuation(generator.vocabulary.encode(prompt), length, np.random.default_rng(seed),
                                 temperature, top_k)
    return prompt + generator.vocabulary.decode(ids)


def export_generation(checkpoint_path: Path, artifacts_dir: Path, data_dir: str | None, command: str = "") -> ModelCard:
    checkpoint = load_checkpoint(checkpoint_path)
    name, arguments = checkpoint["model_name"], checkpoint["model_arguments"]
    out = Path(artifacts_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    vocabulary = CharVocabulary(checkpoint["extras"]["vocabulary"])
    vocabulary.save(out / VOCABULARY_FILE)
    graph = rebuild(checkpoint)
    export_onnx(graph, arguments["cell"], out / MODEL_FILE)

    train_text = load_tinyshakespeare("train", data_dir)
    validation_text = load_tinyshakespeare("validation", data_dir)
    torch_diff, step_diff = parity(graph, out / MODEL_FILE, vocabulary.encode(validation_text))
    if torch_diff > PARITY_TOLERANCE or step_diff > STEP_TOLERANCE:
        raise RuntimeError(f"{name}: parity torch {torch_diff:.1e} (max {PARITY_TOLERANCE}), "
                           f"step-by-step {step_diff:.1e} (max {STEP_TOLERANCE})")

    inputs, outputs = state_names(arguments["cell"])
    layers, hidden = arguments["num_layers"], arguments["hidden_size"]
    card = ModelCard(
        weights_license=WEIGHTS_LICENSE, weights_license_terms=WEIGHTS_TERMS,
        name=name, version="1.0.0", task="generation", summary=get_spec(name).description,
        architecture=Architecture(cell=arguments["cell"], num_layers=layers, hidden_size=hidden, bidirectional=False,
                                  embedding_dim=arguments["embedding_dim"], vocab_size=len(vocabulary),
                                  parameter_count=parameter_count(graph)),
        inputs=[TensorSpec("tokens", "int64", ["batch", "sequence"], "character ids (vocab.json)")]
        + [TensorSpec(n, "float32", [layers, "batch", hidden], "state in; zeros start a text") for n in inputs],
        outputs=[TensorSpec("logits", "float32", ["batch", "sequence", len(vocabulary)], "next-character scores")]
        + [TensorSpec(n, "float32", [layers, "batch", hidden], "state after the last token") for n in outputs],
        preprocessing=Preprocessing(tokenizer_file=VOCABULARY_FILE, tokenizer_sha256=sha256_of(out / VOCABULARY_FILE),
                                    max_chars=MAX_PROMPT_CHARS, labels=[],
                                    normalisation="none: each character is a token; others are refused"),
        training_data=TrainingData(dataset="Tiny Shakespeare", source=TINY_SHAKESPEARE.url,
                                   license=TINY_SHAKESPEARE_LICENSE,
                                   train_split=f"first 90% of characters ({len(train_text):,})",
                                   evaluation_split=f"last 10% of characters ({len(validation_text):,})"),
        metrics=[],
        training=training_record(checkpoint, name, command, "training.generation.train",
                                 best_step=checkpoint["best_iteration"], epochs_field_counts="optimiser steps"),
        export=export_record(out / MODEL_FILE, max(torch_diff, step_diff), PARITY_TOLERANCE),
        intended_use="Teaching and demos: writing pastiche of Shakespeare's plays one character at a time.",
        limitations=["Trained on 1 MB of Shakespeare: it imitates spelling and layout, not sense.",
                     f"Only these characters are accepted in a prompt: {vocabulary.characters!r}."],
    )
    card = from_torch(out, card, graph)  # saves the card with its parity vectors
    generator = GenerationPredictor(out, ["CPUExecutionProvider"])
    model_loss = generator.nats_per_char(validation_text)  # measured with onnxruntime on the shipped file
    baseline = KneserNey(train_text, NGRAM_ORDER).nats_per_char(validation_text)
    baseline_name = f"interpolated Kneser-Ney {NGRAM_ORDER}-gram on the train split"
    card.metrics = [
        Metric("validation_loss_nats_per_char", "Tiny Shakespeare last 10%", round(model_loss, 6), baseline_name,
               round(baseline, 6), len(validation_text) - 1),
        Metric("validation_bits_per_char", "Tiny Shakespeare last 10%", round(model_loss / math.log(2), 6),
               baseline_name, round(baseline / math.log(2), 6), len(validation_text) - 1),
    ]
    card.samples = [write_sample(generator, **SAMPLE)]
    card.save(out)
    print(f"{name}: validation {model_loss:.4f} nats/char (Kneser-Ney {baseline:.4f}), "
          f"parity {torch_diff:.1e}/{step_diff:.1e}, {card.export.size_bytes / 1e6:.1f} MB")
    return card


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    generator = GenerationPredictor(directory, ["CPUExecutionProvider"])
    loss = generator.nats_per_char(load_tinyshakespeare("validation", data_dir))
    for metric in card.metrics:
        metric.value = round(loss if metric.name.endswith("nats_per_char") else loss / math.log(2), 6)
    card.samples = [write_sample(generator, **SAMPLE)]
    return card


def vocabulary_size(tokenizer: Path | None, outputs: list[TensorSpec]) -> int:
    """A brought model's vocabulary: the characters of its vocab.json, which its logits must score exactly."""
    size = len(CharVocabulary.load(tokenizer))
    logits = outputs[0].shape[-1] if outputs and outputs[0].shape else None
    if logits != size:
        raise CardError(f"the vocabulary has {size} characters but the logits output scores {logits}")
    return size


TRAINING_TASK = TrainingTask(name=GenerationPredictor.task, export=export_generation, export_fp32=export_fp32,
                             measure=measure, vocabulary_size=vocabulary_size)


def main() -> None:
    run_export(export_generation, __doc__)


if __name__ == "__main__":
    main()
