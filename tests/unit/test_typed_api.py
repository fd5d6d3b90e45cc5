"""The typed API's own pieces, without a server: options, names, the task store, uploads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wizpix.core.enums import RoleName
from wizpix.core.errors import ApiError
from wizpix.front.bentoml_api import request_options
from wizpix.front.tasks import task_status, upload_names


def test_options_are_checked_as_remove_bg_checks_them() -> None:
    # BentoML hands multipart fields over JSON-decoded: numbers and booleans, not text
    role, options = request_options("pro", {"crop": True, "crop_margin": 4, "max_size": "512"})
    assert role == RoleName.PRO and options.crop and options.crop_margin == "4" and options.max_size == 512
    for quality, fields, where in (("ultra", {}, "quality"), ("fast", {"format": "tiff"}, "format")):
        with pytest.raises(ApiError) as refused:
            request_options(quality, fields)
        assert refused.value.status == 422 and refused.value.code == "invalid_request"
        assert refused.value.message.startswith(where)


def test_upload_names_undo_bentomls_temporary_naming() -> None:
    paths = [Path("/tmp/x/tmpab12cd34photo 1.jpg"), Path("/tmp/x/tmpab12cd34"), Path("/tmp/x/own.png")]
    assert upload_names(paths) == ["photo 1.jpg", "tmpab12cd34", "own.png"]


def test_task_status_reads_bentomls_store(tmp_path: Path) -> None:
    store = tmp_path / "odd #?% name.db"
    with sqlite3.connect(store) as connection:
        connection.execute("CREATE TABLE result (task_id TEXT PRIMARY KEY, status TEXT)")
        connection.execute("INSERT INTO result VALUES ('t1', 'canceled')")
    assert task_status(str(store), "t1") == "canceled"
    assert task_status(str(store), "t2") is None
    assert task_status(str(tmp_path / "missing.db"), "t1") is None
