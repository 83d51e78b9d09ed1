"""The README's documentation list names every page under ``docs/`` (a new guide nobody can find is
as good as none) and names no page that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_lists_every_doc_page() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"`(docs/[\w./-]+\.md)`", readme))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages - listed == set(), f"docs pages missing from the README's list: {sorted(pages - listed)}"
    assert listed - pages == set(), f"README lists pages that do not exist: {sorted(listed - pages)}"
