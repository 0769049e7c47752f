"""The README and docs/: a front door of at most 250 lines, every page reachable from it, and no link to a file that
is not there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|src=\"([^\"]+)\"")


def local_links(page: Path) -> list[str]:
    """The page's links and images that point into the repository (no URLs, no in-page anchors)."""
    targets = [a or b for a, b in LINK.findall(page.read_text())]
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+://|#|mailto:", t) and t.split("#")[0]]


def test_every_local_link_of_the_readme_and_docs_exists():
    missing = [f"{page.relative_to(ROOT)}: {t}" for page in PAGES for t in local_links(page)
               if not (page.parent / t).exists()]  # fmt: skip
    assert missing == []


def test_the_readme_is_a_front_door_and_every_docs_page_is_reachable_from_it():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    reachable = {(ROOT / t).resolve() for t in local_links(ROOT / "README.md")}
    reachable |= {(ROOT / "docs" / t).resolve() for t in local_links(ROOT / "docs" / "index.md")}
    pages = {p.resolve() for p in PAGES[1:]}
    assert pages - reachable == set()


def test_the_link_finder_sees_markdown_links_and_images():
    page = ROOT / "README.md"
    assert "docs/figures.md" in local_links(page) and "docs/pipeline.png" in local_links(page)
