"""deploy/kubernetes.yaml played on Podman (deploy/local.py): the front, the fast runner and two
pro replicas in containers of their own, HAProxy as their Services. Real weights, real image.

- fast and pro are served through the front's Service, by the runners' own containers;
- the two pro replicas each serve 35-65% of the pro requests of a run;
- a pro replica killed mid-load fails no request (the call is sent again or served by fast,
  and the answer says which), and its return is used without restarting the front;
- a task submitted through the ingress is read through it, though two fronts take turns.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from deploy.local import Deployment, deployed, inferences, pod_address
from deploy.podman import podman
from tests.conftest import free_port

pytestmark = [pytest.mark.image, pytest.mark.weights]
PRO = ("wizpix-pro-pod-0-pro", "wizpix-pro-pod-1-pro")


@pytest.fixture(scope="module")
def deployment(image: str) -> Iterator[Deployment]:
    with deployed(image, free_port()) as running:
        yield running


class Uploads:
    """Distinct uploads of one photo (a mask cache never saw them), from several clients."""

    def __init__(self, url: str, photo: bytes) -> None:
        self.url, self.photo = url, photo
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def send(self, quality: str) -> httpx.Response:
        with self.lock:
            n = next(self.counter)
        data = self.photo + f"upload {time.time_ns()} {n}".encode()
        return httpx.post(
            f"{self.url}/remove-bg?quality={quality}&output=mask",
            files={"file": ("a.jpg", data)},
            timeout=300,
        )

    def run(self, quality: str, count: int, clients: int = 2) -> list[httpx.Response]:
        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(lambda _: self.send(quality), range(count)))


def test_fast_and_pro_are_served_by_the_runners_containers(deployment: Deployment, astronaut: bytes) -> None:
    uploads = Uploads(deployment.url, astronaut)
    fast_container = deployment.containers("wizpix-fast")[0]
    before = {name: inferences(name) for name in (fast_container, *PRO)}
    fast, pro = uploads.send("fast"), uploads.send("pro")
    assert fast.status_code == 200 and fast.headers["x-wizpix-quality"] == "fast"
    assert pro.status_code == 200 and pro.headers["x-wizpix-model"].endswith("+u2netp")
    assert pro.headers["x-wizpix-model"].startswith("isnet-general-use")
    after = {name: inferences(name) for name in before}
    assert after[fast_container] - before[fast_container] == 2  # fast's, and pro's fusion partner
    assert sum(after[name] - before[name] for name in PRO) == 1
    # the fronts load no model: no runner process in their containers
    for front in deployment.containers("wizpix-front"):
        processes = podman("top", front, "args")
        assert "--service-name=wizpix " in processes, processes
        assert not re.search(r"--service-name[ =]wizpix-(fast|pro)\b", processes), processes


def test_two_pro_replicas_share_the_load(deployment: Deployment, astronaut: bytes) -> None:
    before = {name: inferences(name) for name in PRO}
    answers = Uploads(deployment.url, astronaut).run("pro", 12)
    assert all(a.status_code == 200 and a.headers["x-wizpix-quality"] == "pro" for a in answers)
    served = {name: inferences(name) - before[name] for name in PRO}
    assert sum(served.values()) == 12
    shares = {name: count / 12 for name, count in served.items()}
    print(f"pro replicas' shares of 12 requests: {shares}")
    assert all(0.35 <= share <= 0.65 for share in shares.values()), shares


def test_a_replica_killed_mid_load_fails_no_request_and_its_return_is_used(
    deployment: Deployment, astronaut: bytes
) -> None:
    uploads = Uploads(deployment.url, astronaut)
    victim = PRO[1]
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(uploads.run, "pro", 8)
        time.sleep(6)  # both replicas busy by now
        podman("kill", victim)  # SIGKILL: the calls on it are lost with it
        answers = load.result(timeout=600)
    refused = [(a.status_code, a.text[:300]) for a in answers if a.status_code != 200]
    assert not refused, refused
    told = [a.headers.get("x-wizpix-retry") or a.headers.get("x-wizpix-fallback") for a in answers]
    assert any(told), "no answer says a call was lost with the replica"
    for answer, note in zip(answers, told, strict=True):
        if answer.headers["x-wizpix-quality"] == "fast":
            assert answer.headers["x-wizpix-fallback"], note  # served by fast: said why
    print(f"after the kill: {[a.headers['x-wizpix-quality'] for a in answers]}; {[n for n in told if n]}")
    # the replica comes back (Podman starts it, as the kubelet would restart it): the fronts,
    # never restarted, send it work again once its readiness check passes
    podman("start", victim)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{pod_address(victim)}:3000/readyz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    time.sleep(4)  # the Service's health check sees it ready (every 2 s)
    before = inferences(victim)
    again = uploads.run("pro", 6)
    assert all(a.status_code == 200 and a.headers["x-wizpix-quality"] == "pro" for a in again)
    assert inferences(victim) - before >= 1


def test_a_task_submitted_through_the_ingress_is_read_through_it(
    deployment: Deployment, astronaut: bytes
) -> None:
    files = [("images", ("a.jpg", astronaut + b"task one")), ("images", ("b.jpg", astronaut + b"task two"))]
    submitted = httpx.post(
        f"{deployment.url}/remove_backgrounds/submit", data={"quality": "fast"}, files=files, timeout=60
    )
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["task_id"]
    # it lives in one front: asked directly, the other has never heard of it
    known = [
        httpx.get(
            f"http://{pod_address(front)}:3000/remove_backgrounds/status", params={"task_id": task_id}
        ).status_code
        for front in deployment.containers("wizpix-front")
    ]
    assert sorted(known) == [200, 404], known
    # through the ingress, which takes turns between the fronts, every call finds it
    deadline = time.monotonic() + 120
    while True:
        status = httpx.get(
            f"{deployment.url}/remove_backgrounds/status", params={"task_id": task_id}, timeout=30
        )
        assert status.status_code == 200, status.text
        progress = httpx.post(f"{deployment.url}/batch_progress", json={"task_id": task_id}, timeout=30)
        assert progress.status_code == 200, progress.text
        if status.json()["status"] != "in_progress" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status.json()["status"] == "completed", status.text
    result = httpx.get(f"{deployment.url}/remove_backgrounds/get", params={"task_id": task_id}, timeout=60)
    assert result.status_code == 200 and result.headers["content-type"] == "application/zip"
    assert json.loads(progress.text)["state"] == "completed"
