"""Property: any valid image with any valid options either renders or is refused with a 4xx
that says why; never an encoder's exception. Sides are drawn near where encoders stop
(WebP 16383, JPEG 65500), where the HTTP fuzzer rarely steers."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from wizpix.core.errors import BadInput
from wizpix.image.options import OutputOptions
from wizpix.image.render import render

SIDES = st.one_of(st.integers(1, 48), st.sampled_from([16383, 16384, 17000, 65500, 65501, 70000]))
OPTIONS = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["png", "webp", "jpg", "zip", "auto"]),
        "output": st.sampled_from(["cutout", "mask"]),
    },
    optional={
        "bg_color": st.sampled_from(["ffffff", "00000080", "red"]),
        "crop": st.booleans(),
        "crop_margin": st.sampled_from(["0", "10%", "3px 1px"]),
        "scale": st.sampled_from(["10%", "100%", "original"]),
        "position": st.sampled_from(["center", "0% 100%", "original"]),
        "max_size": st.integers(1, 20_000),
        "max_megapixels": st.sampled_from([0.25, 1.0, 25.0]),
        "roi": st.sampled_from(["0% 0% 100% 100%", "0 0 1 1", "50% 50% 10% 10%"]),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=SIDES, height=SIDES, mode=st.sampled_from(["RGB", "RGBA"]), options=OPTIONS, subject=st.booleans()
)
def test_render_encodes_or_refuses_with_a_4xx(
    width: int, height: int, mode: str, options: dict, subject: bool
) -> None:
    height = min(height, max(1, 400_000 // width))  # a thin strip, not a large image
    image = Image.new(mode, (width, height), (200, 30, 30, 255) if mode == "RGBA" else (200, 30, 30))
    alpha = np.zeros((height, width), np.uint8)
    if subject:
        alpha[: max(1, height // 2), : max(1, width // 2)] = 255
    try:
        rendered = render(image, alpha, OutputOptions(**options))
    except BadInput as refused:
        assert 400 <= refused.status < 500 and refused.code in ("no_subject", "too_large_for_format")
        return
    assert rendered.data and rendered.media_type.split("/")[0] in ("image", "application")
    assert max(rendered.size) <= max(width, height)
