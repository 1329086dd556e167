"""Admin screens for stored events and refused requests: read-only, since they are evidence.

Built for big tables: no ``COUNT(*)`` over the whole table on any page (the paginator counts at
most :data:`COUNT_LIMIT` rows), filters whose choices come from the indexes, exact-match
searches that use the id indexes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .actions import ignore_events, replay_events
from .admin_parts import (
    EventTypeFilter,
    ReadOnlyAdmin,
    TeamFilter,
    breakable_type,
    pretty_bytes,
    pretty_json,
    second_precision,
    short_id,
    status_badge,
)
from .at_risk import current_risks
from .endpoint_admin import WebhookEndpointAdmin
from .models import (
    REPLAY_PERMISSION,
    ReceiverOutcome,
    RejectedRequest,
    WebhookEndpoint,
    WebhookEvent,  # fmt: skip
)
from .reverify import reverify
from .stats import OUTCOME_COLOURS, PERIODS, event_stats, hourly_chart


class ReceiverOutcomeInline(admin.TabularInline):  # type: ignore[type-arg]
    """Each receiver's outcome on the event's page: what a retry will run again."""

    model = ReceiverOutcome
    fields = ("receiver", "status", "attempts", "updated_at", "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    # Fits 1,280 px beside the navigation and the filters: long ids are shortened (whole on
    # hover and in the detail), types wrap after their dots, times after the date.
    list_display = (
        "received",
        "type_column",
        "team_and_campaign",
        "prospect",
        "status_badge",
        "attempts_and_deliveries",
    )
    list_display_links = ("received", "type_column")
    list_filter = (EventTypeFilter, "status", TeamFilter, "endpoint", "received_at")
    search_fields = ("prospect_id", "chat_id", "campaign_id", "agent_id")
    search_help_text = _("Exact prospect, chat, campaign or agent id.")
    date_hierarchy = "received_at"
    actions = ("replay_selected", "replay_failed_receivers", "mark_ignored")
    inlines = [ReceiverOutcomeInline]
    fieldsets = (
        (None, {"fields": ("event_type", "status_badge", "invalid_reason", "received",
                           "occurred")}),
        (_("Kakiyo ids"), {"fields": ("team_id", "agent_id", "campaign_id", "chat_id",
                                      "prospect_id")}),
        (_("Processing"), {"fields": ("attempts", "next_attempt", "processed",
                                      "last_error", "last_traceback_pre", "history_pre")}),
        (_("Payload"), {"fields": ("payload_pre",)}),
        (_("Delivery"), {"fields": ("endpoint", "delivery_count", "last_received",
                                    "signature_method", "remote_addr", "dedup_key",
                                    "headers_pre", "raw_body_pre"),
                         "classes": ("collapse",)}),
    )  # fmt: skip
    readonly_fields = (
        "event_type", "status_badge", "invalid_reason", "received", "occurred",
        "team_id", "agent_id", "campaign_id", "chat_id", "prospect_id",
        "attempts", "next_attempt", "processed", "last_error", "last_traceback_pre",
        "history_pre", "payload_pre", "endpoint", "delivery_count", "last_received",
        "signature_method",
        "remote_addr", "dedup_key", "headers_pre", "raw_body_pre",
    )  # fmt: skip
    # Times to the second, in the current time zone (Django's default format stops at minutes).
    received = second_precision("received_at", _("received at"))
    occurred = second_precision("occurred_at", _("occurred at"))
    next_attempt = second_precision("next_attempt_at", _("next attempt at"))
    processed = second_precision("processed_at", _("processed at"))
    last_received = second_precision("last_received_at", _("last received at"))

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: WebhookEvent) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description=_("event type"), ordering="event_type")
    def type_column(self, obj: WebhookEvent) -> SafeString:
        return breakable_type(obj.event_type)

    @admin.display(description=_("team / campaign"))
    def team_and_campaign(self, obj: WebhookEvent) -> SafeString:
        return format_html("{}<br>{}", short_id(obj.team_id), short_id(obj.campaign_id))

    @admin.display(description=_("attempts / deliveries"), ordering="attempts")
    def attempts_and_deliveries(self, obj: WebhookEvent) -> str:
        return f"{obj.attempts} / {obj.delivery_count}"

    @admin.display(description=_("prospect id"), ordering="prospect_id")
    def prospect(self, obj: WebhookEvent) -> SafeString:
        return short_id(obj.prospect_id)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, at_risk_context(extra_context))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[WebhookEvent], search_term: str
    ) -> tuple[QuerySet[WebhookEvent], bool]:
        """Exact, case-sensitive matches, which the id indexes answer (Django's ``=`` search
        is ``iexact``: ``UPPER(column)``, which no index serves, so it reads every row)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q()
        for field in self.search_fields:
            match |= Q(**{field: term})
        return queryset.filter(match), False

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
        # The list never shows the large columns: leave them in the database.
        queryset = super().get_queryset(request)
        url_name = request.resolver_match.url_name if request.resolver_match else None
        if url_name and url_name.endswith("changelist"):
            queryset = queryset.defer("payload", "raw_body", "headers", "last_traceback")
        return queryset

    @admin.display(description=_("payload"))
    def payload_pre(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.payload)

    @admin.display(description=_("headers"))
    def headers_pre(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.headers)

    @admin.display(description=_("raw body"))
    def raw_body_pre(self, obj: WebhookEvent) -> SafeString:
        return pretty_bytes(obj.raw_body)

    @admin.display(description=_("last traceback"))
    def last_traceback_pre(self, obj: WebhookEvent) -> SafeString:
        return format_html('<pre class="kakiyo-json">{}</pre>', obj.last_traceback)

    @admin.display(description=_("history"))
    def history_pre(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.history)

    # Actions go through the same code as the API and the commands (actions.py).

    @admin.action(description=_("Replay selected events"), permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        result = replay_events(queryset, by=_actor(request))
        self._report(request, len(result.done), len(result.skipped), str(_("replayed")))

    @admin.action(
        description=_("Replay only the failed receivers of selected events"),
        permissions=["replay"],
    )
    def replay_failed_receivers(
        self, request: HttpRequest, queryset: QuerySet[WebhookEvent]
    ) -> None:
        result = replay_events(queryset, by=_actor(request), only_failed=True)
        self._report(request, len(result.done), len(result.skipped), str(_("replayed")))

    @admin.action(description=_("Mark selected events ignored"), permissions=["replay"])
    def mark_ignored(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        result = ignore_events(queryset, by=_actor(request))
        self._report(request, len(result.done), len(result.skipped), str(_("marked ignored")))

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Replaying runs receivers again and ignoring makes an event prunable: both need
        the replay permission, not just the view permission."""
        return bool(request.user.is_staff and request.user.has_perm(REPLAY_PERMISSION))

    def _report(self, request: HttpRequest, done: int, skipped: int, verb: str) -> None:
        message = ngettext("%(n)d event %(verb)s.", "%(n)d events %(verb)s.", done) % {
            "n": done,
            "verb": verb,
        }
        if skipped:
            message += " " + ngettext(
                "%(n)d skipped (invalid, processing or already final).",
                "%(n)d skipped (invalid, processing or already final).",
                skipped,
            ) % {"n": skipped}
        self.message_user(request, message, messages.SUCCESS if done else messages.WARNING)

    # The stats page.

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        stats = path(
            "stats/",
            self.admin_site.admin_view(self.stats_view),
            name="{}_{}_stats".format(*info),
        )
        return [stats, *super().get_urls()]

    def stats_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        period = request.GET.get("period", "24h")
        if period not in PERIODS:
            period = "24h"
        stats = event_stats(period)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Kakiyo webhook statistics"),
            "stats": stats,
            "chart": hourly_chart(stats),
            "periods": list(PERIODS),
            "colours": OUTCOME_COLOURS,
            "kakiyo_risks": current_risks(),
            "changelist_url": reverse("admin:django_kakiyo_webhookevent_changelist"),
        }
        return TemplateResponse(request, "admin/django_kakiyo/webhookevent/stats.html", context)


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def at_risk_context(extra_context: dict[str, Any] | None) -> dict[str, Any]:
    """A list's context with the at-risk banner's contents (shown while the risk lasts)."""
    return {**(extra_context or {}), "kakiyo_risks": current_risks()}


@admin.register(RejectedRequest)
class RejectedRequestAdmin(ReadOnlyAdmin):
    list_display = ("received", "reason", "remote_addr", "content_length", "body_complete",
                    "detail")  # fmt: skip
    received = second_precision("received_at", _("received at"))
    list_filter = ("reason", "body_complete", "received_at")
    date_hierarchy = "received_at"
    actions = ("reverify_selected",)
    fields = (
        "reason",
        "detail",
        "received",
        "remote_addr",
        "method",
        "path",
        "content_type",
        "content_length",
        "signature",
        "body_complete",
        "headers_pre",
        "body_prefix_pre",
    )
    readonly_fields = fields

    @admin.action(description=_("Verify selected again with the current secrets"),
                  permissions=["replay"])  # fmt: skip
    def reverify_selected(self, request: HttpRequest, queryset: QuerySet[RejectedRequest]) -> None:
        result = reverify(queryset, by=_actor(request))
        message = _(
            "%(stored)d stored as events, %(dup)d duplicates of stored events; %(left)d still "
            "do not verify, %(cannot)d cannot be checked (no signature or only a prefix)."
        ) % {"stored": len(result.stored), "dup": len(result.duplicates),
             "left": len(result.unverified), "cannot": len(result.unverifiable)}  # fmt: skip
        level = messages.SUCCESS if result.stored or result.duplicates else messages.WARNING
        self.message_user(request, message, level)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Storing refused requests as events runs receivers: the replay permission."""
        return bool(request.user.is_staff and request.user.has_perm(REPLAY_PERMISSION))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, at_risk_context(extra_context))

    @admin.display(description=_("headers"))
    def headers_pre(self, obj: RejectedRequest) -> SafeString:
        return pretty_json(obj.headers)

    @admin.display(description=_("body prefix"))
    def body_prefix_pre(self, obj: RejectedRequest) -> SafeString:
        return pretty_bytes(obj.body_prefix)


admin.site.register(WebhookEndpoint, WebhookEndpointAdmin)
