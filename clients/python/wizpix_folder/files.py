"""The folder side: which files are images, what each output is named, atomic writes."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from wizpix.image.encode import SUFFIXES

IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif", "heic", "heif", "avif"}
)
# cut by the service's remove_video task (docs/video.md)
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "webm", "mkv"})
INPUT_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def is_video(relative: str) -> bool:
    return Path(relative).suffix.lower().lstrip(".") in VIDEO_EXTENSIONS


def find_images(in_dir: Path, out_dir: Path | None = None) -> list[str]:
    """Relative POSIX paths of the images (and videos) under ``in_dir``, sorted; hidden files
    and folders are skipped, and so is ``out_dir`` when it lies inside ``in_dir`` (never
    re-walked)."""
    skip = out_dir.resolve() if out_dir is not None else None
    found = []
    for root, dirs, files in os.walk(in_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        for name in files:
            kind = Path(name).suffix.lower().lstrip(".")
            if not name.startswith(".") and kind in INPUT_EXTENSIONS:
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
    return SUFFIXES.get(media) or mimetypes.guess_extension(media) or ".bin"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
