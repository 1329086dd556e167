"""Parse JSON strictly and serialise exactly like JavaScript's ``JSON.stringify``.

Kakiyo signs ``JSON.stringify(payload)``. When a proxy re-formats a delivery on the way (pretty
printing, ``\\uXXXX`` escapes, rewritten number literals) the raw body no longer matches the
signature, but the bytes Kakiyo signed can be rebuilt: parse the body and serialise the value the
way V8 does. That is only sound when the parse is unambiguous, so :func:`loads_strict` refuses
every input on which a JavaScript parser and this one could disagree (duplicate keys, ``NaN``,
integers a double cannot hold) instead of guessing, and :func:`js_stringify` reproduces V8's output
byte for byte: property order, string escapes and ``Number::toString``.

Nothing here imports Django.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["StrictJSONError", "js_stringify", "js_stringify_bytes", "loads_strict"]


class StrictJSONError(ValueError):
    """The input is not JSON that JavaScript and Python would read as the same value."""


# -- property order -----------------------------------------------------------------------------

# ECMAScript orders an object's own string keys as: canonical array indices (0 .. 2**32 - 2)
# ascending, then every other key in insertion order. JSON.parse inserts in document order, so a
# sender's `{"b":1,"2":0}` arrives at JSON.stringify as `{"2":0,"b":1}`.
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")
_MAX_ARRAY_INDEX = 2**32 - 2


def _is_array_index(key: str) -> bool:
    return _ARRAY_INDEX.fullmatch(key) is not None and int(key) <= _MAX_ARRAY_INDEX


def _js_key_order(obj: dict[str, Any]) -> list[str]:
    keys = list(obj)
    indices = [key for key in keys if _is_array_index(key)]
    if not indices:
        return keys
    indices.sort(key=int)
    return indices + [key for key in keys if not _is_array_index(key)]


# -- parsing ------------------------------------------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
_SAFE_INTEGER = 2**53
# An integer literal longer than this is >= 1e21, which JavaScript prints in exponent form.
_MAX_FIXED_INTEGER_LITERAL = len("-999999999999999999999")


def _excerpt(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # JavaScript keeps the last value and other parsers the first: refuse, do not pick.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJSONError(f"duplicate object key {_excerpt(key)}")
            seen.add(key)
    if any(_is_array_index(key) for key in obj):
        return {key: obj[key] for key in _js_key_order(obj)}
    return obj


def _parse_int(literal: str) -> int:
    # Python keeps any integer exactly, JavaScript rounds it to a double. Accept only literals that
    # JavaScript would print back unchanged, so the re-serialisation is the text the sender saw.
    # The isascii() check keeps out non-ASCII digits should a pure-Python scanner ever be in use.
    if len(literal) > _MAX_FIXED_INTEGER_LITERAL or not literal.isascii():
        raise StrictJSONError(f"integer literal {_excerpt(literal)} is not exact in JavaScript")
    value = int(literal)
    if value == 0 and literal[0] == "-":
        raise StrictJSONError("integer literal -0 reads as 0 in JavaScript")
    if -_SAFE_INTEGER <= value <= _SAFE_INTEGER or _number_to_js(float(value)) == literal:
        return value
    raise StrictJSONError(f"integer literal {_excerpt(literal)} is not exact in JavaScript")


def _parse_float(literal: str) -> float:
    # A fraction or exponent already says "this is a double", so rounding is expected and any
    # spelling of the same double (1.0, 1e0, 100.00) is fine. Only overflow is refused: JSON has no
    # infinity and JavaScript would print it as null.
    if not literal.isascii():
        raise StrictJSONError(f"number literal {_excerpt(literal)} is not ASCII")
    value = float(literal)
    if math.isinf(value):
        raise StrictJSONError(f"number literal {_excerpt(literal)} overflows a double")
    return value


def _parse_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON value")


def loads_strict(data: bytes) -> Any:
    """Parse a UTF-8 JSON document, refusing anything JavaScript could read differently.

    Objects come back as dicts in JavaScript's property order, so iterating one matches what the
    sender's code saw. Integer literals stay ints with the literal's value; only those JavaScript
    prints back unchanged are accepted (beyond 2**53 that is e.g. ``12345678901234567000``, whose
    double is ...168 but which both languages print as written). Other numbers become floats.
    Every failure, including nesting too deep for the recursion limit, raises
    :class:`StrictJSONError`.
    """
    if data[:3] == _UTF8_BOM:
        raise StrictJSONError("body starts with a UTF-8 byte order mark")
    try:
        text = str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"body is not valid UTF-8 (byte {exc.start})") from None
    decoder = json.JSONDecoder(
        object_pairs_hook=_object_from_pairs,
        parse_float=_parse_float,
        parse_int=_parse_int,
        parse_constant=_parse_constant,
        strict=True,
    )
    try:
        return decoder.decode(text)
    except StrictJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"invalid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise StrictJSONError("JSON is nested too deeply") from None
    except ValueError as exc:
        raise StrictJSONError(f"invalid JSON: {exc}") from None


# -- serialisation ------------------------------------------------------------------------------

# Characters well-formed JSON.stringify (ES2019) escapes: quote, backslash, C0 controls and lone
# surrogates. Everything else, U+2028/U+2029 and DEL included, is emitted literally.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_RARE_ESCAPE = re.compile(r"[\x00-\x1f\ud800-\udfff]")
_ESCAPES: dict[str, str] = {chr(code): f"\\u{code:04x}" for code in range(0x20)}
_ESCAPES.update({chr(code): f"\\u{code:04x}" for code in range(0xD800, 0xE000)})
_ESCAPES.update({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _escape(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


def _quote(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return '"' + text + '"'
    if _SURROGATE.search(text) is not None:
        # A JavaScript string is UTF-16: a high surrogate followed by a low one is a single
        # character there even if Python holds them as two code points. Join such pairs so only
        # genuinely lone surrogates are left to escape.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    # The common escapes go through str.replace, which runs in C; the regex callback only fires
    # for the rare characters left (other controls, lone surrogates).
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + _RARE_ESCAPE.sub(_escape, text) + '"'


def _number_to_js(value: float) -> str:
    """ECMAScript Number::toString(value) for a double."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"  # -0 included
    # repr() gives the shortest round-trip digits, which is what ECMAScript asks for; only the
    # layout differs. Python writes 1e-05 and 1e+16 where JavaScript writes 0.00001 and
    # 10000000000000000, pads the exponent to two digits and adds ".0" to whole numbers.
    shortest = repr(value)
    mantissa, is_exponential, exponent = shortest.partition("e")
    if not is_exponential:
        # Python uses fixed notation only for 1e-4 <= |value| < 1e16, where JavaScript does too.
        return mantissa[:-2] if mantissa.endswith(".0") else mantissa
    power = int(exponent)
    if power >= 21 or power <= -7:
        return mantissa + ("e+" if power > 0 else "e-") + str(abs(power))
    # 1e16 <= |value| < 1e21 or 1e-7 <= |value| < 1e-4: fixed notation in JavaScript only.
    sign = "-" if value < 0 else ""
    digits = mantissa.lstrip("-").replace(".", "")
    n = power + 1  # |value| = 0.<digits> * 10**n
    if n > 0:
        return sign + digits + "0" * (n - len(digits))  # |value| >= 1e16 means no fraction
    return sign + "0." + "0" * -n + digits


def _int_to_js(value: int) -> str:
    if -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
        return str(value)  # exact as a double and below 1e21, so JavaScript prints these digits
    try:
        return _number_to_js(float(value))  # JavaScript only has doubles
    except OverflowError:
        return "null"  # Number(value) would be Infinity


def _encode(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return _int_to_js(value)
    if kind is float:
        return _number_to_js(value)
    if kind is dict:
        return _encode_object(value)
    if kind is list or kind is tuple:
        return "[" + ",".join(map(_encode, value)) + "]"
    # Subclasses (IntEnum, StrEnum, OrderedDict, ...) take the slow lane.
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        return _int_to_js(int(value))
    if isinstance(value, float):
        return _number_to_js(float(value))
    if isinstance(value, dict):
        return _encode_object(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_encode, value)) + "]"
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _encode_object(obj: dict[Any, Any]) -> str:
    if not all(isinstance(key, str) for key in obj):
        raise TypeError("JSON object keys must be str")
    members = [_quote(key) + ":" + _encode(obj[key]) for key in _js_key_order(obj)]
    return "{" + ",".join(members) + "}"


def js_stringify(value: Any) -> str:
    """Return exactly what Node's ``JSON.stringify(value)`` returns for the equivalent JS value.

    Supports dict (str keys), list, tuple, str, int, float, bool and None. Keys are emitted in
    JavaScript property order whatever order the dict has, ints are converted to doubles first
    (so ``2**53 + 1`` prints as ``9007199254740992``, and ints beyond the double range as
    ``null``, like ``Infinity``), and NaN/infinities become ``null``. Lone surrogates are escaped,
    so the result always encodes to UTF-8. Raises TypeError for other types, and RecursionError
    for cycles or nesting deeper than the recursion limit (where Node throws too).
    """
    return _encode(value)


def js_stringify_bytes(value: Any) -> bytes:
    """The UTF-8 bytes of :func:`js_stringify`, i.e. exactly what Kakiyo feeds to its HMAC."""
    return _encode(value).encode("utf-8")
