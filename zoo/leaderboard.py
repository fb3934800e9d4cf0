"""The README's model table and the RNN vs LSTM vs GRU leaderboard, generated from the shipped cards and a
measured latency file (never edited by hand).

    python -m zoo.leaderboard                    # print both
    python -m zoo.leaderboard --write            # replace them in README.md and zoo/docs/leaderboard.md
    python -m zoo.leaderboard --write --measure  # first re-measure onnxruntime latency (idle machine!)
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from zoo.artifacts import ARTIFACTS_DIR, cpu_name, create_session, verified_bytes
from zoo.card_markdown import write_readmes
from zoo.cards import MODEL_FILE, ModelCard, load_cards
from zoo.checks import example_inputs
from zoo.registry import list_models
from zoo.tasks import TASKS

README = Path(__file__).resolve().parent.parent / "README.md"
ARTIFACTS_LINK = "zoo/artifacts"  # relative to README.md
BEGIN, END = "<!-- models-table:begin -->", "<!-- models-table:end -->"
BOARD_BEGIN, BOARD_END = "<!-- leaderboard:begin -->", "<!-- leaderboard:end -->"
DOCS_PAGE = README.parent / "zoo" / "docs" / "leaderboard.md"
LATENCY_FILE = README.parent / "zoo" / "docs" / "latency.json"


def table(cards: list[ModelCard]) -> str:
    """One table per task: a row per model, a column per metric as `model` vs baseline."""
    sections = []
    for task in sorted({card.task for card in cards}, key=list(TASKS).index):
        datasets = list(dict.fromkeys(card.training_data.dataset for card in cards if card.task == task))
        for dataset in datasets:  # a task with several data sets (music): a table each, with its split's notes
            of_task = [card for card in cards if card.task == task and card.training_data.dataset == dataset]
            title = TASKS[task].title if len(datasets) == 1 else f"{TASKS[task].title}, {dataset}"
            sections.append(task_table(title, of_task, TASKS[task].training_unit))
    return "\n\n".join(sections)


def task_table(title: str, of_task: list[ModelCard], training_unit: str) -> str:
    metrics = [metric.name for metric in of_task[0].metrics]
    with_figures = any(card.figures for card in of_task)
    lines = [f"**{title}**", "",
             "| model | cell | parameters | " + " | ".join(metrics) + " | training | ONNX size |"
             + (" figures |" if with_figures else ""),
             "|---|---|---|" + "---|" * len(metrics) + "---|---|" + ("---|" if with_figures else "")]
    for card in of_task:
        arch = card.architecture
        cell = f"{'Bi' if arch.bidirectional else ''}{arch.cell.upper()} {arch.num_layers}x{arch.hidden_size}"
        values = " | ".join(f"**{number(card.metric(name).value)}** vs {number(card.metric(name).baseline_value)}"
                            for name in metrics)
        figures = " ".join(f"[{figure}]({ARTIFACTS_LINK}/{card.name}/{figure})" for figure in card.figures)
        files = card.export.size_bytes + sum(g.export.size_bytes for g in card.graphs)  # a translator's encoder too
        lines.append(f"| `{card.name}` | {cell} | {parameters(arch.parameter_count)} | {values} | "
                     f"{card.training.seconds / 60:.1f} min, {card.training.epochs} {training_unit} | "
                     f"{size(files)} |" + (f" {figures} |" if with_figures else ""))
    lines.append("")
    lines += [f"- {metric.name}: {metric.split}, n={metric.examples}; baseline: {metric.baseline}"
              for metric in of_task[0].metrics]
    return "\n".join(lines)


def number(value: float) -> str:
    return f"{value:.4f}" if abs(value) >= 0.1 else f"{value:.4g}"


def parameters(count: int) -> str:
    return f"{count / 1e6:.2f} M" if count >= 100_000 else f"{count / 1e3:.1f} k"


def size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 100_000 else f"{n_bytes / 1e3:.0f} kB"


def replace_table(readme: str, new_table: str, begin: str = BEGIN, end: str = END) -> str:
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{new_table}\n{end}{tail}"


def measure_latency(cards: list[ModelCard], seconds_per_model: float = 1.0) -> dict:
    """Median onnxruntime time of one batch-1 call per model (one intra-op thread, as the service runs
    them), over repeated calls after a warm-up; models measured in turn, on the same machine, same run."""
    models = {}
    for card in cards:
        description, steps = TASKS[card.task].latency_input, TASKS[card.task].latency_steps
        session = create_session(verified_bytes(ARTIFACTS_DIR / card.name / MODEL_FILE, card.export.sha256),
                                 ["CPUExecutionProvider"], threads=1)
        feeds = example_inputs(card, batch=1, steps=steps, rng=np.random.default_rng(0), whole_rows=True)
        for _ in range(20):
            session.run(None, feeds)
        times, deadline = [], time.perf_counter() + seconds_per_model
        while time.perf_counter() < deadline or len(times) < 50:
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
        models[card.name] = {"input": description, "median_ms": round(1000 * statistics.median(times), 4),
                             "calls": len(times)}
    import onnxruntime

    return {"machine": cpu_name(), "onnxruntime": onnxruntime.__version__, "intra_op_threads": 1, "batch": 1, "models": models}


def load_latency(path: Path = LATENCY_FILE) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"models": {}}


def latency(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def relative(a: float, b: float, higher_is_better: bool, metric: str = "") -> str:
    """How a compares with b, in words: for a proportion (accuracy, AUROC) the gap in percentage points, for
    BLEU in BLEU points (a percentage of a proportion reads wrongly: 0.870 vs 0.509 is 36 points, not "71%"),
    otherwise as a percentage of b."""
    better = (a > b) if higher_is_better else (a < b)
    word = "better than" if better else "worse than"
    if "accuracy" in metric or "auroc" in metric:
        gap = 100 * abs(a - b)
        return "the same as" if gap < 0.05 else f"{gap:.1f} points {word}"
    if "bleu" in metric:
        return "the same as" if abs(a - b) < 0.005 else f"{abs(a - b):.2f} BLEU {word}"
    change = 100 * abs(a - b) / abs(b)
    return "the same as" if change < 0.05 else f"{change:.1f}% {word}"


def leaderboard(cards: list[ModelCard], measured: dict) -> str:
    """Per task: RNN vs LSTM vs GRU (fp32, the shipped architecture) vs the trivial baseline on the headline
    metric, with size, training time and batch-1 latency; then what the numbers say, in sentences written
    from the numbers (so they change when a card does)."""
    timings = measured.get("models", {})
    sections = [f"Headline metric of each task, measured with onnxruntime on the card's split; latency is the "
                f"median of one batch-1 call on one thread ({measured.get('machine', 'not measured')}, onnxruntime "
                f"{measured.get('onnxruntime', '-')}; `python -m zoo.leaderboard --write --measure`)."]
    for task in TASKS.values():
        # The zoo's own fp32 models: the same recipe per task and data set, so the cell is the only difference
        # (brought models and int8 variants are in the full table). A task with several data sets (music) gets
        # a comparison per data set.
        own = [card for card in cards
               if card.task == task.name and card.quantization is None and card.name in list_models(task.name)]
        datasets = list(dict.fromkeys(card.training_data.dataset for card in own))
        for dataset in datasets:
            # One comparison per recipe: a lone variant of another shape (the bidirectional recogniser beside
            # three streaming ones) has no RNN and LSTM to compare with, and is in the full table.
            recipes = {}
            for card in own:
                if card.training_data.dataset == dataset:
                    recipes.setdefault(card.architecture.bidirectional, {})[card.architecture.cell] = card
            title = task.title if len(datasets) == 1 else f"{task.title}, {dataset}"
            for by_cell in recipes.values():
                if len(by_cell) > 1 or len(recipes) == 1:
                    sections.append(comparison(task, title, by_cell, timings))
    return "\n\n".join(sections)


def comparison(task, title: str, by_cell: dict[str, ModelCard], timings: dict) -> str:
    """One task's (and data set's) RNN vs LSTM vs GRU table, and what it says."""
    metric, higher_is_better = task.headline_metric, task.higher_is_better
    any_card = next(iter(by_cell.values()))
    baseline = any_card.metric(metric)
    lines = [f"**{title}**: {metric} ({'higher' if higher_is_better else 'lower'} is better), "
             f"{baseline.split}; latency for {task.latency_input}", "",
             "| | model | " + metric + " | parameters | training | latency |", "|---|---|---|---|---|---|",
             f"| baseline | {baseline.baseline} | {number(baseline.baseline_value)} | - | - | - |"]
    for cell in ("rnn", "lstm", "gru"):
        if cell in by_cell:
            card = by_cell[cell]
            lines.append(f"| {cell.upper()} | `{card.name}` | {number(card.metric(metric).value)} | "
                         f"{parameters(card.architecture.parameter_count)} | {card.training.seconds / 60:.1f} min | "
                         f"{latency(timings.get(card.name, {}).get('median_ms'))} |")
    lines += ["", reading(by_cell, metric, higher_is_better, timings)]
    return "\n".join(lines)


def reading(by_cell: dict[str, ModelCard], metric: str, higher_is_better: bool, timings: dict) -> str:
    value = {cell: card.metric(metric).value for cell, card in by_cell.items()}
    best = (max if higher_is_better else min)(value, key=value.get)
    baseline = next(iter(by_cell.values())).metric(metric).baseline_value
    compare = lambda a, b: relative(a, b, higher_is_better, metric)  # noqa: E731
    sentences = [f"Best: {best.upper()} ({number(value[best])}), {compare(value[best], baseline)} "
                 f"the baseline ({number(baseline)})."]
    if {"lstm", "gru"} <= set(value):
        lstm, gru = by_cell["lstm"], by_cell["gru"]
        size = gru.architecture.parameter_count / lstm.architecture.parameter_count
        times = [timings.get(c.name, {}).get("median_ms") for c in (gru, lstm)]
        speed = f" and {times[0] / times[1]:.2f}x its latency" if None not in times else ""
        sentences.append(f"GRU vs LSTM: {number(value['gru'])} vs {number(value['lstm'])}, "
                         f"{compare(value['gru'], value['lstm'])} the LSTM with "
                         f"{size:.2f}x its parameters{speed}, trained in {gru.training.seconds / 60:.1f} vs "
                         f"{lstm.training.seconds / 60:.1f} min.")
        if metric == "accuracy":  # a proportion: its sampling noise is known without resampling
            n = lstm.metric(metric).examples
            error = (value["lstm"] * (1 - value["lstm"]) / n) ** 0.5
            gap = abs(value["gru"] - value["lstm"])
            sentences.append(f"That gap is {round(gap * n)} of {n} examples; an accuracy measured on {n} examples has a "
                             f"standard error of {error:.3f}, so the gap is "
                             f"{'within the noise' if gap < 2 * error else 'larger than the noise'}.")
    if "rnn" in value and best != "rnn":
        gated = value[best]
        sentences.append(f"The plain RNN ({number(value['rnn'])}) is {compare(value['rnn'], gated)} "
                         f"the best gated cell, and {compare(value['rnn'], baseline)} the baseline.")
    return " ".join(sentences)


def docs_page(cards: list[ModelCard], measured: dict) -> str:
    return ("# Leaderboard: RNN vs LSTM vs GRU\n\n"
            "Generated by `python -m zoo.leaderboard --write` from the shipped cards (`zoo/artifacts/*/card.json`) "
            "and the latency file (`zoo/docs/latency.json`); a test fails when this page is stale. "
            "[Reading the numbers](best-practices.md) explains what they do and do not show.\n\n"
            f"## Per task\n\n{BOARD_BEGIN}\n{leaderboard(cards, measured)}\n{BOARD_END}\n\n"
            f"## Every model and metric\n\n{table(cards).replace('](zoo/artifacts', '](../artifacts')}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite README.md's tables, zoo/docs/leaderboard.md and "
                                                              "each model's README.md (zoo.card_markdown)")
    parser.add_argument("--measure", action="store_true", help="re-measure latency into zoo/docs/latency.json first")
    args = parser.parse_args()
    cards = load_cards()
    if args.measure:
        LATENCY_FILE.write_text(json.dumps(measure_latency(cards), indent=1) + "\n")
    measured = load_latency()
    new_table, board = table(cards), leaderboard(cards, measured)
    if args.write:
        readme = replace_table(README.read_text(), new_table)
        README.write_text(replace_table(readme, board, BOARD_BEGIN, BOARD_END))
        DOCS_PAGE.write_text(docs_page(cards, measured))
        write_readmes(cards, ARTIFACTS_DIR)  # each model's card as README.md beside its card.json
    else:
        print(f"{new_table}\n\n{board}")


if __name__ == "__main__":
    main()
