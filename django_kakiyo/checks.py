"""System checks that catch a misconfigured ``KAKIYO`` before the first delivery does."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import DEFAULTS, is_list_of_str

#: Shorter secrets are accepted but warned about: Kakiyo generates long random ones.
MIN_SECRET_LENGTH = 16


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the ``KAKIYO`` settings dict; each message names the key to fix."""
    user = getattr(settings, "KAKIYO", {})
    if not isinstance(user, Mapping):
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
    messages += _check_secrets(user)
    messages += _check_numbers(user)
    messages += _check_trusted_proxies(user)
    messages += _check_processing(user)
    messages += _check_spool(user)
    return messages


def _check_secrets(user: Mapping[str, Any]) -> list[CheckMessage]:
    webhook_secrets = user.get("WEBHOOK_SECRETS", DEFAULTS["WEBHOOK_SECRETS"])
    team_secrets = user.get("TEAM_SECRETS", DEFAULTS["TEAM_SECRETS"])
    messages: list[CheckMessage] = []
    secrets: list[str] = []
    if is_list_of_str(webhook_secrets):
        secrets += webhook_secrets
    else:
        messages.append(
            Error(
                "KAKIYO['WEBHOOK_SECRETS'] must be a list of strings.",
                hint="Wrap a single secret in a list: ['whsec_...'].",
                id="django_kakiyo.E002",
            )
        )
    if isinstance(team_secrets, Mapping) and all(
        isinstance(team, str) and is_list_of_str(values) for team, values in team_secrets.items()
    ):
        for values in team_secrets.values():
            secrets += values
    else:
        messages.append(
            Error(
                "KAKIYO['TEAM_SECRETS'] must map team ids to lists of strings.",
                hint="For example {'team_123': ['whsec_...']}.",
                id="django_kakiyo.E003",
            )
        )
    if not messages and not secrets:
        messages.append(
            Error(
                "No Kakiyo webhook secret is configured: every delivery will be refused.",
                hint="Set KAKIYO['WEBHOOK_SECRETS'] to the secret you gave Kakiyo.",
                id="django_kakiyo.E004",
            )
        )
    if any(not secret.strip() for secret in secrets):
        messages.append(
            Error(
                "A Kakiyo webhook secret is empty; an empty secret never verifies anything.",
                hint="Remove the empty entry from KAKIYO['WEBHOOK_SECRETS'] / ['TEAM_SECRETS'].",
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


def _check_numbers(user: Mapping[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key, allow_none in (
        ("MAX_BODY_BYTES", False),
        ("REPLAY_WINDOW", True),
        ("REJECTED_REQUESTS_MAX_ROWS", True),
        ("REJECTED_BODY_PREFIX_BYTES", False),
        ("MAX_ATTEMPTS", False),
        ("RETRY_BACKOFF", False),
        ("RETRY_BACKOFF_MAX", False),
        ("REQUEUE_AFTER", False),
        ("PROCESSING_TIMEOUT", False),
        ("PUBLISH_TIMEOUT", False),
        ("PUBLISH_BATCH_SIZE", False),
        ("PUBLISH_BATCH_INTERVAL", False),
    ):
        value = user.get(key, DEFAULTS[key])
        if value is None and allow_none:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            expected = "a non-negative number" + (" or None" if allow_none else "")
            messages.append(
                Error(
                    f"KAKIYO[{key!r}] must be {expected}, not {value!r}.",
                    hint=f"The default is {DEFAULTS[key]!r}.",
                    id="django_kakiyo.E006",
                )
            )
    return messages


def _check_trusted_proxies(user: Mapping[str, Any]) -> list[CheckMessage]:
    proxies = user.get("TRUSTED_PROXIES", DEFAULTS["TRUSTED_PROXIES"])
    if not is_list_of_str(proxies):
        return [
            Error(
                "KAKIYO['TRUSTED_PROXIES'] must be a list of IP addresses or networks.",
                hint="For example ['10.0.0.0/8', '127.0.0.1'].",
                id="django_kakiyo.E007",
            )
        ]
    messages: list[CheckMessage] = []
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy.strip(), strict=False)
        except ValueError:
            messages.append(
                Error(
                    f"KAKIYO['TRUSTED_PROXIES'] has {proxy!r}, which is not an IP address "
                    "or network.",
                    hint="Use addresses like '10.0.0.1' or networks like '10.0.0.0/8'.",
                    id="django_kakiyo.E007",
                )
            )
    return messages


def _check_processing(user: Mapping[str, Any]) -> list[CheckMessage]:
    mode = user.get("PROCESSING", DEFAULTS["PROCESSING"])
    if mode not in ("auto", "celery", "inline"):
        return [
            Error(
                f"KAKIYO['PROCESSING'] must be 'auto', 'celery' or 'inline', not {mode!r}.",
                hint="'auto' uses Celery when CELERY_BROKER_URL is set, in-process otherwise.",
                id="django_kakiyo.E008",
            )
        ]
    attempts = user.get("MAX_ATTEMPTS", DEFAULTS["MAX_ATTEMPTS"])
    if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts < 1:
        return [
            Error(
                "KAKIYO['MAX_ATTEMPTS'] must be at least 1.",
                hint="1 means no retries.",
                id="django_kakiyo.E009",
            )
        ]
    return []


def _check_spool(user: Mapping[str, Any]) -> list[CheckMessage]:
    value = user.get("SPOOL_DIR", DEFAULTS["SPOOL_DIR"])
    if value is None:
        return []
    if not isinstance(value, (str, os.PathLike)):
        problem = "must be a path (a string or a Path) or None"
    else:
        path = Path(value)
        parent = path if path.exists() else path.parent
        if path.exists() and not path.is_dir():
            problem = "exists and is not a directory"
        elif not os.access(parent, os.W_OK):
            problem = "is not writable by this process"
        else:
            return []
    return [
        Error(
            f"KAKIYO['SPOOL_DIR'] {problem}: {value!r}.",
            hint="Point it at a directory on local, persistent disk that the web process "
            "can write, or set it to None to answer 503 while the database is down.",
            id="django_kakiyo.E010",
        )
    ]
