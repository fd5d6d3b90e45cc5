"""HEIC/HEIF and AVIF uploads: decoded upright, colour-managed, with the same error codes.

The files are made here from a real photograph: HEIC with pillow-heif's encoder, AVIF with
Pillow's own. The wide-gamut ICC profile is written byte by byte (Adobe RGB primaries,
gamma 2.2), since Pillow can only build sRGB, Lab and XYZ profiles.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from wizpix.core.errors import BadInput
from wizpix.image.decode import decode_image, looks_like_an_image

ORIENTATION = 0x0112
SRGB = ImageCms.createProfile("sRGB")


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(v * 65536) for v in (x, y, z)))


def _wide_gamut_icc() -> bytes:
    """An ICC v2 RGB matrix/TRC display profile with Adobe RGB (1998) primaries (D50)."""
    name = b"WizPix test wide gamut"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name) + 1) + name + b"\0" + bytes(4 + 4 + 2 + 1 + 67)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 563/256 ≈ 2.2
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.6097, 0.3111, 0.0195)),
        (b"gXYZ", _xyz(0.2053, 0.6257, 0.0609)),
        (b"bXYZ", _xyz(0.1492, 0.0632, 0.7446)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0public domain\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">II", size, 0)
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)
        + _xyz(0.9642, 1.0, 0.8249)[8:]
        + bytes(4 + 16 + 28)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


WIDE_GAMUT = _wide_gamut_icc()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """scikit-image's astronaut, 512×512, cropped to 320×240 so a rotation shows in the size."""
    from skimage import data

    return Image.fromarray(data.astronaut()).crop((96, 40, 416, 280))


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=90, **params)
    return buffer.getvalue()


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_decodes_heic_and_avif_close_to_the_source(photo: Image.Image, fmt: str) -> None:
    data = _encode(photo, fmt)
    assert looks_like_an_image(data)
    decoded = decode_image(data)
    assert decoded.mode == "RGB"
    assert decoded.size == photo.size
    assert _mean_difference(decoded, photo) < 4.0


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_come_out_upright_per_exif(photo: Image.Image, fmt: str) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # rotate 90° clockwise to display
    decoded = decode_image(_encode(photo, fmt, exif=exif.tobytes()))
    upright = photo.transpose(Image.Transpose.ROTATE_270)
    assert decoded.size == (240, 320)
    assert _mean_difference(decoded, upright) < 4.0
    # not turned twice (or the other way): against the wrong rotation the pixels are far off
    assert _mean_difference(decoded, photo.transpose(Image.Transpose.ROTATE_90)) > 20.0


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF", "JPEG"])
def test_heic_and_avif_icc_profiles_are_converted_like_jpeg(photo: Image.Image, fmt: str) -> None:
    """The profile is metadata: the same pixels are coded with and without it, so the file
    with it must decode to exactly the plain file's pixels converted from that profile."""
    plain = decode_image(_encode(photo, fmt))
    managed = decode_image(_encode(photo, fmt, icc_profile=WIDE_GAMUT))
    expected = ImageCms.profileToProfile(plain, ImageCms.ImageCmsProfile(io.BytesIO(WIDE_GAMUT)), SRGB)
    assert "icc_profile" not in managed.info
    assert _mean_difference(managed, expected) < 0.5
    moved = np.abs(np.asarray(managed, np.int16) - np.asarray(plain, np.int16)).max(axis=2)
    assert np.percentile(moved, 90) >= 8  # the profile really moves the colours


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_truncated_heic_and_avif_are_corrupt_images(photo: Image.Image, fmt: str) -> None:
    data = _encode(photo, fmt)
    for cut in (len(data) // 2, len(data) - 16):
        with pytest.raises(BadInput) as caught:
            decode_image(data[:cut])
        assert caught.value.code == "corrupt_image", cut


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_over_the_pixel_limit_are_refused_before_decoding(fmt: str) -> None:
    bomb = _encode(Image.new("RGB", (1024, 1024), (200, 30, 30)), fmt)
    with pytest.raises(BadInput) as caught:
        decode_image(bomb, max_pixels=1000 * 1000)
    assert (caught.value.code, caught.value.status) == ("image_too_large", 413)
    assert decode_image(bomb, max_pixels=1024 * 1024).size == (1024, 1024)


def test_other_iso_media_files_are_not_images() -> None:
    mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2" + bytes(64)
    assert not looks_like_an_image(mp4)
    with pytest.raises(BadInput) as caught:
        decode_image(mp4)
    assert caught.value.code == "not_an_image"


def test_a_jpeg_needed_small_is_decoded_at_a_reduced_scale_that_still_covers_it() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    assert decode_image(data).size == (4000, 3000)
    assert decode_image(data, at_least=1000).size == (2000, 1500)  # 1/4 would be under 1000
    png = io.BytesIO()
    Image.new("RGB", (400, 300)).save(png, format="PNG")
    assert decode_image(png.getvalue(), at_least=10).size == (400, 300)  # only JPEG drafts
