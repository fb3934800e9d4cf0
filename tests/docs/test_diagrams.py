"""The concepts page's diagrams are current: each committed SVG is what training/diagrams.py draws now, is an
SVG document with its labels as text, and is shown on the page, which comes first in the reading order."""
import re
import xml.etree.ElementTree as ElementTree

import pytest

from tests.helpers import REPO

matplotlib = pytest.importorskip("matplotlib")  # the [train] extra draws the figures
from training.diagrams import FIGURES, FIGURES_DIR, write_figures  # noqa: E402

DOCS = REPO / "zoo" / "docs"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The diagrams drawn now, into a scratch folder: {file name: bytes}."""
    return {path.name: path.read_bytes() for path in write_figures(tmp_path_factory.mktemp("diagrams"))}


def drawn_with(svg: bytes) -> str:
    """The matplotlib version an SVG names as its creator."""
    return re.search(rb"Matplotlib v([^,<]+)", svg)[1].decode()


def labels(svg: bytes) -> list[str]:
    """Every text element's content, in drawing order (a mathtext label is one element of many spans)."""
    root = ElementTree.fromstring(svg)
    return ["".join(part.text or "" for part in text.iter()).strip() for text in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", FIGURES)
def test_committed_diagram_is_what_the_script_draws(name, fresh):
    committed = (FIGURES_DIR / name).read_bytes()
    regenerate = f"{name} is stale: run python -m training.diagrams and commit the SVGs"
    if drawn_with(committed) == matplotlib.__version__:
        # The same matplotlib gives the same bytes: the SVG has no date, hashes its ids from a fixed salt and
        # keeps text as text, so only a change to the drawing changes the file.
        assert committed == fresh[name], regenerate
    else:
        # Another matplotlib writes the same drawing with other numbers and ids, so bytes cannot be compared.
        # What the drawing says, its size and every label in order, must still be the same.
        committed_root, fresh_root = ElementTree.fromstring(committed), ElementTree.fromstring(fresh[name])
        assert committed_root.get("viewBox") == fresh_root.get("viewBox"), regenerate
        assert labels(committed) == labels(fresh[name]), regenerate


@pytest.mark.parametrize("name", FIGURES)
def test_diagram_is_an_svg_document_with_text_labels(name):
    root = ElementTree.parse(FIGURES_DIR / name).getroot()
    assert root.tag == f"{SVG}svg"
    assert root.findall(f".//{SVG}text"), f"{name} has no text elements: labels must stay text (svg.fonttype none)"


def test_concepts_page_shows_every_diagram_and_comes_first():
    page = (DOCS / "concepts.md").read_text()
    for name in FIGURES:
        assert f"](figures/{name})" in page, f"concepts.md does not embed figures/{name}"
    index = (DOCS / "README.md").read_text()
    first_row = next(line for line in index.splitlines() if line.startswith("| ["))
    assert "(concepts.md)" in first_row, "zoo/docs/README.md's reading order must start with concepts.md"
