"""The remove_backgrounds task's work, in process: the zip, its report, limits, cancel."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import alpha_of
from tests.unit.test_frontend import Crashing, cutter
from wizpix.core.enums import RoleName
from wizpix.core.errors import ApiError
from wizpix.front.zip_batch import BatchLimits, Progress, check_limits, output_names, remove_backgrounds
from wizpix.image.options import OutputOptions


def test_output_names_are_bare_distinct_stems() -> None:
    names = ["a.jpg", "../../etc/passwd", "dir/a.png", "A.webp", "C:\\photos\\b.jpg", "", ".hidden"]
    assert output_names(names) == ["a", "passwd", "a-2", "A-3", "b", "image-6", "hidden"]
    # a numbered name that another input already has is numbered on
    assert output_names(["a.png", "a.jpg", "a-2.png"]) == ["a", "a-2", "a-2-2"]
    assert output_names(["", "image-1.png"]) == ["image-1", "image-1-2"]


def test_output_names_are_printable_whatever_the_client_sent() -> None:
    hostile = ["\x1b[31mred\x1b[0m.png", "new\nline.jpg", "tab\there.png", "\x00\x07.png", "x" * 300 + ".png"]
    names = output_names([*hostile, "Ünïcødé 写真.jpg", "a'b\"c<d>e|f?.png"])
    assert names[:4] == ["31mred_0m", "new_line", "tab_here", "image-4"]
    assert len(names[4]) == 100 and names[5] == "Ünïcødé 写真" and names[6] == "a_b_c_d_e_f"
    assert all(name.isprintable() for name in names)


@pytest.mark.parametrize(
    ("sizes", "code"),
    [([], "no_files"), ([1] * 4, "too_many_files"), ([600, 600], "batch_too_large")],
)
def test_limits_refuse_the_batch_as_a_whole(sizes: list[int], code: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_limits(sizes, BatchLimits(max_files=3, max_bytes=1000))
    assert refused.value.code == code and refused.value.status in (400, 413)
    check_limits([500, 500], BatchLimits(max_files=3, max_bytes=1000))  # at the limits: accepted


def batch(tmp_path: Path, files: dict[str, bytes]) -> list[tuple[str, Path]]:
    paths = []
    for index, (name, data) in enumerate(files.items()):
        path = tmp_path / f"upload-{index}"
        path.write_bytes(data)
        paths.append((name, path))
    return paths


def run_batch(files: list[tuple[str, Path]], progress: Progress | None = None, **options: object) -> bytes:
    """One batch through the in-process pipeline, one image at a time."""
    progress = progress or Progress(total=len(files))
    chosen = {"deadline_s": 30, "gate": asyncio.Semaphore(1), **options}
    return asyncio.run(
        remove_backgrounds(cutter(), files, RoleName.FAST, OutputOptions(), progress, **chosen)
    )


def test_a_bad_file_fails_alone_and_the_report_says_why(tmp_path: Path, disc_png: bytes) -> None:
    files = batch(tmp_path, {"disc.png": disc_png, "notes.jpg": b"not an image", "disc copy.png": disc_png})
    progress = Progress(total=3)
    archive = asyncio.run(
        remove_backgrounds(cutter(), files, RoleName.PRO, OutputOptions(), progress, deadline_s=30)
    )
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert sorted(opened.namelist()) == ["disc copy.png", "disc.png", "report.json"]
        alpha = alpha_of(opened.read("disc.png"))
        report = json.loads(opened.read("report.json"))
    assert alpha.shape == (240, 320) and alpha[120, 160] == 255 and alpha[0, 0] == 0
    assert (report["total"], report["done"], report["failed"], report["canceled"]) == (3, 2, 1, 0)
    ok, bad, _ = report["files"]
    assert ok["status"] == "ok" and ok["model"] == "mock" and ok["quality"] == "pro"
    assert ok["bbox"] == "91,51,139,140" and ok["fallback"] is None and ok["time_ms"] > 0
    assert bad == {**bad, "file": "notes.jpg", "status": "error", "code": "not_an_image", "http_status": 400}
    assert (progress.done, progress.failed, progress.state) == (2, 1, "completed")


def test_options_and_fallback_apply_to_every_image(tmp_path: Path, disc_png: bytes) -> None:
    files = batch(tmp_path, {"one.png": disc_png, "two.png": disc_png})
    archive = asyncio.run(
        remove_backgrounds(
            cutter(pro_kind=Crashing),
            files,
            RoleName.PRO,
            OutputOptions(format="webp", crop=True),
            Progress(total=2),
            deadline_s=30,
        )
    )
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        report = json.loads(opened.read("report.json"))
        cropped = Image.open(io.BytesIO(opened.read("one.webp")))
    assert cropped.format == "WEBP" and cropped.size == (139, 140)
    assert report["options"] == {"format": "webp", "crop": True}
    assert all(item["quality"] == "fast" and item["fallback"] for item in report["files"])


def test_a_cancel_stops_between_images_and_keeps_what_is_done(tmp_path: Path, disc_png: bytes) -> None:
    files = batch(tmp_path, {f"{index}.png": disc_png for index in range(6)})
    progress = Progress(total=6)

    async def canceled() -> bool:
        return progress.done >= 2

    archive = run_batch(files, progress, canceled=canceled)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        report = json.loads(opened.read("report.json"))
        assert sorted(opened.namelist()) == ["0.png", "1.png", "report.json"]
    assert (report["done"], report["canceled"]) == (2, 4) and progress.state == "canceled"
    assert progress.as_dict()["eta_s"] is None


def test_past_the_output_limit_the_rest_fails_with_a_clear_code(tmp_path: Path, disc_png: bytes) -> None:
    files = batch(tmp_path, {f"{index}.png": disc_png for index in range(4)})
    one = len(asyncio.run(cutter().remove_background(disc_png, RoleName.FAST)).data)
    archive = run_batch(files, max_output_bytes=int(2.5 * one))
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        report = json.loads(opened.read("report.json"))
        assert sorted(opened.namelist()) == ["0.png", "1.png", "report.json"]
    codes = [item.get("code") for item in report["files"]]
    assert codes == [None, None, "batch_output_too_large", "batch_output_too_large"]
    assert (report["done"], report["failed"]) == (2, 2)


def test_a_deadline_fails_that_image_alone(tmp_path: Path, disc_png: bytes) -> None:
    files = batch(tmp_path, {"slow.png": disc_png})
    archive = run_batch(files, deadline_s=1e-6)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        (item,) = json.loads(opened.read("report.json"))["files"]
    assert item["status"] == "error" and item["code"] == "deadline_exceeded" and item["http_status"] == 504
