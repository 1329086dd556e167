"""The events API (Django REST framework): list, filter, read and replay stored events.

Mounted by ``django_kakiyo.urls`` at ``api/events/``. Reading needs the view permission on
webhook events and replaying the replay permission, always; ``KAKIYO['API_PERMISSION_CLASSES']``
adds its own requirements on top (staff only by default). Cursor-paginated newest first, so a
page costs the same on a table of millions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.db.models import QuerySet
from django.http import QueryDict
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .actions import replay_events
from .conf import kakiyo_settings
from .envelope import parse_timestamp
from .models import REPLAY_PERMISSION, VIEW_PERMISSION, WebhookEvent
from .storable import has_unstorable


class EventPermissions(BasePermission):
    """The model permissions the events API always requires, whatever else is configured.

    Payloads hold prospects' LinkedIn messages, so being staff is not enough: reading needs
    ``view_webhookevent`` and replaying ``replay_webhookevent`` (superusers have both).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        needed = REPLAY_PERMISSION if getattr(view, "action", "") == "replay" else VIEW_PERMISSION
        return bool(user.has_perm(needed))


def api_permissions() -> list[BasePermission]:
    """The permissions of every view of the API: :class:`EventPermissions` and then
    ``KAKIYO['API_PERMISSION_CLASSES']``."""
    configured = kakiyo_settings.api_permission_classes()
    return [EventPermissions(), *(permission() for permission in configured)]


class WebhookEventSerializer(serializers.ModelSerializer[WebhookEvent]):
    class Meta:
        model = WebhookEvent
        fields = [
            "id",
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
            "next_attempt_at",
            "processed_at",
            "last_error",
            "signature_method",
            "payload",
        ]
        read_only_fields = fields


class WebhookEventDetailSerializer(WebhookEventSerializer):
    """The detail adds what is too large for lists."""

    class Meta(WebhookEventSerializer.Meta):
        fields = [*WebhookEventSerializer.Meta.fields, "last_traceback", "headers", "history"]
        read_only_fields = fields


class NewestFirst(CursorPagination):
    ordering = ("-received_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        """``page_size``, capped at ``max_page_size``: a value that is not a whole number from
        1 up is a 400 (DRF's own pagination would quietly use the default instead)."""
        value = request.query_params.get(self.page_size_query_param)
        if not value:
            return self.page_size
        if not (value.isascii() and value.isdigit() and int(value) >= 1):
            raise ValidationError({self.page_size_query_param: "A whole number from 1 up."})
        return min(int(value), self.max_page_size)


#: The values of the ``status`` filter.
STATUSES = tuple(WebhookEvent.Status.values)

#: Query parameters that filter on a column by equality.
EXACT_FILTERS = {
    "type": "event_type",
    "status": "status",
    "team": "team_id",
    "campaign": "campaign_id",
    "prospect": "prospect_id",
    "chat": "chat_id",
    "agent": "agent_id",
}


class WebhookEventViewSet(viewsets.ReadOnlyModelViewSet[WebhookEvent]):
    """Stored Kakiyo events. Filters: ``type``, ``status``, ``team``, ``campaign``,
    ``prospect``, ``chat``, ``agent`` (exact), ``received_after``, ``received_before``
    (ISO 8601). ``POST .../{id}/replay/`` processes an event again."""

    pagination_class = NewestFirst

    def get_renderers(self) -> list[BaseRenderer]:
        # DRF's browsable API needs rest_framework's templates, i.e. "rest_framework" in
        # INSTALLED_APPS; without it, a browser would get a 500. Answer JSON instead.
        if apps.is_installed("rest_framework"):
            return super().get_renderers()
        return [JSONRenderer()]

    def get_permissions(self) -> list[BasePermission]:
        return api_permissions()

    def get_serializer_class(self) -> type[WebhookEventSerializer]:
        if self.action == "list":
            return WebhookEventSerializer
        return WebhookEventDetailSerializer

    def get_queryset(self) -> QuerySet[WebhookEvent]:
        queryset = WebhookEvent.objects.all()
        if self.action == "list":
            queryset = queryset.defer("raw_body", "headers", "last_traceback", "history")
        params = self.request.query_params
        for parameter, field in EXACT_FILTERS.items():
            if value := params.get(parameter):
                if has_unstorable(value):  # no stored value holds one; the database refuses it
                    raise ValidationError({parameter: "A value without NUL characters."})
                if parameter == "status" and value not in STATUSES:
                    raise ValidationError({parameter: f"One of {', '.join(STATUSES)}."})
                queryset = queryset.filter(**{field: value})
        for parameter, lookup in (("received_after", "gte"), ("received_before", "lt")):
            if value := params.get(parameter):
                moment = _parse_moment(parameter, value)
                queryset = queryset.filter(**{f"received_at__{lookup}": moment})
        return queryset

    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: Any = None) -> Response:
        """Replay the event; ``?only_failed=true`` (or ``{"only_failed": true}``) runs only
        the receivers that failed."""
        only_failed = _only_failed(request)
        event = self.get_object()
        result = replay_events(
            [event.pk], by=f"api:{request.user.get_username()}", only_failed=only_failed
        )
        if not result.done:
            return Response(
                {"replayed": False, "detail": f"An event that is {event.status} is not replayed."},
                status=409,
            )
        event.refresh_from_db()
        return Response({"replayed": True, "event": WebhookEventDetailSerializer(event).data})


#: What ``only_failed`` may say in a query string or a form: yes, then no ("" is no).
YES, NO = ("true", "1", "yes"), ("false", "0", "no", "")


def _only_failed(request: Request) -> bool:
    """The replay's ``only_failed``, from the query string, else the body: one of :data:`YES`
    or :data:`NO` (a JSON body says ``true`` or ``false``). Anything else is a 400, rather
    than a full replay the caller did not ask for."""
    body = request.data
    if not isinstance(body, Mapping):
        raise ValidationError({"body": 'A JSON object, e.g. {"only_failed": true}.'})
    if "only_failed" in request.query_params:
        value: Any = request.query_params["only_failed"]
    elif "only_failed" in body:
        value = body["only_failed"]
        if isinstance(value, bool):
            return value
        if not isinstance(body, QueryDict):  # JSON: a boolean, not "yes" or 1
            raise ValidationError({"only_failed": "true or false."})
    else:
        return False
    if value not in YES + NO:
        raise ValidationError({"only_failed": f"One of {', '.join(YES + NO[:-1])}."})
    return value in YES


def _parse_moment(parameter: str, value: str) -> dt.datetime:
    moment = parse_timestamp(value)
    if moment is None:
        raise ValidationError({parameter: "An ISO 8601 date and time, e.g. 2026-11-27T10:00Z."})
    return moment
