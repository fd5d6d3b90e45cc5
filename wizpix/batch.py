"""Many images in, one zip out: the work of the ``remove_backgrounds`` task.

Each file goes through the same ``Cutter.remove_background`` as a ``/remove-bg`` request,
with the same deadline per image; a file that fails is a line of the report, never the
end of the batch. Progress lives in the front process that runs the task (BentoML's task
status says only pending / in progress / done), so a companion call can read it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import zipfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Any

from .enums import RoleName
from .errors import ApiError
from .frontend import Cutter
from .observability import finish
from .output import OutputOptions

log = logging.getLogger("wizpix.batch")

EXTENSIONS = {"image/png": ".png", "image/webp": ".webp", "image/jpeg": ".jpg", "application/zip": ".zip"}


@dataclass
class Progress:
    """What a running batch has done so far; one per task, readable while it runs."""

    total: int
    done: int = 0
    failed: int = 0
    current: str | None = None
    state: str = "running"  # running, completed, canceled
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        elapsed = (self.finished_at or time.time()) - self.started_at
        rate = (self.done + self.failed) / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done - self.failed
        return {
            **asdict(self),
            "elapsed_s": round(elapsed, 2),
            "eta_s": round(left / rate, 1) if rate > 0 and self.state == "running" else None,
        }


class ProgressBoard:
    """Progress of the most recent batches of this process, bounded (oldest dropped)."""

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self._items: OrderedDict[str, Progress] = OrderedDict()

    def start(self, task_id: str, total: int) -> Progress:
        self._items[task_id] = progress = Progress(total)
        while len(self._items) > self.keep:
            self._items.popitem(last=False)
        return progress

    def get(self, task_id: str) -> Progress | None:
        return self._items.get(task_id)


@dataclass(frozen=True)
class BatchLimits:
    max_files: int
    max_bytes: int


def check_limits(sizes: Sequence[int], limits: BatchLimits) -> None:
    """Refuse a batch as a whole before any work: nothing to send, or more than allowed."""
    if not sizes:
        raise ApiError("no_files", "send at least one file in the field `images`", status=400)
    if len(sizes) > limits.max_files:
        raise ApiError(
            "too_many_files", f"{len(sizes)} files sent; a batch takes at most {limits.max_files}", status=413
        )
    if sum(sizes) > limits.max_bytes:
        raise ApiError(
            "batch_too_large",
            f"the files total {sum(sizes) / 2**20:.1f} MB; "
            f"a batch takes at most {limits.max_bytes / 2**20:g} MB",
            status=413,
        )


def output_names(names: Sequence[str]) -> list[str]:
    """One safe, distinct stem per input: its base name without extension (no folders, so
    nothing lands outside the zip's root), numbered when two inputs share a stem."""
    seen: dict[str, int] = {}
    stems = []
    for index, name in enumerate(names):
        stem = PurePath(name.replace("\\", "/")).stem.strip(". ") or f"image-{index + 1}"
        count = seen.get(stem.lower(), 0)
        seen[stem.lower()] = count + 1
        stems.append(stem if count == 0 else f"{stem}-{count + 1}")
    return stems


async def remove_backgrounds(
    cutter: Cutter,
    files: Sequence[tuple[str, Path]],
    quality: RoleName,
    options: OutputOptions,
    progress: Progress,
    *,
    deadline_s: float,
    concurrency: int = 2,
    canceled: Callable[[], Awaitable[bool]] | None = None,
    task_id: str | None = None,
) -> bytes:
    """The zip: one cutout per input at its name, and ``report.json``.

    Two images at a time by default: the runner infers one while the front decodes and
    encodes the other. A cancel is honoured between images; what is done is kept.
    """
    stems = output_names([name for name, _ in files])
    report: list[dict[str, Any]] = [{}] * len(files)
    results: list[tuple[str, bytes] | None] = [None] * len(files)
    gate = asyncio.Semaphore(concurrency)
    stop = asyncio.Event()

    async def one(index: int) -> None:
        name, path = files[index]
        async with gate:
            if stop.is_set() or (canceled is not None and await canceled()):
                stop.set()
                report[index] = {"file": name, "status": "canceled"}
                return
            progress.current = name
            started = time.perf_counter()
            cutout = None
            try:
                async with asyncio.timeout(deadline_s):
                    data = await asyncio.to_thread(path.read_bytes)
                    cutout = await cutter.remove_background(data, quality, options)
            except TimeoutError:
                error = ApiError("deadline_exceeded", f"not served within {deadline_s:g} s", status=504)
                report[index] = _failure(name, error, started)
            except ApiError as error:
                report[index] = _failure(name, error, started)
            except Exception as error:  # one bad file never ends the batch
                log.exception("batch: %s failed", name)
                report[index] = _failure(name, ApiError("internal_error", type(error).__name__), started)
            else:
                output = stems[index] + EXTENSIONS.get(cutout.media_type, ".bin")
                results[index] = (output, cutout.data)
                report[index] = {
                    "file": name,
                    "status": "ok",
                    "output": output,
                    "quality": cutout.facts["served"],
                    "model": cutout.facts["model"],
                    "fallback": cutout.facts["fallback"],
                    "bbox": cutout.headers.get("X-WizPix-BBox"),
                    "cache": cutout.facts["cache"],
                    "time_ms": round((time.perf_counter() - started) * 1000, 1),
                }
            if report[index]["status"] == "ok":
                progress.done += 1
            else:
                progress.failed += 1
            record = {"request_id": f"{task_id or 'batch'}/{index}", "asked": str(quality)}
            record |= cutout.facts if cutout is not None else {"error": report[index]["code"]}
            finish(record, report[index].get("http_status", 200), report[index]["time_ms"])

    await asyncio.gather(*(one(index) for index in range(len(files))))
    progress.state = "canceled" if stop.is_set() else "completed"
    progress.current, progress.finished_at = None, time.time()
    summary = {
        "quality": str(quality),
        "options": options.model_dump(exclude_defaults=True),
        "total": len(files),
        "done": progress.done,
        "failed": progress.failed,
        "canceled": sum(item["status"] == "canceled" for item in report),
        "files": report,
    }
    return _zip(results, summary)


def _failure(name: str, error: ApiError, started: float) -> dict[str, Any]:
    return {
        "file": name,
        "status": "error",
        "code": error.code,
        "message": error.message,
        "http_status": error.status,
        "time_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _zip(results: Sequence[tuple[str, bytes] | None], summary: dict[str, Any]) -> bytes:
    """Stored, not deflated: PNG and WebP are compressed already."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for item in results:
            if item is not None:
                archive.writestr(*item)
        archive.writestr("report.json", json.dumps(summary, indent=2))
    return buffer.getvalue()
