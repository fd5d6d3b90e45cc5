"""Schemathesis hooks for WizPix: load with ``SCHEMATHESIS_HOOKS=wizpix_hooks`` and this
folder on ``PYTHONPATH`` (tests/server/test_fuzz.py does; so does the release check in
docs/tests.md).

- ``no_server_error``: any 5xx fails, except what a request itself asked for or what
  reports load: a ``deadline_exceeded`` 504 under a deadline the case set below 2 s, a 503
  ``overloaded`` or ``busy``. A 5xx must be in our envelope.
- The schema as BentoML serves it (``/docs.json``, every route, ours and BentoML's) is
  labelled OpenAPI 3.0.2 but written in JSON Schema 2020-12 (pydantic's): relabelled 3.1.0
  so that schemathesis loads the main operations. The deadline header is declared as free
  text on every cutting route, so odd values of it are tried too.
- Half the file fields carry real PNG images (odd modes, sides of 1 to 64 px or near the
  WebP and JPEG limits), so that cases reach the pipeline rather than stop at
  ``not_an_image``.
"""

from __future__ import annotations

import io
import json

import schemathesis
from hypothesis import strategies as st

ALLOWED = {(504, "deadline_exceeded"), (503, "overloaded"), (503, "busy")}
DEADLINE = "X-WizPix-Deadline-Ms"
CUTTING = (
    "/remove-bg",
    "/v1.0/removebg",
    "/remove_background",
    "/remove_backgrounds",
    "/remove_backgrounds/submit",
)
FILE_FIELDS = ("file", "image", "images", "image_file", "bg_image_file")


def _code(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        return body["errors"][0].get("code")  # remove.bg's envelope on /v1.0/
    return None


@schemathesis.check
def no_server_error(ctx, response, case) -> None:
    if response.status_code < 500:
        return
    try:
        code = _code(json.loads(response.content or b"null"))
    except ValueError:
        code = None
    asked = str((case.headers or {}).get(DEADLINE, ""))
    short = asked.isascii() and asked.isdigit() and int(asked) < 2000
    if (response.status_code, code) in ALLOWED and (code != "deadline_exceeded" or short):
        return
    raise AssertionError(f"{response.status_code} {code or '(not our envelope)'}: {response.content[:300]!r}")


@schemathesis.hook
def before_load_schema(context, raw_schema: dict) -> None:
    if not str(raw_schema.get("openapi", "")).startswith("3.0"):
        return
    raw_schema["openapi"] = "3.1.0"
    header = {"name": DEADLINE, "in": "header", "required": False, "schema": {"type": "string"}}
    for path in CUTTING:
        operation = raw_schema.get("paths", {}).get(path, {}).get("post")
        if operation is not None:
            kept = [p for p in operation.get("parameters") or [] if p.get("name") != DEADLINE]
            operation["parameters"] = [*kept, header]


SIDES = st.one_of(st.integers(1, 64), st.sampled_from([16383, 16384, 17000, 65500, 65501, 70000]))


@st.composite
def png(draw: st.DrawFn) -> bytes:
    from PIL import Image

    width, height = draw(SIDES), draw(SIDES)
    height = min(height, max(1, 2_000_000 // width))
    mode = draw(st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "I;16", "1"]))
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


@schemathesis.hook
def flatmap_body(context, body):
    if not isinstance(body, dict) or not any(field in body for field in FILE_FIELDS):
        return st.just(body)

    def with_images(images: list[bytes]) -> dict:
        filled = dict(body)
        for field in FILE_FIELDS:
            if field in filled:
                filled[field] = images if field == "images" else images[0]
        return filled

    return st.one_of(st.just(body), st.lists(png(), min_size=1, max_size=3).map(with_images))
