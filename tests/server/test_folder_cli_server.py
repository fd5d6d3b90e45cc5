"""clients/python/remove_folder.py (the folder CLI) against a real `bentoml serve` (mock models):
mirroring, the server's error codes in the summary, resuming without re-sending, Ctrl-C, the API key.

One server for the module, with an API key (so that the key test needs no second one) and
room for 3 requests at once (held by the test, so that the CLI gets 503s to retry)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, Server, mock_server_ok, trickling_upload

pytestmark = pytest.mark.server

SCRIPT = ROOT / "clients" / "python" / "remove_folder.py"
KEY = "secret"
MANIFEST = ".wizpix-manifest.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("keyed")
    # a task database of its own: `bentoml serve` deletes and recreates the shared one at start
    store = str(base / "task_result.db")
    with mock_server_ok(base, API_KEY=KEY, MAX_IN_FLIGHT="3", BENTOML_RESULT_STORE=store) as running:
        yield running


def disc(path: Path, size: tuple[int, int], colour: tuple[int, int, int], fmt: str) -> None:
    """A coloured disc on white, what the mock model cuts out exactly."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.full((height, width, 3), 255, np.uint8)
    image[(yy - height // 2) ** 2 + (xx - width // 2) ** 2 < (min(size) // 3) ** 2] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format=fmt)


def photo(path: Path, side: int = 512) -> None:
    from skimage import data

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(data.astronaut())
    if side != 512:
        image = image.resize((side, side), Image.Resampling.BICUBIC)
    image.save(path, format="JPEG", quality=90)


def cli(
    in_dir: Path, out_dir: Path, url: str, *args: str, key: str | None = KEY
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "WIZPIX_URL")}
    if key is not None:
        env["API_KEY"] = key
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(in_dir), str(out_dir), "--url", url, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def requests_total(server: Server) -> float:
    """Every /remove-bg request the front has answered, any status (BentoML's own counter of
    the HTTP requests a route received: what the CLI sent, whatever the service made of it)."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    prefix = "bentoml_service_request_total{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and 'endpoint="/remove-bg"' in line
    )


def outputs(out_dir: Path) -> dict[str, int]:
    """Relative path → mtime (ns) of every file under ``out_dir`` but the manifest."""
    return {
        p.relative_to(out_dir).as_posix(): p.stat().st_mtime_ns
        for p in out_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Sub-folders of real images, one corrupt file, and files that are not images."""
    root = tmp_path / "in"
    disc(root / "red.png", (320, 240), (200, 30, 30), "PNG")
    disc(root / "shop" / "blue.jpg", (300, 300), (30, 30, 200), "JPEG")
    disc(root / "shop" / "deep" / "green.webp", (200, 120), (30, 160, 30), "WEBP")
    photo(root / "people" / "astronaut.JPG")
    (root / "shop" / "broken.jpg").write_bytes(b"these bytes are not an image at all")
    (root / "notes.txt").write_text("not an image, not sent")
    (root / ".hidden.png").write_bytes(b"hidden: not sent")
    return root


GOOD = {"red.png": (320, 240), "shop/blue.png": (300, 300), "shop/deep/green.png": (200, 120)}
GOOD["people/astronaut.png"] = (512, 512)


def test_a_folder_is_mirrored_and_the_bad_file_named_with_the_servers_code(
    server: Server, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli(folder, out, server.url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "done 4, skipped 0, failed 1 (of 5 images)" in result.stdout
    assert "shop/broken.jpg: 400 not_an_image:" in result.stdout
    assert sorted(outputs(out)) == sorted(GOOD)
    for rel, size in GOOD.items():
        image = Image.open(out / rel)
        assert image.format == "PNG" and image.mode == "RGBA" and image.size == size, rel
        if not rel.startswith("people/"):  # the discs, which the mock cuts out exactly
            alpha = np.asarray(image)[..., 3]
            assert alpha[size[1] // 2, size[0] // 2] == 255 and alpha[2, 2] == 0, rel
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    assert sorted(manifest) == ["people/astronaut.JPG", "red.png", "shop/blue.jpg", "shop/deep/green.webp"]
    entry = manifest["shop/blue.jpg"]
    assert entry["output"] == "shop/blue.png" and entry["options"] == {"quality": "fast"}
    assert entry["model"] == "mock" and entry["served"] == "fast" and "fallback" not in entry
    assert len(entry["sha256"]) == 64


def test_a_second_run_sends_only_what_is_not_done(server: Server, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli(folder, out, server.url).returncode == 1
    first = outputs(out)
    before = requests_total(server)
    again = cli(folder, out, server.url)
    assert again.returncode == 1  # the broken file is tried again, and fails again
    assert "done 0, skipped 4, failed 1 (of 5 images)" in again.stdout
    assert requests_total(server) - before == 1  # only the broken one was sent
    assert outputs(out) == first  # nothing rewritten

    # new bytes for one input, one output deleted: those two, and only them, are done again
    disc(folder / "red.png", (320, 240), (250, 200, 0), "PNG")
    (out / "shop" / "deep" / "green.png").unlink()
    (folder / "shop" / "broken.jpg").unlink()
    before = requests_total(server)
    third = cli(folder, out, server.url)
    assert third.returncode == 0, third.stdout
    assert "done 2, skipped 2, failed 0 (of 4 images)" in third.stdout
    assert requests_total(server) - before == 2
    now = outputs(out)
    assert now["shop/blue.png"] == first["shop/blue.png"] and now["red.png"] != first["red.png"]


def test_other_options_are_sent_again_and_the_extension_follows_the_answer(
    server: Server, folder: Path, tmp_path: Path
) -> None:
    (folder / "shop" / "broken.jpg").unlink()
    out = tmp_path / "out"
    assert cli(folder, out, server.url).returncode == 0
    result = cli(folder, out, server.url, "--format", "webp", "--bg-color", "ffffff", "--crop")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done 4, skipped 0" in result.stdout
    webp = Image.open(out / "shop" / "blue.webp")
    assert webp.format == "WEBP" and webp.size[0] < 300  # cropped to the disc
    entry = json.loads((out / MANIFEST).read_text())["files"]["shop/blue.jpg"]
    assert entry["options"] == {"quality": "fast", "bg_color": "ffffff", "crop": "true", "format": "webp"}
    assert entry["output"] == "shop/blue.webp"

    zipped = cli(folder, out, server.url, "--format", "zip")
    assert zipped.returncode == 0 and "done 4, skipped 0" in zipped.stdout, zipped.stdout + zipped.stderr
    with zipfile.ZipFile(out / "shop" / "deep" / "green.zip") as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes_the_rest(server: Server, tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    for index in range(12):
        photo(folder / f"batch{index // 6}" / f"p{index:02}.jpg", side=1024)
    env = {**os.environ, "API_KEY": KEY}
    command = [sys.executable, str(SCRIPT), str(folder), str(out), "--url", server.url]
    # refine makes each image take a while, so that the run is still going when stopped
    command += ["--concurrency", "1", "--refine"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.suffix == ".png" for p in out.rglob("*.png")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout.decode() + stderr.decode()
    assert "interrupted: done" in stdout.decode() and "Traceback" not in stderr.decode()
    written = outputs(out)
    assert not [p for p in written if p.endswith(".part") or "/." in f"/{p}"]  # no temp files
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    assert sorted(entry["output"] for entry in manifest.values()) == sorted(written)
    assert 1 <= len(written) < 12

    # the request abandoned in flight may still be finishing on the server: not counted below
    server.wait_for(lambda body: body["requests"]["in_flight"] == 0, timeout=60, what="idle")
    before = requests_total(server)
    rerun = cli(folder, out, server.url, "--concurrency", "2", "--refine")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"done {12 - len(written)}, skipped {len(written)}, failed 0 (of 12 images)" in rerun.stdout
    assert requests_total(server) - before == 12 - len(written)
    finished = outputs(out)
    assert len(finished) == 12 and all(finished[p] == mtime for p, mtime in written.items())


def test_busy_answers_are_waited_out_and_retried(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for index in range(8):
        photo(folder / f"p{index}.jpg", side=768)
    server.wait_for(lambda body: body["requests"]["in_flight"] == 0, timeout=60, what="idle")
    slots = [trickling_upload(server.url, {"X-API-Key": KEY}) for _ in range(3)]  # the 3 slots
    try:
        held = server.wait_for(lambda body: body["requests"]["in_flight"] == 3, timeout=30, what="3 held")
        command = [sys.executable, str(SCRIPT), str(folder), str(tmp_path / "out")]
        command += ["--url", server.url, "--concurrency", "6"]
        env = {**os.environ, "API_KEY": KEY}
        run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        refused = held["requests"]["refused"]
        server.wait_for(lambda body: body["requests"]["refused"] > refused, timeout=60, what="a 503")
    finally:
        for sock in slots:
            sock.close()
    stdout, _ = run.communicate(timeout=300)
    assert run.returncode == 0, stdout
    assert "done 8, skipped 0, failed 0" in stdout
    assert re.search(r"retried: \d+ after 503", stdout), stdout
    assert len(outputs(tmp_path / "out")) == 8


def test_the_api_key_comes_from_the_environment(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    disc(folder / "a.png", (64, 48), (200, 30, 30), "PNG")
    refused = cli(folder, tmp_path / "refused", server.url, key=None)
    assert refused.returncode == 1
    assert "a.png: 401 unauthorized:" in refused.stdout
    assert outputs(tmp_path / "refused") == {}
    accepted = cli(folder, tmp_path / "accepted", server.url)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert list(outputs(tmp_path / "accepted")) == ["a.png"]


def test_an_unreachable_service_fails_every_file_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    disc(folder / "a.png", (64, 48), (200, 30, 30), "PNG")
    result = cli(folder, tmp_path / "out", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "a.png: cannot reach WizPix at http://127.0.0.1:9" in result.stdout


def test_output_inside_input_is_not_walked_again(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    disc(folder / "a.png", (64, 48), (200, 30, 30), "PNG")
    for _ in range(2):
        result = cli(folder, folder / "out", server.url)
        assert result.returncode == 0 and "(of 1 images)" in result.stdout, result.stdout
    assert list(outputs(folder / "out")) == ["a.png"]
