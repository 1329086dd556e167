"""The system checks that read the endpoints' table: W008 (unsigned), E019 (lost key)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_kakiyo.checks import check_endpoints
from django_kakiyo.endpoint_operations import create_endpoint, set_enabled

pytestmark = pytest.mark.django_db

SECRET = "endpoint-secret-0123456789abcdef"


def ids(databases: Any = ("default",)) -> list[str]:
    return [message.id for message in check_endpoints(databases=databases)]


def test_signed_endpoints_pass() -> None:
    create_endpoint("crm", secret=SECRET)
    assert ids() == []


def test_an_enabled_unsigned_endpoint_is_warned_about() -> None:
    endpoint, _ = create_endpoint("open door", unsigned=True)
    [message] = check_endpoints(databases=["default"])
    assert message.id == "django_kakiyo.W008"
    assert "open door" in message.msg and message.hint
    set_enabled(endpoint, False)
    assert ids() == []


def test_only_when_asked_for_databases() -> None:
    create_endpoint("open door", unsigned=True)
    assert ids(databases=None) == []


def test_a_secret_no_key_decrypts_is_an_error(settings: Any) -> None:
    create_endpoint("crm", secret=SECRET)
    settings.SECRET_KEY = "another-key-" + "y" * 50
    [message] = check_endpoints(databases=["default"])
    assert message.id == "django_kakiyo.E019"
    assert "crm" in message.msg and SECRET not in message.msg
    assert "SECRET_KEY_FALLBACKS" in message.hint


def test_check_database_reports_them() -> None:
    create_endpoint("open door", unsigned=True)
    out = StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=out)
    assert "django_kakiyo.W008" in out.getvalue()


def test_check_database_fails_on_a_lost_key(settings: Any) -> None:
    create_endpoint("crm", secret=SECRET)
    settings.SECRET_KEY = "another-key-" + "y" * 50
    with pytest.raises(SystemCheckError, match=r"django_kakiyo\.E019"):
        call_command("check", "--database", "default", stdout=StringIO(), stderr=StringIO())


def test_a_project_with_endpoints_only_silences_the_missing_settings_secret(
    settings: Any,
) -> None:
    settings.DEBUG = False
    settings.KAKIYO = {**settings.KAKIYO, "WEBHOOK_SECRETS": []}
    with pytest.raises(SystemCheckError, match=r"django_kakiyo\.E004") as raised:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "kakiyo_endpoints" in str(raised.value)  # the hint says what to do
    settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, "django_kakiyo.E004"]
    call_command("check", stdout=StringIO(), stderr=StringIO())
