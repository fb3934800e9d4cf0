"""The learning material stays true: every link in the docs, the README and the pages it links (service/docs/,
training/README.md) points at a real file, a line link at lines that hold the code it names, a heading link at a real
heading; the generated parts are current."""
import json
import re
from pathlib import Path

import pytest

from tests.helpers import REPO

DOCS = REPO / "zoo" / "docs"
OPERATOR_PAGES = sorted((REPO / "service" / "docs").glob("*.md")) + [REPO / "training" / "README.md"]
PAGES = sorted(DOCS.glob("*.md")) + [REPO / "README.md"] + OPERATOR_PAGES
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def links(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    for match in LINK.finditer(text):
        label, target = match.groups()
        if not re.match(r"(https?|mailto):", target):
            yield label, target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves_and_line_links_show_what_they_name(page):
    problems, count = [], 0
    for label, target in links(page):
        count += 1
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            problems.append(f"{label!r} -> {target}: no such file")
            continue
        lines = re.fullmatch(r"L(\d+)(?:-L(\d+))?", anchor or "")
        if lines:
            first, last = int(lines[1]), int(lines[2] or lines[1])
            source = path.read_text().splitlines()
            if not 1 <= first <= last <= len(source):
                problems.append(f"{label!r} -> {target}: {path.name} has {len(source)} lines")
                continue
            shown = "\n".join(source[first - 1 : last])
            said = re.search(r"\blines? (\d+)(?:-(\d+))?", label)  # "lines 38-46" must be the lines linked
            if said and (int(said[1]), int(said[2] or said[1])) != (first, last):
                problems.append(f"{label!r} -> {target}: the label names other lines than the link")
            for name in re.findall(r"`([^`]+)`", label):  # `GenerationPredictor.nats_per_char` -> nats_per_char
                if name.split(".")[-1] not in shown:
                    problems.append(f"{label!r} -> {target}: lines {first}-{last} do not contain {name.split('.')[-1]!r}")
        elif anchor and path.suffix == ".md":
            headings = {slug(h) for h in re.findall(r"^#+ (.+)$", path.read_text(), flags=re.M)}
            if anchor not in headings:
                problems.append(f"{label!r} -> {target}: no heading with that anchor in {path.name}")
    assert not problems, "\n".join(problems)
    assert count or page.name == "README.md"


def test_the_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text()
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"({page.name})" in index, f"zoo/docs/README.md does not link {page.name}"
    assert "(quickstart.ipynb)" in index


def test_the_readme_links_every_operator_page():
    """The material moved out of the README (performance, reliability, sessions, configuration, deploy, training)
    stays one link away from it."""
    readme = (REPO / "README.md").read_text()
    assert len(OPERATOR_PAGES) >= 6
    for page in OPERATOR_PAGES:
        assert f"({page.relative_to(REPO)})" in readme, f"README.md does not link {page.relative_to(REPO)}"


def test_vanishing_gradient_figures_and_table_come_from_one_run():
    """The plots and the page's table are written by training.vanishing_gradients from the same results file."""
    from training.vanishing_gradients import BEGIN, END, READING_BEGIN, READING_END, Config, Run, reading, table

    saved = json.loads((DOCS / "figures" / "vanishing_gradients.json").read_text())
    runs = [Run(**{**run, "curve": [tuple(p) for p in run["curve"]]}) for run in saved["runs"]]
    page = (DOCS / "vanishing-gradients.md").read_text()
    assert page.split(BEGIN, 1)[1].split(END, 1)[0].strip() == table(runs, Config(**saved["config"]))
    assert page.split(READING_BEGIN, 1)[1].split(READING_END, 1)[0].strip() == reading(runs)
    for figure in ("vanishing_gradients_mse.png", "vanishing_gradients_norms.png"):
        assert (DOCS / "figures" / figure).stat().st_size > 10_000 and f"figures/{figure}" in page
    # what the page claims: the plain RNN fails where a gated cell succeeds, at the longest length
    longest = max(run.length for run in runs)
    final = {run.cell: run for run in runs if run.length == longest}
    assert final["rnn"].solved_at_step is None
    assert any(final[cell].solved_at_step for cell in ("lstm", "gru"))


def test_the_concepts_page_quotes_the_cards():
    """The LSTM / GRU / RNN table on the concepts page is typed by hand: each number must be the shipped card's
    headline metric, so a retrained model cannot leave it stale."""
    from zoo.cards import ModelCard
    from zoo.registry import get_task

    prefixes = {"text": "shakespeare", "sentiment": "sst2", "stock": "stock", "ICU": "vitals", "music (JSB": "jsb",
                "music (Nottingham": "nottingham", "spoken": "digits", "translation": "multi30k-de-en"}
    page = (REPO / "zoo" / "docs" / "concepts.md").read_text()
    rows = [line.split("|")[1:-1] for line in page.splitlines() if line.startswith("| ")
            and any(line[2:].startswith(p) for p in prefixes)]
    assert len(rows) == len(prefixes)
    for task_label, _metric, *cells in rows:
        prefix = next(p for label, p in prefixes.items() if task_label.strip().startswith(label))
        for cell, value in zip(("lstm", "gru", "rnn"), cells):
            card = ModelCard.load(REPO / "zoo" / "artifacts" / f"{prefix}-{cell}")
            headline = next(m for m in card.metrics if m.name == get_task(card.task).headline_metric).value
            shown = value.strip().strip("*")
            decimals = len(shown.split(".")[1])
            assert float(shown) == round(headline, decimals), f"{prefix}-{cell}: the page shows {shown}, the card {headline}"
