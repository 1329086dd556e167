"""Rules for setting values, shared by the runtime settings object and the system checks.

A rule takes a value and returns what is wrong with it (a phrase that completes "KAKIYO['X']
..."), or None when the value is fine. Nothing here reads settings.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.utils.module_loading import import_string

Rule = Callable[[Any], "str | None"]


def is_list_of_str(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


def optional(rule: Rule) -> Rule:
    """``rule``, with None also allowed."""

    def check(value: Any) -> str | None:
        problem = rule(value)
        return None if value is None else (problem and f"{problem} or None")

    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def non_negative_number(value: Any) -> str | None:
    if not _is_number(value) or value < 0:
        return "must be a non-negative number"
    return None


def positive_number(value: Any) -> str | None:
    if not _is_number(value) or value <= 0:
        return "must be a positive number"
    return None


def at_least(minimum: float) -> Rule:
    def check(value: Any) -> str | None:
        return f"must be at least {minimum}" if _is_number(value) and value < minimum else None

    return check


def one_of(choices: Iterable[str | None]) -> Rule:
    allowed = tuple(choices)

    def check(value: Any) -> str | None:
        if value not in allowed:
            return "must be " + " or ".join(repr(choice) for choice in allowed)
        return None

    return check


def non_empty_str(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def list_of_str(value: Any) -> str | None:
    return None if is_list_of_str(value) else "must be a list of strings"


def key_list(value: Any) -> str | None:
    if is_list_of_str(value) and value and all(item.strip() for item in value):
        return None
    return "must be a non-empty list of non-empty strings"


def team_secrets(value: Any) -> str | None:
    if isinstance(value, Mapping) and all(
        isinstance(team, str) and is_list_of_str(secrets) for team, secrets in value.items()
    ):
        return None
    return "must map team ids to lists of strings"


def networks(value: Any) -> str | None:
    if not is_list_of_str(value):
        return "must be a list of IP addresses or networks"
    for entry in value:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            return f"has {entry!r}, which is not an IP address or network"
    return None


def path(value: Any) -> str | None:
    """A path; an empty string counts as not set (as an unset environment variable gives)."""
    if not isinstance(value, (str, os.PathLike)):
        return "must be a path (a string or a Path)"
    return None


def str_type(value: Any) -> str | None:
    """A string; an empty one counts as not set (as an unset environment variable gives)."""
    return None if isinstance(value, str) else "must be a string"


def bool_type(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def thresholds(defaults: Mapping[str, float]) -> Rule:
    """A dict of some of ``defaults``' keys, each a non-negative number (merged over them)."""

    def check(value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return "must be a dict"
        unknown = sorted(set(map(str, value)) - set(defaults))
        if unknown:
            return f"has unknown keys {', '.join(unknown)} (known: {', '.join(defaults)})"
        for key, item in value.items():
            if non_negative_number(item) is not None:
                return f"[{key!r}] must be a non-negative number, not {item!r}"
        return None

    return check


def http_url(value: Any) -> str | None:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        return "must be an http(s) URL"
    if not urlsplit(value).netloc:
        return "must be an http(s) URL with a host"
    return None


def import_each(paths: Iterable[str]) -> list[Any]:
    return [import_string(dotted) for dotted in paths]


def importable_list(value: Any) -> str | None:
    if not is_list_of_str(value):
        return "must be a list of dotted paths"
    for dotted in value:
        try:
            import_string(dotted)
        except ImportError:
            return f"has {dotted!r}, which cannot be imported"
    return None
