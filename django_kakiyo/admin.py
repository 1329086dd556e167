"""Admin screens for stored events and refused requests: read-only, since they are evidence.

Built for big tables: no ``COUNT(*)`` over the whole table on any page (the paginator counts at
most :data:`COUNT_LIMIT` rows), filters whose choices come from the indexes, exact-match
searches that use the id indexes.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .actions import ignore_events, replay_events
from .models import REPLAY_PERMISSION, ReceiverOutcome, RejectedRequest, WebhookEvent
from .stats import PERIODS, STATUS_COLOURS, event_stats, hourly_chart
from .storable import has_unstorable

#: The changelist counts at most this many rows; beyond it the count reads "10000+".
COUNT_LIMIT = 10_000


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Counts ``COUNT_LIMIT + 1`` rows at most, so a page never scans millions to count them."""

    @cached_property
    def count(self) -> int:
        queryset: QuerySet[Any] = self.object_list  # type: ignore[assignment]
        return queryset[: COUNT_LIMIT + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > COUNT_LIMIT


def distinct_values(queryset: QuerySet[Any], field: str, limit: int = 200) -> list[str]:
    """Distinct non-empty values of an indexed column, cheaply even on a huge table.

    PostgreSQL has no skip scan, so a plain DISTINCT reads the whole index; a recursive
    query that jumps from one value to the next reads one index entry per distinct value.
    """
    model = queryset.model
    if connection.vendor != "postgresql":
        values = (
            queryset.exclude(**{field: ""})
            .order_by(field)
            .values_list(field, flat=True)
            .distinct()[:limit]
        )
        return list(values)
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field).column)
    sql = f"""
        WITH RECURSIVE walk(value) AS (
            (SELECT {column} FROM {table} WHERE {column} > '' ORDER BY {column} LIMIT 1)
            UNION ALL
            SELECT (SELECT {column} FROM {table} WHERE {column} > walk.value
                    ORDER BY {column} LIMIT 1)
            FROM walk WHERE walk.value IS NOT NULL
        )
        SELECT value FROM walk WHERE value IS NOT NULL LIMIT %s
    """  # noqa: S608 - table and column names come from the model, quoted
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


class IndexedValueFilter(admin.SimpleListFilter):
    """A filter on an indexed column whose choices are its distinct values."""

    field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        values = distinct_values(WebhookEvent.objects.all(), self.field)
        return [(value, value) for value in values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and has_unstorable(value):
            return queryset.none()
        return queryset.filter(**{self.field: value}) if value else queryset


class EventTypeFilter(IndexedValueFilter):
    title = _("event type")
    parameter_name = "event_type"
    field = "event_type"


class TeamFilter(IndexedValueFilter):
    title = _("team")
    parameter_name = "team_id"
    field = "team_id"


def pretty_json(value: Any) -> SafeString:
    """``value`` as indented JSON in a <pre>, escaped."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    return format_html('<pre class="kakiyo-json">{}</pre>', text)


def pretty_bytes(value: bytes | memoryview | None) -> SafeString:
    """Stored bytes shown as text (invalid UTF-8 shown escaped), in a <pre>."""
    raw = bytes(value or b"")
    return format_html(
        '<pre class="kakiyo-json">{}</pre>', raw.decode("utf-8", "backslashreplace")
    )


class ReceiverOutcomeInline(admin.TabularInline):  # type: ignore[type-arg]
    """Each receiver's outcome on the event's page: what a retry will run again."""

    model = ReceiverOutcome
    fields = ("receiver", "status", "attempts", "updated_at", "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Nothing can be added or edited; deleting still needs the delete permission."""

    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "event_type",
        "team_id",
        "campaign_id",
        "prospect_id",
        "status",
        "attempts",
        "delivery_count",
    )
    list_display_links = ("received_at", "event_type")
    list_filter = (EventTypeFilter, "status", TeamFilter, "received_at")
    search_fields = ("prospect_id", "chat_id", "campaign_id", "agent_id")
    search_help_text = _("Exact prospect, chat, campaign or agent id.")
    date_hierarchy = "received_at"
    actions = ("replay_selected", "replay_failed_receivers", "mark_ignored")
    inlines = [ReceiverOutcomeInline]
    fieldsets = (
        (None, {"fields": ("event_type", "status", "invalid_reason", "received_at",
                           "occurred_at")}),
        (_("Kakiyo ids"), {"fields": ("team_id", "agent_id", "campaign_id", "chat_id",
                                      "prospect_id")}),
        (_("Processing"), {"fields": ("attempts", "next_attempt_at", "processed_at",
                                      "last_error", "last_traceback_pre", "history_pre")}),
        (_("Payload"), {"fields": ("payload_pre",)}),
        (_("Delivery"), {"fields": ("delivery_count", "last_received_at", "signature_method",
                                    "remote_addr", "dedup_key", "headers_pre", "raw_body_pre"),
                         "classes": ("collapse",)}),
    )  # fmt: skip
    readonly_fields = (
        "event_type", "status", "invalid_reason", "received_at", "occurred_at",
        "team_id", "agent_id", "campaign_id", "chat_id", "prospect_id",
        "attempts", "next_attempt_at", "processed_at", "last_error", "last_traceback_pre",
        "history_pre", "payload_pre", "delivery_count", "last_received_at", "signature_method",
        "remote_addr", "dedup_key", "headers_pre", "raw_body_pre",
    )  # fmt: skip

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
            "colours": STATUS_COLOURS,
            "changelist_url": reverse("admin:django_kakiyo_webhookevent_changelist"),
        }
        return TemplateResponse(request, "admin/django_kakiyo/webhookevent/stats.html", context)


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


@admin.register(RejectedRequest)
class RejectedRequestAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "reason", "remote_addr", "content_length", "detail")
    list_filter = ("reason", "received_at")
    date_hierarchy = "received_at"
    fields = (
        "reason",
        "detail",
        "received_at",
        "remote_addr",
        "method",
        "path",
        "content_type",
        "content_length",
        "headers_pre",
        "body_prefix_pre",
    )
    readonly_fields = fields

    @admin.display(description=_("headers"))
    def headers_pre(self, obj: RejectedRequest) -> SafeString:
        return pretty_json(obj.headers)

    @admin.display(description=_("body prefix"))
    def body_prefix_pre(self, obj: RejectedRequest) -> SafeString:
        return pretty_bytes(obj.body_prefix)
