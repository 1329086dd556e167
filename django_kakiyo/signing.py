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
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from django_kakiyo.javascript_json import StrictJSONError, js_stringify_bytes, loads_strict

__all__ = [
    "NOT_PARSED",
    "SIGNATURE_HEADER",
    "CpuBudget",
    "SigningSecret",
    "VerifiedBody",
    "compute_signature",
    "normalise_signature_header",
    "verify_canonical",
    "verify_raw",
    "verify_signature",
]


#: The header Kakiyo signs its deliveries in.
SIGNATURE_HEADER: Final = "X-Kakiyo-Signature"


class _NotParsed(enum.Enum):
    NOT_PARSED = "NOT_PARSED"

    def __repr__(self) -> str:
        return "NOT_PARSED"


NOT_PARSED: Final = _NotParsed.NOT_PARSED
"""``VerifiedBody.payload`` when the raw body matched and nothing had to be parsed."""


class SigningSecret:
    """A webhook secret, the HMAC key it makes, and the team it may sign for.

    Its ``repr`` never shows the secret, so a traceback, a log line or Django's debug page that
    prints a local holding one cannot leak it. Blank secrets (empty or whitespace) are kept but
    never used: HMAC with such a key is computable by anyone who guesses it.
    """

    __slots__ = ("_key", "_value", "team")

    def __init__(self, value: str, team: str | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError(f"each secret must be a str, not {type(value).__name__}")
        self._value = value
        self._key = _secret_key(value)
        self.team = team

    @property
    def value(self) -> str:
        return self._value

    @property
    def usable(self) -> bool:
        return bool(self._value.strip())

    def digest(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"SigningSecret('[redacted]', team={self.team!r})"


@dataclass(frozen=True, slots=True)
class VerifiedBody:
    """Proof that a delivery is authentic, and the exact bytes the signature covers.

    ``signed_bytes`` is the raw body for ``method == "raw"`` (and ``"unsigned"``: an endpoint
    without a secret, authenticated by its URL alone) and the canonical re-serialisation for
    ``method == "canonical"``; parse ``signed_bytes`` (not the request body) when acting on it. For
    the canonical method ``payload`` already holds the parsed value; for the raw method it is
    :data:`NOT_PARSED`. The secret and both large fields are left out of the repr, so that logging
    a ``VerifiedBody`` neither leaks the secret, floods the log nor copies customer data into it.
    """

    signed_bytes: bytes = field(repr=False)
    method: Literal["raw", "canonical", "unsigned"]
    #: The configured secret that matched.
    secret: str = field(repr=False)
    payload: Any = field(default=NOT_PARSED, repr=False)
    #: The team the matching secret is bound to; None when it may sign for any team.
    team: str | None = None


def _secret_key(secret: str) -> bytes:
    # Node's createHmac encodes a string key as UTF-8, joining surrogate pairs and turning lone
    # surrogates into U+FFFD; do the same rather than fail on a secret Python cannot encode.
    try:
        return secret.encode("utf-8")
    except UnicodeEncodeError:
        utf16 = secret.encode("utf-16-le", "surrogatepass")
        return utf16.decode("utf-16-le", "replace").encode("utf-8")


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


def _usable(secrets: Sequence[str | SigningSecret]) -> list[SigningSecret]:
    # A bare string is a Sequence[str] too; iterating it would try every character as a secret.
    if isinstance(secrets, (str, bytes)):
        raise TypeError("secrets must be a sequence of str, not a single string")
    wrapped = [s if isinstance(s, SigningSecret) else SigningSecret(s) for s in secrets]
    return [secret for secret in wrapped if secret.usable]


def _verified(
    signed_bytes: bytes, method: Literal["raw", "canonical"], secret: SigningSecret, payload: Any
) -> VerifiedBody:
    return VerifiedBody(
        signed_bytes=signed_bytes,
        method=method,
        secret=secret.value,
        payload=payload,
        team=secret.team,
    )


def _matching(
    signed: bytes, expected: bytes, secrets: list[SigningSecret]
) -> SigningSecret | None:
    """The secret whose HMAC of ``signed`` is ``expected`` (compared in constant time)."""
    return next((s for s in secrets if hmac.compare_digest(s.digest(signed), expected)), None)


def verify_raw(
    body: bytes, header: str | None, secrets: Sequence[str | SigningSecret]
) -> VerifiedBody | None:
    """Check ``header`` against the raw ``body`` only: one HMAC pass per usable secret.

    This settles every delivery that reached us as Kakiyo sent it, and costs an attacker's
    request no more than those passes. Never raises for any body or header; raises TypeError
    only for a malformed ``secrets`` argument, which is a configuration bug.
    """
    usable = _usable(secrets)
    expected = normalise_signature_header(header)
    if expected is None:
        return None
    body = bytes(body)
    secret = _matching(body, expected, usable)
    return None if secret is None else _verified(body, "raw", secret, NOT_PARSED)


def verify_canonical(
    body: bytes, header: str | None, secrets: Sequence[str | SigningSecret]
) -> VerifiedBody | None:
    """Check ``header`` against JavaScript's serialisation of the strictly parsed ``body``.

    For a body a proxy re-formatted. Parses once whatever the number of secrets; returns None
    when the body is not strict JSON, or re-serialises to itself (the raw check covered it).
    """
    usable = _usable(secrets)
    expected = normalise_signature_header(header)
    if expected is None or not usable:
        return None
    try:
        payload = loads_strict(body)
        canonical = js_stringify_bytes(payload)
    except (StrictJSONError, RecursionError):
        # RecursionError: parsed just under the recursion limit but the serialiser ran out.
        return None
    if canonical == body:
        return None  # same bytes as the raw check
    secret = _matching(canonical, expected, usable)
    return None if secret is None else _verified(canonical, "canonical", secret, payload)


def verify_signature(
    body: bytes, header: str | None, secrets: Sequence[str | SigningSecret]
) -> VerifiedBody | None:
    """Check ``header`` against ``body`` for any of ``secrets`` (several during rotation).

    :func:`verify_raw`, then, when no secret matched and the header is at least well formed,
    :func:`verify_canonical`. Returns None when nothing matches; never raises for any body or
    header. The webhook view calls the two steps itself, so that it can refuse the costly second
    one (see ``KAKIYO['CANONICAL_MAX_BYTES']`` and ``['CANONICAL_CPU_BUDGET']``).
    """
    return verify_raw(body, header, secrets) or verify_canonical(body, header, secrets)


class CpuBudget:
    """A token bucket of CPU seconds for one process, refilled at ``rate`` seconds per second.

    The webhook spends it on re-serialising bodies whose raw signature failed: that work is
    what a fake signature can make us do, so it is capped at a fraction of a core whatever the
    traffic. The bucket holds at most ``burst`` seconds of refill (a quiet process can absorb a
    short burst of re-formatted deliveries). Thread-safe; the rate is passed on each call so a
    settings change applies at once, and a rate of 0 turns the fallback off.
    """

    def __init__(self, burst: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._burst = burst
        self._tokens = 0.0
        self._updated: float | None = None

    def available(self, rate: float) -> bool:
        """Whether any budget is left now."""
        with self._lock:
            now = time.monotonic()
            capacity = rate * self._burst
            elapsed = self._burst if self._updated is None else now - self._updated
            self._tokens = min(capacity, self._tokens + elapsed * rate)
            self._updated = now
            return self._tokens > 0

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._tokens -= seconds
