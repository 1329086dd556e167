"""Template tags for the app's admin templates, which copy some of Django's admin markup."""

from __future__ import annotations

import django
from django import template

register = template.Library()


@register.simple_tag
def django_at_least(version: str) -> bool:
    """Whether the running Django is ``version`` ("6.0") or later.

    Django changed markup the app's templates copy (6.0 made the paginator a ``<nav>`` with a
    list of pages, 6.1 the breadcrumbs an ``<ol>``); the templates render the running
    version's::

        {% load kakiyo_admin %}{% django_at_least "6.0" as django_6 %}
    """
    wanted = tuple(int(part) for part in version.split("."))
    return django.VERSION[: len(wanted)] >= wanted
