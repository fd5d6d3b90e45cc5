#!/usr/bin/env python3
"""Exit 0 when WizPix says status=ok; for CI/CD gates and container probes.

Exit codes: 0 ok · 1 reachable but not ok (warming_up, degraded) · 2 unreachable or not a
WizPix health answer. Environment: HEALTH_URL (default http://localhost:3000/health),
HEALTH_TIMEOUT in seconds (default 5). Standard library only, so it runs anywhere.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

OK, NOT_OK, UNREACHABLE = 0, 1, 2


def probe(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        return UNREACHABLE, f"{url} answered HTTP {error.code}"
    except (OSError, ValueError) as error:
        return UNREACHABLE, f"{url} unreachable: {getattr(error, 'reason', error)}"
    status = body.get("status") if isinstance(body, dict) else None
    if status is None:
        return UNREACHABLE, f"{url} did not return a WizPix health document"
    models = body.get("models", {})
    detail = ", ".join(f"{role}={m.get('name')}:{m.get('state')}" for role, m in models.items())
    return (OK if status == "ok" else NOT_OK), f"status={status} {detail}"


def main() -> int:
    url = os.environ.get("HEALTH_URL", "http://localhost:3000/health")
    try:
        timeout = float(os.environ.get("HEALTH_TIMEOUT", "5"))
    except ValueError:
        print("HEALTH_TIMEOUT must be a number of seconds", file=sys.stderr)
        return UNREACHABLE
    code, message = probe(url, timeout)
    print(message, file=sys.stdout if code == OK else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
