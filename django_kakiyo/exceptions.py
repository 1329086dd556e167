"""The errors django-kakiyo raises, each with a home a caller can catch."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class KakiyoError(Exception):
    """Base class for every error this app raises on purpose."""


class KakiyoConfigurationError(KakiyoError, ImproperlyConfigured):
    """A setting has a value the app cannot use; the message names the exact setting."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"{setting} {problem}.")
