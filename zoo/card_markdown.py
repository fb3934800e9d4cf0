"""A model card for people: the facts of a card.json as Markdown, with the Hugging Face model-card front matter
(license, datasets, metrics as model-index, `library_name: onnx`). `python -m zoo.leaderboard --write` writes it
as README.md beside every shipped card.json (a test fails when one is stale); `rnnzoo info` prints it. Names no
task: everything comes from the card and from its task's Task object."""
from __future__ import annotations

import json
import math
from pathlib import Path

from zoo.cards import ModelCard
from zoo.tasks import TASKS

README_FILE = "README.md"


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


def yaml_value(value) -> str:
    """A value in YAML flow style that YAML 1.1 readers (PyYAML, which the Hugging Face Hub uses) read back
    as written: JSON, except that a float's mantissa always has a point ("1.0e-05": YAML 1.1 reads "1e-05" as a
    string) and a value that is not finite is null. No YAML library is needed in the served package."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "null"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}{e}{exponent}"
    return json.dumps(value, ensure_ascii=False)


def front_matter(card: ModelCard) -> list[str]:
    """The Hugging Face card metadata (license, datasets, metrics as model-index), in YAML flow style."""
    fields = {"license": card.weights_license or "other"}
    if fields["license"] == "other":  # the terms are the data's: the License section below says them
        fields["license_name"] = f"{card.name}-data-terms"
        fields["license_link"] = "README.md#license"
    fields |= {"library_name": "onnx", "tags": ["rnn-zoo", card.task, card.architecture.cell, "onnx"],
               "datasets": [card.training_data.dataset],
               "metrics": sorted({metric.name for metric in card.metrics}),
               "model-index": [{"name": card.name, "results": [
                   {"task": {"type": card.task, "name": TASKS[card.task].title if card.task in TASKS else card.task},
                    "dataset": {"name": card.training_data.dataset, "type": card.training_data.dataset, "split": split},
                    "metrics": [{"type": m.name, "name": f"{m.name} (baseline, {m.baseline}: {_number(m.baseline_value)})",
                                 "value": m.value} for m in card.metrics if m.split == split]}
                   for split in dict.fromkeys(metric.split for metric in card.metrics)]}]}
    return ["---", *(f"{key}: {yaml_value(value)}" for key, value in fields.items()), "---", ""]


def license_lines(card: ModelCard) -> list[str]:
    terms = f": {card.weights_license_terms}" if card.weights_license_terms else ""
    return ["## License", "",
            f"Weights: `{card.weights_license or 'other'}`{terms}. Training data: {card.training_data.license}. "
            "The zoo's code: Apache-2.0.", ""]


def markdown(card: ModelCard, with_front_matter: bool = True) -> str:
    """The card as a readable page: summary, facts, intended use, limitations, data, training, evaluation beside
    the baselines, export and parity, figures and samples, license, and how to call it."""
    task = TASKS.get(card.task)
    lines = [*(front_matter(card) if with_front_matter else []), f"# {card.name}", "", card.summary, "",
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
    lines += [*license_lines(card), "## Use", "", "```python", "import zoo", "",
              f'model = zoo.pipeline("{card.task}", model="{card.name}")  # onnxruntime only, no torch',
              "```", "",
              f"or `rnnzoo predict {card.task} ... --model {card.name}`, or over HTTP with `rnnzoo serve` (README).", ""]
    return "\n".join(lines)


def write_readmes(cards: list[ModelCard], directory: Path) -> list[Path]:
    """README.md beside each card's card.json (in `directory`/<name>); the paths whose text changed."""
    changed = []
    for card in cards:
        readme, text = Path(directory) / card.name / README_FILE, markdown(card)
        if not readme.exists() or readme.read_text() != text:
            readme.write_text(text)
            changed.append(readme)
    return changed
