"""The Kakiyo REST API client under its earlier name: :mod:`django_kakiyo.kakiyo_api`."""

from __future__ import annotations

from .kakiyo_api import *  # noqa: F403
from .kakiyo_api import __all__ as __all__
