"""A request body checked before BentoML reads it: its real media type and its shape.

BentoML reads a typed API's body with Starlette's form parser (at most 1000 files, 1000
fields, 1 MB a text field) or as JSON, and answers anything it cannot read with a bare 500:
a malformed multipart body, a file name too long for a temporary file, too many parts. A
text value where a file belongs it takes for a URL and downloads, unbounded and past
``ALLOW_IMAGE_URL``. So the body is read here first, with python-multipart's streaming
parser (the one Starlette uses, so the same bytes are refused), without keeping any part:
a problem is our 4xx saying what is wrong, and BentoML only ever sees bodies it can read.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from wizpix.core.errors import ApiError, BadInput

# Starlette's limits for request.form(), which BentoML calls with none of its own.
MAX_FILES = MAX_FIELDS = 1000
MAX_FIELD_BYTES = 2**20
# BentoML keeps each file in a temporary file named tmp + 8 characters + the part's name:
# a name must fit in a file name (255 bytes on Linux).
MAX_FILE_NAME_BYTES = 200
FORM = "application/x-www-form-urlencoded"


def unsupported(kind: str, allowed: str) -> ApiError:
    return ApiError(
        "unsupported_media_type",
        f"a body of type {kind or 'none'} cannot be read here; send {allowed}",
        status=415,
    )


def body_problem(body: bytes, content_type: str, file_fields: tuple[str, ...]) -> ApiError | None:
    """Why BentoML could not read ``body`` (or would fetch a URL from it), or None."""
    kind, params = parse_options_header(content_type)
    kind_text = kind.decode("latin-1").lower()
    if file_fields:  # files travel in multipart only: text or JSON there is a URL to BentoML
        if kind_text != "multipart/form-data":
            return unsupported(kind_text, f"multipart/form-data with the file in `{file_fields[0]}`")
        return _multipart_problem(body, params.get(b"boundary", b""), file_fields)
    if kind_text == "multipart/form-data":
        return _multipart_problem(body, params.get(b"boundary", b""), ())
    if kind_text == FORM:
        if body.count(b"&") >= MAX_FIELDS:
            return BadInput("invalid_body", f"a form of more than {MAX_FIELDS} fields")
        return None
    if kind_text in ("application/json", "") and body.strip():
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            return BadInput("invalid_json", "the body is not valid JSON")
        return None
    if kind_text not in ("application/json", ""):
        return unsupported(kind_text, "application/json")
    return None


def _multipart_problem(body: bytes, boundary: bytes, file_fields: tuple[str, ...]) -> ApiError | None:
    if not boundary:
        return BadInput("invalid_multipart", "the multipart body's Content-Type has no boundary")
    state: dict[str, Any] = {"files": 0, "fields": 0, "size": 0, "ended": False, "problem": None}
    headers: dict[bytes, bytes] = {}
    current: dict[str, Any] = {}
    name = value = b""

    def refuse(problem: ApiError) -> None:
        state["problem"] = state["problem"] or problem

    def header_field(data: bytes, start: int, end: int) -> None:
        nonlocal name
        name += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        nonlocal value
        value += data[start:end]

    def header_end() -> None:
        nonlocal name, value
        headers[name.lower()] = value
        name = value = b""

    def headers_finished() -> None:
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        field = options.get(b"name", b"").decode("latin-1")
        is_file = b"filename" in options
        current.update(field=field, file=is_file)
        state["size"] = 0
        if is_file:
            state["files"] += 1
            refuse_name = _file_name_problem(options[b"filename"])
            if refuse_name is not None:
                refuse(refuse_name)
        else:
            state["fields"] += 1
            if field in file_fields:
                message = f"`{field}` must be a file part (filename=…), not text or a URL"
                refuse(BadInput("file_expected", message))
        headers.clear()

    def part_data(data: bytes, start: int, end: int) -> None:
        state["size"] += end - start
        if not current.get("file") and state["size"] > MAX_FIELD_BYTES:
            refuse(BadInput("invalid_multipart", f"a text field is larger than {MAX_FIELD_BYTES} bytes"))

    def ended() -> None:
        state["ended"] = True

    callbacks: dict[str, Any] = {
        "on_header_field": header_field,
        "on_header_value": header_value,
        "on_header_end": header_end,
        "on_headers_finished": headers_finished,
        "on_part_data": part_data,
        "on_end": ended,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except Exception as error:  # noqa: BLE001 - python-multipart's errors: the body is malformed
        return BadInput("invalid_multipart", f"the multipart body is malformed: {error}"[:300])
    if state["problem"] is not None:
        return state["problem"]
    if not state["ended"]:
        return BadInput("invalid_multipart", "the multipart body ends before its closing boundary")
    if state["files"] > MAX_FILES or state["fields"] > MAX_FIELDS:
        return BadInput("invalid_multipart", f"at most {MAX_FILES} files and {MAX_FIELDS} fields a request")
    return None


def _file_name_problem(raw: bytes) -> ApiError | None:
    """A part's file name must be printable (control and format characters would reach a
    terminal or a zip listing) and short enough to name a temporary file."""
    text = raw.decode("utf-8", "replace")
    if len(text.encode()) > MAX_FILE_NAME_BYTES:
        return BadInput("invalid_file_name", f"a file name is longer than {MAX_FILE_NAME_BYTES} bytes")
    if any(unicodedata.category(character)[0] == "C" for character in text):
        return BadInput("invalid_file_name", "a file name holds control characters")
    return None
