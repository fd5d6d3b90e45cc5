"""The docs say what the code says: generated tables fresh, every link reachable, a short README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.docs_tables import configuration_table, models_table, section, stale
from tests.conftest import ROOT
from wizpix.core.settings import Settings

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings."""
    found = set()
    for heading in re.findall(r"(?m)^#{1,6} (.+)$", path.read_text(encoding="utf-8")):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_generated_tables_match_the_code() -> None:
    assert not stale(), "run: .venv/bin/python scripts/docs_tables.py"
    assert section((ROOT / "docs/configuration.md").read_text(), "settings") == configuration_table()
    assert section((ROOT / "docs/models.md").read_text(), "manifest") == models_table()


def test_every_setting_is_documented_and_named_as_its_variable() -> None:
    table = configuration_table()
    for name, info in Settings.model_fields.items():
        assert f"| `{name.upper()}` |" in table and info.description, name


def test_the_readme_is_short_and_reaches_every_doc() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "make serve" in text and "make test" in text
    for doc in DOCS:
        assert f"docs/{doc.name}" in text, f"README does not link docs/{doc.name}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for match in LINK.finditer(page.read_text(encoding="utf-8")):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not followed here
        file, _, anchor = target.partition("#")
        where = (page.parent / file).resolve() if file else page
        if not where.exists() or (anchor and where.suffix == ".md" and anchor not in anchors(where)):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"
