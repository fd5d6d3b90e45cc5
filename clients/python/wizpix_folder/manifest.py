"""The resume manifest: what earlier runs finished, per input, so that a rerun sends only
what is new, changed, asked with other options, served by a fallback, or deleted."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizpix_folder.files import write_atomically

MANIFEST_NAME = ".wizpix-manifest.json"
MANIFEST_VERSION = 1


@dataclass
class Manifest:
    """What earlier runs finished, per relative input path."""

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    _saved_at: float = 0.0
    _save_cost: float = 0.0
    _dirty: bool = False

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            body = json.loads(path.read_text())
            files = body["files"] if body.get("version") == MANIFEST_VERSION else {}
        except FileNotFoundError:
            files = {}
        except (ValueError, KeyError, TypeError, AttributeError):
            print(f"warning: {path} is unreadable; every image will be sent again", file=sys.stderr)
            files = {}
        return cls(path, dict(files))

    def is_done(self, rel: str, sha256: str, wanted: dict[str, str], stem: str, out_dir: Path) -> bool:
        """Finished earlier from these bytes with this query, not by a fallback, under the
        name this run would give it, and the output is still there."""
        entry = self.files.get(rel)
        if not entry or entry.get("sha256") != sha256 or entry.get("options") != wanted:
            return False
        output = entry.get("output") or ""
        if entry.get("fallback") or Path(output).with_suffix("").as_posix() != stem:
            return False
        return (out_dir / output).is_file()

    def record(self, rel: str, entry: dict[str, Any]) -> None:
        """Note a finished file and save, unless saving would cost more than a tenth of the
        run (a large manifest): then at the latest on the next record or ``save``."""
        self.files[rel] = entry
        self._dirty = True
        if time.monotonic() - self._saved_at >= 10 * self._save_cost:
            self.save()

    def save(self) -> None:
        if not self._dirty:
            return
        started = time.monotonic()
        body = {"version": MANIFEST_VERSION, "files": dict(sorted(self.files.items()))}
        write_atomically(self.path, json.dumps(body, indent=1).encode())
        self._saved_at = time.monotonic()
        self._save_cost = self._saved_at - started
        self._dirty = False
