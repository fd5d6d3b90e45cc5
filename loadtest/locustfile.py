"""Locust users for WizPix: mostly fast requests, some pro, on real photographs of mixed sizes.

    locust -f loadtest/locustfile.py --headless -u 4 -r 2 -t 1m --host http://localhost:3000

Photographs come from scikit-image's bundled data (loadtest/photos.py): 512² PNG up to a
12 MP JPEG, weighted towards phone-upload sizes. A fallback answer (pro served by fast) is
a success. Load shed on purpose (503 or 429 with our JSON error and Retry-After) is
reported as a failure whose message starts with "shed:", so that a soak run can tell it
from a real failure; anything else is a real failure.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import gevent
from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import mixed_photos

PHOTOS = mixed_photos()
WEIGHTS = [weight for *_, weight in PHOTOS]
# libev caches its loop's time, and making the photos above takes seconds on a busy
# machine: left stale, locust's --run-time timer (set from that time) fires that much early
# (a 6 s run measured 0.9 s long).
gevent.get_hub().loop.update_now()


def shed_code(response) -> str | None:
    """Our explicit refusal under load, or None."""
    if response.status_code not in (429, 503) or "retry-after" not in response.headers:
        return None
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


class CutoutUser(HttpUser):
    wait_time = between(0.1, 0.5)

    def _remove(self, quality: str) -> None:
        name, photo, media_type, _ = random.choices(PHOTOS, WEIGHTS)[0]
        with self.client.post(
            f"/remove-bg?quality={quality}",
            files={"file": (name, photo, media_type)},
            name=f"/remove-bg?quality={quality}",
            catch_response=True,
        ) as response:
            if response.status_code == 200 and response.content.startswith(b"\x89PNG"):
                response.success()
            elif (code := shed_code(response)) is not None:
                response.failure(f"shed: HTTP {response.status_code} {code}")
            elif response.status_code == 200:
                response.failure("the answer is not a PNG")
            else:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")

    @task(3)
    def fast(self) -> None:
        self._remove("fast")

    @task(1)
    def pro(self) -> None:
        self._remove("pro")

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
