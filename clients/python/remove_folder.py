#!/usr/bin/env python3
"""The folder CLI's entry point: ``.venv/bin/python clients/python/remove_folder.py IN OUT``
(see the ``wizpix_folder`` package)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]  # the package, and the service's options

from wizpix_folder.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
