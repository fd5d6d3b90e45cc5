"""Podman as this project drives it: every command with the project's containers.conf.

The build, the image tests, `make deploy-local` and the bench all go through ``podman()``,
so the engine's quirks on these machines (deploy/image/containers.conf: the runtime, the
open-files limit) are set in one file and nowhere by hand. ``removed()`` is how a caller
names what it starts: whatever happens, those containers, pods and networks are gone after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = ROOT / "deploy" / "image" / "containers.conf"


class EngineMissing(RuntimeError):
    """Podman is not installed; the message says how to install it."""


def environment() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def available() -> bool:
    return shutil.which("podman") is not None


def podman(*args: str, check: bool = True, timeout: float = 600, quiet: bool = True) -> str:
    """``podman ARGS`` with the project's settings; its output (stdout) as text.

    ``quiet=False`` lets the output through to the terminal (a build's progress)."""
    if not available():
        raise EngineMissing("podman is not installed: run `make image-tools` (Debian's packages, as root)")
    result = subprocess.run(
        ["podman", *args],
        env=environment(),
        capture_output=quiet,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if quiet else ""
        raise subprocess.CalledProcessError(result.returncode, ["podman", *args], result.stdout, detail)
    return result.stdout or ""


def image_exists(name: str) -> bool:
    return (
        available()
        and subprocess.run(
            ["podman", "image", "exists", name], env=environment(), capture_output=True
        ).returncode
        == 0
    )


def image_size(name: str) -> int:
    """Bytes of the image, all layers (what `podman images` shows)."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", name).strip())


def remove(
    containers: tuple[str, ...] = (), pods: tuple[str, ...] = (), networks: tuple[str, ...] = ()
) -> None:
    """Gone, whether they ran, stopped or never existed. Never raises."""
    for name in containers:
        subprocess.run(["podman", "rm", "-f", "-t", "2", name], env=environment(), capture_output=True)
    for name in pods:
        subprocess.run(["podman", "pod", "rm", "-f", "-t", "2", name], env=environment(), capture_output=True)
    for name in networks:
        subprocess.run(["podman", "network", "rm", "-f", name], env=environment(), capture_output=True)


@contextmanager
def removed(
    containers: tuple[str, ...] = (), pods: tuple[str, ...] = (), networks: tuple[str, ...] = ()
) -> Iterator[None]:
    """The named containers, pods and networks are removed before (a crashed run's leftovers)
    and after the block, whatever happens inside it."""
    remove(containers, pods, networks)
    try:
        yield
    finally:
        remove(containers, pods, networks)
