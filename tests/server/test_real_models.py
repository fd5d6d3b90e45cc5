"""Real u2netp and ISNet weights behind a real `bentoml serve`, on a real photograph.

The astronaut photograph (scikit-image) has a person in the left two-thirds and a plain
backdrop at the top right; the regions below were read off the image once.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, Server, alpha_of, jpeg_bytes, pro_label
from wizpix.core.catalog import load_catalog

pytestmark = [pytest.mark.server, pytest.mark.weights]

FACE = (slice(100, 170), slice(190, 260))  # rows, cols: the face
SUIT = (slice(300, 420), slice(120, 300))  # the orange suit
BACKDROP = (slice(0, 80), slice(400, 512))  # plain background, top right


@pytest.fixture(scope="module")
def server(real_server: Server) -> Server:
    return real_server


def test_health_reaches_ok_with_both_real_models_ready(server: Server) -> None:
    body = server.health()
    assert body["status"] == "ok", body
    assert body["device"] == "CPUExecutionProvider"
    catalog = load_catalog()
    for role, name in (("fast", "u2netp"), ("pro", "isnet-general-use")):
        model = body["models"][role]
        assert model["name"] == name and model["state"] == "ready" and model["warmup"] == "done"
        assert model["sha256"] in {s.sha256 for s in catalog.require(name).sources if s.sha256}
        assert model["source"].startswith("bentoml store ") and "/" not in model["source"].split(" (")[0]
    # the fp16 ISNet runs widened to fp32: what runs has a checksum of its own
    assert body["models"]["pro"]["stored_sha256"] not in (None, body["models"]["pro"]["sha256"])
    assert body["models"]["fast"]["stored_sha256"] is None


def test_blocking_warmup_keeps_readyz_unready_until_warm(server: Server) -> None:
    seen = server.readiness_while_warming  # type: ignore[attr-defined]
    assert seen[-1] == ("ok", 200), seen
    assert any(status == "warming_up" and code == 503 for status, code in seen), seen
    assert all(status == "ok" for status, code in seen if code == 200), seen


@pytest.mark.parametrize("quality", ["pro", "fast"])
def test_real_photograph_subject_opaque_background_transparent(
    server: Server, astronaut: bytes, quality: str
) -> None:
    with server.client() as client:
        response = client.post(f"/remove-bg?quality={quality}", files={"file": ("astronaut.jpg", astronaut)})
    assert response.status_code == 200, response.text
    model = pro_label(server) if quality == "pro" else "u2netp"
    assert response.headers["x-wizpix-quality"] == quality and response.headers["x-wizpix-model"] == model
    alpha = alpha_of(response.content).astype(float)
    assert alpha.shape == (512, 512)
    assert alpha[FACE].mean() > 240 and alpha[SUIT].mean() > 240
    assert alpha[BACKDROP].mean() < 10
    colours = np.asarray(Image.open(io.BytesIO(response.content)))[..., :3]
    original = np.asarray(Image.open(io.BytesIO(astronaut)).convert("RGB"))
    visible = alpha > 0
    assert (colours[visible] == original[visible]).all()  # the photograph's own colours
    assert (colours[~visible] == 0).all()  # and nothing of the discarded background


def test_fast_alpha_matches_rembg_remove_on_the_same_model(
    server: Server, astronaut: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rembg import new_session, remove

    monkeypatch.setenv("U2NET_HOME", str(ROOT / "models"))  # the verified u2netp.onnx fetched there
    reference = alpha_of(remove(astronaut, session=new_session("u2netp"))).astype(int)
    with server.client() as client:
        ours = alpha_of(client.post("/remove-bg?quality=fast", files={"file": ("a.jpg", astronaut)}).content)
    assert np.abs(reference - ours.astype(int)).mean() <= 1.0


def _decode(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content))


def _cropped_to_bbox(image: Image.Image, header: str, margin: int) -> bool:
    """Something was cut away, and the result is the subject's box plus at most `margin`
    on every side (less where the box meets the photograph's edge)."""
    x, y, w, h = map(int, header.split(","))
    smaller = image.width * image.height < 512 * 512
    gaps = (x, y, image.width - (x + w), image.height - (y + h))
    return smaller and all(0 <= gap <= margin for gap in gaps)


OPTION_CASES = {
    "format=webp": lambda im, h: im.format == "WEBP" and im.mode == "RGBA" and im.size == (512, 512),
    "output=mask": lambda im, h: im.mode == "L" and np.asarray(im)[FACE].mean() > 240,
    "bg_color=%23ffffff": lambda im, h: im.mode == "RGB" and np.asarray(im)[BACKDROP].mean() > 250,
    "crop=true&crop_margin=8": lambda im, h: _cropped_to_bbox(im, h["x-wizpix-bbox"], margin=8),
    "max_size=256": lambda im, h: im.size == (256, 256),
}


@pytest.mark.parametrize("quality", ["fast", "pro"])
@pytest.mark.parametrize("query", list(OPTION_CASES))
def test_output_options_on_real_models(server: Server, astronaut: bytes, quality: str, query: str) -> None:
    with server.client() as client:
        response = client.post(f"/remove-bg?quality={quality}&{query}", files={"file": ("a.jpg", astronaut)})
    assert response.status_code == 200, response.text
    assert OPTION_CASES[query](_decode(response.content), response.headers), (query, response.headers)
    x, y, w, h = map(int, response.headers["x-wizpix-bbox"].split(","))
    result = _decode(response.content)
    assert w > 0 and h > 0 and x + w <= result.width and y + h <= result.height


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _input_kinds() -> dict[str, tuple[bytes, tuple[int, int]]]:
    from PIL import ImageCms
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90° counter-clockwise to display
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey16 = Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257)
    square = (512, 512)
    return {
        "png rgb": (_encoded(photo, "PNG"), square),
        "png rgba": (_encoded(photo.convert("RGBA"), "PNG"), square),
        "png grayscale": (_encoded(photo.convert("L"), "PNG"), square),
        "png 16-bit grayscale": (_encoded(grey16, "PNG"), square),
        "png palette": (_encoded(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), square),
        "webp": (_encoded(photo, "WEBP", quality=90), square),
        "gif": (_encoded(photo, "GIF"), square),
        "bmp": (_encoded(photo, "BMP"), square),
        "tiff": (_encoded(photo, "TIFF"), square),
        "jpeg cmyk": (_encoded(photo.convert("CMYK"), "JPEG", quality=92), square),
        "jpeg with icc profile": (_encoded(photo, "JPEG", quality=92, icc_profile=srgb), square),
        "jpeg exif-rotated": (
            _encoded(photo.crop((0, 0, 512, 400)), "JPEG", quality=92, exif=exif),
            (400, 512),
        ),
    }


INPUT_KINDS = _input_kinds()


@pytest.mark.parametrize("kind", list(INPUT_KINDS))
def test_every_input_kind_on_real_models(server: Server, kind: str) -> None:
    payload, size = INPUT_KINDS[kind]
    with server.client() as client:
        response = client.post("/remove-bg?quality=fast", files={"file": (kind, payload)})
    assert response.status_code == 200, response.text
    image = _decode(response.content)
    assert image.mode == "RGBA" and image.size == size
    if size == (512, 512):  # the photograph as is: the subject cut out of the backdrop
        alpha = np.asarray(image)[..., 3].astype(float)
        assert alpha[FACE].mean() > 200 and alpha[BACKDROP].mean() < 30, kind


@pytest.mark.parametrize("quality", ["fast", "pro"])
def test_refine_changes_only_edge_colours_on_real_models(
    server: Server, astronaut: bytes, quality: str
) -> None:
    with server.client() as client:
        plain, refined = (
            np.asarray(
                _decode(
                    client.post(
                        f"/remove-bg?quality={quality}{extra}", files={"file": ("a", astronaut)}
                    ).content
                )
            )
            for extra in ("", "&refine=true")
        )
    assert (plain[..., 3] == refined[..., 3]).all()
    opaque, edge = plain[..., 3] == 255, (plain[..., 3] > 0) & (plain[..., 3] < 255)
    assert (plain[opaque] == refined[opaque]).all()
    assert (plain[edge][:, :3] != refined[edge][:, :3]).any()


def test_pro_that_cannot_meet_a_short_deadline_is_served_by_fast_and_the_service_carries_on(
    server: Server, astronaut: bytes
) -> None:
    """ISNet takes seconds on this CPU and u2netp a fraction of one: with 800 ms left, pro's
    queue cannot be served in time (by an upload the mask cache has not seen: the astronaut
    mirrored), so the fallback rule gives it to fast, at once, rather than a 504 later."""
    from skimage import data

    unseen = jpeg_bytes(np.ascontiguousarray(data.astronaut()[:, ::-1]))
    upside_down = jpeg_bytes(np.ascontiguousarray(data.astronaut()[::-1]))
    with server.client() as client:
        # the front learns pro's pace from what it serves (this test may run alone)
        paced = client.post("/remove-bg?quality=pro", files={"file": ("b.jpg", upside_down, "image/jpeg")})
        assert paced.status_code == 200 and paced.headers["x-wizpix-quality"] == "pro"
        response = client.post(
            "/remove-bg?quality=pro",
            files={"file": ("a.jpg", unseen, "image/jpeg")},
            headers={"X-WizPix-Deadline-Ms": "800"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-wizpix-quality"] == "fast"
        assert response.headers["x-wizpix-fallback"].startswith("pro cannot meet the deadline")
        load = client.get("/health").json()
        assert load["status"] == "ok" and load["requests"]["in_flight"] == 0, load
        again = client.post("/remove-bg?quality=pro", files={"file": ("a.jpg", astronaut, "image/jpeg")})
        assert again.status_code == 200 and again.headers["x-wizpix-model"] == pro_label(server)
