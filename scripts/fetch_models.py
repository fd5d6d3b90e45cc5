#!/usr/bin/env python3
"""Fetch, verify and import model weights into the BentoML model store.

    python scripts/fetch_models.py                 # the configured fast and pro models
    python scripts/fetch_models.py --model u2netp --model isnet
    python scripts/fetch_models.py --list          # every family: licence, size, recipe, sources
    python scripts/fetch_models.py --allow-missing # what `make serve` runs: warn, never stop

Idempotent: a verified file already in MODEL_DIR is not downloaded again, and a store
entry with the same checksum is not imported again. A file of your own
(FAST_MODEL_PATH / PRO_MODEL_PATH) is checksummed and imported as ``<family>-custom``.
Exits 1 when a model cannot be had, after listing every source tried and why it failed
and saying how to fix it; with --allow-missing it says what the service will do instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wizpix.core.catalog import Catalog, ModelSpec, load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.roles import Role, build_roles
from wizpix.core.settings import Settings, SettingsError, load_settings
from wizpix.weights.sources import FetchError, fetch_model
from wizpix.weights.store import WeightsMissing, import_to_store, import_user_file

NON_COMMERCIAL = "NON-COMMERCIAL"


def _list(catalog: Catalog) -> None:
    for spec in catalog.models.values():
        size = f"{spec.size_mb:g} MB" if spec.size_mb else "no weights"
        aliases = f" (also: {', '.join(spec.aliases)})" if spec.aliases else ""
        print(f"{spec.name}{aliases}")
        print(f"    {spec.title}")
        roles = ", ".join(spec.roles)
        print(f"    roles: {roles} · kind: {spec.kind} · {size} · input {spec.preprocess.size}²")
        flag = f"{NON_COMMERCIAL}: " if not spec.commercial_use else ""
        print(f"    licence: {flag}{spec.licence}")
        print(f"    recipe: {spec.recipe}")
        if spec.int8:
            print(f"    int8 build at import: {spec.int8.describe()} ({', '.join(spec.int8.calibration)})")
        for source in spec.sources:
            checksum = f"sha256 {source.sha256}" if source.sha256 else f"md5 {source.md5}"
            print(f"    source: {source.describe()} ({checksum})")


def _how_to_fix(spec: ModelSpec, settings: Settings) -> str:
    urls = [s.describe() for s in spec.sources if s.kind == "url"]
    where = f" from {urls[0]}" if urls else ""
    return (
        f"to fix: on a machine that reaches a source, download {spec.file}{where}, put it in "
        f"{settings.model_dir} and run: .venv/bin/python scripts/fetch_models.py --model {spec.name}"
    )


def _fetch(spec: ModelSpec, settings: Settings) -> bool:
    if not spec.has_weights:
        print(f"{spec.name}: no weights needed")
        return True
    try:
        fetched = fetch_model(spec, settings.model_dir)
    except FetchError as error:
        print(f"ERROR {error}\n{_how_to_fix(spec, settings)}", file=sys.stderr)
        return False
    tag, created = import_to_store(spec.name, spec, fetched.path, fetched.sha256, fetched.source, spec.int8)
    action = "downloaded" if fetched.downloaded else "already present"
    print(f"{spec.name}: {action}, sha256 {fetched.sha256}, store {tag}{' (imported)' if created else ''}")
    return True


def _import_own(role: Role) -> bool:
    try:
        tag, created = import_user_file(role)
    except WeightsMissing as error:
        print(f"ERROR {error} ({role.path_variable}={role.model_path})", file=sys.stderr)
        return False
    print(f"{role.path_variable}: {role.model.name} family, store {tag}{' (imported)' if created else ''}")
    return True


def _consequence(role: RoleName, settings: Settings) -> str:
    if role is RoleName.FAST:
        return "fast requests get 503 fast_unavailable; pro requests are still served"
    if settings.auto_fallback_fast:
        return "pro requests are served by fast (X-WizPix-Fallback says why)"
    return "pro requests get 503 pro_unavailable (AUTO_FALLBACK_FAST=false)"


def _warn_licence(role: Role) -> None:
    if not role.model.commercial_use:
        print(
            f"WARNING {role.variable}={role.model.name}: {NON_COMMERCIAL} weights ({role.model.licence})",
            file=sys.stderr,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", action="append", help="model to fetch (repeatable); default: the configured ones"
    )
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 when a configured model cannot be had: the service then starts degraded",
    )
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
    if args.model:
        failures = 0
        for requested in args.model:
            spec = catalog.get(requested)
            if spec is None:
                print(f"unknown model {requested!r}; see --list", file=sys.stderr)
                failures += 1
            elif not _fetch(spec, settings):
                failures += 1
        return 1 if failures else 0
    missing = []
    for role in build_roles(settings, catalog).values():
        _warn_licence(role)
        if not (_import_own(role) if role.model_path else _fetch(role.model, settings)):
            missing.append(role.name)
    for role in missing:
        level = "WARNING" if args.allow_missing else "ERROR"
        consequence = _consequence(role, settings)
        message = f"the {role} model cannot be had: the service will start degraded; {consequence}"
        print(f"{level} {message}", file=sys.stderr)
    return 1 if missing and not args.allow_missing else 0


if __name__ == "__main__":
    sys.exit(main())
