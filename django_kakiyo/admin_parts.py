"""Parts of the admin screens: a paginator that never counts millions, filters fed by the
indexes, readable values (JSON, bytes, status badges, times to the second).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise, cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from .models import WebhookEvent
from .stats import STATUS_COLOURS
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


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Nothing can be added or edited; deleting still needs the delete permission."""

    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def status_badge(status: str, label: object = None) -> SafeString:
    """A status as a coloured badge (white on the status's colour: readable in both themes)."""
    colour = STATUS_COLOURS.get(status, "#616161")  # type: ignore[call-overload]
    return format_html(
        '<span class="kakiyo-badge kakiyo-status-{}" style="background:{};color:#fff;'
        'padding:1px 7px;border-radius:9px;font-size:0.85em;white-space:nowrap">{}</span>',
        status, colour, label if label is not None else status,
    )  # fmt: skip


def second_precision(field: str, description: str | Promise) -> Any:
    """An admin column showing the datetime ``field`` to the second, in the current time
    zone, sortable by the field."""

    @admin.display(description=description, ordering=field)  # type: ignore[arg-type]
    def show(model_admin: Any, obj: Any) -> str:
        value = getattr(obj, field)
        if not value:
            return "-"
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")

    show.__name__ = f"{field}_s"
    return show


def short_id(value: str, head: int = 7, tail: int = 4) -> SafeString:
    """A long Kakiyo id shortened for a list column (``8f14e45f…f708``), whole on hover."""
    if len(value) <= head + tail + 2:
        return format_html("{}", value)
    return format_html('<span class="kakiyo-id" title="{}">{}…{}</span>', value, value[:head],
                       value[-tail:])  # fmt: skip


def breakable_type(event_type: str) -> SafeString:
    """An event type that may wrap after its dots (``linkedin.message.received``)."""
    parts = event_type.split(".")
    return format_html_join(mark_safe(".<wbr>"), "{}", ((part,) for part in parts))
