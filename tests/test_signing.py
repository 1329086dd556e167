"""Signature verification and the JavaScript-exact JSON it relies on.

No Django needed: both modules under test are pure Python.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import math
import os
import random
import shutil
import struct
import subprocess
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from django_kakiyo import signing
from django_kakiyo.javascript_json import (
    StrictJSONError,
    js_stringify,
    js_stringify_bytes,
    loads_strict,
)
from django_kakiyo.signing import (
    NOT_PARSED,
    VerifiedBody,
    compute_signature,
    normalise_signature_header,
    verify_signature,
)

VECTORS_PATH = Path(__file__).parent / "data" / "kakiyo-signatures.jsonl"

# Hypothesis must not write a .hypothesis/ database into the working tree.
QUICK = settings(max_examples=200, deadline=None, database=None)


def _load_vectors() -> list[dict[str, Any]]:
    # Split on b"\n" only: the file holds raw U+2028/U+2029 inside strings, which
    # str.splitlines() treats as line breaks too.
    lines = VECTORS_PATH.read_bytes().split(b"\n")
    return [json.loads(line) for line in lines if line.strip()]


VECTORS = _load_vectors()


def test_vector_file_is_complete() -> None:
    assert len(VECTORS) == 106
    assert len({vector["name"] for vector in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_signature_vector(vector: dict[str, Any]) -> None:
    body = base64.b64decode(vector["body_b64"])
    result = verify_signature(body, vector["signature"], [vector["secret"]])
    assert (result is not None) is vector["signature_valid"]
    if result is None:
        return
    # `signed` is the JSON string Node hashed. Node escapes lone surrogates as \udXXX text, so it
    # never holds a raw surrogate and encodes to UTF-8 as is ("surrogatepass" only guards that).
    signed = vector["signed"].encode("utf-8", "surrogatepass")
    assert result.signed_bytes == signed
    assert compute_signature(signed, vector["secret"]) == vector["signature"].strip().lower()[-64:]
    if body == signed:
        assert result.method == "raw"
        assert result.payload is NOT_PARSED
    else:
        assert result.method == "canonical"
        assert result.payload is not NOT_PARSED
        assert js_stringify_bytes(result.payload) == signed


# -- verify_signature ----------------------------------------------------------------------------

BODY = b'{"event":"linkedin.message.received","data":{"chatId":"chat_1"}}'
PRETTY_BODY = json.dumps(json.loads(BODY), indent=2).encode()


def test_rotation_second_secret_matches_raw() -> None:
    header = compute_signature(BODY, "new-secret")
    result = verify_signature(BODY, header, ["old-secret", "new-secret"])
    assert result == VerifiedBody(signed_bytes=BODY, method="raw", secret="new-secret")


def test_rotation_second_secret_matches_canonical() -> None:
    header = compute_signature(BODY, "new-secret")
    result = verify_signature(PRETTY_BODY, header, ["old-secret", "new-secret"])
    assert result is not None
    assert result.method == "canonical"
    assert result.signed_bytes == BODY
    assert result.payload == json.loads(BODY)


def test_no_secret_matches() -> None:
    header = compute_signature(BODY, "someone-else")
    assert verify_signature(BODY, header, ["old-secret", "new-secret"]) is None
    assert verify_signature(PRETTY_BODY, header, ["old-secret", "new-secret"]) is None


def test_empty_secret_never_verifies() -> None:
    empty_key_mac = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    assert compute_signature(BODY, "") == empty_key_mac
    assert verify_signature(BODY, empty_key_mac, [""]) is None
    assert verify_signature(BODY, empty_key_mac, ["", "real-secret"]) is None
    assert verify_signature(PRETTY_BODY, empty_key_mac, [""]) is None
    assert verify_signature(BODY, empty_key_mac, []) is None


def test_secrets_must_not_be_a_bare_string() -> None:
    with pytest.raises(TypeError):
        verify_signature(BODY, compute_signature(BODY, "s"), "s")


def test_lone_surrogate_secret_is_encoded_like_node() -> None:
    # Buffer.from("k\ud800", "utf8") is b"k\xef\xbf\xbd"; a valid pair becomes one character.
    expected = hmac.new(b"k\xef\xbf\xbd", BODY, hashlib.sha256).hexdigest()
    assert compute_signature(BODY, "k\ud800") == expected
    assert verify_signature(BODY, expected, ["k\ud800"]) is not None
    pair = hmac.new("k\U0001f511".encode(), BODY, hashlib.sha256).hexdigest()
    assert compute_signature(BODY, "k\ud83d\udd11") == pair


def test_malformed_header_skips_the_fallback_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(data: bytes) -> Any:
        raise AssertionError("loads_strict called for a malformed header")

    monkeypatch.setattr(signing, "loads_strict", must_not_parse)
    for header in (None, "", "zz" * 32, "ab" * 31, "ab" * 33, "sha1=" + "ab" * 32):
        assert verify_signature(PRETTY_BODY, header, ["secret"]) is None


def test_fallback_parses_once_for_all_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def counting(data: bytes) -> Any:
        calls.append(data)
        return loads_strict(data)

    monkeypatch.setattr(signing, "loads_strict", counting)
    header = compute_signature(BODY, "third")
    result = verify_signature(PRETTY_BODY, header, ["first", "second", "third"])
    assert result is not None
    assert result.method == "canonical"
    assert calls == [PRETTY_BODY]


def test_verified_body_repr_hides_the_body() -> None:
    result = verify_signature(BODY, compute_signature(BODY, "s"), ["s"])
    assert result is not None
    assert "chat_1" not in repr(result)
    assert repr(result.payload) == "NOT_PARSED"


@QUICK
@given(
    body=st.one_of(st.binary(max_size=200), st.text(max_size=50).map(lambda t: t.encode())),
    header=st.one_of(
        st.none(),
        st.text(max_size=80),
        st.text("0123456789abcdefABCDEF \t", min_size=60, max_size=72),
    ),
    secrets=st.lists(st.text(max_size=10), max_size=3),
)
def test_verify_never_raises(body: bytes, header: str | None, secrets: list[str]) -> None:
    verify_signature(body, header, secrets)


# -- header normalisation -----------------------------------------------------------------------

DIGEST = bytes(range(32))
HEX = DIGEST.hex()


@pytest.mark.parametrize(
    "header",
    [
        HEX,
        HEX.upper(),
        "sha256=" + HEX,
        "SHA256=" + HEX.upper(),
        "  " + HEX + "  ",
        "\t" + HEX + "\t",
        " \tsha256=" + HEX + "\r\n",
    ],
)
def test_header_accepted(header: str) -> None:
    assert normalise_signature_header(header) == DIGEST


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "sha256=",
        HEX[:63],
        HEX + "0",
        HEX * 2,
        "g" + HEX[1:],
        "é" * 64,
        "\u0660" * 64,  # Arabic-Indic digit zero: a digit, not hex
        HEX[:32] + " " + HEX[32:],
        "sha256= " + HEX,
        "sha1=" + HEX,
        "\u00a0" + HEX,  # non-ASCII whitespace is not stripped
        HEX + "\x00",
        "0x" + HEX,
        base64.b64encode(DIGEST).decode(),
        "\ud800" * 64,
    ],
)
def test_header_rejected(header: str | None) -> None:
    assert normalise_signature_header(header) is None


# -- js_stringify -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, "0.1"),
        (0.30000000000000004, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (999999999999999900000.0, "999999999999999900000"),
        (1e16, "10000000000000000"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (1.5e-5, "0.000015"),
        (123e-20, "1.23e-18"),
        (-0.0, "0"),
        (0.0, "0"),
        (100.0, "100"),
        (-3.14159, "-3.14159"),
        (5e-324, "5e-324"),
        (-5e-324, "-5e-324"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1e100, "1e+100"),
        (1.5e300, "1.5e+300"),
        (1000000000000000.2, "1000000000000000.2"),
        (123456789012.5, "123456789012.5"),
        (math.nan, "null"),
        (math.inf, "null"),
        (-math.inf, "null"),
        (0, "0"),
        (-1, "-1"),
        (2**53, "9007199254740992"),
        (2**53 + 1, "9007199254740992"),
        (-(2**53) - 1, "-9007199254740992"),
        (12345678901234567000, "12345678901234567000"),
        (10**21, "1e+21"),
        (10**400, "null"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
    ],
)
def test_js_stringify_scalars(value: Any, expected: str) -> None:
    assert js_stringify(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ('q"b\\s/', '"q\\"b\\\\s/"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x00\x01\x1a\x1f", '"\\u0000\\u0001\\u001a\\u001f"'),
        ("\x7f\x80\x85\x9f", '"\x7f\x80\x85\x9f"'),
        ("\u2028\u2029", '"\u2028\u2029"'),
        ("é日本😀", '"é日本😀"'),
        ("<script>&'", '"<script>&\'"'),
        ("bad \ud800 end", '"bad \\ud800 end"'),
        ("\udfff", '"\\udfff"'),
        ("\ude00\ud83d", '"\\ude00\\ud83d"'),
        ("😀\ud83d", '"😀\\ud83d"'),
        ("\ud83d\ude00", '"😀"'),  # a pair held as two code points is one JS character
        ("\udbff\udfff\udbff", '"\U0010ffff\\udbff"'),
    ],
)
def test_js_stringify_strings(value: str, expected: str) -> None:
    assert js_stringify(value) == expected
    assert js_stringify_bytes(value) == expected.encode("utf-8")


def test_js_stringify_key_order() -> None:
    value = {"b": 1, "10": 2, "a": 3, "2": 4, "01": 5, "-1": 6, "4294967295": 7, "4294967294": 8}
    assert js_stringify(value) == (
        '{"2":4,"10":2,"4294967294":8,"b":1,"a":3,"01":5,"-1":6,"4294967295":7}'
    )
    assert js_stringify({"z": {"1": [], "0": {}}, "": None}) == '{"z":{"0":{},"1":[]},"":null}'


def test_js_stringify_containers_and_subclasses() -> None:
    class Colour(enum.IntEnum):
        RED = 1

    assert js_stringify([]) == "[]"
    assert js_stringify({}) == "{}"
    assert js_stringify((1, [2.5, None], {"k": True})) == '[1,[2.5,null],{"k":true}]'
    assert js_stringify(OrderedDict([("b", Colour.RED), ("1", 0.5)])) == '{"1":0.5,"b":1}'


@pytest.mark.parametrize("value", [{1: "x"}, {None: 1}, {1, 2}, b"bytes", object()])
def test_js_stringify_rejects_other_types(value: Any) -> None:
    with pytest.raises(TypeError):
        js_stringify(value)


# -- loads_strict -------------------------------------------------------------------------------


def test_loads_strict_orders_keys_like_javascript() -> None:
    value = loads_strict(b'{"b":1,"10":2,"a":{"y":0,"1":0},"2":3,"02":4}')
    assert list(value) == ["2", "10", "b", "a", "02"]
    assert list(value["a"]) == ["1", "y"]


def test_loads_strict_normalises_float_literals() -> None:
    body = b'{"a":1.0,"b":1e-07,"c":1E+21,"d":1.5e-05,"e":-0.0,"f":100.00,"g":1e2,"h":0.1e1}'
    value = loads_strict(body)
    assert all(type(number) is float for number in value.values())
    expected = '{"a":1,"b":1e-7,"c":1e+21,"d":0.000015,"e":0,"f":100,"g":100,"h":1}'
    assert js_stringify(value) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"9007199254740992", 2**53),
        (b"9007199254740994", 2**53 + 2),
        (b"-9007199254740992", -(2**53)),
        (b"100000000000000000000", 10**20),
        (b"12345678901234567000", 12345678901234567000),
        (b"0", 0),
        (b' "\\ud800" ', "\ud800"),
        (b'"\\ud83d\\ude00"', "😀"),
        (b"1e-400", 0.0),
        (b"\t\r\n null \n", None),
    ],
)
def test_loads_strict_accepts(body: bytes, expected: Any) -> None:
    value = loads_strict(body)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1,"a":2}',
        b'{"a":1,"\\u0061":1}',
        b'{"x":{"k":1,"k":1}}',
        b"NaN",
        b"[NaN]",
        b"Infinity",
        b"-Infinity",
        b'{"n":Infinity}',
        b"9007199254740993",
        b"-9007199254740993",
        b"-0",
        b"[-0]",
        b"1000000000000000000000",
        b"1" * 5000,  # beyond int()'s digit limit: must still be a StrictJSONError
        b"1e400",
        b"-1e400",
        b"1" * 400 + b".0",
        b"\xff",
        b'"\xc3"',
        b'"\xed\xa0\x80"',  # a surrogate encoded in UTF-8 is not UTF-8
        b"\xef\xbb\xbf{}",
        b"{} x",
        b"{}{}",
        b"",
        b"   ",
        b"[1,]",
        b'{"a":1,}',
        b"{'a':1}",
        b"[01]",
        b"[1.]",
        b"[.5]",
        b"[+1]",
        b'"\x01"',
        b'"tab\there"',
        b'"\\x41"',
        b'"\\u 123"',
        b'"\\u12"',
        b"[1\xd9\xa0]",  # Arabic-Indic zero after a digit
        b"undefined",
        b"[1] // comment",
    ],
)
def test_loads_strict_rejects(body: bytes) -> None:
    with pytest.raises(StrictJSONError) as caught:
        loads_strict(body)
    assert str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=["arrays", "objects"],
)
def test_loads_strict_deep_nesting_is_a_strict_error(body: bytes) -> None:
    with pytest.raises(StrictJSONError, match="deep"):
        loads_strict(body)


def test_strict_error_is_a_value_error() -> None:
    assert issubclass(StrictJSONError, ValueError)


# -- differential test against Node's JSON.stringify --------------------------------------------

# Each input line is ASCII JSON (Python's json.dumps, which escapes lone surrogates and prints
# floats with round-trip digits, so JSON.parse rebuilds the same value). Each output line is the
# result of JSON.stringify, itself JSON-encoded so that no character can break the line framing.
NODE_SCRIPT = """
const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const lines = Buffer.concat(chunks).toString("utf8").split("\\n").filter((l) => l !== "");
  const out = lines.map((line) => JSON.stringify(JSON.stringify(JSON.parse(line))));
  process.stdout.write(out.join("\\n") + "\\n");
});
"""


def _node_stringify(inputs: list[str]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not on PATH but CI=true: the Node differential test must run")
        pytest.skip("node is not on PATH; cannot compare with JavaScript's JSON.stringify")
    completed = subprocess.run(
        [node, "-e", NODE_SCRIPT],
        input="\n".join(inputs).encode("ascii"),
        capture_output=True,
        timeout=120,
        check=True,
    )
    outputs = [json.loads(line) for line in completed.stdout.split(b"\n") if line]
    assert len(outputs) == len(inputs)
    return outputs


_KEYS = st.one_of(
    st.text(max_size=6),
    st.integers(0, 2**32 + 2).map(str),
    st.sampled_from(["01", "-1", "1.5", "4294967294", "4294967295", " 3", "__proto__", ""]),
)
_TEXT = st.text(
    st.one_of(
        st.characters(),
        st.characters(categories=["Cs"]),  # lone surrogates, and pairs held as two code points
        st.sampled_from('"\\/\b\f\n\r\t\x00\x1f\x7f\x85\u2028\u2029\ufeff'),
    ),
    max_size=16,
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True),
    _TEXT,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(_KEYS, children, max_size=5)
    ),
    max_leaves=25,
)


def _hypothesis_values() -> list[Any]:
    collected: list[Any] = []

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(_VALUES)
    def collect(value: Any) -> None:
        collected.append(value)

    collect()
    return collected


def _edge_numbers() -> list[float]:
    numbers = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e21, 1e-7, 0.1]
    for exponent in range(-324, 309):
        power = float(f"1e{exponent}")
        numbers += [power, math.nextafter(power, 0.0), math.nextafter(power, math.inf)]
    rng = random.Random(20230615)
    while len(numbers) < 6000:
        (number,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if math.isfinite(number):
            numbers.append(number)
    return numbers


_CURATED: list[Any] = [
    {"b": 1, "10": 2, "a": 3, "2": 4, "01": 5, "4294967295": 6, "4294967294": 7},
    ["bad \ud800 end", "\udfff", "\ude00\ud83d", "😀\ud83d", "\ud83d\ude00"],
    "".join(map(chr, range(0x20))) + '\x7f\x80\x9f\u2028\u2029/"\\',
    [2**53, -(2**53), 2**53 - 1, 0, -0.0, 1e-7, 1.5e-7, 123e-20, 1e16, 1e20, 9.999999999999999e20],
]


def test_js_stringify_matches_node() -> None:
    values = _CURATED + _hypothesis_values()
    numbers = _edge_numbers()
    inputs = [json.dumps(value) for value in values]
    inputs += [json.dumps(number) for number in numbers]
    expected = _node_stringify(inputs)

    mismatches = []
    for value, source, want in zip(values + numbers, inputs, expected, strict=True):
        if js_stringify(value) != want:
            mismatches.append(("js_stringify", source, js_stringify(value), want))
        reparsed = js_stringify(loads_strict(source.encode()))
        if reparsed != want:
            mismatches.append(("loads_strict", source, reparsed, want))
    mismatches.sort(key=lambda mismatch: len(mismatch[1]))
    assert not mismatches, f"{len(mismatches)} differ from Node, smallest: {mismatches[:3]}"
