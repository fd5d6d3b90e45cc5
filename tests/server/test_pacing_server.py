"""Load shedding on a deliberately slow runner (the mock at 300 ms an image): four clients
with time to spare are all served, however long the queue; with a deadline the queue cannot
meet, the excess is refused at once (503 busy, Retry-After) and the rest are served in time.
Batches still form from what queues (adaptive batching), with no start-up training."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Server, mock_server_ok

pytestmark = pytest.mark.server
UPLOADS = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"FAST_MODEL_NAME": "mock-slow", "MAX_IN_FLIGHT": "32"}
    with mock_server_ok(tmp_path_factory.mktemp("slow"), **env) as running:
        yield running


def burst(server: Server, disc_png: bytes, clients: int, each: int, headers: dict[str, str]) -> list:
    def one(n: int) -> tuple[int, float, str]:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            results = []
            for _ in range(each):
                started = time.monotonic()
                photo = disc_png + next(UPLOADS).to_bytes(4, "big")  # a new upload each: no cache hit
                response = client.post("/remove-bg", headers=headers, files={"file": ("d.png", photo)})
                code = response.json()["error"]["code"] if response.status_code != 200 else ""
                results.append((response.status_code, time.monotonic() - started, code))
            return results

    with ThreadPoolExecutor(clients) as pool:
        return [r for rs in pool.map(one, range(clients)) for r in rs]


def test_clients_with_time_to_spare_are_all_served_however_long_the_queue(
    server: Server, disc_png: bytes
) -> None:
    results = burst(server, disc_png, clients=4, each=3, headers={})
    assert [status for status, _, _ in results] == [200] * 12, results
    metrics = httpx.get(f"{server.url}/metrics").text
    batches = [
        line for line in metrics.splitlines() if line.startswith('wizpix_batch_size_count{model="mock-slow"}')
    ]
    images = [
        line for line in metrics.splitlines() if line.startswith('wizpix_batch_size_sum{model="mock-slow"}')
    ]
    assert (
        batches and images and float(images[0].split()[-1]) > float(batches[0].split()[-1])
    )  # batches of 2 formed


def test_a_deadline_the_queue_cannot_meet_is_refused_at_once_the_rest_served_in_time(
    server: Server, disc_png: bytes
) -> None:
    burst(server, disc_png, clients=1, each=2, headers={})  # the pace is measured
    results = burst(server, disc_png, clients=6, each=1, headers={"X-WizPix-Deadline-Ms": "900"})
    refused = [r for r in results if r[0] == 503]
    served = [r for r in results if r[0] == 200]
    late = [r for r in results if r[0] == 504]  # admitted on a forecast that missed by a little
    assert refused and served and len(refused) + len(served) + len(late) == len(results), results
    assert all(code == "busy" for _, _, code in refused), results
    assert all(code == "deadline_exceeded" for _, _, code in late) and len(late) <= 1, results
    # refused at once, not after waiting in the queue: quicker than any image the mock served
    assert statistics.median(seconds for _, seconds, _ in refused) < min(s for _, s, _ in served), results
