"""Locust users for WizPix: mostly fast requests, some pro, on real photographs.

    locust -f loadtest/locustfile.py --headless -u 4 -r 2 -t 1m --host http://localhost:3000

Photographs come from scikit-image's bundled data (astronaut, coffee, chelsea), encoded
as JPEG once at start-up. A fallback answer (pro served by fast) is a success here; any
other non-200 is a failure.
"""

from __future__ import annotations

import io
import random

from locust import HttpUser, between, task
from PIL import Image
from skimage import data


def _jpeg(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


PHOTOS = {name: _jpeg(getattr(data, name)()) for name in ("astronaut", "coffee", "chelsea")}


class CutoutUser(HttpUser):
    wait_time = between(0.1, 0.5)

    def _remove(self, quality: str) -> None:
        name, photo = random.choice(list(PHOTOS.items()))
        with self.client.post(
            f"/remove-bg?quality={quality}",
            files={"file": (f"{name}.jpg", photo, "image/jpeg")},
            name=f"/remove-bg?quality={quality}",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
            elif not response.content.startswith(b"\x89PNG"):
                response.failure("the answer is not a PNG")
            else:
                response.success()

    @task(3)
    def fast(self) -> None:
        self._remove("fast")

    @task(1)
    def pro(self) -> None:
        self._remove("pro")

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
