"""The README's model table, generated from the shipped cards (never edited by hand).

    python -m zoo.leaderboard            # print the table
    python -m zoo.leaderboard --write    # replace it in README.md between the markers
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cards import ModelCard
from zoo.runtime import ARTIFACTS_DIR

README = Path(__file__).resolve().parent.parent / "README.md"
UNITS = {"sentiment": "epochs", "generation": "steps", "forecasting": "epochs", "vitals": "epochs"}  # what TrainingRun.epochs counts per task
ARTIFACTS_LINK = "zoo/artifacts"  # relative to README.md
BEGIN, END = "<!-- models-table:begin -->", "<!-- models-table:end -->"


def load_cards(directory: Path = ARTIFACTS_DIR) -> list[ModelCard]:
    return [ModelCard.load(d) for d in sorted(directory.iterdir()) if (d / "card.json").exists()]


TASK_TITLES = {"generation": "Text generation (Tiny Shakespeare)", "sentiment": "Sentiment (SST-2)",
               "forecasting": "Stock forecasting (daily closes)", "vitals": "ICU vitals (PhysioNet 2012)"}


def table(cards: list[ModelCard]) -> str:
    """One table per task: a row per model, a column per metric as `model` vs baseline."""
    sections = []
    for task in sorted({card.task for card in cards}, key=list(TASK_TITLES).index):
        of_task = [card for card in cards if card.task == task]
        metrics = [metric.name for metric in of_task[0].metrics]
        with_figures = any(card.figures for card in of_task)
        lines = [f"**{TASK_TITLES[task]}**", "",
                 "| model | cell | parameters | " + " | ".join(metrics) + " | training | ONNX size |"
                 + (" figures |" if with_figures else ""),
                 "|---|---|---|" + "---|" * len(metrics) + "---|---|" + ("---|" if with_figures else "")]
        for card in of_task:
            arch = card.architecture
            cell = f"{'Bi' if arch.bidirectional else ''}{arch.cell.upper()} {arch.num_layers}x{arch.hidden_size}"
            values = " | ".join(f"**{number(card.metric(name).value)}** vs {number(card.metric(name).baseline_value)}"
                                for name in metrics)
            figures = " ".join(f"[{figure}]({ARTIFACTS_LINK}/{card.name}/{figure})" for figure in card.figures)
            lines.append(f"| `{card.name}` | {cell} | {parameters(arch.parameter_count)} | {values} | "
                         f"{card.training.seconds / 60:.1f} min, {card.training.epochs} {UNITS[task]} | "
                         f"{size(card.export.size_bytes)} |" + (f" {figures} |" if with_figures else ""))
        lines.append("")
        lines += [f"- {metric.name}: {metric.split}, n={metric.examples}; baseline: {metric.baseline}"
                  for metric in of_task[0].metrics]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def number(value: float) -> str:
    return f"{value:.4f}" if abs(value) >= 0.1 else f"{value:.4g}"


def parameters(count: int) -> str:
    return f"{count / 1e6:.2f} M" if count >= 100_000 else f"{count / 1e3:.1f} k"


def size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 100_000 else f"{n_bytes / 1e3:.0f} kB"


def replace_table(readme: str, new_table: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{new_table}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args()
    new_table = table(load_cards())
    if args.write:
        README.write_text(replace_table(README.read_text(), new_table))
    else:
        print(new_table)


if __name__ == "__main__":
    main()
