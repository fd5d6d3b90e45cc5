#!/usr/bin/env python3
"""Remove the background of every image in a folder through a running WizPix service.

    .venv/bin/python scripts/remove_folder.py IN_DIR OUT_DIR [--url URL] [--quality fast|pro]
        [--concurrency N] [any /remove-bg option, e.g. --format webp --crop --max-size 1024]

Sub-folders are mirrored in OUT_DIR; each image becomes NAME.<ext>, the extension taken from
the answer's content type. Resumable: ``OUT_DIR/.wizpix-manifest.json`` records, per input,
the sha256 of its bytes, the query used and the output, so a second run sends only what is
new, changed, asked with other options, served by a fallback, or whose output was deleted.
Outputs and the manifest are written to a temp file and renamed, so an interrupted run
leaves no partial file. Exit codes: 0 all done · 1 some failed · 2 bad usage · 130 Ctrl-C.
Environment: WIZPIX_URL (default URL), API_KEY (sent as ``Authorization: Bearer``).

The /remove-bg options are generated from ``wizpix.image.options.OutputOptions`` (the service's own
query model), so a field added there is a flag here with nothing else to change.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
import json
import mimetypes
import os
import signal
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import httpx
from pydantic import BaseModel, ValidationError
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wizpix.core.enums import RoleName
from wizpix.image.options import OutputOptions

IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif", "heic", "heif", "avif"}
)
MANIFEST_NAME = ".wizpix-manifest.json"
MANIFEST_VERSION = 1
KEPT_HEADERS = {"model": "x-wizpix-model", "served": "x-wizpix-quality", "fallback": "x-wizpix-fallback"}
EXTENSIONS = {"image/png": ".png", "image/webp": ".webp", "application/zip": ".zip", "image/jpeg": ".jpg"}
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130
OPTION_DEST = "option:"  # argparse dest prefix of the generated /remove-bg flags


# --- the /remove-bg options, as flags generated from the service's own model ------------


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` → ``X``: an unset flag is how a CLI says None."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def add_option_flags(parser: argparse.ArgumentParser, model: type[BaseModel] = OutputOptions) -> None:
    """One flag per field of ``model``: bools as ``--x/--no-x``, Literals as choices, ints
    and floats typed, anything else passed as text for the model itself to validate."""
    group = parser.add_argument_group("/remove-bg options (from wizpix.image.options.OutputOptions)")
    for name, info in model.model_fields.items():
        annotation = _unwrap_optional(info.annotation)
        flag = "--" + name.replace("_", "-")
        flags = [flag] if "_" not in name else [flag, f"--{name}"]
        default = "" if info.default is None else f" (server default: {info.default})"
        common: dict[str, Any] = {
            "dest": OPTION_DEST + name,
            "default": argparse.SUPPRESS,  # only what was given is sent
            "help": ((info.description or name) + default).replace("%", "%%"),
        }
        if annotation is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
        elif get_origin(annotation) is Literal:
            choices = get_args(annotation)
            group.add_argument(*flags, choices=choices, type=type(choices[0]), **common)
        elif annotation in (int, float):
            group.add_argument(*flags, type=annotation, metavar=name.upper(), **common)
        else:
            group.add_argument(*flags, metavar=name.upper(), **common)


def options_from(namespace: argparse.Namespace, model: type[BaseModel] = OutputOptions) -> BaseModel:
    """The validated options the flags asked for (``ValidationError`` when the model refuses)."""
    given = {
        key.removeprefix(OPTION_DEST): value
        for key, value in vars(namespace).items()
        if key.startswith(OPTION_DEST)
    }
    return model(**given)


def query_params(options: BaseModel) -> dict[str, str]:
    """The query string for ``options``: only values that differ from the defaults, so that
    a field added to the model later does not make every earlier output look stale."""
    params = {}
    for name, value in options.model_dump(mode="json", exclude_defaults=True).items():
        if value is None:
            continue
        params[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return dict(sorted(params.items()))


# --- walking and naming -------------------------------------------------------------------


def find_images(in_dir: Path, out_dir: Path | None = None) -> list[str]:
    """Relative POSIX paths of the images under ``in_dir``, sorted; hidden files and folders
    are skipped, and so is ``out_dir`` when it lies inside ``in_dir`` (never re-walked)."""
    skip = out_dir.resolve() if out_dir is not None else None
    found = []
    for root, dirs, files in os.walk(in_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower().lstrip(".") in IMAGE_EXTENSIONS:
                found.append((here / name).relative_to(in_dir).as_posix())
    return sorted(found)


def output_stems(relatives: Iterable[str]) -> dict[str, str]:
    """Each input's output path without extension: ``a/b.jpg`` → ``a/b``, except when two
    inputs of one folder share a stem (``b.jpg``, ``b.png``): then both keep their full
    name (``a/b.jpg``, ``a/b.png``), so that neither overwrites the other."""
    relatives = list(relatives)
    seen: dict[tuple[str, str], int] = {}
    for rel in relatives:
        path = Path(rel)
        key = (path.parent.as_posix(), path.stem.casefold())
        seen[key] = seen.get(key, 0) + 1
    stems = {}
    for rel in relatives:
        path = Path(rel)
        shared = seen[(path.parent.as_posix(), path.stem.casefold())] > 1
        stems[rel] = rel if shared else path.with_suffix("").as_posix()
    return stems


def extension_for(content_type: str | None) -> str:
    """The file extension for an answer's media type (``image/webp; x=y`` → ``.webp``)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return EXTENSIONS.get(media) or mimetypes.guess_extension(media) or ".bin"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- the manifest -----------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, or nothing: a temp file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass
class Manifest:
    """What earlier runs finished, per relative input path."""

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    _saved_at: float = 0.0
    _save_cost: float = 0.0
    _dirty: bool = False

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            body = json.loads(path.read_text())
            files = body["files"] if body.get("version") == MANIFEST_VERSION else {}
        except FileNotFoundError:
            files = {}
        except (ValueError, KeyError, TypeError, AttributeError):
            print(f"warning: {path} is unreadable; every image will be sent again", file=sys.stderr)
            files = {}
        return cls(path, dict(files))

    def is_done(self, rel: str, sha256: str, wanted: dict[str, str], stem: str, out_dir: Path) -> bool:
        """Finished earlier from these bytes with this query, not by a fallback, under the
        name this run would give it, and the output is still there."""
        entry = self.files.get(rel)
        if not entry or entry.get("sha256") != sha256 or entry.get("options") != wanted:
            return False
        output = entry.get("output") or ""
        if entry.get("fallback") or Path(output).with_suffix("").as_posix() != stem:
            return False
        return (out_dir / output).is_file()

    def record(self, rel: str, entry: dict[str, Any]) -> None:
        """Note a finished file and save, unless saving would cost more than a tenth of the
        run (a large manifest): then at the latest on the next record or ``save``."""
        self.files[rel] = entry
        self._dirty = True
        if time.monotonic() - self._saved_at >= 10 * self._save_cost:
            self.save()

    def save(self) -> None:
        if not self._dirty:
            return
        started = time.monotonic()
        body = {"version": MANIFEST_VERSION, "files": dict(sorted(self.files.items()))}
        write_atomically(self.path, json.dumps(body, indent=1).encode())
        self._saved_at = time.monotonic()
        self._save_cost = self._saved_at - started
        self._dirty = False


# --- talking to the service -------------------------------------------------------------


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


# --- the run ----------------------------------------------------------------------------


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
    policy: RetryPolicy = RetryPolicy()

    @property
    def wanted(self) -> dict[str, str]:
        """What the manifest keeps as "the options used": the whole query."""
        return {"quality": self.quality, **self.params}


def plan(job: Job, manifest: Manifest, summary: Summary) -> Iterator[tuple[str, str]]:
    """(relative input, output stem) of each image to send; the others count as skipped."""
    images = find_images(job.in_dir, job.out_dir)
    summary.total = len(images)
    stems = output_stems(images)
    for rel in images:
        digest = sha256_of(job.in_dir / rel)
        if manifest.is_done(rel, digest, job.wanted, stems[rel], job.out_dir):
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
            try:
                response = await post_with_retries(
                    client, Path(rel).name, data, {"quality": job.quality, **job.params}, job.policy, retried
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
                entry = {"sha256": hashlib.sha256(data).hexdigest(), "options": job.wanted, "output": output}
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


# --- the command line -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
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
    parser.add_argument("--quality", choices=[r.value for r in RoleName], default=RoleName.FAST.value)
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight (default 2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request (default 600)")
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
        problems = "; ".join(
            f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in error.errors()
        )
        parser.error(problems)
    return Job(
        in_dir=args.in_dir,
        out_dir=args.out_dir,
        url=args.url.rstrip("/"),
        quality=args.quality,
        params=query_params(options),
        concurrency=args.concurrency,
        api_key=os.environ.get("API_KEY") or None,
        timeout_s=args.timeout,
    )


def main(argv: list[str] | None = None) -> int:
    job = parse_job(argv)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    summary = run(job)
    print(summary.text(), flush=True)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
