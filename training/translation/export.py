"""Translation checkpoint -> two ONNX graphs (encoder; one decoder step with explicit state, the encoder's memory in)
-> parity checks of both -> onnxruntime translation of `val` (beam 4 and greedy) scored with sacreBLEU beside the
baselines -> card.

    python -m training.translation.export checkpoints/multi30k-de-en-gru.pt
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import sacrebleu
import torch

from training.checkpoints import build_model, load_checkpoint
from training.cli import run_export
from training.onnx_export import (
    export_graph,
    export_record,
    round_weights_fp16,
    share_transposed_weights,
    state_names,
    training_record,
)
from training.parity_vectors import torch_parity_bytes
from training.task import TrainingTask
from training.translation.baselines import copy_source, lexical_baseline
from training.translation.data import LICENSE, SOURCE, WEIGHTS_LICENSE, WEIGHTS_TERMS, load_pairs
from zoo import get_spec
from zoo.artifacts import create_session
from zoo.cards import (
    MODEL_FILE,
    Architecture,
    Graph,
    Metric,
    ModelCard,
    ParityVectors,
    Preprocessing,
    TensorSpec,
    TrainingData,
    sha256_of,
)
from zoo.checks import parity_difference
from zoo.models import parameter_count
from zoo.tasks.translation.beam import LENGTH_PENALTY
from zoo.tasks.translation.network import DecoderGraph, EncoderGraph, Translator
from zoo.tasks.translation.predictor import ENCODER, TranslationPredictor
from zoo.tasks.translation.vocabulary import MAX_TEXT_CHARS

ENCODER_FILE, SOURCE_VOCABULARY, TARGET_VOCABULARY = "encoder.onnx", "source.json", "target.json"
PARITY_FILES = {"": "parity.npz", ENCODER: "encoder-parity.npz"}
PARITY_TOLERANCE = 1e-4  # torch (fp16-rounded weights) vs onnxruntime, every output
# onnxruntime subword by subword vs one call over the whole target: the same arithmetic summed in another order, so
# float32 rounding only; it grows with the logits' size (the plain RNN's reach 1.3e-5, the gated cells' 9e-6), so the
# bound is the parity tolerance's, far below any change of a beam's ranking
STEP_TOLERANCE = 1e-4
BEAM = 4
LITERATURE = ("Published test-set numbers (Multi30k test2016, not val, other tokenisation: not comparable digit for "
              "digit): attention biLSTM encoder-decoder 38.4 (Lample et al. 2018, supervised row); attention biGRU "
              "28.1 and Transformer 36.5 (bentrevett/pytorch-seq2seq tutorials, lowercased tokenised BLEU)")


def corpus_bleu(hypotheses: list[str], references: list[str]) -> tuple[float, str]:
    """sacreBLEU's default corpus BLEU (detokenised input, 13a tokenisation, cased) and its signature."""
    bleu = sacrebleu.BLEU()
    return bleu.corpus_score(hypotheses, [references]).score, str(bleu.get_signature())


def encoder_tensors(cell: str, width: int, hidden: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    states, _ = state_names(cell)
    return ([TensorSpec("source", "int64", ["sentences", "source"], "German subword ids, right-padded, EOS last"),
             TensorSpec("lengths", "int64", ["sentences"], "each sentence's subwords, EOS included (>= 1)")],
            [TensorSpec("memory", "float32", ["sentences", "source", width],
                        "the encoder's outputs, both directions side by side"),
             TensorSpec("keys", "float32", ["sentences", "source", hidden], "memory times the attention matrix"),
             *[TensorSpec(n, "float32", [1, "sentences", hidden], "the decoder's first state") for n in states]])


def decoder_tensors(cell: str, width: int, hidden: int, vocab: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    states, finals = state_names(cell)
    return ([TensorSpec("tokens", "int64", ["batch", "sequence"], "English subword ids, BOS first"),
             TensorSpec("memory", "float32", ["sentences", "source", width], "the encoder's memory"),
             TensorSpec("keys", "float32", ["sentences", "source", hidden], "the encoder's keys"),
             TensorSpec("source_lengths", "int64", ["sentences"], "the encoder's lengths"),
             TensorSpec("rows", "int64", ["batch"], "the sentence each row (hypothesis) attends to")]
            + [TensorSpec(n, "float32", [1, "batch", hidden], "state in") for n in states],
            [TensorSpec("logits", "float32", ["batch", "sequence", vocab], "next-subword scores"),
             TensorSpec("attention", "float32", ["batch", "sequence", "source"], "weights over the source subwords")]
            + [TensorSpec(n, "float32", [1, "batch", hidden], "state after the last subword") for n in finals])


def export_graphs(model: Translator, directory: Path, fp16: bool = True) -> tuple[EncoderGraph, DecoderGraph]:
    """Write encoder.onnx and model.onnx (the decoder step) for `model`; returns the modules exported."""
    encoder, decoder = EncoderGraph(model).eval(), DecoderGraph(model).eval()
    states, finals = state_names(model.cell)
    source, lengths = torch.randint(4, 50, (2, 7)), torch.tensor([7, 4])  # shapes unlike the parity inputs
    export_graph(encoder, (source, lengths), directory / ENCODER_FILE, input_names=["source", "lengths"],
                 output_names=["memory", "keys", *states],
                 dynamic_axes={"source": {0: "sentences", 1: "source"}, "lengths": {0: "sentences"},
                               "memory": {0: "sentences", 1: "source"}, "keys": {0: "sentences", 1: "source"},
                               **{n: {1: "sentences"} for n in states}}, fp16=fp16)
    with torch.no_grad():
        memory, keys, *state = encoder(source, lengths)
    rows = torch.tensor([0, 1, 1])
    tokens = torch.randint(4, 50, (3, 5))
    export_graph(decoder, (tokens, memory, keys, lengths, rows, *[s[:, rows] for s in state]),
                 directory / MODEL_FILE, input_names=["tokens", "memory", "keys", "source_lengths", "rows", *states],
                 output_names=["logits", "attention", *finals],
                 dynamic_axes={"tokens": {0: "batch", 1: "sequence"}, "memory": {0: "sentences", 1: "source"},
                               "keys": {0: "sentences", 1: "source"}, "source_lengths": {0: "sentences"},
                               "rows": {0: "batch"}, "logits": {0: "batch", 1: "sequence"},
                               "attention": {0: "batch", 1: "sequence", 2: "source"},
                               **{n: {1: "batch"} for n in [*states, *finals]}}, fp16=fp16)
    if not share_transposed_weights(directory / MODEL_FILE, min_elements=0):  # the tied output layer's copy of the embeddings
        raise RuntimeError("the decoder graph holds no transposed copy of the English embeddings: has the output "
                           "layer stopped being tied to them?")
    onnx.checker.check_model(onnx.load(str(directory / MODEL_FILE)), full_check=True)
    return encoder, decoder


def step_difference(directory: Path, card: ModelCard) -> float:
    """max |subword by subword - whole target| of the decoder graph in onnxruntime, from the encoder's state."""
    encoder = create_session((directory / ENCODER_FILE).read_bytes(), ["CPUExecutionProvider"])
    decoder = create_session((directory / MODEL_FILE).read_bytes(), ["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    lengths = np.array([11, 3, 6], dtype=np.int64)
    source = rng.integers(4, 100, (3, 11)).astype(np.int64)  # below every vocabulary size, the tiny ones too
    memory, keys, *state = encoder.run(None, {"source": source, "lengths": lengths})
    tokens, rows = rng.integers(4, 100, (3, 8)).astype(np.int64), np.arange(3, dtype=np.int64)
    names = [s.name for s in card.inputs[5:]]
    fixed = {"memory": memory, "keys": keys, "source_lengths": lengths, "rows": rows}
    whole = decoder.run(None, {"tokens": tokens, **fixed, **dict(zip(names, state))})
    pieces, carried = [], state
    for t in range(tokens.shape[1]):
        logits, _, *carried = decoder.run(None, {"tokens": tokens[:, t : t + 1], **fixed, **dict(zip(names, carried))})
        pieces.append(logits)
    return max(float(np.abs(np.concatenate(pieces, axis=1) - whole[0]).max()),
               *(float(np.abs(c - w).max()) for c, w in zip(carried, whole[2:])))


def record_parity_vectors(directory: Path, card: ModelCard, encoder: EncoderGraph, decoder: DecoderGraph) -> float:
    """Parity vectors for both graphs (inputs and torch's outputs), checked through onnxruntime and recorded on the
    card; returns the worst difference."""
    worst = 0.0
    for role, module, file in (("", decoder, MODEL_FILE), (ENCODER, encoder, ENCODER_FILE)):
        view = card.graph(role) if role else card
        data = torch_parity_bytes(module, view)
        difference = parity_difference(view, data, create_session((directory / file).read_bytes(),
                                                                   ["CPUExecutionProvider"]))
        if not difference <= PARITY_TOLERANCE:
            raise RuntimeError(f"{view.name}: onnxruntime differs from torch by {difference:.2e} on the parity "
                               f"vectors (max {PARITY_TOLERANCE})")
        (directory / PARITY_FILES[role]).write_bytes(data)
        view.export.parity_vectors = ParityVectors(PARITY_FILES[role], sha256_of(directory / PARITY_FILES[role]),
                                                   f"torch {torch.__version__} eager", PARITY_TOLERANCE, difference)
        worst = max(worst, difference)
    return worst


@functools.lru_cache(maxsize=2)
def validation(data_dir: str | None) -> tuple:
    return tuple(load_pairs("val", data_dir))


@functools.lru_cache(maxsize=2)
def baseline_scores(data_dir: str | None) -> tuple[float, float]:
    """sacreBLEU on val of copying the German source, and of word-by-word IBM model 1 learned on train."""
    pairs, references = validation(data_dir), [p.english for p in validation(data_dir)]
    lexical = lexical_baseline(load_pairs("train", data_dir))
    return (corpus_bleu(copy_source([p.german for p in pairs]), references)[0],
            corpus_bleu([lexical(p.german) for p in pairs], references)[0])


def translate_all(predictor: TranslationPredictor, sentences: list[str], beam: int, chunk: int = 64) -> list[str]:
    out = []
    for start in range(0, len(sentences), chunk):
        out += [t.text for t in predictor.translate(sentences[start : start + chunk], beam_size=beam)]
    return out


def metrics(predictor: TranslationPredictor, data_dir: str | None) -> list[Metric]:
    pairs = validation(data_dir)
    german, references = [p.german for p in pairs], [p.english for p in pairs]
    copy, lexical = baseline_scores(data_dir)
    scores = {beam: corpus_bleu(translate_all(predictor, german, beam), references) for beam in (BEAM, 1)}
    split = f"Multi30k val ({len(pairs)} pairs), sacreBLEU {scores[1][1]}"
    scores = {beam: score for beam, (score, _) in scores.items()}
    return [
        Metric("bleu_beam", f"{split}, beam {BEAM}, length penalty {LENGTH_PENALTY}", round(scores[BEAM], 2),
               "word-by-word: each German word's most probable English word under IBM model 1 (train)",
               round(lexical, 2), len(pairs)),
        Metric("bleu_greedy", f"{split}, greedy", round(scores[1], 2), "word-by-word (IBM model 1)",
               round(lexical, 2), len(pairs)),
        Metric("bleu_beam_vs_copy", f"{split}, beam {BEAM}", round(scores[BEAM], 2), "the German source copied",
               round(copy, 2), len(pairs)),
    ]


def export_translation(checkpoint_path: Path, artifacts_dir: Path, data_dir: str | None,
                       command: str = "") -> ModelCard:
    checkpoint = load_checkpoint(checkpoint_path)
    name, arguments, extras = checkpoint["model_name"], checkpoint["model_arguments"], checkpoint["extras"]
    out = Path(artifacts_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(checkpoint).eval()
    round_weights_fp16(model)  # the files store fp16 weights: compare like with like
    encoder, decoder = export_graphs(model, out)
    for file, language in ((SOURCE_VOCABULARY, "de"), (TARGET_VOCABULARY, "en")):
        (out / file).write_text(extras["vocabularies"][language])
    cell, hidden = arguments["cell"], arguments["hidden_size"]
    width, vocab = 2 * arguments["encoder_size"], arguments["target_vocab"]
    encoder_inputs, encoder_outputs = encoder_tensors(cell, width, hidden)
    inputs, outputs = decoder_tensors(cell, width, hidden, vocab)
    card = ModelCard(
        weights_license=WEIGHTS_LICENSE, weights_license_terms=WEIGHTS_TERMS,
        name=name, version="1.0.0", task="translation", summary=get_spec(name).description,
        architecture=Architecture(cell=cell, num_layers=1, hidden_size=hidden, bidirectional=True,
                                  embedding_dim=arguments["embedding_dim"], vocab_size=vocab,
                                  parameter_count=parameter_count(model)),
        inputs=inputs, outputs=outputs,
        preprocessing=Preprocessing(
            tokenizer_file=SOURCE_VOCABULARY, tokenizer_sha256=sha256_of(out / SOURCE_VOCABULARY),
            max_chars=MAX_TEXT_CHARS, labels=[],
            normalisation="NFC, whitespace runs collapsed; BPE subwords with SentencePiece-style word starts "
                          f"({arguments['source_vocab']} German, {vocab} English pieces, learned on train); EOS "
                          "ends the source; characters outside the vocabulary are read as <unk> and reported",
            statistics={"target_tokenizer_file": TARGET_VOCABULARY,
                        "target_tokenizer_sha256": sha256_of(out / TARGET_VOCABULARY)}),
        training_data=TrainingData(
            dataset="Multi30k task 1 (German-English image descriptions)", source=SOURCE, license=LICENSE,
            train_split=f"train ({extras['training_pairs']:,} pairs)",
            evaluation_split="val (1,014 pairs); also the split the best epoch was chosen on (the test sets are "
                             "withheld), so the numbers are slightly optimistic"),
        metrics=[],
        training=training_record(checkpoint, name, command, "training.translation.train",
                                 history=extras["history"], best_epoch=checkpoint["best_iteration"]),
        export=export_record(out / MODEL_FILE, 0.0, PARITY_TOLERANCE),
        intended_use="Teaching and demos: how an encoder-decoder with attention translates, and what beam search "
                     "changes; short German descriptions of everyday scenes.",
        limitations=["Trained on 29,000 image descriptions: sentences unlike them (news, dialogue, long or "
                     "technical text) come out poorly.",
                     f"At most {MAX_TEXT_CHARS} characters a text; the output has at most 2 x source + 10 subwords.",
                     LITERATURE],
        graphs=[Graph(ENCODER, encoder_inputs, encoder_outputs, export_record(out / ENCODER_FILE, 0.0,
                                                                              PARITY_TOLERANCE))],
    )
    difference = record_parity_vectors(out, card, encoder, decoder)
    steps = step_difference(out, card)
    if steps > STEP_TOLERANCE:
        raise RuntimeError(f"{name}: subword-by-subword decoding differs from one call by {steps:.1e}")
    card.export.parity_max_abs_diff = card.graphs[0].export.parity_max_abs_diff = difference
    card.save(out)
    predictor = TranslationPredictor(out, ["CPUExecutionProvider"])
    card.metrics = metrics(predictor, data_dir)
    attention_figure(predictor, validation(data_dir)[FIGURE_SENTENCE].german, out / FIGURE_FILE)
    card.figures = [FIGURE_FILE]
    card.save(out)
    print(f"{name}: " + ", ".join(f"{m.name} {m.value:.2f} (baseline {m.baseline_value:.2f})" for m in card.metrics)
          + f", parity {difference:.1e}, steps {steps:.1e}, "
          f"{(card.export.size_bytes + card.graphs[0].export.size_bytes) / 1e6:.2f} MB")
    return card


FIGURE_FILE = "attention.png"
FIGURE_SENTENCE = 1  # of val: "Ein Mann schläft in einem grünen Raum auf einem Sofa."


def attention_figure(predictor: TranslationPredictor, german: str, path: Path) -> None:
    """A heat map of where each English subword of the beam-4 translation looked in the German."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (translation,) = predictor.translate([german], beam_size=BEAM)
    weights = translation.attention  # (target pieces, source pieces)
    figure, axis = plt.subplots(figsize=(1.2 + 0.45 * weights.shape[1], 1.0 + 0.35 * weights.shape[0]))
    axis.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    axis.set_xticks(range(weights.shape[1]), translation.source_pieces, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(weights.shape[0]), translation.target_pieces, fontsize=8)
    axis.set_title(f"{predictor.name}: {translation.text}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def export_fp32(model: torch.nn.Module, card: ModelCard, path: Path) -> DecoderGraph:
    """Both graphs with fp32 weights: the decoder step at `path`, the encoder beside it."""
    _, decoder = export_graphs(model.eval(), Path(path).parent, fp16=False)
    if Path(path).name != MODEL_FILE:
        (Path(path).parent / MODEL_FILE).rename(path)
    return decoder


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    card.metrics = metrics(TranslationPredictor(directory, ["CPUExecutionProvider"]), data_dir)
    return card


TRAINING_TASK = TrainingTask(name=TranslationPredictor.task, export=export_translation, export_fp32=export_fp32,
                             measure=measure)


def main() -> None:
    run_export(export_translation, __doc__)


if __name__ == "__main__":
    main()
