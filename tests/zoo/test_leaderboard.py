"""zoo.leaderboard: the README's model table, its leaderboard and the docs page are generated from the
shipped cards and the measured latency, and are current."""
from zoo.leaderboard import (
    BEGIN,
    BOARD_BEGIN,
    BOARD_END,
    DOCS_PAGE,
    END,
    README,
    docs_page,
    leaderboard,
    load_cards,
    load_latency,
    table,
)


def test_readme_table_is_generated_from_the_cards():
    readme = README.read_text()
    current = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert current == table(load_cards()), "run: python -m zoo.leaderboard --write"


def test_leaderboard_is_generated_from_the_cards_and_measured_latency():
    cards, measured = load_cards(), load_latency()
    current = README.read_text().split(BOARD_BEGIN, 1)[1].split(BOARD_END, 1)[0].strip()
    assert current == leaderboard(cards, measured), "run: python -m zoo.leaderboard --write"
    assert DOCS_PAGE.read_text() == docs_page(cards, measured), "run: python -m zoo.leaderboard --write"
    assert sorted(measured["models"]) == sorted(card.name for card in cards), "run: python -m zoo.leaderboard --write --measure"
    assert all(entry["median_ms"] > 0 and entry["calls"] >= 50 for entry in measured["models"].values())
