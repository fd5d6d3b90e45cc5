"""A small BentoML service that composes WizPix, as a user's own service would.

Run against a running WizPix: ``WIZPIX_URL=http://host:3000 bentoml serve
tests.server.composer_service:Framer``. It calls WizPix's typed API through
``bentoml.depends`` and answers with what it got back.
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml


@bentoml.service(name="framer")
class Framer:
    # by URL alone: the proxy learns the API from the running service (`.to_async` calls)
    wizpix = bentoml.depends(url=os.environ.get("WIZPIX_URL", "http://localhost:3000"))

    @bentoml.api
    async def frame(self, image: Path, quality: str = "fast") -> dict:
        """The subject cropped out by WizPix, described: size and alpha coverage."""
        cutout = await self.wizpix.to_async.remove_background(image=image, quality=quality, crop=True)
        alpha = cutout.getchannel("A")
        return {"size": list(cutout.size), "mode": cutout.mode, "opaque": alpha.histogram()[255]}
