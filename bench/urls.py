"""URLs for bench/ingest_settings.py: the example project's, plus the baseline webhook."""

from django.urls import include, path

from bench.baseline import baseline_webhook

urlpatterns = [
    path("baseline/webhook/", baseline_webhook, name="baseline-webhook"),
    path("", include("example_project.urls")),
]
