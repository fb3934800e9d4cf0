"""A model card for people: the facts of a card.json as Markdown (what `rnnzoo info` prints). Names no task:
everything comes from the card and from its task's Task object."""
from __future__ import annotations

from zoo.cards import ModelCard
from zoo.tasks import TASKS


def _megabytes(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.2f} MB"


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else f"{value:,}"


def architecture_line(card: ModelCard) -> str:
    arch = card.architecture
    parts = [arch.cell.upper(), f"{arch.num_layers} layer{'s' if arch.num_layers > 1 else ''}",
             f"hidden {arch.hidden_size}"]
    parts += ["bidirectional"] if arch.bidirectional else []
    parts += [f"embedding {arch.embedding_dim}"] if arch.embedding_dim else []
    parts += [f"vocabulary {arch.vocab_size:,}"] if arch.vocab_size else []
    return f"{', '.join(parts)}; {arch.parameter_count:,} parameters"


def files_line(card: ModelCard) -> str:
    exports = [("model", card.export)] + [(graph.role, graph.export) for graph in card.graphs]
    return "; ".join(f"`{e.onnx_file}` ({role}, {_megabytes(e.size_bytes)}, sha256 `{e.sha256[:12]}…`)"
                     for role, e in exports)


def metrics_table(card: ModelCard) -> list[str]:
    headline = TASKS[card.task].headline_metric if card.task in TASKS else ""
    rows = ["| metric | split | this model | baseline | baseline's value | examples |", "|---|---|---|---|---|---|"]
    for m in card.metrics:
        name = f"**{m.name}**" if m.name == headline else m.name
        rows.append(f"| {name} | {m.split} | {_number(m.value)} | {m.baseline} | {_number(m.baseline_value)} "
                    f"| {m.examples:,} |")
    return rows


def markdown(card: ModelCard) -> str:
    """The card as a readable page: summary, facts, intended use, limitations, data, training, evaluation beside
    the baselines, export and parity, figures and samples, and how to call it."""
    task = TASKS.get(card.task)
    lines = [f"# {card.name}", "", card.summary, "",
             "| | |", "|---|---|",
             f"| task | `{card.task}`{f': {task.title}' if task else ''} |",
             f"| version | {card.version} |",
             f"| architecture | {architecture_line(card)} |",
             f"| files | {files_line(card)} |", "",
             "## Intended use", "", card.intended_use, "",
             "## Limitations", "", *[f"- {limitation}" for limitation in card.limitations], "",
             "## Training data", "",
             f"- **Dataset**: {card.training_data.dataset} ({card.training_data.source})",
             f"- **Data license**: {card.training_data.license}",
             f"- **Trained on**: {card.training_data.train_split}",
             f"- **Evaluated on**: {card.training_data.evaluation_split}", "",
             "## Training", "",
             f"{card.training.epochs:,} {task.training_unit if task else 'epochs'} in "
             f"{card.training.seconds / 60:.1f} min on {card.training.hardware}, seed {card.training.seed}:", "",
             f"    {card.training.command}", "",
             "## Evaluation", "",
             "Measured by running the exported ONNX file with onnxruntime on the split named, beside a trivial "
             "baseline on the same split.", "", *metrics_table(card), ""]
    if card.quantization:
        q = card.quantization
        lines += ["## Quantization", "",
                  f"{q.method} of {q.source} ({', '.join(q.quantized_ops)}): {q.metric} {_number(q.source_value)} -> "
                  f"{_number(q.value)} (allowed change {_number(q.tolerance)}; "
                  f"{'within' if q.within_tolerance else 'OUTSIDE'} tolerance).", ""]
    export = card.export
    lines += ["## Export", "",
              f"ONNX opset {export.opset} by {export.exporter}; largest difference from the training framework on "
              f"the parity inputs {export.parity_max_abs_diff:.2e} (allowed {export.parity_tolerance:g}). Loading "
              "the model replays the parity vectors and refuses a file that no longer computes them.", ""]
    if card.figures:
        lines += ["## Figures", "", *[f"![{figure}]({figure})" for figure in card.figures], ""]
    if card.samples:
        lines += ["## Samples", "", *[block for sample in card.samples for block in ("```text", sample, "```")], ""]
    lines += ["## Use", "", "```python", "import zoo", "",
              f'model = zoo.pipeline("{card.task}", model="{card.name}")  # onnxruntime only, no torch',
              "```", "",
              f"or `rnnzoo predict {card.task} ... --model {card.name}`, or over HTTP with `rnnzoo serve` (README).", ""]
    return "\n".join(lines)
