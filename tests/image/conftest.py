"""The built image (`make image`), run by Podman as a user runs it.

`make test` builds the image and names it in WIZPIX_IMAGE; without that variable these tests
are skipped (say `make image`, then WIZPIX_IMAGE=wizpix:latest). Every container is named,
and removed when its test ends, whatever happens. A container started with ``--network
none`` is reached from the host by entering its network namespace (nsenter, as root): the
host's own curl then talks to its localhost, as a process inside it would.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.podman import available, image_exists, podman, removed
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def image() -> str:
    name = os.environ.get("WIZPIX_IMAGE")
    if not name:
        pytest.skip("no image to test: `make test` builds one and names it in WIZPIX_IMAGE")
    if not available() or not image_exists(name):
        pytest.fail(f"image {name} is not built: run `make image IMAGE={name}`")
    return name


def inside(container: str, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command``, a host program, run in the container's network namespace."""
    pid = podman("inspect", "--format", "{{.State.Pid}}", container).strip()
    return subprocess.run(
        ["nsenter", "--target", pid, "--net", *command], capture_output=True, text=True, timeout=timeout
    )


def http_code(container: str, path: str) -> int:
    answer = inside(container, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"localhost:3000{path}")
    return int(answer.stdout or 0)


def wait_ready(container: str, timeout: float = 240) -> float:
    """Seconds until the container's /readyz answers 200; fails with its log if it stops."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if podman("inspect", "--format", "{{.State.Running}}", container).strip() != "true":
            raise AssertionError(f"{container} stopped:\n{logs(container)}")
        if http_code(container, "/readyz") == 200:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{container} not ready after {timeout:.0f} s:\n{logs(container)}")


def logs(container: str) -> str:
    return podman("logs", "--tail", "40", container, check=False)[-4000:]


@contextmanager
def container(name: str, image: str, *options: str, command: tuple[str, ...] = ()) -> Iterator[str]:
    """``podman run --detach --name NAME OPTIONS IMAGE COMMAND``, removed on the way out."""
    with removed(containers=(name,)):
        podman("run", "--detach", "--name", name, *options, image, *command)
        yield name


def readme_curl_lines() -> list[str]:
    """The curl lines of the README's "Try it" block, without their comments."""
    block = (
        (ROOT / "README.md").read_text().split("## Try it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    )
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines() if line.startswith("curl ")]


def cgroup_file(container: str, name: str) -> Path:
    """A file of the container's memory cgroup, on the host (v1 here, v2 elsewhere)."""
    full = podman("inspect", "--format", "{{.Id}}", container).strip()
    found = [
        *Path("/sys/fs/cgroup/memory").glob(f"**/libpod-{full}*/{name}"),
        *Path("/sys/fs/cgroup").glob(f"**/libpod-{full}*/{name}"),
    ]
    assert found, f"no {name} for {container}"
    return found[0]
