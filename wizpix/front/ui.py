"""The demo page (/ui) and a landing page (/) that links to it.

Plain HTML, CSS and JS in ``wizpix/front/ui/index.html``, no build step: the page calls the
same /remove-bg and /health routes as any client, with relative URLs, so it works behind a
path prefix too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).with_name("ui") / "index.html"

LANDING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>WizPix</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.6}</style>
</head><body><h1>WizPix</h1><p>Background removal service.</p><ul>
<li><a href="ui">Try it: the demo page</a></li>
<li><a href="docs">API documentation</a> (<a href="openapi.json">OpenAPI</a>)</li>
<li><a href="health">Health</a> · <a href="metrics">Prometheus metrics</a></li>
</ul></body></html>"""


@lru_cache(maxsize=1)
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


router = APIRouter(include_in_schema=False)


@router.get("/")
async def landing() -> HTMLResponse:
    return HTMLResponse(LANDING)


@router.get("/ui")
async def demo() -> HTMLResponse:
    return HTMLResponse(_page())
