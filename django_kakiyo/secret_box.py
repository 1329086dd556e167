"""Endpoints' secrets encrypted at rest: Fernet (``cryptography``), keyed from the settings.

The key is ``KAKIYO['ENDPOINT_SECRET_KEYS']`` when set (the first encrypts, every one
decrypts), else derived from ``SECRET_KEY``, with each of ``SECRET_KEY_FALLBACKS`` also
decrypting, so a rotation of Django's own key done the documented way keeps every endpoint
working. Each key is stretched through a salted HMAC, so a Fernet key is never the
``SECRET_KEY`` itself, nor the key that signs sessions.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from .conf import kakiyo_settings
from .exceptions import KakiyoError

__all__ = ["UndecryptableSecret", "decrypt", "encrypt", "reencrypt", "uses_first_key"]

_SALT = "django_kakiyo.secret_box"


class UndecryptableSecret(KakiyoError):
    """A stored secret none of the current keys can decrypt (``SECRET_KEY`` changed without
    the old one in ``SECRET_KEY_FALLBACKS``, or ``ENDPOINT_SECRET_KEYS`` lost a key)."""


def _fernet(material: str) -> Fernet:
    digest = salted_hmac(_SALT, "fernet", secret=material, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def key_material() -> list[str]:
    """The keys, first the one that encrypts."""
    configured = kakiyo_settings.ENDPOINT_SECRET_KEYS
    if configured is not None:
        return list(configured)
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _box() -> MultiFernet:
    # Rebuilt whenever KAKIYO, SECRET_KEY or SECRET_KEY_FALLBACKS change (conf's reload).
    return kakiyo_settings.derived(  # type: ignore[no-any-return]
        "secret_box", lambda: MultiFernet([_fernet(key) for key in key_material()])
    )


@sensitive_variables("secret")
def encrypt(secret: str) -> str:
    """``secret`` encrypted with the first key: an ASCII token to store."""
    return _box().encrypt(secret.encode("utf-8", "surrogatepass")).decode("ascii")


def decrypt(token: str) -> str:
    """The secret ``token`` holds; :class:`UndecryptableSecret` when no key opens it."""
    try:
        return _box().decrypt(token.encode("ascii")).decode("utf-8", "surrogatepass")
    except (InvalidToken, UnicodeError):
        raise UndecryptableSecret("no current key decrypts this endpoint secret") from None


def uses_first_key(token: str) -> bool:
    """Whether ``token`` was encrypted with the key that encrypts now."""
    try:
        _fernet(key_material()[0]).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def reencrypt(token: str) -> str:
    """``token``'s secret encrypted again with the first key (after a key change)."""
    try:
        return _box().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise UndecryptableSecret("no current key decrypts this endpoint secret") from None
