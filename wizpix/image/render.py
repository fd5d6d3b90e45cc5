"""The render pipeline: an image and its full-size alpha into the encoded answer.

Work happens in the order that keeps it cheap and matches remove.bg's: region of
interest, crop, size cap, placement, then compose, encode; a format that cannot hold the
result's size is refused before any of the work that follows the size cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from wizpix.core.catalog import Preprocess
from wizpix.core.errors import BadInput
from wizpix.image.animation import Animation, write_animation
from wizpix.image.compose import (
    REDUCING_GAP,
    compose_cutout,
    cover,
    flatten,
    opaque,
    refine_edges,
    resize_mask,
    subject_bbox,
)
from wizpix.image.encode import chosen_format, encode
from wizpix.image.options import OutputOptions, lengths, margins, to_px
from wizpix.image.strokes import Strokes


@dataclass(frozen=True)
class Rendered:
    """The encoded answer: its bytes and media type, the subject's box and the size."""

    data: bytes
    media_type: str
    bbox: tuple[int, int, int, int] | None  # in the result's own coordinates
    size: tuple[int, int]


def _no_subject(what: str) -> BadInput:
    return BadInput(
        "no_subject", f"no subject was found in the image, so there is nothing to {what}", status=422
    )


def _apply_roi(alpha: np.ndarray, roi: str) -> np.ndarray:
    height, width = alpha.shape
    x1, y1, x2, y2 = lengths(roi)
    left, right = sorted((to_px(x1, width), to_px(x2, width)))
    top, bottom = sorted((to_px(y1, height), to_px(y2, height)))
    kept = np.zeros_like(alpha)
    kept[max(0, top) : max(0, bottom), max(0, left) : max(0, right)] = alpha[
        max(0, top) : max(0, bottom), max(0, left) : max(0, right)
    ]
    return kept


def _crop_box(alpha: np.ndarray, margin: str) -> tuple[int, int, int, int]:
    bbox = subject_bbox(alpha)
    if bbox is None:
        raise _no_subject("crop to")
    x, y, w, h = bbox
    top, right, bottom, left = margins(margin)
    height, width = alpha.shape
    return (
        max(0, x - to_px(left, w)),
        max(0, y - to_px(top, h)),
        min(width, x + w + to_px(right, w)),
        min(height, y + h + to_px(bottom, h)),
    )


def _place(
    image: Image.Image, alpha: np.ndarray, scale: float | None, anchor: tuple[float, float] | None
) -> tuple[Image.Image, np.ndarray]:
    """Move (and scale) the subject within the same canvas; the rest is background."""
    bbox = subject_bbox(alpha, threshold=1)  # soft edges travel with the subject
    if bbox is None:
        raise _no_subject("scale or position")
    x, y, w, h = bbox
    width, height = image.size
    subject = image.crop((x, y, x + w, y + h))
    matte = Image.fromarray(alpha[y : y + h, x : x + w], "L")
    if scale is not None:
        factor = scale * min(width / w, height / h)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        subject = subject.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        matte = matte.resize(size, Image.Resampling.LANCZOS)
    new_w, new_h = subject.size
    if anchor is None:  # keep the subject's centre
        left, top = round(x + (w - new_w) / 2), round(y + (h - new_h) / 2)
    else:
        left, top = round((width - new_w) * anchor[0]), round((height - new_h) * anchor[1])
    canvas = Image.new(image.mode, image.size, 0)
    canvas.paste(subject, (left, top))
    placed = Image.new("L", image.size, 0)
    placed.paste(matte, (left, top))
    return canvas, np.asarray(placed).copy()


def _target_size(size: tuple[int, int], options: OutputOptions) -> tuple[int, int]:
    """The result's size under max_size and max_megapixels, aspect kept, never enlarged."""
    width, height = size
    if options.max_size and max(size) > options.max_size:
        factor = options.max_size / max(size)
        width, height = max(1, round(width * factor)), max(1, round(height * factor))
    if options.max_megapixels and width * height > options.max_megapixels * 1e6:
        cap = options.max_megapixels * 1e6
        factor = (cap / (width * height)) ** 0.5  # floor: never over the cap
        width, height = max(1, int(width * factor)), max(1, int(height * factor))
        # a side pinned at 1 pixel: the other takes what the cap leaves (a 1×50 000 000 strip)
        if width * height > cap:
            if width > height:
                width = max(1, int(cap // height))
            else:
                height = max(1, int(cap // width))
    return width, height


def compose(
    image: Image.Image,
    alpha: np.ndarray,
    options: OutputOptions,
    background_image: Image.Image | None = None,
) -> tuple[Image.Image, np.ndarray]:
    """The answer's picture for ``image`` (consumed) and its full-size ``alpha``, and its
    alpha as it ends up (cropped, placed, sized); ``background_image`` goes behind."""
    if options.roi:
        alpha = _apply_roi(alpha, options.roi)
    if options.crop:
        box = _crop_box(alpha, options.crop_margin)
        image = image.crop(box)
        alpha = alpha[box[1] : box[3], box[0] : box[2]]
    if (size := _target_size(image.size, options)) != image.size:
        # before placement: that keeps the canvas, so it works at the size the answer has
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        alpha = resize_mask(alpha, size, "lanczos")
    if options.format != "auto":
        chosen_format(options.format, size, matte=False, transparent=False)  # a 422 before any work
    if (anchor := options.anchor) is not None or options.scale_fraction is not None:
        image, alpha = _place(image, alpha, options.scale_fraction, anchor)
    if options.output == "mask":
        return Image.fromarray(alpha, "L"), alpha
    if options.refine:
        image = refine_edges(image, alpha)
    result = compose_cutout(image, alpha)
    if background_image is not None:
        canvas = cover(background_image, result.size)
        canvas.alpha_composite(result)
        result = canvas.convert("RGB") if opaque(canvas) else canvas
    elif (background := options.background) is not None:
        result = flatten(result, background)
    return result, alpha


def render(
    image: Image.Image,
    alpha: np.ndarray,
    options: OutputOptions,
    background_image: Image.Image | None = None,
) -> Rendered:
    """Encode the answer for ``image`` (consumed) and its full-size ``alpha``;
    ``background_image`` (scaled to cover) goes behind the cutout when given."""
    result, alpha = compose(image, alpha, options, background_image)
    data, media_type = encode(result, options.format, options.background)
    return Rendered(data, media_type, subject_bbox(alpha), result.size)


# What changes an animation's canvas from frame to frame, or costs seconds a frame.
NOT_FOR_ANIMATIONS = ("crop", "scale", "position", "refine")
ANIMATED = ("webp", "png", "gif")  # png: APNG; auto (remove.bg's default): the input's own


def check_animatable(options: OutputOptions) -> None:
    """An animation keeps one canvas for every frame: options that would move it per frame
    are refused (ask ``frames=first`` to cut the first frame as a still image)."""
    given = [name for name in NOT_FOR_ANIMATIONS if getattr(options, name) not in (None, False)]
    if given:
        raise BadInput(
            "not_for_animations",
            f"{', '.join(given)} cannot apply to every frame of an animation; send frames=first to cut the "
            "first frame alone",
            status=422,
        )
    if "format" in options.model_fields_set and options.format not in (*ANIMATED, "auto"):
        raise BadInput(
            "not_for_animations",
            f"an animation is written as {', '.join(ANIMATED)}, not {options.format}; or send frames=first",
            status=422,
        )


def render_animation(
    animation: Animation, masks: list[np.ndarray], spec: Preprocess, options: OutputOptions
) -> Rendered:
    """Every frame cut and composed as a still would be, then written as one animation: in
    the input's container family, or the one ``format`` asks for."""
    asked = "format" in options.model_fields_set and options.format != "auto"
    fmt = options.format if asked else animation.family
    frames, boxes = [], []
    for frame, mask in zip(animation.frames, masks, strict=True):
        alpha = resize_mask(mask, frame.size, spec.resample)
        result, final = compose(frame, alpha, options)
        frames.append(result)
        boxes.append(subject_bbox(final))
    data, media_type = write_animation(frames, animation, fmt)
    return Rendered(data, media_type, _union(boxes), frames[0].size)


def _union(boxes: list[tuple[int, int, int, int] | None]) -> tuple[int, int, int, int] | None:
    """The box that holds the subject in every frame."""
    found = [box for box in boxes if box is not None]
    if not found:
        return None
    left, top = min(b[0] for b in found), min(b[1] for b in found)
    right, bottom = max(b[0] + b[2] for b in found), max(b[1] + b[3] for b in found)
    return left, top, right - left, bottom - top


def render_result(
    image: Image.Image,
    mask: np.ndarray,
    spec: Preprocess,
    options: OutputOptions,
    background_image: Image.Image | None = None,
    strokes: Strokes | None = None,
) -> Rendered:
    """Scale the model-sized ``mask`` to the image (as the model's recipe resizes), correct
    it by the client's strokes if any, then render what the client asked for."""
    alpha = resize_mask(mask, image.size, spec.resample)
    if strokes:
        alpha = strokes.apply(image, alpha)
    return render(image, alpha, options, background_image)
