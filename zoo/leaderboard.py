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
UNITS = {"sentiment": "epochs", "generation": "steps", "forecasting": "epochs"}  # what TrainingRun.epochs counts per task
BEGIN, END = "<!-- models-table:begin -->", "<!-- models-table:end -->"


def load_cards(directory: Path = ARTIFACTS_DIR) -> list[ModelCard]:
    return [ModelCard.load(d) for d in sorted(directory.iterdir()) if (d / "card.json").exists()]


def table(cards: list[ModelCard]) -> str:
    lines = [
        "| model | task | cell | parameters | metric (split) | model | baseline | training | ONNX size |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for card in cards:
        for metric in card.metrics:
            arch = card.architecture
            cell = f"{'Bi' if arch.bidirectional else ''}{arch.cell.upper()} {arch.num_layers}x{arch.hidden_size}"
            lines.append(
                f"| `{card.name}` | {card.task} | {cell} | {arch.parameter_count / 1e6:.2f} M "
                f"| {metric.name} ({metric.split}, n={metric.examples}) | **{metric.value:.4f}** "
                f"| {metric.baseline_value:.4f} ({metric.baseline}) | {card.training.seconds / 60:.1f} min, "
                f"{card.training.epochs} {UNITS[card.task]} | {size(card.export.size_bytes)} |"
            )
    return "\n".join(lines)


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
