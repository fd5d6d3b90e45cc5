"""Repeat edits from the mask cache: the same bytes with other output options skip
inference; other bytes, another model, other weights or another recipe never hit."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import numpy as np
from PIL import Image

from tests.unit.test_frontend import InProcess, in_process
from wizpix.core.contract import RunnerStatus
from wizpix.core.enums import RoleName
from wizpix.core.settings import Settings
from wizpix.front.mask_cache import MaskCache, MaskKey
from wizpix.image.options import OutputOptions


def key(n: int, weights: str = "w") -> MaskKey:
    return MaskKey(f"upload{n}", "model", "recipe", weights)


def test_lru_bounded_in_bytes() -> None:
    cache = MaskCache(max_bytes=250)
    for n in range(3):
        cache.put(key(n), np.full(100, n, np.uint8))
    assert len(cache) == 2 and cache.bytes == 200 and cache.get(key(0)) is None  # oldest out
    assert cache.get(key(1)) is not None  # now the most recent
    cache.put(key(3), np.zeros(100, np.uint8))
    assert cache.get(key(2)) is None and cache.get(key(1)) is not None
    cache.put(key(4), np.zeros(300, np.uint8))  # larger than the whole cache: not kept
    assert cache.get(key(4)) is None and cache.bytes <= 250
    assert (cache.hits, cache.misses) == (2, 3)
    stored = cache.get(key(1))
    assert stored is not None and not stored.flags.writeable


def test_a_disabled_cache_keeps_nothing() -> None:
    cache = MaskCache(max_bytes=0)
    cache.put(key(0), np.zeros(10, np.uint8))
    assert not cache.enabled and len(cache) == 0


class Counting(InProcess):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls = 0
        self.weights = "first"

    async def predict(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        return await super().predict(images)

    async def status(self) -> RunnerStatus:
        return (await super().status()).model_copy(update={"sha256": self.weights})


def counting_cutter(**overrides: Any):
    settings = Settings(fast_model_name="mock", pro_model_name="mock", warmup_on_startup=False, **overrides)
    cut = in_process(settings, Counting)
    return cut, cut.runners[RoleName.PRO]


def remove(cut, data: bytes, quality: str = "pro", **options: Any):
    return asyncio.run(cut.remove_background(data, quality, OutputOptions(**options)))


def other_photo(disc_png: bytes) -> bytes:
    image = Image.open(io.BytesIO(disc_png)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def test_the_same_upload_with_other_options_skips_inference(disc_png: bytes) -> None:
    cut, pro = counting_cutter()
    first = remove(cut, disc_png)
    again = remove(cut, disc_png, bg_color="ffffff", crop=True, format="webp")
    mask = remove(cut, disc_png, output="mask", max_size=100)
    assert first.headers["X-WizPix-Cache"] == "miss" and pro.calls == 1
    assert again.headers["X-WizPix-Cache"] == mask.headers["X-WizPix-Cache"] == "hit"
    assert again.media_type == "image/webp" and Image.open(io.BytesIO(mask.data)).size == (100, 75)
    assert first.facts["cache"] == "miss" and again.facts["cache"] == "hit"
    # the cached mask gives exactly what inference gives
    fresh, _ = counting_cutter()
    assert remove(fresh, disc_png, bg_color="ffffff", crop=True, format="webp").data == again.data


def test_other_bytes_other_model_other_weights_miss(disc_png: bytes) -> None:
    cut, pro = counting_cutter()
    remove(cut, disc_png)
    assert remove(cut, other_photo(disc_png)).headers["X-WizPix-Cache"] == "miss"
    assert remove(cut, disc_png, quality="fast").headers["X-WizPix-Cache"] == "miss"  # the fast model's own
    pro.weights = "redeployed"  # a runner now holding other weights
    assert remove(cut, disc_png).headers["X-WizPix-Cache"] == "miss" and pro.calls == 3


def test_with_the_cache_off_every_request_runs_the_model(disc_png: bytes) -> None:
    cut, pro = counting_cutter(mask_cache_mb=0)
    for _ in range(2):
        assert "X-WizPix-Cache" not in remove(cut, disc_png).headers
    assert pro.calls == 2


def test_the_recipe_is_part_of_the_key() -> None:
    from wizpix.core.catalog import load_catalog
    from wizpix.core.roles import build_roles

    roles = build_roles(Settings(), load_catalog())
    isnet = roles[RoleName.PRO]
    stretched = isnet.model.model_copy(
        update={"postprocess": isnet.model.postprocess.model_copy(update={"stretch": True})}
    )
    import dataclasses

    assert dataclasses.replace(isnet, model=stretched).recipe_digest != isnet.recipe_digest
    assert roles[RoleName.FAST].recipe_digest != isnet.recipe_digest
