"""System checks that catch a misconfigured ``KAKIYO`` before the first delivery does.

Each key's value is checked by the same rules the runtime applies (:mod:`django_kakiyo.conf`);
what is checked here besides is what no single key can tell: whether any secret is set, whether
the spool directory is usable and private, whether retention undoes replay protection.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError, router

from .conf import DEFAULTS, SETTINGS, kakiyo_settings, setting_label
from .exceptions import KakiyoConfigurationError
from .secret_box import UndecryptableSecret, decrypt
from .webhook_endpoints import WebhookEndpoint

#: Shorter secrets are accepted but warned about: Kakiyo generates long random ones.
MIN_SECRET_LENGTH = 16
#: Shorter monitoring tokens are accepted but warned about: anyone may try to guess one.
MIN_TOKEN_LENGTH = 24


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the ``KAKIYO`` settings dict; each message names the key to fix."""
    try:
        user = kakiyo_settings.user_settings
    except KakiyoConfigurationError:
        return [
            Error(
                "KAKIYO must be a dict.",
                hint="Set KAKIYO = {'WEBHOOK_SECRETS': ['...']} in your settings.",
                id="django_kakiyo.E001",
            )
        ]
    messages: list[CheckMessage] = []
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        messages.append(
            Warning(
                f"Unknown KAKIYO keys: {', '.join(map(str, unknown))}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}. Check for a typo.",
                id="django_kakiyo.W001",
            )
        )
    broken = set()
    for setting in SETTINGS:
        value = user.get(setting.name, setting.default)
        found = setting.problem(value)
        if found is None:
            continue
        problem, check_id = found
        shown = "" if setting.sensitive else f", not {value!r}"
        hint = setting.hint or f"The default is {setting.default!r}."
        messages.append(
            Error(
                f"{setting_label(setting.name)} {problem}{shown}.",
                hint=hint,
                id=f"django_kakiyo.{check_id}",
            )
        )
        broken.add(setting.name)
    if not broken & {"WEBHOOK_SECRETS", "TEAM_SECRETS"}:
        messages += _check_secrets(user)
    if "SPOOL_DIR" not in broken:
        messages += _check_spool(user.get("SPOOL_DIR"))
    if not broken & {"RETENTION", "REPLAY_WINDOW"}:
        messages += _check_retention(user)
    if "METRICS" not in broken:
        messages += _check_monitoring(user)
    if user.get("PROCESSING") == "inline" and not settings.DEBUG:
        messages.append(
            Warning(
                "KAKIYO['PROCESSING'] is 'inline': receivers run inside the webhook request, "
                "so Kakiyo's answer waits for them; one slower than 10 s is a failed "
                "delivery, and four of those disable the webhook.",
                hint="Use 'thread' (the default without a broker: receivers run after the "
                "response) or 'celery'. 'inline' is for tests.",
                id="django_kakiyo.W005",
            )
        )
    return messages


def prometheus_client_installed() -> bool:
    return importlib.util.find_spec("prometheus_client") is not None


def _check_monitoring(user: Mapping[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if user.get("METRICS") is True and not prometheus_client_installed():
        messages.append(
            Error(
                "KAKIYO['METRICS'] is True, but prometheus_client is not installed: metrics/ "
                "cannot answer.",
                hint='pip install "django-kakiyo[metrics]", or set METRICS to None (served '
                "when prometheus_client is installed) or False.",
                id="django_kakiyo.E017",
            )
        )
    token = user.get("MONITORING_TOKEN")
    if isinstance(token, str) and 0 < len(token.strip()) < MIN_TOKEN_LENGTH:
        messages.append(
            Warning(
                f"KAKIYO['MONITORING_TOKEN'] is shorter than {MIN_TOKEN_LENGTH} characters.",
                hint="Use a long random token, e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'.",
                id="django_kakiyo.W007",
            )
        )
    return messages


def _check_secrets(user: Mapping[str, Any]) -> list[CheckMessage]:
    secrets = list(user.get("WEBHOOK_SECRETS", []))
    for values in user.get("TEAM_SECRETS", {}).values():
        secrets += values
    messages: list[CheckMessage] = []
    if not secrets:
        # An error in production; in development (DEBUG on) a warning, so that a project
        # whose secret comes from an unset environment variable can still migrate and run.
        level, check_id = (Warning, "W006") if settings.DEBUG else (Error, "E004")
        messages.append(
            level(
                "No Kakiyo webhook secret is configured: every delivery to the settings URL "
                "(webhook/) will be refused.",
                hint="Set KAKIYO['WEBHOOK_SECRETS'] to the secret you gave Kakiyo (this is "
                "an error when DEBUG is off). A project that receives only at endpoints in "
                f"the database (kakiyo_endpoints) silences django_kakiyo.{check_id}.",
                id=f"django_kakiyo.{check_id}",
            )
        )
    if any(not secret.strip() for secret in secrets):
        messages.append(
            Error(
                "A Kakiyo webhook secret is empty or only whitespace: such a secret is "
                "ignored, it never verifies anything.",
                hint="Remove the entry from KAKIYO['WEBHOOK_SECRETS'] / ['TEAM_SECRETS'], or "
                "check that the environment variable it comes from is set.",
                id="django_kakiyo.E005",
            )
        )
    if any(0 < len(secret.strip()) < MIN_SECRET_LENGTH for secret in secrets):
        messages.append(
            Warning(
                f"A Kakiyo webhook secret is shorter than {MIN_SECRET_LENGTH} characters.",
                hint="Use a long random secret, e.g. python -c 'import secrets; "
                "print(secrets.token_hex(32))'.",
                id="django_kakiyo.W002",
            )
        )
    return messages


def _check_spool(value: Any) -> list[CheckMessage]:
    if not value:
        return []
    path = Path(value)
    parent = path if path.exists() else path.parent
    if path.exists() and not path.is_dir():
        problem = "exists and is not a directory"
    elif not os.access(parent, os.W_OK):
        problem = "is not writable by this process"
    else:
        return _check_spool_privacy(path)
    return [
        Error(
            f"KAKIYO['SPOOL_DIR'] {problem}: {value!r}.",
            hint="Point it at a directory on local, persistent disk that the web process "
            "can write, or set it to None to answer 503 while the database is down.",
            id="django_kakiyo.E010",
        )
    ]


def _check_spool_privacy(path: Path) -> list[CheckMessage]:
    """The spool holds customer data: it should belong to us and be closed to others."""
    if not path.exists():
        return []  # created 0700 on first use
    status = path.stat()
    problems = []
    if status.st_uid != os.geteuid():
        problems.append(f"belongs to uid {status.st_uid}, not this process's {os.geteuid()}")
    if status.st_mode & 0o077:
        problems.append(f"is open to other users (mode {status.st_mode & 0o777:o})")
    if not problems:
        return []
    return [
        Warning(
            f"KAKIYO['SPOOL_DIR'] {' and '.join(problems)}: {str(path)!r}.",
            hint=f"chown it to the web server's user and chmod 700 {path}.",
            id="django_kakiyo.W003",
        )
    ]


def _check_retention(user: Mapping[str, Any]) -> list[CheckMessage]:
    retention = user.get("RETENTION")
    window = user.get("REPLAY_WINDOW")
    if retention is None or (window is not None and window >= retention * 86400):
        return []
    return [
        Warning(
            "KAKIYO['RETENTION'] is set, but KAKIYO['REPLAY_WINDOW'] is "
            + ("not set" if window is None else "shorter")
            + ": once an event is pruned, a captured copy of its delivery would be accepted "
            "and processed again.",
            hint=f"Set REPLAY_WINDOW to at least RETENTION in seconds ({retention * 86400:g}).",
            id="django_kakiyo.W004",
        )
    ]


@register(Tags.security, Tags.database)
def check_endpoints(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """The endpoints in the database: unsigned ones enabled, secrets no key decrypts.

    Like Django's own database checks, run only when asked for databases (``migrate``,
    ``check --database default``).
    """
    messages: list[CheckMessage] = []
    for alias in databases or ():
        if not router.allow_migrate_model(alias, WebhookEndpoint):
            continue
        try:
            endpoints = list(WebhookEndpoint.objects.using(alias).filter(enabled=True))
        except DatabaseError:
            continue  # not migrated yet
        unsigned = sorted(e.name for e in endpoints if e.unsigned)
        if unsigned:
            messages.append(
                Warning(
                    f"Kakiyo endpoints without a secret are enabled: {', '.join(unsigned)}. "
                    "Anyone who learns such a URL can deliver events to your receivers.",
                    hint="Give Kakiyo's webhook a secret and create a signed endpoint, or "
                    "silence django_kakiyo.W008 if the URL alone is a risk you accept.",
                    id="django_kakiyo.W008",
                )
            )
        unreadable = sorted(e.name for e in endpoints if not _secrets_readable(e))
        if unreadable:
            messages.append(
                Error(
                    f"Secrets of Kakiyo endpoints cannot be decrypted with the current keys: "
                    f"{', '.join(unreadable)}. Their deliveries are refused (401).",
                    hint="Put the previous SECRET_KEY in SECRET_KEY_FALLBACKS (or the previous "
                    "key back in KAKIYO['ENDPOINT_SECRET_KEYS']), or rotate their secrets.",
                    id="django_kakiyo.E019",
                )
            )
    return messages


def _secrets_readable(endpoint: WebhookEndpoint) -> bool:
    tokens = [endpoint.encrypted_secret, endpoint.encrypted_previous_secret]
    try:
        for token in filter(None, tokens):
            decrypt(token)
    except UndecryptableSecret:
        return False
    return True
