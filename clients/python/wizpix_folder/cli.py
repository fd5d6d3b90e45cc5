"""The command line: ``IN_DIR OUT_DIR [--url] [--quality] [--concurrency] [options]``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pydantic import ValidationError

from wizpix.core.enums import Quality
from wizpix.core.errors import problems
from wizpix_folder import __doc__ as PACKAGE_DOC
from wizpix_folder.flags import add_option_flags, options_from, query_params
from wizpix_folder.run import Job, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(PACKAGE_DOC or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR", help="folder of images (walked recursively)")
    parser.add_argument(
        "out_dir", type=Path, metavar="OUT_DIR", help="where results go (sub-folders mirrored)"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("WIZPIX_URL", "http://localhost:3000"),
        help="the WizPix service (default: $WIZPIX_URL or http://localhost:3000)",
    )
    parser.add_argument(
        "--quality",
        choices=[q.value for q in Quality],
        default=Quality.FAST.value,
        help="auto: fast, and pro where fast's cutout is unsure (videos: fast)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight (default 2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request (default 600)")
    parser.add_argument(
        "--video-format",
        choices=("webm", "mov", "mp4", "zip"),
        default="webm",
        help="videos (mp4, mov, webm, mkv) come back as webm (VP9 with alpha, default), mov (ProRes "
        "4444 with alpha), mp4 (H.264 over --bg-color, white by default) or zip (a PNG per frame)",
    )
    add_option_flags(parser)
    return parser


def parse_job(argv: list[str] | None = None) -> Job:
    """The job the command line asks for; exits 2 (argparse) on bad usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.in_dir.is_dir():
        parser.error(f"IN_DIR {args.in_dir} is not a folder")
    if args.out_dir.exists() and not args.out_dir.is_dir():
        parser.error(f"OUT_DIR {args.out_dir} exists and is not a folder")
    if args.out_dir.resolve() == args.in_dir.resolve():
        parser.error("OUT_DIR must differ from IN_DIR (results would overwrite inputs)")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        options = options_from(args)
    except ValidationError as error:
        flags = [
            {**item, "loc": ("--" + "-".join(map(str, item["loc"])).replace("_", "-"),)}
            for item in error.errors()
        ]
        parser.error(problems(flags))
    return Job(
        in_dir=args.in_dir,
        out_dir=args.out_dir,
        url=args.url.rstrip("/"),
        quality=args.quality,
        params=query_params(options),
        concurrency=args.concurrency,
        api_key=os.environ.get("API_KEY") or None,
        timeout_s=args.timeout,
        video_params=video_fields(args.video_format, options),
    )


def video_fields(fmt: str, options: object) -> dict[str, str]:
    """The remove_video task's fields: the video format, and those /remove-bg options that a
    video takes too (output, bg_color, max_size)."""
    params = query_params(options)  # type: ignore[arg-type]
    return {"format": fmt, **{k: v for k, v in params.items() if k in ("output", "bg_color", "max_size")}}


def main(argv: list[str] | None = None) -> int:
    job = parse_job(argv)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    summary = run(job)
    print(summary.text(), flush=True)
    return summary.exit_code
