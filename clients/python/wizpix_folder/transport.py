"""Talking to the service: one upload with the retries a busy service asks for."""

from __future__ import annotations

import asyncio
import email.utils
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date);
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    busy_retries: int = 5  # 503 / 429
    connection_retries: int = 3
    max_wait_s: float = 30.0

    def busy_wait(self, status: int, retry_after: str | None, attempt: int) -> float | None:
        """Seconds before retry number ``attempt`` (1-based) of an answer with ``status``,
        or None when it is final: the server's ``Retry-After`` (else 1, 2, 4… s), capped."""
        if status not in (429, 503) or attempt > self.busy_retries:
            return None
        wait = parse_retry_after(retry_after)
        return min(self.max_wait_s, 2.0 ** (attempt - 1) if wait is None else wait)

    def connection_wait(self, attempt: int) -> float | None:
        return None if attempt > self.connection_retries else min(self.max_wait_s, 2.0 ** (attempt - 1))


def error_reason(response: httpx.Response) -> str:
    """``400 not_an_image: the uploaded file…`` from the service's JSON error body."""
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} {response.reason_phrase}: {response.text[:200].strip()}"


class Failed(Exception):
    """A file that will not be done in this run, and why."""


async def post_with_retries(
    client: httpx.AsyncClient,
    name: str,
    data: bytes,
    params: dict[str, str],
    policy: RetryPolicy,
    on_retry: Callable[[str], None] = lambda why: None,
) -> httpx.Response:
    """The 200 answer for one upload, after the retries ``policy`` allows; ``on_retry`` hears
    of each (``503``, ``429`` or ``connection``). Raises ``Failed`` with the final reason."""
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    busy = connection = 0
    while True:
        try:
            response = await client.post("/remove-bg", params=params, files={"file": (name, data, media)})
        except httpx.TransportError as error:
            connection += 1
            wait, why = policy.connection_wait(connection), "connection"
            if wait is None:
                raise Failed(f"connection error: {type(error).__name__}: {error}") from error
        else:
            if response.status_code == 200:
                return response
            busy += 1
            wait = policy.busy_wait(response.status_code, response.headers.get("retry-after"), busy)
            why = str(response.status_code)
            if wait is None:
                raise Failed(error_reason(response))
        on_retry(why)
        await asyncio.sleep(wait)


async def cut_video(
    client: httpx.AsyncClient,
    name: str,
    data: bytes,
    fields: dict[str, str],
    policy: RetryPolicy,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    poll_s: float = 0.5,
) -> httpx.Response:
    """A video through the ``remove_video`` task: submit (with the retries a busy service
    asks for), follow its progress, fetch the result. Raises ``Failed`` with the reason."""
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    busy = 0
    while True:
        try:
            submitted = await client.post(
                "/remove_video/submit", data=fields, files={"video": (name, data, media)}
            )
        except httpx.TransportError as error:
            raise Failed(f"connection error: {type(error).__name__}: {error}") from error
        if submitted.status_code == 200:
            break
        busy += 1
        wait = policy.busy_wait(submitted.status_code, submitted.headers.get("retry-after"), busy)
        if wait is None:
            raise Failed(error_reason(submitted))
        await asyncio.sleep(wait)
    task = submitted.json()["task_id"]
    while True:
        status = (await client.get("/remove_video/status", params={"task_id": task})).json()["status"]
        if status != "in_progress":
            break
        progress = (await client.post("/batch_progress", json={"task_id": task})).json()
        if "done" in progress:
            on_progress(progress["done"], progress.get("total") or 0)
        await asyncio.sleep(poll_s)
    result = await client.get("/remove_video/get", params={"task_id": task})
    if result.status_code != 200:
        raise Failed(error_reason(result))
    return result
