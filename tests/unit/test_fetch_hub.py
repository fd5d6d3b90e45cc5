"""The Hugging Face Hub source, against a local stand-in hub (never the real one).

huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE and the cache location when it is
imported, so each scenario runs in a fresh interpreter with its own environment, as a
user's `fetch_models.py` would.
"""

from __future__ import annotations

import hashlib
import os
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port, run_python

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PAYLOAD = b"onnx weights " * 4000
SHA = hashlib.sha256(PAYLOAD).hexdigest()
TOKEN = "hf_test_token"


class StandInHub(BaseHTTPRequestHandler):
    """``/{repo}/resolve/{revision}/{file}`` with the headers huggingface_hub reads; the
    ``gated/`` repository answers only a request that carries the token."""

    requests: list[str] = []  # noqa: RUF012 - shared by the server's handler instances

    def _answer(self, body: bool) -> None:
        StandInHub.requests.append(f"{self.command} {self.path}")
        repo_path = f"/resolve/{COMMIT}/onnx/model.onnx"
        known = self.path in (f"/org/model{repo_path}", f"/gated/model{repo_path}")
        if not known:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/gated/") and self.headers.get("authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{SHA}"')
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        if body:
            self.wfile.write(PAYLOAD)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from wizpix.core.catalog import HuggingFaceSource, load_catalog
    from wizpix.weights.sources import FetchError, fetch_model

    repo, model_dir = sys.argv[1], Path(sys.argv[2])
    source = HuggingFaceSource(kind="huggingface", repo=repo, filename="onnx/model.onnx",
                               revision="{commit}", sha256="{sha}")
    spec = load_catalog().require("bria-rmbg").model_copy(update={{"file": "x.onnx", "sources": (source,)}})
    started = time.monotonic()
    try:
        fetched = fetch_model(spec, model_dir)
        print("OK", fetched.sha256 == "{sha}", fetched.source)
    except FetchError as error:
        print("FAILED", round(time.monotonic() - started, 2), str(error).replace(chr(10), " | "))
    """
).format(commit=COMMIT, sha=SHA)


def fetch(repo: str, model_dir: Path, **env: str) -> str:
    hub_settings = dict.fromkeys((k for k in os.environ if k.startswith("HF_")), None)  # not the machine's
    return run_python(SCRIPT, repo, str(model_dir), **{**hub_settings, **env})


def test_a_pinned_file_is_fetched_verified_and_its_cache_reused(hub: str, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    StandInHub.requests.clear()
    first = fetch("org/model", tmp_path / "a", **env)
    assert first.startswith("OK True Hugging Face Hub org/model/onnx/model.onnx@0123456789")
    assert (tmp_path / "a" / "x.onnx").read_bytes() == PAYLOAD
    assert any(r.startswith(f"GET /org/model/resolve/{COMMIT}/") for r in StandInHub.requests)
    # another MODEL_DIR, same hub cache: nothing is asked of the hub
    StandInHub.requests.clear()
    assert fetch("org/model", tmp_path / "b", **env).startswith("OK True")
    assert StandInHub.requests == []
    # and offline, the cache still serves
    assert fetch("org/model", tmp_path / "c", **env, HF_HUB_OFFLINE="1").startswith("OK True")


def test_hf_token_opens_a_gated_repository(hub: str, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    refused = fetch("gated/model", tmp_path / "a", **env)
    assert refused.startswith("FAILED") and "Hugging Face Hub gated/model" in refused
    assert fetch("gated/model", tmp_path / "b", **env, HF_TOKEN=TOKEN).startswith("OK True")


def test_offline_without_cache_and_a_missing_file_fail_with_the_reason(hub: str, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    offline = fetch("org/model", tmp_path / "a", **env, HF_HUB_OFFLINE="1")
    assert offline.startswith("FAILED") and "HF_HUB_OFFLINE is set" in offline
    missing = fetch("org/other", tmp_path / "b", **env)
    assert missing.startswith("FAILED") and "EntryNotFound" in missing


def test_an_unreachable_hub_fails_at_the_connection_check(tmp_path: Path) -> None:
    """huggingface_hub alone retries a refused connection for ~23 s; the connection check
    answers first, so huggingface_hub's download is never started (its errors would name
    LocalEntryNotFoundError)."""
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HOME": str(tmp_path / "hf")}
    answer = fetch("org/model", tmp_path / "a", **env)
    assert answer.startswith("FAILED") and "unreachable ([Errno 111] Connection refused)" in answer
    assert "LocalEntryNotFoundError" not in answer
