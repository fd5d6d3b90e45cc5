"""WizPix as a BentoML citizen, on a real `bentoml serve` with the mock model: the typed
API through BentoML's own client and through a composing service, and the batch task."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import bentoml
import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, Server, bentoml_serve, free_port, mock_server_ok, spawn, stop

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, disc_png: bytes, astronaut: bytes) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    paths = {"disc.png": disc_png, "astronaut.jpg": astronaut, "notes.jpg": b"a shopping list, not a photo"}
    for name, data in paths.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in paths}


def test_bentoml_client_lists_and_calls_the_typed_api(server: Server, files: dict[str, Path]) -> None:
    with bentoml.SyncHTTPClient(server.url) as client:
        assert {"remove_background", "remove_backgrounds", "batch_progress"} <= set(client.endpoints)
        cutout = client.remove_background(image=files["disc.png"], quality="pro", crop=True, crop_margin="4")
    assert isinstance(cutout, Image.Image) and cutout.mode == "RGBA" and cutout.size == (147, 148)
    alpha = np.asarray(cutout.getchannel("A"))
    assert alpha[74, 74] == 255 and alpha[0, 0] == 0


def test_typed_answers_carry_the_headers_and_errors_of_remove_bg(
    server: Server, files: dict[str, Path]
) -> None:
    with files["disc.png"].open("rb") as image:
        answer = httpx.post(
            f"{server.url}/remove_background",
            files={"image": image},
            data={"quality": "pro", "bg_color": "00ff00"},
            timeout=60,
        )
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.headers["X-WizPix-Model"] == "mock" and answer.headers["X-WizPix-Quality"] == "pro"
    assert answer.headers["X-WizPix-BBox"] == "91,51,139,140"
    assert Image.open(io.BytesIO(answer.content)).getpixel((0, 0)) == (0, 255, 0)
    with bentoml.SyncHTTPClient(server.url) as client:
        with pytest.raises(bentoml.exceptions.BentoMLException) as bad_file:
            client.remove_background(image=files["notes.jpg"])
        with pytest.raises(bentoml.exceptions.BentoMLException) as bad_option:
            client.remove_background(image=files["disc.png"], bg_color="not a colour")
    assert (
        bad_file.value.error_code == 400
        and json.loads(str(bad_file.value))["error"]["code"] == "not_an_image"
    )
    assert bad_option.value.error_code == 422 and "bg_color" in str(bad_option.value)


@pytest.fixture(scope="module")
def composer(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port, log = free_port(), tmp_path_factory.mktemp("composer") / "framer.log"
    command = [str(ROOT / ".venv/bin/bentoml"), "serve", "tests.server.composer_service:Framer"]
    process = spawn([*command, "--port", str(port), "--host", "127.0.0.1"], log, WIZPIX_URL=server.url)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()[-2000:]
            time.sleep(0.5)
        yield url
    finally:
        stop(process)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_composing_service_calls_wizpix_through_bentoml_depends(
    composer: str, files: dict[str, Path]
) -> None:
    with files["disc.png"].open("rb") as image:
        answer = httpx.post(f"{composer}/frame", files={"image": image}, data={"quality": "pro"}, timeout=60)
    assert answer.status_code == 200, answer.text
    framed = answer.json()
    assert framed["size"] == [139, 140] and framed["mode"] == "RGBA" and framed["opaque"] > 10_000


def test_batch_task_returns_a_zip_and_a_report_with_a_bad_file_failing_alone(
    server: Server, files: dict[str, Path]
) -> None:
    async def run() -> tuple[dict, Path, str]:
        async with bentoml.AsyncHTTPClient(server.url) as client:
            task = await client.remove_backgrounds.submit(
                images=list(files.values()), quality="pro", format="webp"
            )
            deadline = time.monotonic() + 120
            while (status := await task.get_status()).value == "in_progress":
                assert time.monotonic() < deadline, "the batch did not finish"
                await asyncio.sleep(0.2)
            progress = await client.batch_progress(task_id=task.id)
            return progress, await task.get(), status.value

    progress, archive, status = asyncio.run(run())
    assert status == "completed"
    assert (progress["total"], progress["done"], progress["failed"], progress["state"]) == (
        3,
        2,
        1,
        "completed",
    )
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == ["astronaut.webp", "disc.webp", "report.json"]
        assert Image.open(io.BytesIO(opened.read("disc.webp"))).size == (320, 240)
        report = json.loads(opened.read("report.json"))
    by_file = {item["file"]: item for item in report["files"]}
    assert by_file["disc.png"]["status"] == "ok" and by_file["disc.png"]["model"] == "mock"
    assert by_file["disc.png"]["bbox"] == "91,51,139,140" and by_file["disc.png"]["quality"] == "pro"
    assert by_file["notes.jpg"]["status"] == "error" and by_file["notes.jpg"]["code"] == "not_an_image"


def test_batch_task_routes_status_get_retry_and_cancel(server: Server, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    paths = []
    for index in range(24):  # distinct 2 MP photos: the mask cache cannot make it instant
        path = tmp_path / f"photo {index:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)).save(path, quality=80)
        paths.append(path)

    async def run() -> tuple[dict, dict, str]:
        async with bentoml.AsyncHTTPClient(server.url) as client:
            task = await client.remove_backgrounds.submit(images=paths, quality="fast")
            deadline = time.monotonic() + 120
            # "pending" until BentoML has read the files and the batch starts
            while (await client.batch_progress(task_id=task.id)).get("done", 0) < 2:
                assert time.monotonic() < deadline, "the batch did not start"
                await asyncio.sleep(0.05)
            # BentoML's local server records the cancel but answers that it cannot stop the
            # task: the batch reads the record and stops between images.
            with pytest.raises(bentoml.exceptions.BentoMLException, match="not supported"):
                await task.cancel()
            # canceled while the last images finish, then completed with what was done
            while (await task.get_status()).value in ("in_progress", "canceled"):
                assert time.monotonic() < deadline, "the canceled batch did not end"
                await asyncio.sleep(0.1)
            with zipfile.ZipFile(await task.get()) as opened:
                report = json.loads(opened.read("report.json"))
            retried = await task.retry()
            assert retried.id != task.id
            while (status := await retried.get_status()).value == "in_progress":
                assert time.monotonic() < deadline + 120, "the retried batch did not finish"
                await asyncio.sleep(0.2)
            return report, await client.batch_progress(task_id=task.id), status.value

    report, progress, retried_status = asyncio.run(run())
    assert progress["state"] == "canceled" and report["canceled"] > 0
    assert report["done"] + report["canceled"] == 24 and report["failed"] == 0
    assert retried_status == "completed"
    missing = httpx.get(f"{server.url}/remove_backgrounds/status", params={"task_id": "nope"}, timeout=10)
    assert missing.status_code == 404


def test_batch_limits_are_clear_errors(tmp_path: Path, files: dict[str, Path]) -> None:
    with bentoml_serve(
        tmp_path, FAST_MODEL_NAME="mock", PRO_MODEL_NAME="mock", BATCH_MAX_FILES="2", BATCH_MAX_MB="0.001"
    ) as limited:
        with (
            files["disc.png"].open("rb") as a,
            files["astronaut.jpg"].open("rb") as b,
            files["notes.jpg"].open("rb") as c,
        ):
            many = httpx.post(
                f"{limited.url}/remove_backgrounds",
                files=[("images", a), ("images", b), ("images", c)],
                timeout=60,
            )
        with files["astronaut.jpg"].open("rb") as big:
            heavy = httpx.post(f"{limited.url}/remove_backgrounds", files=[("images", big)], timeout=60)
    assert many.status_code == 413 and many.json()["error"]["code"] == "too_many_files"
    assert heavy.status_code == 413 and heavy.json()["error"]["code"] == "batch_too_large"


def test_the_api_key_guards_the_typed_api_and_the_task_routes(tmp_path: Path, files: dict[str, Path]) -> None:
    with mock_server_ok(tmp_path, API_KEY="secret") as keyed:
        with files["disc.png"].open("rb") as image:
            stranger = httpx.post(f"{keyed.url}/remove_background", files={"image": image}, timeout=30)
        peek = httpx.get(f"{keyed.url}/remove_backgrounds/status", params={"task_id": "x"}, timeout=30)
        with bentoml.SyncHTTPClient(keyed.url, token="secret") as client:
            cutout = client.remove_background(image=files["disc.png"])
        metrics = httpx.get(f"{keyed.url}/metrics", timeout=30).text
    assert stranger.status_code == 401 and stranger.json()["error"]["code"] == "unauthorized"
    assert peek.status_code == 401
    assert cutout.size == (320, 240)
    # the typed call counted as a /remove-bg request does, and the stranger's refusal too
    assert 'wizpix_requests_total{asked="fast",served="fast",status="200"} 1.0' in metrics
    assert 'wizpix_errors_total{code="unauthorized",status="401"} 1.0' in metrics


def test_typed_form_fields_read_as_remove_bg_reads_them(server: Server, files: dict[str, Path]) -> None:
    def post(fields: dict[str, str]) -> httpx.Response:
        upload = ("disc.png", files["disc.png"].read_bytes())
        return httpx.post(f"{server.url}/remove_background", files={"image": upload}, data=fields, timeout=60)

    # BentoML decodes form fields as JSON: numbers arrive as numbers, and are taken all the same
    margin = post({"crop": "true", "crop_margin": "4", "bg_color": "123456"})
    assert margin.status_code == 200 and Image.open(io.BytesIO(margin.content)).size == (147, 148)
    for fields, where in (({"format": "tiff"}, "format"), ({"quality": "ultra"}, "quality")):
        refused = post(fields)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_request" and where in error["message"]
    # a URL in the file's place: BentoML would download it itself, past ALLOW_IMAGE_URL
    url = httpx.post(
        f"{server.url}/remove_background", files={"image": (None, f"{server.url}/health")}, timeout=60
    )
    assert url.status_code == 400 and url.json()["error"]["code"] == "file_expected"


def test_a_chunked_upload_past_the_limit_is_a_413(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=image; filename=a.png\r\n\r\n"
        for _ in range(3):
            yield b"\0" * 2**20

    with mock_server_ok(tmp_path, MAX_UPLOAD_MB="1", BATCH_MAX_MB="1") as small:
        for route in ("/remove_background", "/remove_backgrounds/submit"):
            answer = httpx.post(
                f"{small.url}{route}",
                content=chunks(),
                headers={"content-type": "multipart/form-data; boundary=b"},
                timeout=60,
            )
            assert answer.status_code == 413, answer.text
            assert answer.json()["error"]["code"] == "upload_too_large"
