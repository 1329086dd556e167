"""Keep Kakiyo's webhooks in step with the endpoints: create, update, re-enable, report drift.

For each endpoint :func:`sync_endpoints` makes Kakiyo's webhook match it: created when it has
none (or Kakiyo no longer has it), then its URL, events and, after a rotation, secret
updated, and re-enabled when Kakiyo disabled it (four failed deliveries; re-enabling resets
the count) or deactivated when the endpoint is disabled. It also reports drift: a Kakiyo
webhook pointing at this site that no endpoint knows. Listing and updating webhooks use
Kakiyo's undocumented paths, which live in :mod:`django_kakiyo.kakiyo_api.endpoints`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .exceptions import KakiyoAPIError
from .kakiyo_api import KakiyoClient, Webhook
from .kakiyo_api.endpoints import WEBHOOK_UPDATE_FIELDS
from .models import WebhookEndpoint
from .secret_box import UndecryptableSecret, decrypt

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What a sync did (or, dry, would do) per endpoint, and the drift it found."""

    done: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def endpoint_url(base_url: str, endpoint: WebhookEndpoint) -> str:
    """The full URL Kakiyo should POST to for ``endpoint``."""
    return base_url.rstrip("/") + reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])


def secret_changed_since_sync(endpoint: WebhookEndpoint) -> bool:
    rotated, synced = endpoint.secret_rotated_at, endpoint.synced_at
    return rotated is not None and (synced is None or rotated > synced)


def sync_endpoints(
    client: KakiyoClient,
    base_url: str,
    endpoints: Iterable[WebhookEndpoint] | None = None,
    *,
    dry_run: bool = False,
) -> SyncReport:
    """Bring Kakiyo's webhooks in line with ``endpoints`` (default: all); see the module.

    With ``dry_run`` nothing is sent but the list, and nothing is saved. A failed call for one
    endpoint is recorded in its ``sync_result`` and the report, and the others go on.
    """
    report = SyncReport()
    webhooks = {str(hook.get("id")): hook for hook in client.list_webhooks()}
    chosen = list(WebhookEndpoint.objects.all() if endpoints is None else endpoints)
    for endpoint in chosen:
        hook = webhooks.get(endpoint.kakiyo_webhook_id) if endpoint.kakiyo_webhook_id else None
        if hook is not None and hook.get("url") != endpoint_url(base_url, endpoint):
            report.drift.append(
                f"{endpoint.name}: its Kakiyo webhook {endpoint.kakiyo_webhook_id} points at "
                f"{hook.get('url')}, elsewhere"
            )
        try:
            result = _sync_one(client, base_url, endpoint, hook, dry_run)
        except (KakiyoAPIError, UndecryptableSecret) as error:
            result = f"failed: {error}"[:255]
            report.failed.append(f"{endpoint.name}: {result}")
            if not dry_run:
                endpoint.sync_result = result
                endpoint.save(update_fields=["sync_result"])
            continue
        report.done.append(f"{endpoint.name}: {result}")
    report.drift += drift(webhooks.values(), base_url, WebhookEndpoint.objects.all())
    return report


@sensitive_variables("secret", "changes")
def _sync_one(
    client: KakiyoClient,
    base_url: str,
    endpoint: WebhookEndpoint,
    hook: Webhook | None,
    dry_run: bool,
) -> str:
    url = endpoint_url(base_url, endpoint)
    events = list(endpoint.events or ["*"])
    if hook is None:
        gone = (
            f"Kakiyo webhook {endpoint.kakiyo_webhook_id} is gone; "
            if endpoint.kakiyo_webhook_id
            else ""
        )
        if not endpoint.enabled:
            return gone + "disabled: no Kakiyo webhook made"
        if dry_run:
            return gone + "would create a Kakiyo webhook"
        secret = None if endpoint.unsigned else decrypt(endpoint.encrypted_secret)
        created = client.create_webhook(endpoint.name, url, secret, events)
        endpoint.kakiyo_webhook_id = str(created.get("id", ""))
        return _saved(endpoint, f"{gone}created Kakiyo webhook {endpoint.kakiyo_webhook_id}")
    changes: dict[str, Any] = {}
    if hook.get("url") != url:
        changes["url"] = url
    if sorted(map(str, hook.get("events") or [])) != sorted(events):
        changes["events"] = events
    if not endpoint.unsigned and secret_changed_since_sync(endpoint):
        changes["secret"] = None  # filled below, only when sending
    if "active" in hook and bool(hook["active"]) != endpoint.enabled:
        changes["active"] = endpoint.enabled
    if not changes:
        return _saved(endpoint, "in sync", dry_run)
    what = ", ".join(_change_name(name, value) for name, value in changes.items())
    if dry_run:
        return f"would update: {what}"
    if "secret" in changes:
        secret = decrypt(endpoint.encrypted_secret)
        changes["secret"] = secret
    assert set(changes) <= set(WEBHOOK_UPDATE_FIELDS)  # noqa: S101 (one place for the shape)
    client.update_webhook(endpoint.kakiyo_webhook_id, **changes)
    return _saved(endpoint, f"updated: {what}")


def _change_name(name: str, value: Any) -> str:
    if name == "active":
        return "re-enabled" if value else "deactivated (endpoint disabled)"
    return name


def _saved(endpoint: WebhookEndpoint, result: str, dry_run: bool = False) -> str:
    if not dry_run:
        endpoint.synced_at = timezone.now()
        endpoint.sync_result = result[:255]
        endpoint.save(update_fields=["kakiyo_webhook_id", "synced_at", "sync_result"])
    return result


def drift(
    webhooks: Iterable[Webhook], base_url: str, endpoints: Iterable[WebhookEndpoint]
) -> list[str]:
    """Kakiyo webhooks pointing at this site's endpoint URLs (``webhook/<uuid>/``) that no
    endpoint knows: its endpoint was deleted, or another deployment made it."""
    known = {e.kakiyo_webhook_id for e in endpoints if e.kakiyo_webhook_id}
    prefix = base_url.rstrip("/") + reverse("kakiyo-webhook")
    return [
        f"Kakiyo webhook {hook.get('id')} ({hook.get('name', '')}) points at {hook.get('url')}, "
        "which no endpoint knows"
        for hook in webhooks
        if str(hook.get("id")) not in known
        and str(hook.get("url", "")).startswith(prefix)
        and str(hook.get("url")) != prefix
    ]
