"""URLs to include under a prefix of your choice, e.g. ``path("kakiyo/", include(...))``."""

from __future__ import annotations

from django.urls import path

from .views import webhook_view

urlpatterns = [
    path("webhook/", webhook_view, name="kakiyo-webhook"),
]
