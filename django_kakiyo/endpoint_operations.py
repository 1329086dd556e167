"""What operators do to endpoints: create, rotate a secret, expire the previous one,
disable, enable, delete. ``kakiyo_endpoints`` and the admin both call these.

A new or rotated secret is returned once, to be shown once, and kept only encrypted.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .checks import MIN_SECRET_LENGTH
from .conf import kakiyo_settings
from .exceptions import EndpointError, KakiyoConfigurationError
from .models import WebhookEndpoint
from .secret_box import reencrypt, uses_first_key
from .webhook_endpoints import EVERY_EVENT

__all__ = [
    "create_endpoint",
    "delete_endpoint",
    "expire_previous",
    "new_secret",
    "reencrypt_secrets",
    "rotate_secret",
    "set_enabled",
]


def new_secret() -> str:
    """A fresh secret: 256 random bits, in hex."""
    return secrets.token_hex(32)


@sensitive_variables("secret")
def check_secret(secret: str) -> None:
    """A secret an endpoint may have: not blank, not short, and none of the settings'.

    A settings secret would also verify at the settings URL, so the endpoint's URL would not
    be the only one to accept its deliveries (nor its team binding the only one to apply).
    """
    if not secret.strip():
        raise EndpointError("A secret cannot be empty or only whitespace.")
    if len(secret.strip()) < MIN_SECRET_LENGTH:
        raise EndpointError(f"A secret must have at least {MIN_SECRET_LENGTH} characters.")
    try:
        configured = {s.value for s in kakiyo_settings.signing_secrets()}
    except KakiyoConfigurationError:
        configured = set()
    if secret in configured:
        raise EndpointError(
            "This secret is in KAKIYO['WEBHOOK_SECRETS'] or ['TEAM_SECRETS']: an endpoint's "
            "secret must be its own, or the settings URL would accept its deliveries too."
        )


def event_list(events: Iterable[str] | None) -> list[str]:
    """Event types, comma-separated or not; none given: every event (``["*"]``)."""
    found = [name.strip() for value in events or [] for name in value.split(",")]
    if any(not name for name in found):
        raise EndpointError("Event types cannot be empty (use '*' for every event).")
    return found or [EVERY_EVENT]


@sensitive_variables("secret")
@transaction.atomic
def create_endpoint(
    name: str,
    *,
    team: str = "",
    secret: str | None = None,
    events: Iterable[str] | None = None,
    unsigned: bool = False,
) -> tuple[WebhookEndpoint, str | None]:
    """A new, enabled endpoint, and its secret (generated when none is given; None when
    ``unsigned``). The secret is returned this once."""
    name, team = name.strip(), team.strip()
    if not name or name.isdigit():
        raise EndpointError("An endpoint needs a name that is not only digits (ids are).")
    for value, field in ((name, "name"), (team, "team_id")):
        limit = getattr(WebhookEndpoint._meta.get_field(field), "max_length", None) or 0
        if len(value) > limit:
            raise EndpointError(f"The {field.removesuffix('_id')} is over {limit} characters.")
    if WebhookEndpoint.objects.filter(name=name).exists():
        raise EndpointError(f"An endpoint named {name!r} already exists.")
    if unsigned and secret is not None:
        raise EndpointError("An unsigned endpoint has no secret: give --secret or --unsigned.")
    endpoint = WebhookEndpoint(
        name=name, team_id=team, unsigned=unsigned, events=event_list(events)
    )
    if not unsigned:
        secret = new_secret() if secret is None else secret
        check_secret(secret)
        endpoint.set_secret(secret)
    endpoint.save()
    return endpoint, secret


@sensitive_variables("secret")
def rotate_secret(
    endpoint: WebhookEndpoint, secret: str | None = None, grace: float | None = None
) -> str:
    """Give ``endpoint`` a new secret (generated when none is given), returned this once;
    the old one keeps working ``grace`` seconds (``ENDPOINT_ROTATION_GRACE`` by default)."""
    if endpoint.unsigned:
        raise EndpointError(f"{endpoint.name!r} is unsigned: it has no secret to rotate.")
    grace = float(kakiyo_settings.ENDPOINT_ROTATION_GRACE if grace is None else grace)
    if grace < 0:
        raise EndpointError("The grace period cannot be negative.")
    secret = new_secret() if secret is None else secret
    check_secret(secret)
    endpoint.rotate(secret, grace, timezone.now())
    endpoint.save(
        update_fields=[
            "encrypted_secret",
            "encrypted_previous_secret",
            "previous_secret_expires_at",
            "secret_rotated_at",
        ]
    )
    return secret


def expire_previous(endpoint: WebhookEndpoint) -> bool:
    """End the rotation grace now; False when no previous secret was working."""
    was_working = endpoint.previous_secret_works(timezone.now())
    endpoint.expire_previous()
    endpoint.save(update_fields=["encrypted_previous_secret", "previous_secret_expires_at"])
    return was_working


def set_enabled(endpoint: WebhookEndpoint, enabled: bool) -> None:
    """Enable or disable ``endpoint`` (a disabled endpoint's URL answers 404)."""
    endpoint.enabled = enabled
    endpoint.save(update_fields=["enabled"])


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Delete ``endpoint``; the events it received are kept, with no endpoint."""
    endpoint.delete()


@transaction.atomic
def reencrypt_secrets() -> int:
    """Encrypt again, with the key that encrypts now, every stored secret another key
    encrypted (after ``SECRET_KEY`` or ``ENDPOINT_SECRET_KEYS`` changed, before the old key is
    dropped); how many endpoints changed. Raises ``UndecryptableSecret`` when no key opens
    one (nothing is changed then)."""
    changed = 0
    for endpoint in WebhookEndpoint.objects.select_for_update().order_by("pk"):
        fields = [
            name
            for name in ("encrypted_secret", "encrypted_previous_secret")
            if getattr(endpoint, name) and not uses_first_key(getattr(endpoint, name))
        ]
        for name in fields:
            setattr(endpoint, name, reencrypt(getattr(endpoint, name)))
        if fields:
            endpoint.save(update_fields=fields)
            changed += 1
    return changed
