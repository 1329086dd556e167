"""System checks: called directly and through ``manage.py check``."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_kakiyo.checks import check_settings


def ids(settings: Any, kakiyo: Any) -> list[str]:
    settings.KAKIYO = kakiyo
    return [message.id for message in check_settings()]


def test_valid_settings_pass(settings: Any) -> None:
    assert ids(settings, {"WEBHOOK_SECRETS": ["a-long-enough-secret-value"]}) == []


def test_team_secrets_alone_are_enough(settings: Any) -> None:
    assert ids(settings, {"TEAM_SECRETS": {"t": ["a-long-enough-secret-value"]}}) == []


@pytest.mark.parametrize(
    ("kakiyo", "expected"),
    [
        ("not a dict", ["django_kakiyo.E001"]),
        ({"WEBHOOK_SECRETS": "a-bare-string-secret"}, ["django_kakiyo.E002"]),
        ({"WEBHOOK_SECRETS": [123]}, ["django_kakiyo.E002"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "TEAM_SECRETS": ["x"]}, ["django_kakiyo.E003"]),
        ({"TEAM_SECRETS": {"t": "secret-as-string"}}, ["django_kakiyo.E003"]),
        ({}, ["django_kakiyo.E004"]),
        ({"WEBHOOK_SECRETS": []}, ["django_kakiyo.E004"]),
        ({"WEBHOOK_SECRETS": [""]}, ["django_kakiyo.E005"]),
        ({"WEBHOOK_SECRETS": ["x" * 20, "  "]}, ["django_kakiyo.E005"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "MAX_BODY_BYTES": "1MB"}, ["django_kakiyo.E006"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "REPLAY_WINDOW": -1}, ["django_kakiyo.E006"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "MAX_BODY_BYTES": None}, ["django_kakiyo.E006"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "TRUSTED_PROXIES": "10.0.0.1"}, ["django_kakiyo.E007"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "TRUSTED_PROXIES": ["nope"]}, ["django_kakiyo.E007"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "WEBHOOK_SECRET": "typo"}, ["django_kakiyo.W001"]),
        ({"WEBHOOK_SECRETS": ["short"]}, ["django_kakiyo.W002"]),
        ({"WEBHOOK_SECRETS": [" \t "]}, ["django_kakiyo.E005"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "RETENTION": "30"}, ["django_kakiyo.E006"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "STORE_TIMEOUT": 0}, ["django_kakiyo.E006"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "PUBLISH_LINGER": -0.05}, ["django_kakiyo.E006"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "CANONICAL_MAX_BYTES": -1}, ["django_kakiyo.E006"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "MAX_ATTEMPTS": 0}, ["django_kakiyo.E009"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "CELERY_QUEUE": ""}, ["django_kakiyo.E011"]),
        (
            {"WEBHOOK_SECRETS": ["x" * 20], "API_PERMISSION_CLASSES": ["no.such.Class"]},
            ["django_kakiyo.E012"],
        ),
        ({"WEBHOOK_SECRETS": ["x" * 20], "API_BASE_URL": "ftp://x"}, ["django_kakiyo.E013"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "API_KEY": 42}, ["django_kakiyo.E013"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "RETENTION": 30}, ["django_kakiyo.W004"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "HEALTH": 300}, ["django_kakiyo.E015"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "HEALTH": {"MAX_WAITT": 1}}, ["django_kakiyo.E015"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "HEALTH": {"MAX_WAIT": -1}}, ["django_kakiyo.E015"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "HEALTH": {"MAX_BACKLOG": 10}}, []),
        ({"WEBHOOK_SECRETS": ["x" * 20], "MONITORING_TOKEN": 42}, ["django_kakiyo.E016"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "MONITORING_TOKEN": "short"}, ["django_kakiyo.W007"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "MONITORING_TOKEN": ""}, []),
        ({"WEBHOOK_SECRETS": ["x" * 20], "METRICS": "yes"}, ["django_kakiyo.E017"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "METRICS": True}, []),
        (
            {"WEBHOOK_SECRETS": ["x" * 20], "REJECTED_SIGNED_BODIES_BYTES": -1},
            ["django_kakiyo.E006"],
        ),
        (
            {"WEBHOOK_SECRETS": ["x" * 20], "RETENTION": 30, "REPLAY_WINDOW": 3600},
            ["django_kakiyo.W004"],
        ),
        ({"WEBHOOK_SECRETS": ["x" * 20], "RETENTION": 30, "REPLAY_WINDOW": 30 * 86400}, []),
        ({"WEBHOOK_SECRETS": ["x" * 20], "ENDPOINT_SECRET_KEYS": "k"}, ["django_kakiyo.E018"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "ENDPOINT_SECRET_KEYS": [" "]}, ["django_kakiyo.E018"]),
        ({"WEBHOOK_SECRETS": ["x" * 20], "ENDPOINT_SECRET_KEYS": ["k"]}, []),
        ({"WEBHOOK_SECRETS": ["x" * 20], "ENDPOINT_ROTATION_GRACE": -1}, ["django_kakiyo.E006"]),
    ],
)
def test_misconfiguration_is_reported(settings: Any, kakiyo: Any, expected: list[str]) -> None:
    assert ids(settings, kakiyo) == expected


def test_every_message_has_a_hint(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": "bare", "TRUSTED_PROXIES": ["x"], "TYPO": 1}
    messages = check_settings()
    assert messages
    assert all(message.hint for message in messages)


def test_manage_py_check_fails_on_an_error(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": []}
    with pytest.raises(SystemCheckError, match=r"django_kakiyo\.E004"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_manage_py_check_passes_with_the_test_settings() -> None:
    out = StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


def test_a_secret_is_never_echoed_in_a_message(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": "whsec-bare-string-value", "API_KEY": 12345}
    text = " ".join(f"{m.msg} {m.hint}" for m in check_settings())
    assert "whsec-bare-string-value" not in text
    assert "12345" not in text


def test_the_whitespace_secret_message_says_it_is_ignored(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [" "]}
    (message,) = check_settings()
    assert "ignored" in message.msg


def test_a_bad_value_read_at_run_time_names_the_setting(settings: Any) -> None:
    from django_kakiyo.conf import kakiyo_settings
    from django_kakiyo.exceptions import KakiyoConfigurationError

    settings.KAKIYO = {"STORE_TIMEOUT": "3s"}
    with pytest.raises(KakiyoConfigurationError, match=r"KAKIYO\['STORE_TIMEOUT'\]"):
        _ = kakiyo_settings.STORE_TIMEOUT


def test_no_secret_is_only_a_warning_in_development(settings: Any) -> None:
    settings.DEBUG = True
    assert ids(settings, {}) == ["django_kakiyo.W006"]
    out = StringIO()
    call_command("check", stdout=out, stderr=StringIO())  # does not raise: commands run
    settings.DEBUG = False
    assert ids(settings, {}) == ["django_kakiyo.E004"]


def test_metrics_wanted_without_prometheus_client_is_an_error(
    settings: Any, monkeypatch: Any
) -> None:
    from django_kakiyo import checks

    monkeypatch.setattr(checks, "prometheus_client_installed", lambda: False)
    assert ids(settings, {"WEBHOOK_SECRETS": ["x" * 20], "METRICS": True}) == [
        "django_kakiyo.E017"
    ]
    assert ids(settings, {"WEBHOOK_SECRETS": ["x" * 20], "METRICS": None}) == []


def test_health_thresholds_merge_over_the_defaults(settings: Any) -> None:
    from django_kakiyo.conf import HEALTH_DEFAULTS, kakiyo_settings

    settings.KAKIYO = {"HEALTH": {"MAX_WAIT": 60}}
    assert kakiyo_settings.health() == {**HEALTH_DEFAULTS, "MAX_WAIT": 60}


def test_a_monitoring_token_is_never_echoed(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": ["x" * 20], "MONITORING_TOKEN": ["tok-secret-value"]}
    text = " ".join(f"{m.msg} {m.hint}" for m in check_settings())
    assert "tok-secret-value" not in text
