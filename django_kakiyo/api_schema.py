"""The events API's OpenAPI 3 schema, served at ``api/schema/`` when drf-spectacular is installed.

drf-spectacular is an optional extra (``pip install "django-kakiyo[openapi]"``): receiving
webhooks, the admin and the events API work without it. Without it, ``api/schema/`` (URL name
``kakiyo-api-schema``) still exists, behind the same permissions, and answers 501 saying what
to install.

What the API's views do by hand (the filters, the replay's two answers, the refusals) is
declared here, through a drf-spectacular view extension, so :mod:`django_kakiyo.events_api`
does not depend on drf-spectacular. ``tests/test_api_schema.py`` holds the API to this schema
with schemathesis.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import __version__
from .events_api import (
    EXACT_FILTERS,
    NO,
    STATUSES,
    YES,
    NewestFirst,
    WebhookEventDetailSerializer,
    WebhookEventSerializer,
    WebhookEventViewSet,
    api_permissions,
)

try:
    from drf_spectacular.extensions import OpenApiViewExtension
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.settings import patched_settings
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import (
        OpenApiParameter,
        OpenApiResponse,
    )
    from drf_spectacular.views import SpectacularAPIView

    AVAILABLE = True
except ImportError:  # pragma: no cover - the CI's environment has the extra installed
    AVAILABLE = False

#: What ``pip install`` brings drf-spectacular in.
INSTALL_HINT = 'pip install "django-kakiyo[openapi]"'

#: The schema's settings, over the project's ``SPECTACULAR_SETTINGS``: it describes the events
#: API alone, wherever its URLs are included.
SCHEMA_SETTINGS: dict[str, Any] = {
    "TITLE": "django-kakiyo events API",
    "DESCRIPTION": (
        "Stored Kakiyo webhook events: list and filter them (newest first, cursor-paginated), "
        "read one, replay one. Reading needs the view_webhookevent permission and replaying "
        "replay_webhookevent, on top of KAKIYO['API_PERMISSION_CLASSES'] (staff by default). "
        "Authentication is the project's REST_FRAMEWORK default."
    ),
    "VERSION": __version__,
    "PREPROCESSING_HOOKS": ["django_kakiyo.api_schema.only_the_events_api"],
}

#: The pattern of a filter's value: anything but a NUL character.
NO_NUL = "^[^\\x00]*$"

#: What each query parameter of the list filters on, for the schema.
FILTER_DESCRIPTIONS = {
    "type": "Event type, exactly (linkedin.message.received).",
    "status": "Status.",
    "team": "Kakiyo team id, exactly.",
    "campaign": "Campaign id, exactly.",
    "prospect": "Prospect id, exactly.",
    "chat": "Chat (conversation) id, exactly.",
    "agent": "Agent id, exactly.",
}


def only_the_events_api(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """drf-spectacular preprocessing hook: keep the events API's endpoints, drop the rest of
    the project's URLs."""
    return [
        endpoint
        for endpoint in endpoints
        if issubclass(getattr(endpoint[3], "cls", object), WebhookEventViewSet)
    ]


class SchemaViewBase(APIView):
    """The events API's authentication and permissions, for the schema's URL."""

    authentication_classes = WebhookEventViewSet.authentication_classes

    def get_permissions(self) -> list[BasePermission]:
        return api_permissions()


class SchemaUnavailableView(SchemaViewBase):
    """``api/schema/`` without drf-spectacular: 501, naming what to install."""

    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        detail = f"The OpenAPI schema needs drf-spectacular: {INSTALL_HINT}."
        return Response({"error": "schema_unavailable", "detail": detail}, status=501)


if AVAILABLE:

    class ErrorSerializer(serializers.Serializer[Any]):
        detail = serializers.CharField(help_text="Why the request was refused.")

    class ReplayedSerializer(serializers.Serializer[Any]):
        replayed = serializers.BooleanField(help_text="Always true here.")
        event = WebhookEventDetailSerializer(help_text="The event, as it is after the replay.")

    class ReplayRequestSerializer(serializers.Serializer[Any]):
        only_failed = serializers.BooleanField(
            required=False,
            help_text="Run only the receivers that failed; those that succeeded are skipped.",
        )

    class NotReplayedSerializer(serializers.Serializer[Any]):
        replayed = serializers.BooleanField(help_text="Always false here.")
        detail = serializers.CharField()

    REFUSALS = {
        401: OpenApiResponse(ErrorSerializer, "Not authenticated (authentication schemes that "
                             "send a WWW-Authenticate challenge)."),
        403: OpenApiResponse(ErrorSerializer, "Not authenticated, or without the permission."),
    }  # fmt: skip
    NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, "No such event.")}
    BAD_FILTER = OpenApiResponse(
        OpenApiTypes.OBJECT,
        "A filter's value is not usable (a NUL character, a date that is not ISO 8601): "
        "an object naming the parameter, with the reason.",
    )

    def list_parameters() -> list[OpenApiParameter]:
        exact = [
            OpenApiParameter(
                name,
                str,
                description=FILTER_DESCRIPTIONS[name],
                enum=STATUSES if name == "status" else None,
                # No column holds a NUL character: the API refuses one (400).
                pattern=None if name == "status" else NO_NUL,
            )
            for name in EXACT_FILTERS
        ]
        moments = [
            OpenApiParameter(
                "received_after", OpenApiTypes.DATETIME, description="Received at or after."
            ),
            OpenApiParameter(
                "received_before", OpenApiTypes.DATETIME, description="Received before."
            ),
        ]
        page_size = OpenApiParameter(
            "page_size",
            {"type": "integer", "minimum": 1},
            description=f"Events per page (default {NewestFirst.page_size}; more than "
            f"{NewestFirst.max_page_size} are capped to {NewestFirst.max_page_size}).",
        )
        return [*exact, *moments, page_size]

    ONLY_FAILED = OpenApiParameter(
        "only_failed",
        str,
        enum=[value for value in YES + NO if value],
        description="true, 1 or yes: run only the receivers that failed (as the body's "
        "only_failed). Before the body's.",
    )

    class Operation(NamedTuple):
        """What the schema says of one action of the API."""

        summary: str
        description: str
        responses: dict[int, Any]

    ACTIONS = {
        "list": Operation(
            "List stored events, newest first",
            "Cursor-paginated, so a page costs the same on a table of millions: follow "
            "`next` and `previous`. Filters combine; an empty value filters nothing.",
            {
                200: OpenApiResponse(WebhookEventSerializer, "A page of events."),
                400: BAD_FILTER,
                **REFUSALS,
                404: OpenApiResponse(ErrorSerializer, "An invalid cursor."),
            },
        ),
        "retrieve": Operation(
            "Read one event",
            "With what lists leave out: the headers (credentials redacted), the last "
            "traceback and the history of operator actions.",
            {
                200: OpenApiResponse(WebhookEventDetailSerializer, "The event."),
                **REFUSALS,
                **NOT_FOUND,
            },
        ),
        "replay": Operation(
            "Replay an event",
            "Reset its attempts and process it again through the normal path (a Celery "
            "worker, or the web process's processing thread), recorded in its history as "
            "`api:<username>`: every receiver again, or with `only_failed` only those that "
            "failed. Needs the replay_webhookevent permission.",
            {
                200: OpenApiResponse(ReplayedSerializer, "Replayed."),
                400: OpenApiResponse(
                    OpenApiTypes.OBJECT,
                    "only_failed is not one of its values, or the body is not an object.",
                ),
                **REFUSALS,
                **NOT_FOUND,
                409: OpenApiResponse(
                    NotReplayedSerializer,
                    "Not replayed: the event is invalid, or being processed.",
                ),
                415: OpenApiResponse(
                    ErrorSerializer,
                    "A body DRF cannot parse as JSON, a form or multipart (a media type it "
                    "does not take, or a multipart body that is broken).",
                ),
            },
        ),
    }

    class EventsApiAutoSchema(AutoSchema):
        """The events API's operations: what the views do by hand, declared."""

        def _action(self) -> str:
            return str(getattr(self.view, "action", ""))

        def get_operation_id(self) -> str:
            return f"events_{self._action()}"

        def get_tags(self) -> list[str]:
            return ["events"]

        def get_summary(self) -> str | None:
            return ACTIONS[self._action()].summary

        def get_description(self) -> str:  # type: ignore[override]
            return ACTIONS[self._action()].description

        def get_override_parameters(self) -> list[Any]:
            return {"list": list_parameters(), "replay": [ONLY_FAILED]}.get(self._action(), [])

        def get_request_serializer(self) -> Any:
            if self._action() == "replay":
                return ReplayRequestSerializer
            return super().get_request_serializer()

        def get_response_serializers(self) -> Any:
            return ACTIONS[self._action()].responses

        def get_operation(self, *args: Any, **kwargs: Any) -> Any:
            operation = super().get_operation(*args, **kwargs)
            for parameter in operation.get("parameters", []) if operation else []:
                if parameter["in"] == "query":
                    # The views read an empty value as no value: no filter, the first page.
                    parameter["allowEmptyValue"] = True
            return operation

    class DescribedWebhookEventViewSet(WebhookEventViewSet):
        """The events API as schema generation sees it."""

        schema = EventsApiAutoSchema()

    class EventsApiSchema(OpenApiViewExtension):  # type: ignore[no-untyped-call]
        """Schema generation sees :class:`DescribedWebhookEventViewSet` for the events API,
        whatever the project's ``DEFAULT_SCHEMA_CLASS``."""

        target_class = WebhookEventViewSet

        def view_replacement(self) -> type[APIView]:
            return DescribedWebhookEventViewSet

    class SchemaView(SchemaViewBase, SpectacularAPIView):
        """``api/schema/``: the schema as YAML, or JSON with ``?format=json``."""

        custom_settings = SCHEMA_SETTINGS

    def generate_schema() -> dict[str, Any]:
        """The schema the view serves, for the project's URLs (the docs build calls this)."""
        with patched_settings(SCHEMA_SETTINGS):
            generator = SchemaGenerator()  # type: ignore[no-untyped-call]
            schema = generator.get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
            return schema  # type: ignore[no-any-return]

    schema_view = SchemaView.as_view()
else:  # pragma: no cover - see AVAILABLE
    schema_view = SchemaUnavailableView.as_view()
