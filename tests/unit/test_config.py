"""Settings, the model catalogue, the fallback rule and the health status rule."""

from __future__ import annotations

import pytest

from wizpix.core.catalog import load_catalog, parse_catalog
from wizpix.core.enums import RoleName
from wizpix.core.errors import Unavailable
from wizpix.core.settings import SettingsError, load_settings
from wizpix.front.fallback import Route, choose_route, route_after_pro_error
from wizpix.front.health import overall_status

ENV = [
    "MODEL_DIR",
    "PIPELINE_MODEL_DIR",
    "FAST_MODEL_NAME",
    "PRO_MODEL_NAME",
    "ALLOW_REMOTE_DOWNLOAD",
    "AUTO_FALLBACK_FAST",
    "WARMUP_ON_STARTUP",
    "WARMUP_BLOCKING",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_work_on_a_fresh_machine() -> None:
    settings = load_settings()
    assert settings.fast_model_name == "u2netp" and settings.model_name(RoleName.PRO) == "isnet-general-use"
    assert settings.auto_fallback_fast and settings.warmup_on_startup and not settings.warmup_blocking
    assert not settings.allow_remote_download and settings.threads >= 1


@pytest.mark.parametrize(
    ("value", "model"),
    [
        ("inspyrenet", "isnet-general-use"),
        ("isnet", "isnet-general-use"),
        ("birefnet-portrait", "birefnet-portrait"),
        ("mock", "mock"),
    ],
)
def test_pro_model_names_and_aliases(monkeypatch: pytest.MonkeyPatch, value: str, model: str) -> None:
    monkeypatch.setenv("PRO_MODEL_NAME", value)
    assert load_settings().model_name(RoleName.PRO) == model


def test_pipeline_model_dir_is_an_alias(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PIPELINE_MODEL_DIR", str(tmp_path))
    assert load_settings().model_dir == tmp_path


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PRO_MODEL_NAME", "sam", "allowed: birefnet-cod, birefnet-dis"),
        ("PRO_MODEL_NAME", "u2netp", "not a pro model"),
        ("FAST_MODEL_NAME", "isnet-general-use", "allowed: mock, mock-slow, modnet, modnet-portrait,"),
        ("AUTO_FALLBACK_FAST", "maybe", "allowed: true, false"),
        ("WARMUP_BLOCKING", "2", "allowed: true, false"),
        ("FAST_MODEL_NAME", "../etc/passwd", "not a fast model"),
        ("PRO_MODEL_PATH", "weights.bin", "an .onnx file"),
    ],
)
def test_invalid_values_name_the_variable_and_allowed_values(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert f"{variable}={value!r}" in str(caught.value) and expected in str(caught.value)


def test_catalogue_declares_sources_checksums_and_recipes() -> None:
    catalog = load_catalog()
    for spec in catalog.models.values():
        if spec.has_weights:
            assert spec.sources and all(s.sha256 or s.md5 for s in spec.sources), spec.name
    biref = catalog.require("birefnet-portrait")
    assert biref.preprocess.size == 1024 and biref.postprocess.activation == "sigmoid"
    assert biref.preprocess.mean == (0.485, 0.456, 0.406) and biref.preprocess.std == (0.229, 0.224, 0.225)
    isnet = catalog.require("isnet-general-use")
    assert [s.kind for s in isnet.sources] == ["url", "npm-chunks"]
    assert catalog.require("u2netp").sources[-1].kind == "pip-wheel"


def test_catalogue_rejects_a_source_without_checksum() -> None:
    text = """
[models.x]
kind = "onnx"
roles = ["pro"]
recipe = "x"
title = "x"
licence = "x"
file = "x.onnx"
preprocess = { size = 8, resample = "bilinear", scale = "unit", mean = [0, 0, 0], std = [1, 1, 1] }
postprocess = { activation = "none" }
[[models.x.sources]]
kind = "url"
url = "https://example.invalid/x.onnx"
"""
    with pytest.raises(ValueError, match="checksum"):
        parse_catalog(text)


@pytest.mark.parametrize("state", ["ready", "idle"])
def test_pro_served_by_pro_when_servable(state: str) -> None:
    assert choose_route("pro", state, auto_fallback=False) == Route("pro")


@pytest.mark.parametrize(
    ("state", "reason"),
    [("loading", "warming up"), ("missing", "missing"), ("failed", "failed"), ("unreachable", "unreachable")],
)
def test_pro_falls_back_to_fast_with_a_reason(state: str, reason: str) -> None:
    route = choose_route("pro", state, auto_fallback=True)
    assert route.role == "fast" and reason in str(route.fallback_reason)


def test_pro_unavailable_is_503_when_fallback_is_off() -> None:
    with pytest.raises(Unavailable) as caught:
        choose_route("pro", "missing", auto_fallback=False, detail="run fetch_models.py")
    assert caught.value.status == 503 and caught.value.code == "pro_unavailable"
    assert "run fetch_models.py" in caught.value.message and "Retry-After" in caught.value.headers


def test_fast_never_falls_back_and_pro_errors_follow_the_rule() -> None:
    assert choose_route("fast", "missing", auto_fallback=False) == Route("fast")
    assert route_after_pro_error("boom", auto_fallback=True).fallback_reason == "pro inference failed"
    with pytest.raises(Unavailable):
        route_after_pro_error("boom", auto_fallback=False)


@pytest.mark.parametrize(
    ("states", "status"),
    [
        (["ready", "ready"], "ok"),
        (["ready", "idle"], "ok"),
        (["ready", "loading"], "warming_up"),
        (["loading", "missing"], "degraded"),
        (["ready", "failed"], "degraded"),
        (["unreachable", "ready"], "degraded"),
    ],
)
def test_overall_status(states: list[str], status: str) -> None:
    assert overall_status(states) == status
