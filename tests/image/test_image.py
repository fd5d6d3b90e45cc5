"""The image, proven: started with no network at all, it serves the README's curl lines from
its own models, cuts the same masks as `make serve`'s service, runs as a non-root user and
ends cleanly on SIGTERM."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deploy.podman import podman
from loadtest.photos import bench_inputs
from tests.conftest import Server, jpeg_bytes
from tests.image.conftest import container, inside, logs, readme_curl_lines, wait_ready

pytestmark = [pytest.mark.image, pytest.mark.weights]
NAME = "wizpix-test-image"


@pytest.fixture(scope="module")
def offline(image: str, real_server: Server) -> Iterator[str]:
    """The image as `podman run` starts it, with no network interface but loopback; pro in
    the build the suite's real server chose (PRO_PRECISION=auto times both builds on this
    CPU, and two timings can choose differently), so that their masks compare."""
    build = real_server.health()["models"]["pro"]["build"]
    with container(NAME, image, "--network", "none", "-e", f"PRO_PRECISION={build}") as name:
        name_ready_s = wait_ready(name)
        print(f"{image}: ready in {name_ready_s:.1f} s with no network")
        yield name


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, astronaut: bytes) -> dict[str, Path]:
    """Real photographs on the host's disk, where curl (run in the container's network) reads them."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    payloads = {
        "astronaut.jpg": astronaut,
        "coffee-1920.jpg": bench_inputs()["1920×1280 JPEG"][0],
        "chelsea.jpg": jpeg_bytes(data.chelsea()),
    }
    for name, payload in payloads.items():
        (folder / name).write_bytes(payload)
    return {name: folder / name for name in payloads}


def test_it_has_no_network_and_serves_its_own_models(offline: str, image: str) -> None:
    assert podman("inspect", "--format", "{{.HostConfig.NetworkMode}}", offline).strip() == "none"
    interfaces = inside(offline, "ip", "-o", "link").stdout
    assert [line.split(":")[1].strip() for line in interfaces.splitlines()] == ["lo"]
    health = json.loads(inside(offline, "curl", "-s", "localhost:3000/health").stdout)
    assert health["status"] == "ok", health
    for role in ("fast", "pro"):
        assert health["models"][role]["source"].startswith("bentoml store "), health["models"][role]
        assert health["models"][role]["state"] == "ready"


def test_the_readme_curl_lines_answer_200_from_inside(offline: str, tmp_path: Path, astronaut: bytes) -> None:
    (tmp_path / "photo.jpg").write_bytes(astronaut)
    lines = readme_curl_lines()
    assert len(lines) >= 6 and any("quality=pro" in line for line in lines)
    for line in lines:
        command = f"cd {tmp_path} && {line} -s -w '\\n@@%{{http_code}}'"
        answer = inside(offline, "bash", "-c", command)
        assert answer.stdout.rsplit("@@", 1)[-1] == "200", (line, answer.stdout[-500:], answer.stderr)
    for name, kind in {
        "cutout.png": "PNG",
        "mask.png": "PNG",
        "product.png": "PNG",
        "cutout.webp": "WEBP",
    }.items():
        assert Image.open(tmp_path / name).format == kind


def test_it_runs_as_a_non_root_user(offline: str) -> None:
    assert podman("inspect", "--format", "{{.Config.User}}", offline).strip() == "bentoml"
    users = podman("top", offline, "user", "huser", "args").splitlines()[1:]
    assert users and all(line.split()[0] == "bentoml" for line in users), users
    assert podman("exec", offline, "id", "-u").strip() != "0"


def _mask(payload: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(payload)))


def test_its_masks_are_make_serves(
    offline: str, real_server: Server, photos: dict[str, Path], tmp_path: Path
) -> None:
    """The same photos and settings through the image and through `bentoml serve` of the
    checkout (the test suite's real server, the same models from the same store): the same
    masks, to the pixel."""
    compared = 0
    with real_server.client() as client:
        for name, path in photos.items():
            for quality in ("fast", "pro"):
                query = f"quality={quality}&output=mask"
                out = tmp_path / f"{name}.{quality}.png"
                url = f"localhost:3000/remove-bg?{query}"
                answer = inside(offline, "curl", "-s", "-F", f"file=@{path}", url, "-o", str(out), "-D", "-")
                assert " 200" in answer.stdout.splitlines()[0], answer.stdout[:300]
                theirs = client.post(f"/remove-bg?{query}", files={"file": (name, path.read_bytes())})
                assert theirs.status_code == 200
                model = next(
                    line for line in answer.stdout.lower().splitlines() if line.startswith("x-wizpix-model")
                )
                assert model.split(":", 1)[1].strip() == theirs.headers["x-wizpix-model"]
                ours, reference = _mask(out.read_bytes()), _mask(theirs.content)
                assert ours.shape == reference.shape
                difference = np.abs(ours.astype(int) - reference.astype(int))
                assert difference.max() == 0, (name, quality, int(difference.max()), float(difference.mean()))
                compared += 1
    assert compared == 6


def test_sigterm_ends_it_cleanly_within_ten_seconds(offline: str) -> None:
    """Last of the module: it stops the container the others used."""
    started = time.monotonic()
    podman("kill", "--signal", "TERM", offline)
    code = podman("wait", offline, timeout=30).strip()
    elapsed = time.monotonic() - started
    assert code == "0", logs(offline)
    assert elapsed < 10, elapsed
    assert "stopping: draining" in logs(offline)
