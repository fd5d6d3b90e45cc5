"""Which pro model is fused with which fast model: the manifest's measured pairings, never a
user's own weights, PRO_FUSE_FAST forcing either way."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wizpix.core.catalog import load_catalog
from wizpix.core.enums import RoleName
from wizpix.core.fusion import fusion_for
from wizpix.core.roles import build_roles
from wizpix.core.settings import Settings, SettingsError, load_settings


def _fusion(**settings: object):
    config = Settings(**{"fast_model_name": "u2netp", "pro_model_name": "isnet", **settings})
    roles = build_roles(config, load_catalog())
    return fusion_for(config, roles), roles


def test_isnet_is_fused_with_u2netp_as_the_manifest_measured() -> None:
    fusion, _ = _fusion()
    assert fusion.partner == "u2netp" and fusion.gain == 3.0
    assert fusion.reason.startswith("measured: make eval")


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"pro_model_name": "birefnet-portrait"}, "no measured pairing of birefnet-portrait with u2netp"),
        ({"fast_model_name": "u2net"}, "no measured pairing of isnet-general-use with u2net"),
        ({"pro_model_name": "modnet", "fast_model_name": "modnet"}, "the same model serves both tiers"),
        ({"pro_fuse_fast": "false"}, "PRO_FUSE_FAST=false"),
    ],
)
def test_pairs_not_measured_are_served_as_their_own(settings: dict, reason: str) -> None:
    fusion, _ = _fusion(**settings)
    assert fusion.partner is None and fusion.reason == reason


def test_a_users_own_weights_are_served_as_their_own_unless_forced(tmp_path: Path) -> None:
    own = tmp_path / "mine.onnx"
    fusion, _ = _fusion(pro_model_path=own)
    assert fusion.partner is None and "your own weights" in fusion.reason
    forced, roles = _fusion(pro_model_path=own, pro_fuse_fast="true", pro_fusion_gain=2)
    assert forced.partner == "u2netp" and forced.gain == 2
    assert forced.reason == "PRO_FUSE_FAST=true forces it (not measured for this pair)"
    assert roles[RoleName.PRO].model_id == "isnet-general-use-custom"


def test_the_setting_reads_booleans_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    for word, value in (("1", "true"), ("off", "false"), ("AUTO", "auto"), ("True", "true")):
        monkeypatch.setenv("PRO_FUSE_FAST", word)
        assert load_settings().pro_fuse_fast == value
    monkeypatch.setenv("PRO_FUSE_FAST", "sometimes")
    with pytest.raises(SettingsError, match="PRO_FUSE_FAST='sometimes'"):
        load_settings()


def test_a_forced_pair_of_the_catalogue_says_it_was_measured() -> None:
    fusion, roles = _fusion(pro_fuse_fast="true")
    assert fusion.reason == "PRO_FUSE_FAST=true forces it (measured for this pair)"
    assert dataclasses.replace(roles[RoleName.PRO]).model.pairing("u2netp") is not None
