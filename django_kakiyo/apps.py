"""The app's configuration: registers the system checks when Django starts."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DjangoKakiyoConfig(AppConfig):
    name = "django_kakiyo"
    verbose_name = _("Kakiyo webhooks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing registers the checks and the settings-reload receiver.
        from . import checks, conf, dispatch, sweeper  # noqa: F401

        # Without a broker, each web process's processing thread also sweeps while idle.
        dispatch.processing_thread.sweep = sweeper.sweep
