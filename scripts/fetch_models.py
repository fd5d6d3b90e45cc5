#!/usr/bin/env python3
"""Fetch, verify and import model weights into the BentoML model store.

    python scripts/fetch_models.py                 # the configured fast and pro models
    python scripts/fetch_models.py --model u2netp --model isnet
    python scripts/fetch_models.py --list

Idempotent: a verified file already in MODEL_DIR is not downloaded again, and a store
entry with the same checksum is not imported again. Exits 1 when a model cannot be had,
after listing every source tried and why it failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wizpix.catalog import Catalog, load_catalog
from wizpix.fetch import FetchError, fetch_model
from wizpix.settings import PRO_ALIASES, SettingsError, load_settings
from wizpix.store import import_to_store


def _list(catalog: Catalog) -> None:
    for spec in catalog.models.values():
        print(f"{spec.name:20} {spec.role:5} {spec.title}")
        for source in spec.sources:
            print(f"{'':26}source: {source.describe()}")
        print(f"{'':26}licence: {spec.licence}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", action="append", help="model to fetch (repeatable); default: the configured ones"
    )
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    catalog = load_catalog()
    if args.list:
        _list(catalog)
        return 0
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    names = args.model or [settings.fast_model_name, settings.pro_model]
    failures = 0
    for requested in names:
        name = PRO_ALIASES.get(requested, requested)
        spec = catalog.get(name)
        if spec is None:
            print(f"unknown model {requested!r}; see --list", file=sys.stderr)
            failures += 1
            continue
        if not spec.has_weights:
            print(f"{name}: no weights needed")
            continue
        try:
            fetched = fetch_model(spec, settings.model_dir)
        except FetchError as error:
            print(f"ERROR {error}", file=sys.stderr)
            failures += 1
            continue
        tag, created = import_to_store(spec, fetched.path, fetched.sha256, fetched.source)
        action = "downloaded" if fetched.downloaded else "already present"
        print(f"{name}: {action}, sha256 {fetched.sha256}, store {tag}{' (imported)' if created else ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
