"""Validate artifact folders as the service does at start-up: checksum, the task's contract, IO spec and
parity vectors (zoo.checks), for the zoo's own exports and brought models alike (see
zoo/docs/bring-your-own-model.md).

    python -m zoo.validate zoo/artifacts/shakespeare-lstm [more folders]   # exit 1 if any fails
"""
from __future__ import annotations

import sys
from pathlib import Path

from zoo.artifacts import ArtifactError
from zoo.cards import CardError, ModelCard
from zoo.checks import ValidationError
from zoo.tasks import TASKS


def check_contract(card: ModelCard) -> None:
    """The card's inputs and outputs are what its task's predictor feeds and reads."""
    if card.task not in TASKS:
        raise ValidationError(f"{card.name} ({card.task}): unknown task; tasks are {', '.join(TASKS)}")
    TASKS[card.task].check_contract(card)


def validate(directory: Path, providers: list[str] | None = None) -> ModelCard:
    """Every check on one artifact folder, as the service runs them at start-up; raises on the first failure."""
    card = ModelCard.load(directory)
    if card.task not in TASKS:
        raise ValidationError(f"{card.name}: unknown task {card.task!r}; tasks: {sorted(TASKS)}")
    TASKS[card.task].load(directory, providers or ["CPUExecutionProvider"])  # runs all four checks
    return card


def main(argv: list[str] | None = None) -> int:
    folders = argv if argv is not None else sys.argv[1:]
    if not folders:
        print(__doc__)
        return 2
    failed = 0
    for folder in folders:
        try:
            card = validate(Path(folder))
            vectors = card.export.parity_vectors
            print(f"ok    {folder}: {card.name} ({card.task}), parity within {vectors.tolerance:g} of {vectors.source}")
        except (CardError, ArtifactError, OSError) as error:
            failed += 1
            print(f"FAIL  {folder}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
