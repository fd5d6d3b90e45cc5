"""The remove.bg API's settings: defaults, and a bad value stops start-up naming its variable."""

from __future__ import annotations

import pytest

from wizpix.core.enums import RoleName
from wizpix.core.settings import SettingsError, load_settings


def test_defaults_keep_urls_and_the_rate_limit_off() -> None:
    settings = load_settings()
    assert settings.removebg_default_quality is RoleName.PRO and not settings.allow_image_url
    assert settings.image_url_hosts == frozenset() and settings.rate_limit_mp_per_minute == 0
    assert settings.image_url_timeout_s > 0


def test_allow_hosts_is_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOW_HOSTS", "Images.Internal, 10.0.0.5,[::1],")
    assert load_settings().image_url_hosts == frozenset({"images.internal", "10.0.0.5", "::1"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REMOVEBG_DEFAULT_QUALITY", "ultra"),
        ("ALLOW_IMAGE_URL", "maybe"),
        ("IMAGE_URL_ALLOW_HOSTS", "a b"),
        ("IMAGE_URL_TIMEOUT_S", "0"),
        ("RATE_LIMIT_MP_PER_MINUTE", "-1"),
        ("RATE_LIMIT_MP_PER_MINUTE", "0.5"),  # a bucket under one image would refuse all
    ],
)
def test_bad_values_name_their_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"{variable}='{value}' is invalid"):
        load_settings()
