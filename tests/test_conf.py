"""The lazily read ``KAKIYO`` settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_kakiyo.conf import DEFAULTS, kakiyo_settings
from django_kakiyo.exceptions import KakiyoConfigurationError


def test_defaults_fill_missing_keys(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": ["s" * 20]}
    assert kakiyo_settings.MAX_BODY_BYTES == DEFAULTS["MAX_BODY_BYTES"] == 1024 * 1024
    assert kakiyo_settings.REPLAY_WINDOW is None


def test_override_settings_is_seen_and_undone() -> None:
    before = kakiyo_settings.MAX_BODY_BYTES
    with override_settings(KAKIYO={"MAX_BODY_BYTES": 10}):
        assert kakiyo_settings.MAX_BODY_BYTES == 10
    assert before == kakiyo_settings.MAX_BODY_BYTES


def test_unknown_key_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NOPE"):
        _ = kakiyo_settings.NOPE


def test_secret_teams_binds_team_secrets_and_keeps_global_ones_free(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": ["g", "shared"], "TEAM_SECRETS": {"t": ["a", "shared"]}}
    assert kakiyo_settings.secret_teams() == {"g": None, "shared": None, "a": "t"}


@pytest.mark.parametrize(
    ("kakiyo", "setting"),
    [
        ({"WEBHOOK_SECRETS": "bare-string"}, "KAKIYO['WEBHOOK_SECRETS']"),
        ({"TEAM_SECRETS": {"t": "bare"}}, "KAKIYO['TEAM_SECRETS']"),
    ],
)
def test_bad_secret_shapes_raise_naming_the_setting(
    settings: Any, kakiyo: Any, setting: str
) -> None:
    settings.KAKIYO = kakiyo
    with pytest.raises(KakiyoConfigurationError) as raised:
        kakiyo_settings.secret_teams()
    assert raised.value.setting == setting
    assert setting in str(raised.value)


def test_kakiyo_must_be_a_dict(settings: Any) -> None:
    settings.KAKIYO = ["nope"]
    with pytest.raises(KakiyoConfigurationError, match="KAKIYO must be a dict"):
        _ = kakiyo_settings.MAX_BODY_BYTES
