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
import re
import time
import unicodedata
import zipfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Any

from wizpix.core.enums import Quality, TaskState
from wizpix.core.errors import ApiError, TooLarge
from wizpix.core.settings import Settings
from wizpix.core.units import MIB, as_mb
from wizpix.front.cutter import Cutter
from wizpix.front.observability import finish
from wizpix.front.pacing import DEADLINE
from wizpix.image.encode import SUFFIXES
from wizpix.image.options import OutputOptions

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What a running batch has done so far; one per task, readable while it runs."""

    total: int | None  # None until known (a video's frames, once its header is read)
    done: int = 0
    failed: int = 0
    current: str | None = None
    state: TaskState = TaskState.RUNNING
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        elapsed = (self.finished_at or time.time()) - self.started_at
        rate = (self.done + self.failed) / elapsed if elapsed > 0 else 0.0
        left = None if self.total is None else self.total - self.done - self.failed
        running = rate > 0 and left is not None and self.state is TaskState.RUNNING
        return {
            **asdict(self),
            "elapsed_s": round(elapsed, 2),
            "eta_s": round(left / rate, 1) if running else None,
        }

    def end(self, state: TaskState) -> None:
        self.state, self.current, self.finished_at = state, None, time.time()


class ProgressBoard:
    """Progress of the most recent batches of this process, bounded (oldest dropped)."""

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self._items: OrderedDict[str, Progress] = OrderedDict()

    def start(self, task_id: str, total: int | None) -> Progress:
        self._items[task_id] = progress = Progress(total)
        while len(self._items) > self.keep:
            self._items.popitem(last=False)
        return progress

    def finish(self, task_id: str, state: TaskState) -> None:
        """A task of this process has ended: completed, failed or canceled."""
        if (progress := self._items.get(task_id)) is not None:
            progress.end(state)

    def get(self, task_id: str) -> Progress | None:
        return self._items.get(task_id)


@dataclass(frozen=True)
class BatchLimits:
    max_files: int
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchLimits:
        return cls(settings.batch_max_files, settings.batch_max_bytes)


def check_limits(sizes: Sequence[int], limits: BatchLimits) -> None:
    """Refuse a batch as a whole before any work: nothing to send, or more than allowed."""
    if not sizes:
        raise ApiError("no_files", "send at least one file in the field `images`", status=400)
    if len(sizes) > limits.max_files:
        raise TooLarge("too_many_files", f"{len(sizes)} files sent; a batch takes at most {limits.max_files}")
    if sum(sizes) > limits.max_bytes:
        raise TooLarge(
            "batch_too_large",
            f"the files total {sum(sizes) / MIB:.1f} MB; a batch takes at most {as_mb(limits.max_bytes)}",
        )


# What a member name keeps of a client's file name: letters and digits of any script,
# space, and a few marks. Control characters (a terminal listing the zip would replay an
# ANSI escape), separators, quotes and the like become "_".
_UNSAFE = re.compile(r"[^\w .()+,=@-]")
MAX_STEM = 100


def _safe(stem: str) -> str:
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFC", stem))
    return re.sub(r"_{2,}", "_", stem)[:MAX_STEM].strip(". _")


def output_names(names: Sequence[str]) -> list[str]:
    """One safe, distinct stem per input: its base name without extension (no folders, so
    nothing lands outside the zip's root), printable characters only, numbered while
    another input has it."""
    used: set[str] = set()
    stems = []
    for index, name in enumerate(names):
        base = _safe(PurePath(name.replace("\\", "/")).stem) or f"image-{index + 1}"
        stem, number = base, 1
        while stem.lower() in used:
            number += 1
            stem = f"{base}-{number}"
        used.add(stem.lower())
        stems.append(stem)
    return stems


async def remove_backgrounds(
    cutter: Cutter,
    files: Sequence[tuple[str, Path]],
    quality: Quality,
    options: OutputOptions,
    progress: Progress,
    *,
    deadline_s: float,
    gate: asyncio.Semaphore | None = None,
    max_output_bytes: int = 2**62,
    canceled: Callable[[], Awaitable[bool]] | None = None,
    task_id: str | None = None,
) -> bytes:
    """The zip: one cutout per input at its name, and ``report.json``.

    ``gate`` bounds the images in progress across every batch of the process (two by
    default: the runner infers one while the front decodes and encodes the other). Each
    cutout goes into the zip as soon as it is made; past ``max_output_bytes`` the rest of
    the batch fails with ``batch_output_too_large``. A cancel is honoured between images;
    what is done is kept.
    """
    gate = gate or asyncio.Semaphore(2)
    stems = output_names([name for name, _ in files])
    report: list[dict[str, Any] | None] = [None] * len(files)
    buffer = io.BytesIO()
    archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED)  # PNG and WebP are compressed already
    stop = asyncio.Event()
    full = False
    output_full = ApiError("batch_output_too_large", f"the zip reached {as_mb(max_output_bytes)}")

    async def one(index: int) -> dict[str, Any]:
        nonlocal full
        name, path = files[index]
        if stop.is_set() or (canceled is not None and await canceled()):
            stop.set()
            return {"file": name, "status": "canceled"}
        started = time.perf_counter()
        if full:
            return _failure(name, output_full, started)
        progress.current = name
        try:
            async with asyncio.timeout(deadline_s):
                DEADLINE.set(asyncio.get_running_loop().time() + deadline_s)
                data = await asyncio.to_thread(path.read_bytes)
                cutout = await cutter.remove_background(data, quality, options)
        except TimeoutError:
            return _failure(
                name,
                ApiError("deadline_exceeded", f"not served within {deadline_s:g} s", status=504),
                started,
            )
        except ApiError as error:
            return _failure(name, error, started)
        except Exception as error:  # one bad file never ends the batch
            log.exception("batch: %s failed", name)
            return _failure(name, ApiError("internal_error", type(error).__name__), started)
        if buffer.tell() + len(cutout.data) > max_output_bytes:
            full = True
            return _failure(name, output_full, started)
        output = stems[index] + SUFFIXES.get(cutout.media_type, ".bin")
        archive.writestr(output, cutout.data)
        return {
            "file": name,
            "status": "ok",
            "output": output,
            "quality": cutout.facts["served"],
            "model": cutout.facts["model"],
            "fallback": cutout.facts["fallback"],
            "bbox": cutout.headers.get("X-WizPix-BBox"),
            "cache": cutout.facts["cache"],
            "uncertainty": cutout.facts["uncertainty"],
            "time_ms": round((time.perf_counter() - started) * 1000, 1),
            "facts": cutout.facts,
        }

    async def counted(index: int) -> None:
        async with gate:
            item = await one(index)
        facts = item.pop("facts", None)
        report[index] = item
        if item["status"] == "canceled":
            return
        progress.done += item["status"] == "ok"
        progress.failed += item["status"] != "ok"
        record = {"request_id": f"{task_id or 'batch'}/{index}", "asked": str(quality)}
        record |= facts if facts is not None else {"error": item["code"]}
        finish(record, item.get("http_status", 200), item["time_ms"])

    await asyncio.gather(*(counted(index) for index in range(len(files))))
    progress.end(TaskState.CANCELED if stop.is_set() else TaskState.COMPLETED)
    summary = {
        "quality": str(quality),
        "options": options.model_dump(exclude_defaults=True),
        "total": len(files),
        "done": progress.done,
        "failed": progress.failed,
        "canceled": sum(item is not None and item["status"] == "canceled" for item in report),
        "files": report,
    }
    archive.writestr("report.json", json.dumps(summary, indent=2))
    archive.close()
    return buffer.getvalue()


def _failure(name: str, error: ApiError, started: float) -> dict[str, Any]:
    return {
        "file": name,
        "status": "error",
        "code": error.code,
        "message": error.message,
        "http_status": error.status,
        "time_ms": round((time.perf_counter() - started) * 1000, 1),
    }
