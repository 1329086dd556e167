"""URLs to include under a prefix of your choice, e.g. ``path("kakiyo/", include(...))``.

``webhook/`` (name ``kakiyo-webhook``) receives deliveries signed with the settings' secrets,
``webhook/<uuid>/`` (``kakiyo-endpoint-webhook``) those of one endpoint in the database;
``api/events/`` is the events API (names ``kakiyo-event-list``, ``kakiyo-event-detail``,
``kakiyo-event-replay``) and
``api/schema/`` its OpenAPI schema (name ``kakiyo-api-schema``; 501 without drf-spectacular);
``health/`` and ``metrics/`` (``kakiyo-health``, ``kakiyo-metrics``) are for monitoring.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from .api_schema import schema_view
from .events_api import WebhookEventViewSet
from .monitoring_views import health_view, metrics_view
from .views import webhook_view

router = SimpleRouter()
router.register("api/events", WebhookEventViewSet, basename="kakiyo-event")

urlpatterns = [
    path("webhook/", webhook_view, name="kakiyo-webhook"),
    path("webhook/<uuid:endpoint>/", webhook_view, name="kakiyo-endpoint-webhook"),
    path("health/", health_view, name="kakiyo-health"),
    path("metrics/", metrics_view, name="kakiyo-metrics"),
    path("api/schema/", schema_view, name="kakiyo-api-schema"),
    *router.urls,
]
