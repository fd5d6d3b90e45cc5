"""BentoML's task store, read for a batch's cancel and progress, and its upload names.

BentoML's local server keeps tasks in a SQLite file and records a cancel there without
stopping the task: the batch reads that record between images.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from contextlib import closing
from functools import cache
from pathlib import Path

import bentoml


@cache
def task_store() -> str:
    """Where this server's BentoML keeps its tasks (``BENTOML_RESULT_STORE``, or its home)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return BentoMLContainer.result_store_file.get()


def task_status(store: str, task_id: str) -> str | None:
    """A task's status in BentoML's local task store (SQLite), or None when it has no such task."""
    try:
        uri = Path(store).resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=1)) as connection:
            row = connection.execute("SELECT status FROM result WHERE task_id = ?", (task_id,)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def batch_key(ctx: bentoml.Context) -> tuple[str, bool]:
    """The batch's id for its progress: BentoML's task id, or a new one for a plain call."""
    task_id = getattr(ctx.request.state, "task_id", None)
    return (task_id, True) if task_id else (f"sync-{uuid.uuid4().hex}", False)


async def canceled_in(store: str, task_id: str) -> bool:
    return await asyncio.to_thread(task_status, store, task_id) == "canceled"


def upload_names(paths: list[Path]) -> list[str]:
    """The files' names as the client sent them. BentoML keeps each part in a temporary
    file named ``tmp`` + 8 random characters + the part's file name (tempfile's naming)."""
    return [
        path.name[11:] if path.name.startswith("tmp") and len(path.name) > 11 else path.name for path in paths
    ]
