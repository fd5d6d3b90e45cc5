"""The remove_video task on a real `bentoml serve` (mock models): submit, progress, get,
cancel; the same guards as every route; an animated sticker on /remove-bg and the typed API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.clips import make_clip, read_back
from tests.conftest import Server
from tests.unit.test_animation import sticker

pytestmark = pytest.mark.server


def submit(client: httpx.Client, clip: Path, **fields: str) -> str:
    answer = client.post(
        "/remove_video/submit", data=fields, files={"video": (clip.name, clip.read_bytes(), "video/mp4")}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["task_id"]


def wait(client: httpx.Client, task: str, seen: list[dict] | None = None) -> str:
    deadline = time.monotonic() + 120
    while (
        status := client.get("/remove_video/status", params={"task_id": task}).json()["status"]
    ) == "in_progress":
        if seen is not None:
            seen.append(client.post("/batch_progress", json={"task_id": task}).json())
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return status


def test_a_clip_comes_back_as_webm_with_alpha_and_prores_with_progress(
    server: Server, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "disc.mp4", frames=36)
    with server.client() as client:
        seen: list[dict] = []
        task = submit(client, clip)
        assert wait(client, task, seen) == "completed"
        webm = client.get("/remove_video/get", params={"task_id": task})
        mov = client.get(
            "/remove_video/get",
            params={"task_id": wait(client, t := submit(client, clip, format="mov")) and t},
        )
    assert webm.status_code == 200 and webm.headers["content-type"].startswith("video/webm")
    assert webm.headers["x-wizpix-frames"] == "36" and webm.headers["x-wizpix-model"] == "mock"
    (tmp_path / "cut.webm").write_bytes(webm.content)
    pictures, sound, _ = read_back(tmp_path / "cut.webm")
    assert (
        len(pictures) == 36
        and sound == "opus"
        and pictures[0][60, 40, 3] > 200
        and pictures[0][5, 150, 3] < 30
    )
    assert mov.status_code == 200 and mov.headers["content-type"].startswith("video/quicktime")
    done = [p for p in seen if p.get("state") in ("running", "completed")]
    # the frame count is null until the clip is opened, then right
    assert [p for p in done if p["total"] == 36] and all(p["total"] in (None, 36) for p in done)


def test_bad_videos_and_options_are_4xx_in_our_envelope(
    server: Server, tmp_path: Path, disc_png: bytes
) -> None:
    """And a background image travels as a file part only (BentoML would fetch a URL)."""
    clip = make_clip(tmp_path / "disc.mp4", frames=12)
    (tmp_path / "garbage.mp4").write_bytes(b"garbage" * 1000)
    with server.client() as client:
        bad = client.post(
            "/remove_video", files={"video": ("g.mp4", (tmp_path / "garbage.mp4").read_bytes())}
        )
        option = client.post(
            "/remove_video", data={"format": "avi"}, files={"video": ("d.mp4", clip.read_bytes())}
        )
        url = client.post("/remove_video", data={"video": "http://127.0.0.1:1/x.mp4"})
        background_url = client.post(
            "/remove_video",
            data={"background": "http://127.0.0.1:1/bg.png"},
            files={"video": ("d.mp4", clip.read_bytes())},
        )
        background = client.post(
            "/remove_video",
            data={"format": "mp4"},
            files={"video": ("d.mp4", clip.read_bytes()), "background": ("bg.png", disc_png)},
        )
    assert background.status_code == 200, background.text
    assert background.headers["content-type"].startswith("video/mp4")
    assert background_url.status_code == 400 and background_url.json()["error"]["code"] == "file_expected"
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "not_a_video"
    assert option.status_code == 422 and option.json()["error"]["code"] == "invalid_request"
    assert url.status_code == 415 and url.json()["error"]["code"] == "unsupported_media_type"


def test_an_animated_sticker_comes_back_animated_on_remove_bg_and_the_typed_api(server: Server) -> None:
    with server.client() as client:
        native = client.post("/remove-bg", files={"file": ("s.gif", sticker("GIF"))})
        typed = client.post("/remove_background", files={"image": ("s.webp", sticker("WEBP"))})
        first = client.post("/remove-bg?frames=first", files={"file": ("s.gif", sticker("GIF"))})
    assert native.headers["content-type"] == "image/gif" and native.headers["x-wizpix-frames"] == "4"
    assert typed.headers["content-type"] == "image/webp" and typed.headers["x-wizpix-frames"] == "4"
    assert first.headers["content-type"] == "image/png" and "x-wizpix-frames" not in first.headers


def test_the_folder_cli_cuts_a_video_beside_the_photos(
    server: Server, tmp_path: Path, disc_png: bytes
) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    photos = tmp_path / "in"
    photos.mkdir()
    make_clip(photos / "clip.mp4", frames=12)
    (photos / "disc.png").write_bytes(disc_png)
    command = [
        sys.executable,
        str(ROOT / "clients/python/remove_folder.py"),
        str(photos),
        str(tmp_path / "out"),
    ]
    result = subprocess.run(
        [*command, "--url", server.url, "--video-format", "mov"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "disc.png").is_file() and (tmp_path / "out" / "clip.mov").is_file()
    pictures, _, _ = read_back(tmp_path / "out" / "clip.mov")
    assert len(pictures) == 12 and pictures[0][60, 40, 3] > 200
    again = subprocess.run(
        [*command, "--url", server.url, "--video-format", "mov"], capture_output=True, text=True, timeout=120
    )
    assert "skipped 2" in again.stdout  # resumable, videos too
