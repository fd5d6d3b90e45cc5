"""A run: plan what to send, send it with N workers and a progress bar, record, summarise."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from tqdm import tqdm

from wizpix_folder.files import (
    extension_for,
    find_images,
    is_video,
    output_stems,
    sha256_of,
    write_atomically,
)
from wizpix_folder.manifest import MANIFEST_NAME, Manifest
from wizpix_folder.transport import Failed, RetryPolicy, cut_video, post_with_retries

KEPT_HEADERS = {
    "model": "x-wizpix-model",
    "served": "x-wizpix-quality",
    "fallback": "x-wizpix-fallback",
    "escalation": "x-wizpix-escalation",
}
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


@dataclass
class Summary:
    total: int = 0
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)  # why (503, 429, connection) → count
    interrupted: bool = False
    seconds: float = 0.0

    def text(self) -> str:
        left = self.total - len(self.done) - len(self.skipped) - len(self.failed)
        lines = [
            f"{'interrupted: ' if self.interrupted else ''}done {len(self.done)}, "
            f"skipped {len(self.skipped)}, failed {len(self.failed)}"
            + (f", not done {left}" if left else "")
            + f" (of {self.total} images) in {self.seconds:.1f} s"
        ]
        if self.retries:
            counts = ", ".join(f"{count} after {why}" for why, count in sorted(self.retries.items()))
            lines.append(f"retried: {counts}")
        if self.fallbacks:
            lines.append(f"{len(self.fallbacks)} served by fast instead of pro; a rerun sends them again")
        if self.failed:
            lines.append("failed:")
            lines.extend(f"  {rel}: {reason}" for rel, reason in sorted(self.failed.items()))
        return "\n".join(lines)

    @property
    def exit_code(self) -> int:
        return INTERRUPTED if self.interrupted else FAILED if self.failed else OK


@dataclass(frozen=True)
class Job:
    in_dir: Path
    out_dir: Path
    url: str
    quality: str
    params: dict[str, str]  # the /remove-bg options, without quality
    concurrency: int
    api_key: str | None = None
    timeout_s: float = 600.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    video_params: dict[str, str] = field(default_factory=lambda: {"format": "webm"})  # the task's fields

    def wanted(self, rel: str) -> dict[str, str]:
        """What the manifest keeps as "the options used" for ``rel``: the whole query (a
        video's are the task's fields)."""
        if is_video(rel):  # a video is cut by one tier: auto's is fast
            return {"quality": "fast" if self.quality == "auto" else self.quality, **self.video_params}
        return {"quality": self.quality, **self.params}


def plan(job: Job, manifest: Manifest, summary: Summary) -> Iterator[tuple[str, str]]:
    """(relative input, output stem) of each image to send; the others count as skipped."""
    images = find_images(job.in_dir, job.out_dir)
    summary.total = len(images)
    stems = output_stems(images)
    for rel in images:
        digest = sha256_of(job.in_dir / rel)
        if manifest.is_done(rel, digest, job.wanted(rel), stems[rel], job.out_dir):
            summary.skipped.append(rel)
        else:
            yield rel, stems[rel]


async def process(
    job: Job, todo: list[tuple[str, str]], manifest: Manifest, summary: Summary, bar: tqdm
) -> None:
    """Send ``todo`` with ``job.concurrency`` workers. SIGINT/SIGTERM cancel the workers:
    requests in flight are abandoned; what is finished is already on disk and recorded."""
    queue = list(reversed(todo))
    headers = {"Authorization": f"Bearer {job.api_key}"} if job.api_key else {}
    timeout = httpx.Timeout(job.timeout_s, connect=10.0)
    limits = httpx.Limits(max_connections=job.concurrency, max_keepalive_connections=job.concurrency)

    def retried(why: str) -> None:
        summary.retries[why] = summary.retries.get(why, 0) + 1

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            rel, stem = queue.pop()
            data = await asyncio.to_thread((job.in_dir / rel).read_bytes)
            wanted = job.wanted(rel)  # the request's fields, and what the manifest records
            try:
                if is_video(rel):

                    def frames_done(done: int, total: int, rel: str = rel) -> None:
                        bar.set_postfix_str(f"{Path(rel).name}: frame {done}/{total or '?'}")

                    response = await cut_video(client, Path(rel).name, data, wanted, job.policy, frames_done)
                else:
                    response = await post_with_retries(
                        client, Path(rel).name, data, wanted, job.policy, retried
                    )
                output = stem + extension_for(response.headers.get("content-type"))
                try:
                    write_atomically(job.out_dir / output, response.content)  # no await: never half done
                except OSError as error:
                    raise Failed(f"cannot write {output}: {error}") from error
            except Failed as failure:
                summary.failed[rel] = str(failure)
                bar.write(f"failed {rel}: {failure}")
            else:
                digest = hashlib.sha256(data).hexdigest()
                entry = {"sha256": digest, "options": wanted, "output": output}
                entry.update(
                    {k: response.headers[h] for k, h in KEPT_HEADERS.items() if h in response.headers}
                )
                entry["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
                manifest.record(rel, entry)
                summary.done.append(rel)
                if "fallback" in entry:
                    summary.fallbacks.append(rel)
            bar.update(1)
            bar.set_postfix(failed=len(summary.failed), refresh=False)

    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=job.url, headers=headers, timeout=timeout, limits=limits) as client:
        workers = [asyncio.create_task(worker(client)) for _ in range(job.concurrency)]

        def interrupt() -> None:
            summary.interrupted = True
            for task in workers:
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, interrupt)
        try:
            results = await asyncio.gather(*workers, return_exceptions=True)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


def reachable(job: Job) -> str | None:
    """None when something answers HTTP at ``job.url``; else why not, said once rather
    than after every file's connection retries."""
    try:
        httpx.get(f"{job.url}/health", timeout=10)
    except httpx.HTTPError as error:
        return f"cannot reach WizPix at {job.url}: {type(error).__name__}: {error}"
    return None


def run(job: Job) -> Summary:
    summary = Summary()
    started = time.monotonic()
    manifest = Manifest.load(job.out_dir / MANIFEST_NAME)
    try:
        todo = list(plan(job, manifest, summary))
    except KeyboardInterrupt:
        summary.interrupted = True
        return summary
    if todo:
        if problem := reachable(job):
            summary.failed.update(dict.fromkeys((rel for rel, _ in todo), problem))
            summary.seconds = time.monotonic() - started
            return summary
        with tqdm(total=len(todo), unit="img", desc="remove-bg", file=sys.stderr, smoothing=0.1) as bar:
            try:
                asyncio.run(process(job, todo, manifest, summary, bar))
            except KeyboardInterrupt:  # before the loop's own handler was in place
                summary.interrupted = True
            finally:
                manifest.save()
    summary.seconds = time.monotonic() - started
    return summary
