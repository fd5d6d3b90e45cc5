#!/usr/bin/env python3
"""The parts of docs/ that are generated from the code, and the one way to rewrite a part.

    .venv/bin/python scripts/docs_tables.py          # rewrite docs/configuration.md and docs/models.md tables
    .venv/bin/python scripts/docs_tables.py --check  # exit 1 if they differ from the code (a test does this)

The configuration table comes from ``Settings`` (every field's name, default and
description), the model table from ``models/manifest.toml``: written once, in the code,
so the docs cannot drift. ``make bench``, ``make soak`` and ``make eval`` write their
results into docs/ through ``replace_section`` too.
"""

from __future__ import annotations

import argparse
import sys
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wizpix.core.catalog import Catalog, load_catalog  # noqa: E402
from wizpix.core.enums import RoleName  # noqa: E402
from wizpix.core.paths import PROJECT_ROOT  # noqa: E402
from wizpix.core.settings import Settings  # noqa: E402

DOCS = ROOT / "docs"
CONFIGURATION, MODELS = DOCS / "configuration.md", DOCS / "models.md"


def section(text: str, name: str) -> str:
    """What stands between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"no {name} section (markers {start.strip()} … {end})")
    return text.split(start, 1)[1].split(end, 1)[0]


def replace_section(path: Path, name: str, body: str) -> None:
    """Rewrite the ``name`` section of ``path`` with ``body``."""
    text = path.read_text(encoding="utf-8")
    old = section(text, name)
    start = f"<!-- {name}:start -->\n"
    path.write_text(text.replace(start + old, start + body, 1), encoding="utf-8")


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, Path):
        inside = value.is_relative_to(PROJECT_ROOT)
        return f"`./{value.relative_to(PROJECT_ROOT)}`" if inside else f"`{value}`"
    if value == "":
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def configuration_table() -> str:
    """Every setting: its variable, default and meaning, in the order ``Settings`` declares."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        lines.append(f"| `{name.upper()}` | {_default(info.default)} | {info.description} |")
    return "\n".join(lines) + "\n"


def models_table(catalog: Catalog | None = None) -> str:
    """Every model of the manifest: roles, kind, input, size, licence and its sources in order."""
    catalog = catalog or load_catalog()
    defaults = {Settings.model_fields[f"{role}_model_name"].default: role for role in RoleName}
    lines = [
        "| model | roles | kind | input | size | licence | sources, in order |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in catalog.models.values():
        names = [spec.name, *spec.aliases]
        default = next((f" (default {role})" for name, role in defaults.items() if name in names), "")
        aliases = f"; aliases {', '.join(f'`{a}`' for a in spec.aliases)}" if spec.aliases else ""
        size = f"{spec.size_mb:g} MB" if spec.size_mb else "—"
        licence = spec.licence if spec.commercial_use else f"**non-commercial**: {spec.licence}"
        sources = "; ".join(_source(source) for source in spec.sources) or "none"
        kind = f"{spec.kind} (+ int8 build, {spec.int8.method})" if spec.int8 else spec.kind
        lines.append(
            f"| `{spec.name}`{default}{aliases} | {', '.join(spec.roles)} | {kind} | "
            f"{spec.preprocess.size}² | {size} | {licence} | {sources} |"
        )
    return "\n".join(lines) + "\n"


def _source(source: Any) -> str:
    """A source, short: a URL by its host and file, the others as they describe themselves."""
    if source.kind == "url":
        parts = urlsplit(source.url)
        return f"{parts.netloc} (`{parts.path.rsplit('/', 1)[-1]}`)"
    return source.describe()


GENERATED = {(CONFIGURATION, "settings"): configuration_table, (MODELS, "manifest"): models_table}


def stale() -> list[str]:
    """The generated sections that differ from what the code says now."""
    return [
        f"{path.relative_to(ROOT)} ({name})"
        for (path, name), make in GENERATED.items()
        if section(path.read_text(encoding="utf-8"), name) != make()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a generated part is stale")
    if parser.parse_args().check:
        if problems := stale():
            print("stale, run scripts/docs_tables.py: " + ", ".join(problems), file=sys.stderr)
            return 1
        return 0
    for (path, name), make in GENERATED.items():
        replace_section(path, name, make())
    return 0


if __name__ == "__main__":
    sys.exit(main())
