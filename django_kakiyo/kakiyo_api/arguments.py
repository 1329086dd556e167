"""What the Kakiyo API client is given, checked before any request is sent.

The key, the base URL and the timeout (from ``KAKIYO`` or the constructor), the path segments
and event lists of calls: a bad value is refused here, with the setting or argument named and
the key never quoted, rather than sent to Kakiyo or into requests' own error messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from ..exceptions import KakiyoConfigurationError

#: Printable ASCII without spaces: anything else in a key is a copy-paste accident, and
#: requests would quote the whole header value (the key) in its own error message.
_KEY_PATTERN = re.compile(r"[\x21-\x7e]+")


def checked_key(value: object) -> str:
    setting = "KAKIYO['API_KEY']"
    if value is None or value == "":
        raise KakiyoConfigurationError(
            setting,
            "is not set: create an API key in Kakiyo (Team > API Keys) and put it there, "
            "or pass api_key=",
        )
    if not isinstance(value, str):
        raise KakiyoConfigurationError(setting, f"must be a string, not {type(value).__name__}")
    key = value.strip()
    if not _KEY_PATTERN.fullmatch(key):
        # Never quote the value: it is a credential.
        raise KakiyoConfigurationError(
            setting, "contains spaces or control characters (a copy-paste accident?)"
        )
    return key


def checked_base_url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise KakiyoConfigurationError(
            "KAKIYO['API_BASE_URL']", f"must be an http(s) URL, not {value!r}"
        )
    return value.rstrip("/")


def checked_timeout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise KakiyoConfigurationError(
            "KAKIYO['API_TIMEOUT']", f"must be a positive number of seconds, not {value!r}"
        )
    return float(value)


def path_segment(value: str, name: str) -> str:
    """A value that goes into a URL path: non-empty and not a dot segment (``..`` climbs)."""
    if not isinstance(value, str) or value.strip(".") == "":
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def event_list(events: Iterable[str]) -> list[str]:
    if isinstance(events, str):
        raise TypeError("events must be a list of event types, not a string")
    names = list(events)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError("events must be a non-empty list of event types (or ['*'])")
    return names
