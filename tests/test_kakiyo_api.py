"""``KakiyoClient`` against a real HTTP server on 127.0.0.1 that plays the Kakiyo API."""

from __future__ import annotations

import logging
import pickle
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from email.utils import format_datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from django_kakiyo.exceptions import KakiyoAPIError, KakiyoConfigurationError
from django_kakiyo.kakiyo_api import KakiyoClient, parse_retry_after

#: 40 characters, like Kakiyo's keys; distinctive, so a leak is easy to spot.
API_KEY = "kky_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
WEBHOOK = {
    "id": "webhook_12345abcde",
    "name": "CRM Integration",
    "url": "https://crm.example.com/kakiyo/webhook/",
    "events": ["linkedin.message.received", "prospect.qualification.manual"],
    "active": True,
}
#: Fast retries: the backoff is tiny so a test that retries stays quick.
FAST = {"backoff": 0.01, "backoff_max": 0.02}


@pytest.fixture
def kakiyo(httpserver_ipv4: HTTPServer, settings: Any) -> Iterator[HTTPServer]:
    """The fake Kakiyo, with ``KAKIYO`` pointing the client at it."""
    settings.KAKIYO = {
        **settings.KAKIYO,
        "API_KEY": API_KEY,
        "API_BASE_URL": httpserver_ipv4.url_for("/v1"),
        "API_TIMEOUT": 5,
    }
    yield httpserver_ipv4
    httpserver_ipv4.check_handler_errors()


@pytest.fixture
def api(kakiyo: HTTPServer) -> Iterator[KakiyoClient]:
    with KakiyoClient(**FAST) as client:
        yield client


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def bodies(server: HTTPServer) -> list[Any]:
    return [request.get_json(silent=True) for request, _ in server.log]


# -- Requests: auth, paths, bodies ------------------------------------------------------------


def test_verify_sends_the_key_as_bearer_token(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request(
        "/v1/verify", method="GET", headers={"Authorization": f"Bearer {API_KEY}"}
    ).respond_with_json({"status": "success", "message": "API key is valid"})

    assert api.verify() == {"status": "success", "message": "API key is valid"}
    request = kakiyo.log[0][0]
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("django-kakiyo/")


def test_create_webhook_posts_the_documented_body(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    sent = {
        "name": WEBHOOK["name"],
        "url": WEBHOOK["url"],
        "secret": "whsec_0123456789abcdef",
        "events": WEBHOOK["events"],
    }
    kakiyo.expect_request(
        "/v1/webhooks", method="POST", json=sent, headers={"Content-Type": "application/json"}
    ).respond_with_json({**WEBHOOK, "message": "Webhook created successfully"}, status=201)

    created = api.create_webhook(
        WEBHOOK["name"], WEBHOOK["url"], "whsec_0123456789abcdef", WEBHOOK["events"]
    )

    assert created == {**WEBHOOK, "message": "Webhook created successfully"}
    assert created["active"] is True


def test_create_webhook_defaults_to_every_event_and_omits_a_missing_secret(
    kakiyo: HTTPServer, api: KakiyoClient
) -> None:
    kakiyo.expect_request("/v1/webhooks", method="POST").respond_with_json(WEBHOOK)
    api.create_webhook("n", "https://a.example/hook/", None)
    assert bodies(kakiyo) == [{"name": "n", "url": "https://a.example/hook/", "events": ["*"]}]


def test_test_webhook_posts_event_and_data(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request(
        "/v1/webhooks/test",
        method="POST",
        json={"event": "prospect.qualified", "data": {"prospectId": "p_1"}},
    ).respond_with_json({"success": True, "message": "Test event sent"})

    answer = api.test_webhook("prospect.qualified", {"prospectId": "p_1"})

    assert answer == {"success": True, "message": "Test event sent"}


def test_test_webhook_sends_empty_data_by_default(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request("/v1/webhooks/test", method="POST").respond_with_json({})
    api.test_webhook("message.sent")
    assert bodies(kakiyo) == [{"event": "message.sent", "data": {}}]


def test_example_payload(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    example = {"event": "prospect.qualified", "timestamp": "2024-01-20T15:30:00Z", "data": {}}
    kakiyo.expect_request(
        "/v1/webhooks/test/example/prospect.qualified", method="GET"
    ).respond_with_json(example)
    assert api.example_payload("prospect.qualified") == example


def test_event_types(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    types = [
        {
            "id": "prospect.qualified",
            "name": "Prospect Qualified",
            "description": "Triggered when a prospect is marked as qualified",
            "category": "prospect",
        }
    ]
    kakiyo.expect_request("/v1/webhooks/test/events", method="GET").respond_with_json(types)
    assert api.event_types() == types


@pytest.mark.parametrize(
    "answer", [[WEBHOOK], {"webhooks": [WEBHOOK]}, {"data": [WEBHOOK]}], ids=["list", "w", "d"]
)
def test_list_webhooks_accepts_a_list_or_a_wrapped_list(
    kakiyo: HTTPServer, api: KakiyoClient, answer: Any
) -> None:
    kakiyo.expect_request("/v1/webhooks", method="GET").respond_with_json(answer)
    assert api.list_webhooks() == [WEBHOOK]


def test_update_webhook_puts_the_fields(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request(
        "/v1/webhooks/webhook_12345abcde", method="PUT", json={"active": False, "events": ["*"]}
    ).respond_with_json({**WEBHOOK, "active": False, "events": ["*"]})

    updated = api.update_webhook("webhook_12345abcde", active=False, events=("*",))

    assert updated["active"] is False


@pytest.mark.parametrize("status", [200, 204])
def test_delete_webhook(kakiyo: HTTPServer, api: KakiyoClient, status: int) -> None:
    body = '{"message": "Webhook deleted"}' if status == 200 else ""
    kakiyo.expect_request("/v1/webhooks/webhook_12345abcde", method="DELETE").respond_with_data(
        body, status=status, content_type="application/json"
    )
    assert api.delete_webhook("webhook_12345abcde") is None
    assert len(kakiyo.log) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda api: api.delete_webhook(""),
        lambda api: api.delete_webhook(".."),
        lambda api: api.update_webhook("wh_1"),
        lambda api: api.example_payload("."),
        lambda api: api.create_webhook("n", "https://a.example/", None, []),
    ],
    ids=["empty-id", "dot-dot-id", "no-fields", "dot-event", "no-events"],
)
def test_bad_arguments_are_refused_before_any_request(
    kakiyo: HTTPServer, api: KakiyoClient, call: Any
) -> None:
    with pytest.raises(ValueError):
        call(api)
    assert kakiyo.log == []


def test_events_as_a_bare_string_are_refused(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    # A string is iterable: without this check it would become one event per character.
    with pytest.raises(TypeError, match="not a string"):
        api.create_webhook("n", "https://a.example/", None, "linkedin.message.sent")
    assert kakiyo.log == []


# -- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "validation_error", "The request parameters failed validation"),
        (401, "invalid_api_key", "The API key is not recognized"),
        (403, "subscription_inactive", "Your subscription is inactive"),
        (404, "not_found", "The requested resource doesn't exist"),
        (429, "rate_limit_exceeded", "Too many requests hit the API too quickly"),
        (500, "internal_error", "Something went wrong on our end"),
    ],
)
def test_every_error_status_is_one_typed_error(
    kakiyo: HTTPServer, status: int, code: str, message: str
) -> None:
    kakiyo.expect_request("/v1/webhooks/test/events").respond_with_json(
        error_body(code, message), status=status
    )
    with KakiyoClient(max_attempts=1) as client, pytest.raises(KakiyoAPIError) as raised:
        client.event_types()

    error = raised.value
    assert (error.status, error.code, error.message) == (status, code, message)
    assert error.endpoint == "GET /webhooks/test/events"
    assert str(error) == f"GET /webhooks/test/events: HTTP {status} {code}: {message}"


def test_a_non_json_error_body_is_still_a_kakiyo_api_error(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_data(
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        status=502,
        content_type="text/html",
    )
    with KakiyoClient(max_attempts=1) as client, pytest.raises(KakiyoAPIError) as raised:
        client.verify()

    assert raised.value.status == 502
    assert raised.value.code is None
    assert raised.value.message.startswith("BAD GATEWAY")
    assert "502 Bad Gateway</h1>" in raised.value.message


def test_a_success_that_is_not_json_is_an_error(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_data("OK", content_type="text/plain")
    with pytest.raises(KakiyoAPIError, match="not JSON") as raised:
        api.verify()
    assert raised.value.status == 200


def test_an_answer_of_the_wrong_shape_is_an_error(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request("/v1/webhooks/test/events").respond_with_json({"events": []})
    with pytest.raises(KakiyoAPIError, match="expected a JSON list of objects, got dict"):
        api.event_types()


def test_redirects_are_not_followed(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_data(
        "", status=301, headers={"Location": "https://elsewhere.example/v1/verify"}
    )
    with pytest.raises(KakiyoAPIError, match=r"API_BASE_URL") as raised:
        api.verify()
    assert raised.value.status == 301
    assert len(kakiyo.log) == 1


def test_the_error_survives_pickling() -> None:
    error = KakiyoAPIError("Slow down", status=429, code="rate_limit_exceeded", endpoint="GET /x")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert repr(copy) == repr(error)
    assert str(copy) == "GET /x: HTTP 429 rate_limit_exceeded: Slow down"


# -- Retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_429_and_5xx_are_retried_then_succeed(kakiyo: HTTPServer, status: int) -> None:
    kakiyo.expect_ordered_request("/v1/webhooks", method="POST").respond_with_json(
        error_body("busy", "try again"), status=status
    )
    kakiyo.expect_ordered_request("/v1/webhooks", method="POST").respond_with_json(WEBHOOK)

    with KakiyoClient(**FAST) as client:
        created = client.create_webhook("n", WEBHOOK["url"], "s" * 32, ["*"])

    assert created == WEBHOOK
    # The retry is the same request again, body included.
    assert bodies(kakiyo) == [bodies(kakiyo)[0]] * 2
    assert bodies(kakiyo)[0]["secret"] == "s" * 32


def test_501_is_not_retried(kakiyo: HTTPServer, api: KakiyoClient) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_json(
        error_body("not_implemented", "no"), status=501
    )
    with pytest.raises(KakiyoAPIError):
        api.verify()
    assert len(kakiyo.log) == 1


def test_retry_after_is_honoured(kakiyo: HTTPServer) -> None:
    kakiyo.expect_ordered_request("/v1/verify").respond_with_json(
        error_body("rate_limit_exceeded", "Slow down"), status=429, headers={"Retry-After": "0.3"}
    )
    kakiyo.expect_ordered_request("/v1/verify").respond_with_json({"status": "success"})

    # Without Retry-After the backoff would be nothing at all.
    with KakiyoClient(backoff=0, backoff_max=0) as client:
        started = time.monotonic()
        client.verify()
        elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 2
    assert len(kakiyo.log) == 2


def test_a_retry_after_too_long_to_wait_for_fails_at_once(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_json(
        error_body("rate_limit_exceeded", "Slow down"), status=429, headers={"Retry-After": "3600"}
    )
    started = time.monotonic()
    with KakiyoClient(max_retry_wait=1) as client, pytest.raises(KakiyoAPIError) as raised:
        client.verify()

    assert time.monotonic() - started < 1
    assert (raised.value.status, raised.value.code) == (429, "rate_limit_exceeded")
    assert len(kakiyo.log) == 1


def test_gives_up_after_max_attempts_with_the_last_error(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_json(
        error_body("unavailable", "Down for maintenance"), status=503
    )
    with KakiyoClient(max_attempts=3, **FAST) as client, pytest.raises(KakiyoAPIError) as raised:
        client.verify()

    assert (raised.value.status, raised.value.message) == (503, "Down for maintenance")
    assert len(kakiyo.log) == 3


def test_backoff_doubles_between_attempts(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_json(error_body("e", "m"), status=500)
    started = time.monotonic()
    with KakiyoClient(max_attempts=3, backoff=0.1) as client, pytest.raises(KakiyoAPIError):
        client.verify()
    # Waits of 0.1 then 0.2 s, each at least half of that (the rest is jitter).
    assert 0.15 <= time.monotonic() - started < 2
    assert len(kakiyo.log) == 3


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("-5", 0.0),
        ("120", 120.0),
        ("0.25", 0.25),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_reads_a_future_http_date() -> None:
    import datetime as dt

    future = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    seconds = parse_retry_after(format_datetime(future, usegmt=True))
    assert seconds is not None
    assert 28 <= seconds <= 30


# -- Transport failures -----------------------------------------------------------------------


def test_a_timeout_after_connecting_says_kakiyo_did_not_answer(
    kakiyo: HTTPServer, settings: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "API_TIMEOUT": 0.2}
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5)
        return Response("{}", content_type="application/json")

    kakiyo.expect_request("/v1/verify").respond_with_handler(slow)
    started = time.monotonic()
    try:
        with KakiyoClient() as client, pytest.raises(KakiyoAPIError) as raised:
            client.verify()
    finally:
        release.set()

    assert raised.value.status is None
    assert raised.value.message == f"Kakiyo at {kakiyo.url_for('/v1')} did not answer within 0.2 s"
    # Not retried: after a timeout Kakiyo may still be acting on the request.
    assert time.monotonic() - started < 1


@pytest.fixture
def nothing_listening() -> str:
    """A base URL on 127.0.0.1 where the connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def never_accepting() -> Iterator[str]:
    """A base URL on 127.0.0.1 where connecting hangs: the listen queue is full.

    A listener with a backlog of 0 that never accepts, and connections already queued: Linux
    drops the SYNs of further connections, so they neither succeed nor fail until the
    client's connect timeout.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        queued = [socket.socket() for _ in range(3)]
        try:
            for sock in queued:
                sock.setblocking(False)
                sock.connect_ex(address)
            time.sleep(0.05)
            yield f"http://{address[0]}:{address[1]}/v1"
        finally:
            for sock in queued:
                sock.close()


@pytest.fixture
def unresolvable(monkeypatch: pytest.MonkeyPatch) -> str:
    """A base URL whose host name does not resolve (the resolver answers "no such name")."""
    host = "api.kakiyo.invalid"
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return f"https://{host}/v1"


def transport_error(base_url: str, **options: Any) -> KakiyoAPIError:
    with (
        KakiyoClient(API_KEY, base_url, **options) as client,
        pytest.raises(KakiyoAPIError) as raised,
    ):
        client.verify()
    return raised.value


def test_a_refused_connection_is_worded_for_a_person(nothing_listening: str) -> None:
    error = transport_error(nothing_listening)
    assert error.message == f"could not reach Kakiyo at {nothing_listening}: connection refused"
    assert error.status is None
    assert error.endpoint == "GET /verify"
    assert str(error) == f"GET /verify: no answer: {error.message}"


def test_a_connect_timeout_is_worded_for_a_person(never_accepting: str) -> None:
    started = time.monotonic()
    error = transport_error(never_accepting, timeout=0.3)
    assert error.message == f"could not reach Kakiyo at {never_accepting}: timed out after 0.3 s"
    assert error.status is None
    # Not retried either.
    assert time.monotonic() - started < 1


def test_a_name_that_does_not_resolve_is_worded_for_a_person(unresolvable: str) -> None:
    error = transport_error(unresolvable)
    assert (
        error.message
        == "could not reach Kakiyo at https://api.kakiyo.invalid/v1: name not resolved"
    )
    assert error.status is None


def test_a_connection_closed_without_an_answer_is_worded_for_a_person() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = "http://{}:{}/v1".format(*listener.getsockname())

        def hang_up() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)

        server = threading.Thread(target=hang_up)
        server.start()
        error = transport_error(url)
        server.join(5)
    assert error.message == f"could not reach Kakiyo at {url}: connection closed without an answer"


def test_transport_errors_carry_no_urllib3_text(
    nothing_listening: str, never_accepting: str, unresolvable: str
) -> None:
    for url in (nothing_listening, never_accepting, unresolvable):
        message = transport_error(url, timeout=0.2).message
        for urllib3_text in ("HTTPConnectionPool", "Max retries", "Caused by", "Errno", "<"):
            assert urllib3_text not in message


def test_credentials_in_the_base_url_are_not_repeated(nothing_listening: str) -> None:
    with_userinfo = nothing_listening.replace("http://", "http://someone:hunter2@")
    error = transport_error(with_userinfo)
    assert "hunter2" not in str(error)
    assert error.message == f"could not reach Kakiyo at {nothing_listening}: connection refused"


# -- The API key stays secret -----------------------------------------------------------------


def every_text_of(error: BaseException) -> str:
    """What could end up in a log: str, repr and the whole chained traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


def test_the_key_is_never_in_an_error_even_when_kakiyo_echoes_it(
    kakiyo: HTTPServer, api: KakiyoClient
) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_json(
        error_body("invalid_api_key", f"The API key {API_KEY} is not recognized"), status=401
    )
    with pytest.raises(KakiyoAPIError) as raised:
        api.verify()

    assert API_KEY not in every_text_of(raised.value)
    assert raised.value.message == "The API key [redacted] is not recognized"


def test_the_key_is_never_in_a_transport_error_nor_a_repr(
    nothing_listening: str, never_accepting: str, unresolvable: str
) -> None:
    with KakiyoClient(API_KEY, nothing_listening) as client:
        assert API_KEY not in repr(client)
    for url in (nothing_listening, never_accepting, unresolvable):
        assert API_KEY not in every_text_of(transport_error(url, timeout=0.2))


def test_the_key_is_never_logged(kakiyo: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_json(error_body("e", "m"), status=503)
    caplog.set_level(logging.DEBUG)
    with KakiyoClient(max_attempts=2, **FAST) as client, pytest.raises(KakiyoAPIError):
        client.verify()
    assert "retrying" in caplog.text
    assert API_KEY not in caplog.text


# -- Configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_key_is_a_configuration_error(settings: Any, value: str | None) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "API_KEY": value}
    with pytest.raises(KakiyoConfigurationError) as raised:
        KakiyoClient()
    assert raised.value.setting == "KAKIYO['API_KEY']"
    assert "is not set" in str(raised.value)


def test_a_key_with_a_newline_inside_is_refused_without_quoting_it(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "API_KEY": f"{API_KEY[:20]}\n{API_KEY[20:]}"}
    with pytest.raises(KakiyoConfigurationError) as raised:
        KakiyoClient()
    assert raised.value.setting == "KAKIYO['API_KEY']"
    assert API_KEY[:20] not in every_text_of(raised.value)


def test_surrounding_whitespace_in_the_key_is_ignored(kakiyo: HTTPServer, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "API_KEY": f"  {API_KEY}\n"}
    kakiyo.expect_request(
        "/v1/verify", headers={"Authorization": f"Bearer {API_KEY}"}
    ).respond_with_json({"status": "success"})
    with KakiyoClient() as client:
        assert client.verify() == {"status": "success"}


def test_constructor_arguments_override_the_settings(kakiyo: HTTPServer, settings: Any) -> None:
    settings.KAKIYO = {"API_BASE_URL": "https://nowhere.invalid/v1", "API_TIMEOUT": 0.001}
    kakiyo.expect_request(
        "/v1/verify", headers={"Authorization": "Bearer other-key"}
    ).respond_with_json({"status": "success"})
    url = kakiyo.url_for("/v1/")  # a trailing slash is fine too
    with KakiyoClient("other-key", url, timeout=5) as client:
        assert client.verify() == {"status": "success"}
        assert client.base_url == kakiyo.url_for("/v1")
        assert client.timeout == 5


def test_the_base_url_default_is_kakiyos(settings: Any) -> None:
    settings.KAKIYO = {"API_KEY": API_KEY}
    with KakiyoClient() as client:
        assert client.base_url == "https://api.kakiyo.com/v1"
        assert client.timeout == 10


@pytest.mark.parametrize(
    ("key", "value", "setting"),
    [
        ("API_BASE_URL", "api.kakiyo.com/v1", "KAKIYO['API_BASE_URL']"),
        ("API_TIMEOUT", 0, "KAKIYO['API_TIMEOUT']"),
        ("API_TIMEOUT", "10", "KAKIYO['API_TIMEOUT']"),
        ("API_KEY", 1234, "KAKIYO['API_KEY']"),
    ],
)
def test_bad_settings_name_the_setting(settings: Any, key: str, value: Any, setting: str) -> None:
    settings.KAKIYO = {"API_KEY": API_KEY, key: value}
    with pytest.raises(KakiyoConfigurationError) as raised:
        KakiyoClient()
    assert raised.value.setting == setting


def test_the_client_keeps_its_earlier_module_name() -> None:
    from django_kakiyo import client, kakiyo_api

    assert client.KakiyoClient is kakiyo_api.KakiyoClient
    assert client.LIST_WEBHOOKS_PATH == kakiyo_api.LIST_WEBHOOKS_PATH == "/webhooks"
