"""Every family of the catalogue against rembg's own session class for it, on a stand-in
graph with the family's interface (the real weights of most cannot be had here).

WizPix's mask goes the way a user's file is served: the front's resize to the model's
input, the family's kind class (what ``<ROLE>_MODEL_PATH`` builds), the mask scaled back.
rembg's comes from ``sessions[name].predict()``, which finds the same file in
``$U2NET_HOME`` and never downloads. Where the recipes agree the masks agree within 1/255;
where WizPix deliberately follows the model's reference code instead of rembg, the test
names each differing field, shows that swapping exactly those fields back gives rembg's
mask, and bounds what the difference does to the mask.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.standins import standin_for
from wizpix.core.catalog import ModelSpec, load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.roles import Role, build_roles
from wizpix.core.settings import Settings
from wizpix.image.compose import model_input, resize_mask
from wizpix.runner.kinds import KINDS
from wizpix.weights.store import Weights

IMAGENET_MEAN, IMAGENET_STD, UNIT_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (1.0, 1.0, 1.0)

# rembg 2.0.86's recipe per session (sessions/*.py): every one resizes with Lanczos, divides
# by the image's maximum and min-max stretches the first output; they differ in size,
# mean/std and whether a sigmoid comes first (BiRefNet's sessions).
U2NET = (320, IMAGENET_MEAN, IMAGENET_STD, "none")
BIREFNET = (1024, IMAGENET_MEAN, IMAGENET_STD, "sigmoid")
REMBG_RECIPES = {
    "u2net": U2NET,
    "u2netp": U2NET,
    "u2net_human_seg": U2NET,
    "silueta": U2NET,
    "isnet-general-use": (1024, (0.5, 0.5, 0.5), UNIT_STD, "none"),
    "isnet-anime": (1024, IMAGENET_MEAN, UNIT_STD, "none"),
    "birefnet-general": BIREFNET,
    "birefnet-general-lite": BIREFNET,
    "birefnet-portrait": BIREFNET,
    "birefnet-dis": BIREFNET,
    "birefnet-hrsod": BIREFNET,
    "birefnet-cod": BIREFNET,
    "birefnet-massive": BIREFNET,
    "bria-rmbg": (1024, IMAGENET_MEAN, IMAGENET_STD, "none"),
}

# Where WizPix follows the model's reference inference instead of rembg (the manifest's
# `recipe` says so): divide by 255, not by the image's maximum; bilinear, as the reference
# resizes; no min-max stretch, which would turn an image with no subject into a full mask.
REFERENCE = {"scale", "resample", "stretch"}
DELIBERATE = {name: REFERENCE for name in REMBG_RECIPES if name.startswith("birefnet")}
# ISNet general-use resizes as rembg does (Lanczos measured better on the mattes, make eval)
DELIBERATE["isnet-general-use"] = {"scale", "stretch"}

FAMILIES = sorted(REMBG_RECIPES)


def rembg_spec(spec: ModelSpec) -> ModelSpec:
    """The same model with rembg's recipe."""
    size, mean, std, activation = REMBG_RECIPES[spec.name]
    pre = spec.preprocess.model_copy(
        update={"size": size, "resample": "lanczos", "scale": "max", "mean": mean, "std": std}
    )
    post = spec.postprocess.model_copy(update={"activation": activation, "stretch": True})
    return spec.model_copy(update={"preprocess": pre, "postprocess": post})


def differences(ours: ModelSpec, theirs: ModelSpec) -> set[str]:
    fields = {**ours.preprocess.model_dump(), **ours.postprocess.model_dump()}
    other = {**theirs.preprocess.model_dump(), **theirs.postprocess.model_dump()}
    return {name for name, value in fields.items() if other[name] != value}


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A real photograph, not square (scikit-image's cat, 451×300)."""
    from skimage import data

    return Image.fromarray(data.chelsea())


@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$U2NET_HOME`` with a stand-in for every family, where rembg looks before downloading."""
    home = tmp_path_factory.mktemp("u2net_home")
    for name, (size, *_rest) in REMBG_RECIPES.items():
        standin_for(name, size, home)
    return home


def own_file(path: Path) -> Weights:
    return Weights(path, "unverified", "a test's stand-in")


def role_for(spec: ModelSpec, path: Path) -> Role:
    """The role a user's file gets from <ROLE>_MODEL_NAME=<family> and <ROLE>_MODEL_PATH."""
    settings = Settings(fast_model_name="mock", pro_model_name="mock", inference_threads=1)
    base = build_roles(settings, load_catalog())[spec.roles[0]]
    return dataclasses.replace(base, model=spec, model_path=path)


def wizpix_mask(spec: ModelSpec, path: Path, image: Image.Image) -> np.ndarray:
    """As served: the front's resize, the kind class a user's file gets, the mask scaled back."""
    model = KINDS[spec.kind](role_for(spec, path), own_file(path))
    pre = spec.preprocess
    mask = model.predict(model_input(image, pre.size, pre.resample)[None])[0]
    return resize_mask(mask, image.size, pre.resample).astype(np.int16)


def rembg_mask(name: str, home: Path, image: Image.Image, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    import onnxruntime as ort
    from rembg.sessions import sessions

    monkeypatch.setenv("U2NET_HOME", str(home))
    monkeypatch.setenv("MODEL_CHECKSUM_DISABLED", "1")  # belt and braces: it finds the file first
    session = sessions[name](name, ort.SessionOptions(), providers=["CPUExecutionProvider"])
    return np.asarray(session.predict(image)[0]).astype(np.int16)


@pytest.mark.parametrize("name", FAMILIES)
def test_the_manifest_differs_from_rembg_only_where_it_says_so(name: str) -> None:
    spec = load_catalog().require(name)
    assert differences(spec, rembg_spec(spec)) == DELIBERATE.get(name, set())
    if name in DELIBERATE:
        assert "reference" in spec.recipe and "rembg instead" in spec.recipe
    else:
        assert spec.recipe.startswith("rembg 2.0.86")


@pytest.mark.parametrize("name", FAMILIES)
def test_with_rembg_recipe_the_mask_is_rembg_mask(
    name: str, standins: Path, photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_catalog().require(name)
    path = standins / f"{name}.onnx"
    ours = wizpix_mask(rembg_spec(spec), path, photo)
    theirs = rembg_mask(name, standins, photo, monkeypatch)
    assert ours.shape == theirs.shape == (photo.height, photo.width)
    assert theirs.max() - theirs.min() > 100, "the stand-in's mask must have real contrast"
    difference = np.abs(ours - theirs)
    # rounding (ours) against truncation (rembg) before the resize back: one level
    assert difference.mean() <= 1.0 and difference.max() <= 2, (difference.mean(), difference.max())


def with_field(spec: ModelSpec, theirs: ModelSpec, field: str) -> ModelSpec:
    """rembg's recipe but for one field, which keeps WizPix's value."""
    pre = theirs.preprocess.model_copy(update={k: v for k, v in spec.preprocess if k == field})
    post = theirs.postprocess.model_copy(update={k: v for k, v in spec.postprocess if k == field})
    return spec.model_copy(update={"preprocess": pre, "postprocess": post})


# Each deliberate difference alone, measured on the stand-ins (mean |difference| in levels
# of 255, worst family): the bound each is held to.
BOUNDS = {
    # rembg brightens a photo whose maximum is below 255 (the cat's is 231: ×1.10)
    ("scale", "cat"): 12.0,
    ("scale", "astronaut"): 1.0,  # maximum 255: the same, up to rounding
    # Lanczos against bilinear, up to 1024² and back down
    ("resample", "cat"): 16.0,
    ("resample", "astronaut"): 2.0,
}


@pytest.mark.parametrize("name", sorted(DELIBERATE))
def test_each_deliberate_difference_is_named_and_bounded(
    name: str, standins: Path, photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skimage import data

    spec = load_catalog().require(name)
    theirs = rembg_spec(spec)
    path = standins / f"{name}.onnx"
    for label, image in (("cat", photo), ("astronaut", Image.fromarray(data.astronaut()))):
        reference = rembg_mask(name, standins, image, monkeypatch)
        for field in ("scale", "resample"):
            difference = np.abs(wizpix_mask(with_field(spec, theirs, field), path, image) - reference)
            assert difference.mean() <= BOUNDS[field, label], (field, label, difference.mean())
        # no stretch: WizPix's mask is rembg's up to exactly that affine map (stretched here
        # after rounding, so within two of our levels, scaled)
        ours = wizpix_mask(with_field(spec, theirs, "stretch"), path, image).astype(np.float32)
        gain = 255 / max(ours.max() - ours.min(), 1)  # one level of ours, in rembg's levels
        difference = np.abs((ours - ours.min()) * gain - reference)
        assert difference.mean() <= gain and difference.max() <= 2 * gain + 1, ("stretch", label, gain)


def test_every_family_of_rembg_is_in_the_catalogue() -> None:
    """rembg 2.0.86's background-removal sessions, less the ones that are not one model
    (custom paths, prompts, remote services, a GPU conversion, clothing classes)."""
    from rembg.sessions import sessions

    left_out = {"sam", "u2net_cloth_seg", "birefnet-general-fp16", "atlascloud", "withoutbg"}
    offered = {n for n in sessions if not n.endswith("_custom") and n not in left_out}
    catalog = load_catalog()
    assert offered <= set(catalog.models) and offered == set(REMBG_RECIPES)
    for name in offered:
        spec = catalog.require(name)
        assert spec.serves(RoleName.FAST) == (spec.kind == "rembg"), name


@pytest.mark.parametrize("name", [n for n, s in load_catalog().models.items() if s.has_weights])
def test_every_model_runs_a_file_with_its_interface_through_its_kind(name: str, tmp_path: Path) -> None:
    spec = load_catalog().require(name)
    path = standin_for(name, spec.preprocess.size, tmp_path)
    masks = KINDS[spec.kind](role_for(spec, path), own_file(path)).predict(
        np.zeros((2, spec.preprocess.size, spec.preprocess.size, 3), np.uint8)
    )
    assert masks.shape == (2, spec.preprocess.size, spec.preprocess.size) and masks.dtype == np.uint8


@pytest.mark.parametrize(
    ("name", "wrong", "found"),
    [
        ("isnet-general-use", {"channels": 4}, "found tensor(float) [1, 4, 1024, 1024]"),
        ("birefnet-portrait", {"size": 512}, "found tensor(float) [1, 3, 512, 512]"),
        ("u2netp", {"output_channels": 3}, "found tensor(float) [1, 3, 320, 320]"),
        ("bria-rmbg", {"output_size": 512}, "found tensor(float) [1, 1, 512, 512]"),
    ],
)
def test_a_file_that_does_not_fit_its_family_is_refused_saying_what_and_why(
    name: str, wrong: dict, found: str, tmp_path: Path
) -> None:
    from tests.standins import build_standin
    from wizpix.runner.kinds import InterfaceMismatch

    spec = load_catalog().require(name)
    size = wrong.pop("size", spec.preprocess.size)
    path = build_standin(tmp_path / "mine.onnx", size, **wrong)
    with pytest.raises(InterfaceMismatch) as caught:
        KINDS[spec.kind](role_for(spec, path), own_file(path))
    message = str(caught.value)
    assert f"does not fit the {name} family: expected" in message and found in message
