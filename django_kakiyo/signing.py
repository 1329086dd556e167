"""Verify Kakiyo's ``X-Kakiyo-Signature`` header.

Kakiyo sends ``hex(HMAC-SHA256(secret, JSON.stringify(payload)))``. The body is normally those
exact bytes, so the raw check settles almost every request. A proxy that re-formats JSON breaks it
without changing the payload, so when the raw check fails the body is parsed strictly and
re-serialised the way Node would, and that is checked too. The strict parse is what keeps this
fallback from becoming a forgery vector: a body that JavaScript and Python could read differently
(duplicate keys, ``NaN``, integers a double cannot hold) never verifies through it, so the value a
verified caller acts on is the value Kakiyo signed.

Nothing here imports Django.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from django_kakiyo.javascript_json import StrictJSONError, js_stringify_bytes, loads_strict

__all__ = [
    "NOT_PARSED",
    "VerifiedBody",
    "compute_signature",
    "normalise_signature_header",
    "verify_signature",
]


class _NotParsed(enum.Enum):
    NOT_PARSED = "NOT_PARSED"

    def __repr__(self) -> str:
        return "NOT_PARSED"


NOT_PARSED: Final = _NotParsed.NOT_PARSED
"""``VerifiedBody.payload`` when the raw body matched and nothing had to be parsed."""


@dataclass(frozen=True, slots=True)
class VerifiedBody:
    """Proof that a delivery is authentic, and the exact bytes the signature covers.

    ``signed_bytes`` is the raw body for ``method == "raw"`` and the canonical re-serialisation for
    ``method == "canonical"``; parse ``signed_bytes`` (not the request body) when acting on it. For
    the canonical method ``payload`` already holds the parsed value; for the raw method it is
    :data:`NOT_PARSED`. Both large fields are left out of the repr so that logging a
    ``VerifiedBody`` neither floods the log nor copies customer data into it.
    """

    signed_bytes: bytes = field(repr=False)
    method: Literal["raw", "canonical"]
    #: The configured secret that matched, so a caller can apply per-team bindings.
    secret: str = field(repr=False)
    payload: Any = field(default=NOT_PARSED, repr=False)


def _secret_key(secret: str) -> bytes:
    # Node's createHmac encodes a string key as UTF-8, joining surrogate pairs and turning lone
    # surrogates into U+FFFD; do the same rather than fail on a secret Python cannot encode.
    try:
        return secret.encode("utf-8")
    except UnicodeEncodeError:
        utf16 = secret.encode("utf-16-le", "surrogatepass")
        return utf16.decode("utf-16-le", "replace").encode("utf-8")


def _digest(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def compute_signature(body: bytes, secret: str) -> str:
    """The header value Kakiyo would send for ``body``: lowercase hex HMAC-SHA256."""
    return hmac.new(_secret_key(secret), body, hashlib.sha256).hexdigest()


_HEX_SHA256 = re.compile(r"[0-9A-Fa-f]{64}")
_PREFIX = "sha256="
_SURROUNDING_WHITESPACE = " \t\r\n"


def normalise_signature_header(value: str | None) -> bytes | None:
    """The 32-byte digest a header carries, or None when it is absent or malformed.

    Tolerated: surrounding whitespace, a ``sha256=`` prefix, upper-case hex. Anything else is
    refused here rather than compared, so no input can reach ``compare_digest`` with a length or
    encoding it would treat specially (``bytes.fromhex`` alone would also accept inner spaces).
    """
    if not isinstance(value, str):
        return None
    candidate = value.strip(_SURROUNDING_WHITESPACE)
    if candidate[: len(_PREFIX)].lower() == _PREFIX:
        candidate = candidate[len(_PREFIX) :]
    if _HEX_SHA256.fullmatch(candidate) is None:
        return None
    return bytes.fromhex(candidate)


def _keys(secrets: Sequence[str]) -> list[tuple[str, bytes]]:
    # A bare string is a Sequence[str] too; iterating it would try every character as a secret.
    if isinstance(secrets, (str, bytes)):
        raise TypeError("secrets must be a sequence of str, not a single string")
    keys = []
    for secret in secrets:
        if not isinstance(secret, str):
            raise TypeError(f"each secret must be a str, not {type(secret).__name__}")
        if secret:  # HMAC with an empty key is computable by anyone: never trust it
            keys.append((secret, _secret_key(secret)))
    return keys


def verify_signature(
    body: bytes, header: str | None, secrets: Sequence[str]
) -> VerifiedBody | None:
    """Check ``header`` against ``body`` for any of ``secrets`` (several during rotation).

    Returns None when nothing matches; never raises for any body or header. Raises TypeError only
    for a malformed ``secrets`` argument, which is a configuration bug, not a bad request.

    The raw body is tried first. Only when that fails for every secret, and the header is at
    least well formed, is the body parsed (once) and its JavaScript serialisation tried, so junk
    requests cost no more than one HMAC per secret.
    """
    keys = _keys(secrets)
    expected = normalise_signature_header(header)
    if expected is None or not keys:
        return None
    body = bytes(body)
    for secret, key in keys:
        if hmac.compare_digest(_digest(key, body), expected):
            return VerifiedBody(signed_bytes=body, method="raw", secret=secret)
    try:
        payload = loads_strict(body)
        canonical = js_stringify_bytes(payload)
    except (StrictJSONError, RecursionError):
        # RecursionError: parsed just under the recursion limit but the serialiser ran out.
        return None
    if canonical == body:
        return None  # same bytes as the raw check that already failed
    for secret, key in keys:
        if hmac.compare_digest(_digest(key, canonical), expected):
            return VerifiedBody(
                signed_bytes=canonical, method="canonical", secret=secret, payload=payload
            )
    return None
