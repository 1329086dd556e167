"""Read-only admin screens for stored events and refused requests: they are evidence."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from .models import RejectedRequest, WebhookEvent


def pretty_json(value: Any) -> SafeString:
    """``value`` as indented JSON in a <pre>, escaped."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


def pretty_bytes(value: bytes | memoryview | None) -> SafeString:
    """Stored bytes shown as text (invalid UTF-8 shown escaped), in a <pre>."""
    raw = bytes(value or b"")
    return format_html(
        '<pre style="white-space: pre-wrap">{}</pre>', raw.decode("utf-8", "backslashreplace")
    )


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Nothing can be added or edited; deleting still needs the delete permission."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "event_type",
        "team_id",
        "campaign_id",
        "prospect_id",
        "status",
        "attempts",
        "delivery_count",
    )
    list_filter = ("status", "event_type", "signature_method")
    search_fields = ("=prospect_id", "=chat_id", "=campaign_id", "=agent_id", "=team_id")
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = (
        "event_type",
        "status",
        "invalid_reason",
        "team_id",
        "agent_id",
        "campaign_id",
        "chat_id",
        "prospect_id",
        "occurred_at",
        "received_at",
        "last_received_at",
        "delivery_count",
        "attempts",
        "processed_at",
        "last_error",
        "last_traceback",
        "signature_method",
        "remote_addr",
        "dedup_key",
        "payload_pretty",
        "headers_pretty",
        "raw_body_text",
    )
    readonly_fields = fields

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.payload)

    @admin.display(description=_("headers"))
    def headers_pretty(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.headers)

    @admin.display(description=_("raw body"))
    def raw_body_text(self, obj: WebhookEvent) -> SafeString:
        return pretty_bytes(obj.raw_body)


@admin.register(RejectedRequest)
class RejectedRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "reason", "remote_addr", "content_length", "detail")
    list_filter = ("reason",)
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = (
        "reason",
        "detail",
        "received_at",
        "remote_addr",
        "method",
        "path",
        "content_type",
        "content_length",
        "headers_pretty",
        "body_prefix_text",
    )
    readonly_fields = fields

    @admin.display(description=_("headers"))
    def headers_pretty(self, obj: RejectedRequest) -> SafeString:
        return pretty_json(obj.headers)

    @admin.display(description=_("body prefix"))
    def body_prefix_text(self, obj: RejectedRequest) -> SafeString:
        return pretty_bytes(obj.body_prefix)
