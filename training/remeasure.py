"""Measure shipped cards again: each model file's metrics (and the limitations its task writes from them) on the
card's split, with the evaluation code as it is now. For a change of evaluation, not of the model: the ONNX files
and their checksums are untouched, so the models' own numbers stay; baselines and wording may change.

    python -m training.remeasure vitals-gru vitals-lstm vitals-lstm-int8 vitals-rnn
"""
from __future__ import annotations

import argparse

from training.quantize import int8_limitation
from training.tasks import TRAINING_TASKS
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard


def remeasure(name: str, data_dir: str | None = None) -> ModelCard:
    directory = ARTIFACTS_DIR / name
    card = ModelCard.load(directory)
    before = {metric.name: metric.value for metric in card.metrics}
    card = TRAINING_TASKS[card.task].measure(card, directory, data_dir)
    if card.quantization is not None and not card.limitations[0].startswith("int8 variant"):
        card.limitations = [int8_limitation(card.quantization.source)] + card.limitations
    card.save(directory)
    for metric in card.metrics:
        change = "" if before.get(metric.name) in (None, metric.value) else f" (was {before[metric.name]})"
        print(f"{name}: {metric.name} {metric.value}{change} vs {metric.baseline_value} ({metric.baseline})")
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    for name in args.names:
        remeasure(name, args.data_dir)


if __name__ == "__main__":
    main()
