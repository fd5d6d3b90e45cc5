"""Where the project's own files are, independent of settings and catalogue."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MANIFEST = PROJECT_ROOT / "models" / "manifest.toml"
