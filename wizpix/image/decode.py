"""An upload's bytes into an upright sRGB image, or a ``BadInput`` that says why not.

HEIC/HEIF (iPhone photos) come through pillow-heif's opener, registered once here; AVIF
is Pillow's own. 16-bit and float images are scaled to 8 bits, EXIF orientation applied,
ICC profiles converted to sRGB: every later step sees plain 8-bit RGB or RGBA.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from wizpix.core.errors import BadInput

# libheif applies the file's rotation itself and pillow-heif then resets the EXIF
# orientation to 1, so exif_transpose below never turns a HEIC twice.
register_heif_opener(thumbnails=False)

SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


# ISO-BMFF major brands of the HEIF family (HEIC, HEIF image/sequence, AVIF), at offset 8
# after the box size and "ftyp".
HEIF_BRANDS = frozenset(
    (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
)


def looks_like_an_image(data: bytes) -> bool:
    """Magic bytes of a format we read: tells a damaged image from a file of another kind."""
    if data.startswith(SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return True
    return data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS


def decode_image(data: bytes, max_pixels: int | None = None, at_least: int | None = None) -> Image.Image:
    """Decode an upload into an upright RGB or RGBA image, or raise BadInput saying why.

    ``at_least``: the image is only needed this many pixels a side; a JPEG is then decoded
    by libjpeg at the smallest of 1/2, 1/4, 1/8 scale that still covers it (a background
    behind a small result need not be decoded whole)."""
    if not data:
        raise BadInput("empty_file", "the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if max_pixels is not None and image.width * image.height > max_pixels:
                raise BadInput(
                    "image_too_large",
                    f"the image has {image.width * image.height} pixels; the limit is {max_pixels}",
                    status=413,
                )
            if at_least is not None:
                image.draft(image.mode, (at_least, at_least))  # JPEG only; a no-op elsewhere
            image.load()
    except BadInput:
        raise
    except UnidentifiedImageError:
        if looks_like_an_image(data):
            raise BadInput("corrupt_image", "the file starts like an image but cannot be decoded") from None
        raise BadInput("not_an_image", "the uploaded file is not an image format we can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadInput("image_too_large", str(error), status=413) from None
    except (OSError, SyntaxError, ValueError, EOFError, RuntimeError, NotImplementedError) as error:
        raise BadInput("corrupt_image", f"the image could not be decoded: {error}") from None
    ImageOps.exif_transpose(image, in_place=True)  # no copy when already upright
    image = _to_8_bit(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    wanted = "RGBA" if has_alpha else "RGB"
    image = _to_srgb(image, wanted)
    return image if image.mode == wanted else image.convert(wanted)


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit and float images scaled to 8 bits (Pillow's own convert clips them: a 16-bit
    mid-grey would come out white)."""
    if image.mode.startswith("I;16") or image.mode == "I":
        return Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        peak = values.max() if values.max() > 1.0 else 1.0
        return Image.fromarray((values.clip(0, None) / peak * 255).round().astype(np.uint8), "L")
    return image


SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(image: Image.Image, wanted: str) -> Image.Image:
    """Colours converted to sRGB when the file embeds an ICC profile (Display P3, Adobe
    RGB, CMYK press profiles…): every output is plain sRGB, what browsers assume."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if image.mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(source).lower():
            return image  # already sRGB: the transform would cost 0.2 s on 12 MP for nothing
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: keep the pixels as they are rather than fail
    converted.info.pop("icc_profile", None)
    return converted if converted.mode == wanted else converted.convert(wanted)
