"""Make request-derived values storable in any supported database, and safe to keep.

Every value that goes into a column passes through here first: text without the characters
PostgreSQL refuses (NUL, and unpaired surrogates), cut to its column, integers inside a
``bigint``, headers with credentials redacted and a stated byte bound. The raw body keeps the
exact truth; these are the indexed, displayed copies. Nothing here touches the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

#: Stored instead of a credential's value.
REDACTED = "[redacted]"
#: Header names whose values are credentials. A name matching :data:`SENSITIVE_HEADER_PATTERN`
#: is redacted too: new schemes (``X-Amz-Security-Token``, ``Cf-Access-Client-Secret``, ...)
#: appear faster than a list can follow.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrftoken"}
)
SENSITIVE_HEADER_PATTERN = re.compile(
    r"auth|token|secret|signature|key|session|passw|jwt|assertion|credential|csrf",
    re.IGNORECASE,
)
#: Longest header value kept, in characters; the rest is cut and marked.
MAX_HEADER_VALUE_CHARS = 512
TRUNCATED = "...[truncated]"
#: The largest integer a ``bigint`` column (PostgreSQL, SQLite) holds.
MAX_BIGINT = 2**63 - 1

# Characters PostgreSQL refuses in text and jsonb (NUL, and surrogates, which in a Python str
# are always unpaired after json.loads).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def has_unstorable(value: str) -> bool:
    """Whether ``value`` holds a character no text column can store (a query with it fails)."""
    return _UNSTORABLE.search(value) is not None


def storable_text(value: str, max_length: int | None = None) -> str:
    """``value`` with NUL and unpaired surrogates replaced by U+FFFD, cut to ``max_length``."""
    if _UNSTORABLE.search(value):
        value = _UNSTORABLE.sub("\ufffd", value)
    return value if max_length is None else value[:max_length]


def storable_json(value: Any) -> Any:
    """``value`` with NUL and unpaired surrogates replaced by U+FFFD in every string."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


def storable_bigint(value: int | None) -> int | None:
    """``value`` clamped into a signed 64-bit column (a Content-Length may claim anything)."""
    return None if value is None else max(-MAX_BIGINT - 1, min(MAX_BIGINT, value))


def is_sensitive_header(name: str) -> bool:
    return name.lower() in SENSITIVE_HEADERS or SENSITIVE_HEADER_PATTERN.search(name) is not None


def storable_headers(headers: Mapping[str, str], max_bytes: int) -> dict[str, str]:
    """Headers to keep: credentials redacted, text storable, within ``max_bytes`` as JSON.

    Each value is cut at :data:`MAX_HEADER_VALUE_CHARS`; headers past the byte budget are
    dropped whole (in arrival order) and counted under a ``...`` key, so the stored JSON of one
    request never exceeds ``max_bytes`` plus that short note.
    """
    kept: dict[str, str] = {}
    used = 2  # the braces
    dropped = 0
    for name, value in headers.items():
        name = storable_text(str(name), 256)
        if is_sensitive_header(name):
            text = REDACTED
        else:
            text = storable_text(str(value))
            if len(text) > MAX_HEADER_VALUE_CHARS:
                text = text[:MAX_HEADER_VALUE_CHARS] + TRUNCATED
        size = len(json.dumps({name: text}, ensure_ascii=False).encode()) - 1
        if dropped or used + size > max_bytes:
            dropped += 1
            continue
        kept[name] = text
        used += size
    if dropped:
        kept["..."] = f"{dropped} more header(s) not kept"
    return kept
