"""The folder CLI's pure parts: walking, naming, the manifest's skip rule, the flags generated
from OutputOptions and the retry rules. No server (tests/server/test_folder_cli_server.py has one)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from tests.conftest import ROOT

SCRIPT = ROOT / "clients" / "python" / "remove_folder.py"
sys.path.insert(0, str(SCRIPT.parent))

from wizpix_folder import cli, files, flags, run, transport  # noqa: E402
from wizpix_folder import manifest as manifests  # noqa: E402
from wizpix_folder.flags import OutputOptions  # noqa: E402


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- walking and naming -------------------------------------------------------------------


def test_find_images_recurses_by_extension_any_case_and_skips_hidden(tmp_path: Path) -> None:
    for name in ("a.jpg", "B.JPEG", "sub/c.png", "sub/deep/d.WebP", "e.heic", "f.tiff", "g.avif"):
        touch(tmp_path / name)
    for name in ("notes.txt", "h.jpg.bak", ".hidden.jpg", ".cache/x.png", "sub/noext"):
        touch(tmp_path / name)
    assert files.find_images(tmp_path) == [
        "B.JPEG",
        "a.jpg",
        "e.heic",
        "f.tiff",
        "g.avif",
        "sub/c.png",
        "sub/deep/d.WebP",
    ]


def test_an_output_folder_inside_the_input_is_not_walked(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "out" / "a.png")  # a result of an earlier run
    touch(tmp_path / "out" / "sub" / "b.png")
    assert files.find_images(tmp_path, tmp_path / "out") == ["a.jpg"]
    assert files.find_images(tmp_path, tmp_path / "elsewhere") == ["a.jpg", "out/a.png", "out/sub/b.png"]


def test_output_stems_mirror_folders_and_keep_full_names_only_on_a_clash() -> None:
    stems = files.output_stems(["a.jpg", "sub/a.jpg", "sub/b.JPG", "sub/B.png", "c.tar.png"])
    assert stems == {
        "a.jpg": "a",
        "sub/a.jpg": "sub/a",  # another folder: no clash
        "sub/b.JPG": "sub/b.JPG",  # b and B would be one file on a case-insensitive disk
        "sub/B.png": "sub/B.png",
        "c.tar.png": "c.tar",
    }


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("image/png", ".png"),
        ("image/webp", ".webp"),
        ("image/jpeg", ".jpg"),
        ("application/zip", ".zip"),
        ("IMAGE/WEBP; charset=binary", ".webp"),
        (None, ".bin"),
    ],
)
def test_the_extension_follows_the_answers_content_type(content_type: str | None, extension: str) -> None:
    assert files.extension_for(content_type) == extension


# --- the manifest's skip rule -------------------------------------------------------------


WANTED = {"quality": "fast", "format": "webp"}


def finished(tmp_path: Path, **changes: object) -> tuple[object, Path]:
    """A manifest saved with one finished file, loaded back as a second run would."""
    out = tmp_path / "out"
    touch(out / "sub" / "a.webp")
    manifest = manifests.Manifest.load(out / manifests.MANIFEST_NAME)
    entry = {"sha256": "abc", "options": WANTED, "output": "sub/a.webp", "model": "mock", **changes}
    manifest.record("sub/a.jpg", entry)
    manifest.save()
    return manifests.Manifest.load(out / manifests.MANIFEST_NAME), out


def test_a_file_done_from_the_same_bytes_and_options_is_skipped(tmp_path: Path) -> None:
    manifest, out = finished(tmp_path)
    assert manifest.is_done("sub/a.jpg", "abc", dict(WANTED), "sub/a", out)


def test_other_bytes_options_quality_name_or_a_deleted_output_are_done_again(tmp_path: Path) -> None:
    manifest, out = finished(tmp_path)
    assert not manifest.is_done("sub/a.jpg", "abd", WANTED, "sub/a", out)
    assert not manifest.is_done("sub/a.jpg", "abc", {"quality": "fast"}, "sub/a", out)
    assert not manifest.is_done("sub/a.jpg", "abc", {**WANTED, "quality": "pro"}, "sub/a", out)
    assert not manifest.is_done("sub/a.jpg", "abc", WANTED, "sub/a.jpg", out)  # now clashes
    assert not manifest.is_done("sub/other.jpg", "abc", WANTED, "sub/other", out)
    (out / "sub" / "a.webp").unlink()
    assert not manifest.is_done("sub/a.jpg", "abc", WANTED, "sub/a", out)


def test_a_file_served_by_a_fallback_is_done_again(tmp_path: Path) -> None:
    manifest, out = finished(tmp_path, fallback="pro is loading")
    assert not manifest.is_done("sub/a.jpg", "abc", WANTED, "sub/a", out)


def test_the_manifest_is_replaced_whole_and_an_unreadable_one_starts_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = finished(tmp_path)
    body = json.loads((out / manifests.MANIFEST_NAME).read_text())
    assert body["version"] == manifests.MANIFEST_VERSION and body["files"]["sub/a.jpg"]["model"] == "mock"
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
    (out / manifests.MANIFEST_NAME).write_text('{"version": 1, "files": ')  # torn by hand
    assert manifests.Manifest.load(out / manifests.MANIFEST_NAME).files == {}
    assert "unreadable" in capsys.readouterr().err


def test_a_failed_write_leaves_neither_a_temp_file_nor_a_changed_target(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        files.write_atomically(tmp_path / "x.png", object())  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    files.write_atomically(tmp_path / "x.png", b"one")
    with pytest.raises(TypeError):
        files.write_atomically(tmp_path / "x.png", object())  # type: ignore[arg-type]
    assert (tmp_path / "x.png").read_bytes() == b"one" and len(list(tmp_path.iterdir())) == 1


# --- flags generated from the options model ---------------------------------------------


class Toy(BaseModel):
    """A model with one field of each kind the generator handles."""

    mode: Literal["a", "b"] = Field("a", description="a or b")
    dark: bool = Field(False, description="100% dark")
    size: int | None = Field(None, ge=1)
    ratio: float | None = None
    label: str | None = Field(None, pattern="^[a-z]+$")


def toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    flags.add_option_flags(parser, Toy)
    return parser


def test_flags_come_from_the_model_fields_with_their_kinds() -> None:
    parser = toy_parser()
    args = parser.parse_args(["--mode", "b", "--dark", "--size", "3", "--ratio", "0.5", "--label", "x"])
    options = flags.options_from(args, Toy)
    assert options == Toy(mode="b", dark=True, size=3, ratio=0.5, label="x")
    assert flags.query_params(options) == {
        "dark": "true",
        "label": "x",
        "mode": "b",
        "ratio": "0.5",
        "size": "3",
    }
    assert flags.options_from(parser.parse_args(["--no-dark"]), Toy) == Toy()
    with pytest.raises(argparse.ArgumentError):
        parser.parse_args(["--mode", "c"])  # a Literal is a choice
    with pytest.raises(argparse.ArgumentError):
        parser.parse_args(["--size", "big"])


def test_only_what_differs_from_the_defaults_is_sent() -> None:
    parser = toy_parser()
    assert flags.query_params(flags.options_from(parser.parse_args([]), Toy)) == {}
    assert flags.query_params(flags.options_from(parser.parse_args(["--mode", "a"]), Toy)) == {}


def test_every_outputoptions_field_is_a_flag_of_the_cli() -> None:
    parser = cli.build_parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for name in OutputOptions.model_fields:
        assert "--" + name.replace("_", "-") in flags, name


def test_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    for argv in (
        [str(tmp_path / "missing"), str(tmp_path / "out")],
        [str(tmp_path / "in"), str(tmp_path / "in")],
        [str(tmp_path / "in"), str(tmp_path / "out"), "--concurrency", "0"],
        [str(tmp_path / "in"), str(tmp_path / "out"), "--max-size", "0"],  # the model's own bound
        [str(tmp_path / "in"), str(tmp_path / "out"), "--format", "tiff"],
    ):
        with pytest.raises(SystemExit) as exit_:
            cli.parse_job(argv)
        assert exit_.value.code == 2, argv
    assert "--max-size" in capsys.readouterr().err


def test_the_job_carries_quality_options_url_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in").mkdir()
    monkeypatch.setenv("WIZPIX_URL", "http://example.invalid:9/")
    monkeypatch.setenv("API_KEY", "k")
    job = cli.parse_job([str(tmp_path / "in"), str(tmp_path / "out"), "--quality", "pro", "--crop"])
    assert job.url == "http://example.invalid:9" and job.api_key == "k"
    assert job.wanted("a.jpg") == {"quality": "pro", "crop": "true"}
    assert job.wanted("clip.mp4") == {"quality": "pro", "format": "webm"}


def test_the_cli_imports_no_server_dependencies() -> None:
    heavy = ("bentoml", "onnxruntime", "rembg", "fastapi", "starlette", "torch", "skimage", "scipy")
    code = (
        f"import runpy, sys\nsys.argv = [{str(SCRIPT)!r}, '--help']\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


# --- retries ------------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert transport.parse_retry_after("3", now) == 3.0
    assert transport.parse_retry_after(" 1.5 ", now) == 1.5
    assert transport.parse_retry_after("-4", now) == 0.0
    assert transport.parse_retry_after("Thu, 01 Jan 2026 12:00:07 GMT", now) == 7.0
    assert transport.parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert transport.parse_retry_after(None, now) is None
    assert transport.parse_retry_after("soon", now) is None


def test_busy_answers_are_retried_a_bounded_number_of_times_with_a_capped_wait() -> None:
    policy = transport.RetryPolicy(busy_retries=5, max_wait_s=30)
    assert policy.busy_wait(503, "2", 1) == 2.0
    assert policy.busy_wait(429, "3600", 1) == 30.0  # capped
    assert [policy.busy_wait(503, None, n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]  # no header: back off
    assert policy.busy_wait(503, "1", 5) == 1.0 and policy.busy_wait(503, "1", 6) is None
    for status in (400, 401, 404, 413, 422, 500, 504):
        assert policy.busy_wait(status, "1", 1) is None
    assert [policy.connection_wait(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, None]


def test_the_reason_of_a_failure_is_the_services_error_code_and_message() -> None:
    body = {"error": {"code": "not_an_image", "message": "not an image"}}
    assert transport.error_reason(httpx.Response(400, json=body)) == "400 not_an_image: not an image"
    assert transport.error_reason(httpx.Response(502, text="<html>bad gateway</html>")).startswith(
        "502 Bad Gateway: <html>"
    )


def test_the_summary_names_each_failure_and_sets_the_exit_code() -> None:
    summary = run.Summary(total=4, done=["a.jpg"], skipped=["b.jpg"], failed={"c.jpg": "400 not_an_image: x"})
    text = summary.text()
    assert text.startswith("done 1, skipped 1, failed 1, not done 1 (of 4 images)")
    assert "  c.jpg: 400 not_an_image: x" in text
    assert summary.exit_code == 1
    assert run.Summary(total=1, done=["a.jpg"]).exit_code == 0
    assert run.Summary(total=1, interrupted=True).exit_code == 130
