#!/usr/bin/env python3
"""Make the pictures of each output mode (docs/examples/), with the real pro model (ISNet).

    .venv/bin/python scripts/make_examples.py      # writes docs/examples/*.png

Same code path as the service (decode → model input → mask → render), in process.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wizpix.core.catalog import load_catalog  # noqa: E402
from wizpix.core.enums import RoleName  # noqa: E402
from wizpix.core.roles import build_roles  # noqa: E402
from wizpix.core.settings import Settings  # noqa: E402
from wizpix.image.compose import model_input, resize_mask  # noqa: E402
from wizpix.image.decode import decode_image  # noqa: E402
from wizpix.image.options import OutputOptions  # noqa: E402
from wizpix.image.render import render  # noqa: E402
from wizpix.runner.factory import build_model  # noqa: E402
from wizpix.weights.store import Weights  # noqa: E402

OUT = ROOT / "docs" / "examples"


def checkerboard(size: tuple[int, int], cell: int = 16) -> Image.Image:
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    shade = np.where((xx // cell + yy // cell) % 2, 205, 245).astype(np.uint8)
    return Image.fromarray(np.dstack([shade] * 3), "RGB")


def shown(data: bytes) -> Image.Image:
    """A result as a person sees it: transparency over a checkerboard."""
    image = Image.open(io.BytesIO(data))
    if image.mode != "RGBA":
        return image.convert("RGB")
    board = checkerboard(image.size).convert("RGBA")
    board.alpha_composite(image)
    return board.convert("RGB")


def labelled(tiles: list[tuple[str, Image.Image]], height: int = 300) -> Image.Image:
    scaled = [
        (label, tile.resize((round(tile.width * height / tile.height), height))) for label, tile in tiles
    ]
    sheet = Image.new("RGB", (sum(t.width for _, t in scaled) + 10 * (len(scaled) + 1), height + 40), "white")
    draw, x = ImageDraw.Draw(sheet), 10
    for label, tile in scaled:
        sheet.paste(tile, (x, 10))
        draw.text((x, height + 16), label, fill="black")
        x += tile.width + 10
    return sheet


def main() -> int:
    from skimage import data

    OUT.mkdir(parents=True, exist_ok=True)
    role = build_roles(Settings(pro_model_name="isnet-general-use"), load_catalog())[RoleName.PRO]
    spec = role.model
    model = build_model(role, Weights(ROOT / "models" / str(spec.file), "", "the project's MODEL_DIR"))
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=92)
    upload = buffer.getvalue()
    pre = spec.preprocess
    mask = model.predict(model_input(decode_image(upload), pre.size, pre.resample)[None])[0]

    def result(**options: object) -> bytes:
        image = decode_image(upload)
        return render(image, resize_mask(mask, image.size, pre.resample), OutputOptions(**options)).data

    labelled(
        [
            ("input", decode_image(upload)),
            ("cutout (default)", shown(result())),
            ("output=mask", shown(result(output="mask"))),
            ("bg_color=ffffff", shown(result(bg_color="ffffff"))),
            ("crop=true&crop_margin=16", shown(result(crop=True, crop_margin=16))),
        ]
    ).save(OUT / "modes.png", optimize=True)

    hair = (150, 0, 350, 130)  # where hair meets the grey backdrop
    before = shown(result(bg_color="1d3557")).crop(hair)
    after = shown(result(bg_color="1d3557", refine=True)).crop(hair)
    labelled([("over navy, plain", before), ("over navy, refine=true", after)], height=260).save(
        OUT / "refine.png", optimize=True
    )
    print(f"wrote {OUT / 'modes.png'} and {OUT / 'refine.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
