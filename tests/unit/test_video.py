"""A video cut frame by frame, in process (mock model): WebM with alpha, ProRes 4444 with
alpha, H.264 over a colour, PNG frames; the sound kept; bad files and limits are 4xx."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.clips import make_clip, read_back
from tests.unit.test_frontend import cutter
from wizpix.core.enums import RoleName
from wizpix.core.errors import ApiError
from wizpix.front.video_task import VideoOptions, remove_video
from wizpix.front.zip_batch import Progress
from wizpix.image.video import VideoLimits

LIMITS = VideoLimits(max_seconds=60, max_frame_pixels=4_000_000, max_frames=3600)


def cut(source: Path, limits: VideoLimits = LIMITS, background: bytes | None = None, **options: object):
    progress = Progress(0)
    data, media, served = asyncio.run(
        remove_video(
            cutter(), source, RoleName.FAST, VideoOptions(**options), progress, limits, background=background
        )
    )
    return data, media, served, progress


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "disc.mp4")


@pytest.mark.parametrize(
    ("fmt", "media", "sound"), [("webm", "video/webm", "opus"), ("mov", "video/quicktime", "aac")]
)
def test_webm_and_prores_keep_alpha_timing_and_sound(
    clip: Path, tmp_path: Path, fmt: str, media: str, sound: str
) -> None:
    data, got, served, progress = cut(clip, format=fmt)
    assert got == media and served.frames == 24 and progress.done == 24
    out = tmp_path / f"cut.{fmt}"
    out.write_bytes(data)
    pictures, codec, seconds = read_back(out)
    assert len(pictures) == 24 and codec == sound and seconds == pytest.approx(2.0, abs=0.15)
    first, last = pictures[0][..., 3], pictures[-1][..., 3]
    assert first[60, 40] > 200 and first[5, 150] < 30  # the disc opaque, the white gone
    assert last[60, 40 + 46] > 200  # it moved with the subject


def test_mp4_is_flattened_over_the_colour_and_zip_holds_a_png_a_frame(clip: Path, tmp_path: Path) -> None:
    data, media, _, _ = cut(clip, format="mp4", bg_color="00ff00")
    (tmp_path / "cut.mp4").write_bytes(data)
    pictures, codec, _ = read_back(tmp_path / "cut.mp4")
    assert media == "video/mp4" and codec == "aac" and len(pictures) == 24
    assert np.abs(pictures[0][5, 150, :3].astype(int) - (0, 255, 0)).max() < 20
    archive, media, _, _ = cut(clip, format="zip", output="mask")
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert media == "application/zip" and len(names) == 24 and names[0] == "frame-000001.png"


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_background_image_covers_every_frame_behind_the_subject(clip: Path, tmp_path: Path) -> None:
    left_red_right_blue = Image.new("RGB", (400, 100), (255, 0, 0))
    left_red_right_blue.paste((0, 0, 255), (200, 0, 400, 100))
    data, _, _, _ = cut(clip, background=png(left_red_right_blue), format="mp4")
    (tmp_path / "cut.mp4").write_bytes(data)
    pictures, _, _ = read_back(tmp_path / "cut.mp4")
    frame = pictures[0][..., :3].astype(int)
    width = frame.shape[1]
    assert np.abs(frame[4, 4] - (255, 0, 0)).max() < 40  # scaled to cover, centred: red left
    assert np.abs(frame[4, width - 5] - (0, 0, 255)).max() < 40  # blue right
    with pytest.raises(ApiError) as refused:
        cut(clip, background=b"not an image")
    assert refused.value.status == 400 and refused.value.message.startswith("background:")


def test_frames_that_do_not_change_reuse_the_mask(tmp_path: Path) -> None:
    still = make_clip(tmp_path / "still.mov", frames=12)
    _, _, moving, _ = cut(still, steady=0.5)
    assert moving.inferred == 12  # the disc moves a little every frame
    _, _, served, _ = cut(make_clip(tmp_path / "frozen.mp4", frames=12, moving=False))
    assert served.inferred == 1 and served.frames == 12


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "not_a_video"),
        (b"not a video at all" * 100, "not_a_video"),
        (b"#EXTM3U\n#EXTINF:1,\n/etc/passwd\n", "not_a_video"),
    ],
)
def test_what_is_not_a_video_is_a_400(tmp_path: Path, content: bytes, code: str) -> None:
    (tmp_path / "bad.mp4").write_bytes(content)
    with pytest.raises(ApiError) as refused:
        cut(tmp_path / "bad.mp4")
    assert refused.value.status == 400 and refused.value.code == code


def test_a_truncated_video_and_limits_are_4xx(clip: Path, tmp_path: Path) -> None:
    whole = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ApiError) as truncated:
        cut(tmp_path / "cut.mp4")
    assert truncated.value.status == 400
    for limits, code in (
        (VideoLimits(1, 4_000_000, 3600), "video_too_long"),
        (VideoLimits(60, 100 * 100, 3600), "video_too_large"),
        (VideoLimits(60, 4_000_000, 10), "too_many_frames"),
    ):
        with pytest.raises(ApiError) as refused:
            cut(clip, limits)
        assert refused.value.status == 413 and refused.value.code == code
