"""``manage.py kakiyo_webhooks`` against a real HTTP server on 127.0.0.1 playing Kakiyo."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import connection
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from .conftest import SECRET

API_KEY = "kky_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1"
WEBHOOKS = [
    {
        "id": "webhook_1",
        "name": "CRM",
        "url": "https://crm.example.com/kakiyo/webhook/",
        "events": ["*"],
        "active": True,
    },
    {
        "id": "webhook_22222",
        "name": "Old staging hook",
        "url": "https://staging.example.com/kakiyo/webhook/",
        "events": ["linkedin.message.received", "linkedin.message.sent"],
        "active": False,
    },
]
EVENT_TYPES = [
    {
        "id": "prospect.qualified",
        "name": "Prospect Qualified",
        "description": "Triggered when a prospect is marked as qualified",
        "category": "prospect",
    },
    {
        "id": "campaign.completed",
        "name": "Campaign Completed",
        "description": "Triggered when a campaign reaches completion",
        "category": "campaign",
    },
]


@pytest.fixture
def kakiyo(httpserver_ipv4: HTTPServer, settings: Any) -> Iterator[HTTPServer]:
    settings.KAKIYO = {
        **settings.KAKIYO,
        "API_KEY": API_KEY,
        "API_BASE_URL": httpserver_ipv4.url_for("/v1"),
    }
    yield httpserver_ipv4
    httpserver_ipv4.check_handler_errors()


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("kakiyo_webhooks", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def echo_created(request: Request) -> Response:
    """Kakiyo's create answer, echoing the secret too: the command must not print it twice."""
    body = request.get_json()
    answer = {"id": "webhook_new", **body, "active": True, "message": "Webhook created"}
    return Response(json.dumps(answer), status=201, content_type="application/json")


# -- verify -----------------------------------------------------------------------------------


def test_verify(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request(
        "/v1/verify", method="GET", headers={"Authorization": f"Bearer {API_KEY}"}
    ).respond_with_json({"status": "success", "message": "API key is valid"})

    out, _ = run("verify")

    assert out == f"Kakiyo ({kakiyo.url_for('/v1')}) accepts the API key: API key is valid\n"


def test_verify_with_a_rejected_key_is_a_command_error(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/verify").respond_with_json(
        {"error": "invalid_api_key", "message": f"Unknown key {API_KEY}"}, status=401
    )
    with pytest.raises(CommandError) as raised:
        run("verify")

    message = str(raised.value)
    assert message == (
        "Kakiyo API error: GET /verify: HTTP 401 invalid_api_key: Unknown key [redacted]. "
        "Check KAKIYO['API_KEY']."
    )


def test_a_missing_api_key_is_a_command_error(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "API_KEY": None}
    with pytest.raises(CommandError, match=re.escape("KAKIYO['API_KEY'] is not set")):
        run("verify")


def test_api_url_and_timeout_options(kakiyo: HTTPServer, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "API_BASE_URL": "https://nowhere.invalid/v1"}
    kakiyo.expect_request("/v1/verify").respond_with_json({"status": "success"})

    out, _ = run("--api-url", kakiyo.url_for("/v1"), "--timeout", "3", "verify")

    assert "accepts the API key: success" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-url", "api.kakiyo.com", "verify"], "--api-url must be an http(s) URL"),
        (["--timeout", "0", "verify"], "--timeout must be a positive number"),
        ([], "required: SUBCOMMAND"),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_options_are_command_errors(kakiyo: HTTPServer, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args)
    assert kakiyo.log == []


# -- list -------------------------------------------------------------------------------------


def test_list_prints_an_aligned_table(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks", method="GET").respond_with_json(WEBHOOKS)

    out, _ = run("list")

    header, first, second = out.splitlines()
    assert header.split() == ["ID", "ACTIVE", "EVENTS", "NAME", "URL"]
    assert first.split(maxsplit=3)[:3] == ["webhook_1", "yes", "*"]
    assert second.split(maxsplit=3)[:3] == [
        "webhook_22222",
        "no",
        "linkedin.message.received,linkedin.message.sent",
    ]
    # Every column starts at the same offset on every line.
    for column, value in [("URL", WEBHOOKS[0]["url"]), ("NAME", "CRM")]:
        assert first.index(str(value)) == header.index(column)
    assert second.index(str(WEBHOOKS[1]["url"])) == header.index("URL")


def test_list_json(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks").respond_with_json({"webhooks": WEBHOOKS})
    out, _ = run("list", "--json")
    assert json.loads(out) == WEBHOOKS


def test_list_with_no_webhooks(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks").respond_with_json([])
    assert run("list") == ("No webhooks.\n", "")


# -- create -----------------------------------------------------------------------------------


def test_create_generates_a_secret_and_prints_it_once(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks", method="POST").respond_with_handler(echo_created)

    out, err = run("create", "--base-url", "https://crm.example.com/")

    sent = kakiyo.log[0][0].get_json()
    secret = sent["secret"]
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert sent == {
        "name": "django-kakiyo",
        "url": "https://crm.example.com/kakiyo/webhook/",
        "secret": secret,
        "events": ["*"],
    }
    assert out.count(secret) == 1
    assert "KAKIYO['WEBHOOK_SECRETS']" in out
    shown = json.loads(out[: out.index("\nWebhook secret")])
    assert shown["id"] == "webhook_new"
    assert "secret" not in shown
    assert err == ""


def test_create_with_a_given_secret_never_prints_it(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks", method="POST").respond_with_handler(echo_created)

    out, err = run(
        "create",
        "--url",
        "https://hooks.example.com/in/",
        "--secret",
        SECRET,
        "--name",
        "CRM sync",
        "--event",
        "linkedin.message.received",
        "--event",
        "prospect.qualified, prospect.unqualified",
    )

    assert kakiyo.log[0][0].get_json() == {
        "name": "CRM sync",
        "url": "https://hooks.example.com/in/",
        "secret": SECRET,
        "events": ["linkedin.message.received", "prospect.qualified", "prospect.unqualified"],
    }
    assert SECRET not in out
    assert json.loads(out)["url"] == "https://hooks.example.com/in/"
    assert err == ""  # SECRET is configured in KAKIYO['WEBHOOK_SECRETS']: no warning


def test_create_warns_about_a_secret_this_site_would_refuse(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks", method="POST").respond_with_handler(echo_created)
    _, err = run("create", "--url", "https://a.example/h/", "--secret", "not-configured-secret")
    assert "not in KAKIYO['WEBHOOK_SECRETS']" in err


def test_create_warns_about_plain_http(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks", method="POST").respond_with_handler(echo_created)
    _, err = run("create", "--url", "http://a.example/h/")
    assert "not HTTPS" in err


def test_create_failure_is_a_command_error_and_prints_no_secret(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks", method="POST").respond_with_json(
        {"error": "validation_error", "message": "url must be HTTPS"}, status=400
    )
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "kakiyo_webhooks", "create", "--base-url", "https://crm.example.com", stdout=out
        )

    assert str(raised.value) == (
        "Kakiyo API error: POST /webhooks: HTTP 400 validation_error: url must be HTTPS."
    )
    assert out.getvalue() == ""  # nothing was registered, so no secret to keep


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give --url or --base-url"),
        (["--url", "ftp://a.example/h/"], "must be an http(s) URL"),
        (["--base-url", "crm.example.com"], "must be an http(s) URL"),
        (["--url", "https://a/", "--base-url", "https://b"], "not allowed with argument"),
        (["--url", "https://a.example/", "--event", ","], "--event must name event types"),
    ],
)
def test_create_bad_input(kakiyo: HTTPServer, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create", *args)
    assert kakiyo.log == []


@pytest.fixture
def sites(settings: Any) -> Iterator[Any]:
    """django.contrib.sites installed for one test, with its table."""
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.sites"]
    settings.SITE_ID = 1
    from django.contrib.sites.models import Site

    with connection.schema_editor() as editor:
        editor.create_model(Site)
    try:
        yield Site
    finally:
        Site.objects.clear_cache()
        with connection.schema_editor() as editor:
            editor.delete_model(Site)


@pytest.mark.django_db(transaction=True)
def test_create_defaults_to_the_current_site(kakiyo: HTTPServer, sites: Any) -> None:
    sites.objects.create(id=1, domain="crm.example.com", name="CRM")
    kakiyo.expect_request("/v1/webhooks", method="POST").respond_with_handler(echo_created)

    run("create")

    assert kakiyo.log[0][0].get_json()["url"] == "https://crm.example.com/kakiyo/webhook/"


@pytest.mark.django_db(transaction=True)
def test_create_refuses_the_placeholder_site(kakiyo: HTTPServer, sites: Any) -> None:
    sites.objects.create(id=1, domain="example.com", name="example.com")
    with pytest.raises(CommandError, match="Django's placeholder"):
        run("create")
    assert kakiyo.log == []


# -- delete, test, example, events ------------------------------------------------------------


def test_delete(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks/webhook_22222", method="DELETE").respond_with_data(
        "", status=204
    )
    assert run("delete", "webhook_22222") == ("Deleted webhook webhook_22222.\n", "")


def test_delete_an_unknown_webhook(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks/nope", method="DELETE").respond_with_json(
        {"error": "not_found", "message": "Webhook not found."}, status=404
    )
    with pytest.raises(CommandError) as raised:
        run("delete", "nope")
    assert str(raised.value).endswith("HTTP 404 not_found: Webhook not found.")


def test_delete_refuses_a_path_segment_that_climbs(kakiyo: HTTPServer) -> None:
    with pytest.raises(CommandError, match="webhook_id must be a non-empty string"):
        run("delete", "..")
    assert kakiyo.log == []


def test_test_sends_the_event_with_data(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request(
        "/v1/webhooks/test",
        method="POST",
        json={"event": "linkedin.message.received", "data": {"prospectId": "p_1"}},
    ).respond_with_json({"success": True, "message": "Test event sent to 1 webhook"})

    out, _ = run("test", "linkedin.message.received", "--data", '{"prospectId": "p_1"}')

    assert json.loads(out) == {"success": True, "message": "Test event sent to 1 webhook"}


def test_test_reads_data_from_a_file(kakiyo: HTTPServer, tmp_path: Path) -> None:
    data_file = tmp_path / "data.json"
    data_file.write_text('{"campaignId": "c_9"}', "utf-8")
    kakiyo.expect_request(
        "/v1/webhooks/test", json={"event": "campaign.completed", "data": {"campaignId": "c_9"}}
    ).respond_with_json({"success": True})

    run("test", "campaign.completed", "--data", f"@{data_file}")


def test_test_without_data_sends_an_empty_object(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request(
        "/v1/webhooks/test", json={"event": "message.sent", "data": {}}
    ).respond_with_json({"success": True})
    run("test", "message.sent")


@pytest.mark.parametrize(
    ("data", "message"),
    [("{nope", "not readable JSON"), ("[1, 2]", "must be a JSON object"), ("@/no/such", "")],
)
def test_test_bad_data(kakiyo: HTTPServer, data: str, message: str) -> None:
    with pytest.raises(CommandError, match=f"--data.*{re.escape(message)}"):
        run("test", "message.sent", "--data", data)
    assert kakiyo.log == []


def test_test_failure_is_a_command_error(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks/test").respond_with_json(
        {"error": "forbidden", "message": "The API key can't do that"}, status=403
    )
    with pytest.raises(CommandError, match="HTTP 403 forbidden"):
        run("test", "message.sent")


def test_example_prints_the_payload(kakiyo: HTTPServer) -> None:
    example = {
        "event": "prospect.qualified",
        "timestamp": "2024-01-20T15:30:00Z",
        "data": {"prospect": {"id": "prospect_123", "name": "Jöhn Smith"}},
        "team": {"id": "team_abc", "name": "Sales Team Alpha"},
    }
    kakiyo.expect_request("/v1/webhooks/test/example/prospect.qualified").respond_with_json(
        example
    )

    out, _ = run("example", "prospect.qualified")

    assert json.loads(out) == example
    assert "Jöhn" in out  # readable, not \u00f6
    assert out.startswith('{\n  "event"')  # pretty-printed


def test_example_for_an_unknown_event(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks/test/example/nope").respond_with_json(
        {"error": "validation_error", "message": "Invalid event type"}, status=400
    )
    with pytest.raises(CommandError, match="Invalid event type"):
        run("example", "nope")


def test_events_prints_an_aligned_table(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks/test/events").respond_with_json(EVENT_TYPES)

    out, _ = run("events")

    header, *rows = out.splitlines()
    assert header.split() == ["EVENT", "CATEGORY", "NAME", "DESCRIPTION"]
    assert [row.split()[0] for row in rows] == ["prospect.qualified", "campaign.completed"]
    for row, event_type in zip(rows, EVENT_TYPES, strict=True):
        assert row.index(event_type["description"]) == header.index("DESCRIPTION")


def test_events_json(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks/test/events").respond_with_json(EVENT_TYPES)
    out, _ = run("events", "--json")
    assert json.loads(out) == EVENT_TYPES


def test_a_server_failure_is_retried_then_reported(kakiyo: HTTPServer) -> None:
    kakiyo.expect_request("/v1/webhooks/test/events").respond_with_json(
        {"error": "internal_error", "message": "Oops"}, status=500, headers={"Retry-After": "0"}
    )
    with pytest.raises(CommandError, match="HTTP 500 internal_error: Oops"):
        run("events")
    assert len(kakiyo.log) == 4  # the client's default number of attempts


# -- options after the subcommand -------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent


def parsed(*argv: str) -> dict[str, Any]:
    command = load_command_class("django_kakiyo", "kakiyo_webhooks")
    return vars(command.create_parser("manage.py", "kakiyo_webhooks").parse_args(argv))


def test_options_after_the_subcommand_are_read() -> None:
    options = parsed(
        "events", "-v", "3", "--traceback", "--no-color", "--timeout", "2", "--api-url", "http://k"
    )
    assert options["subcommand"] == "events"
    assert (options["verbosity"], options["traceback"], options["no_color"]) == (3, True, True)
    assert (options["timeout"], options["api_url"]) == (2.0, "http://k")


def test_options_before_the_subcommand_are_not_reset_by_it() -> None:
    options = parsed("-v", "2", "--traceback", "--timeout", "2", "events", "--json")
    assert (options["verbosity"], options["traceback"], options["timeout"]) == (2, True, 2.0)
    assert options["json"] is True
    defaults = parsed("events")
    assert (defaults["verbosity"], defaults["traceback"], defaults["timeout"]) == (1, False, None)


def test_api_url_after_the_subcommand(kakiyo: HTTPServer, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "API_BASE_URL": "https://nowhere.invalid/v1"}
    kakiyo.expect_request("/v1/verify").respond_with_json({"status": "success"})

    out, _ = run("verify", "--api-url", kakiyo.url_for("/v1"), "--timeout", "3")

    assert "accepts the API key: success" in out


def manage_py(tmp_path: Path, api_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py kakiyo_webhooks ARGS`` in a new process, with a settings module in
    ``tmp_path`` that only ``--settings``/``--pythonpath`` among ARGS can find."""
    kakiyo = {"API_KEY": API_KEY, "API_BASE_URL": api_url}
    (tmp_path / "cli_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        f"KAKIYO = {{**KAKIYO, **{kakiyo!r}}}  # noqa: F405\n",
        encoding="utf-8",
    )
    # The environment names the example project's settings: it has no API key, so a
    # subcommand only talks to the fake Kakiyo if --settings took effect.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings"}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "kakiyo_webhooks", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_and_pythonpath_after_the_subcommand(kakiyo: HTTPServer, tmp_path: Path) -> None:
    kakiyo.expect_request("/v1/webhooks", method="GET").respond_with_json(WEBHOOKS)

    done = manage_py(
        tmp_path,
        kakiyo.url_for("/v1"),
        *("list", "--settings", "cli_settings", "--pythonpath", str(tmp_path), "-v", "2"),
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1].split() == [
        "webhook_1", "yes", "*", "CRM", "https://crm.example.com/kakiyo/webhook/"
    ]  # fmt: skip


@pytest.mark.parametrize("traceback", [True, False])
def test_traceback_after_the_subcommand(tmp_path: Path, traceback: bool) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    args = ["verify", "--settings", "cli_settings", "--pythonpath", str(tmp_path)]

    done = manage_py(tmp_path, nowhere, *args, *(["--traceback"] if traceback else []))

    assert done.returncode == 1
    assert f"could not reach Kakiyo at {nowhere}: connection refused" in done.stderr
    assert ("Traceback (most recent call last)" in done.stderr) is traceback
    assert API_KEY not in done.stderr


def test_subcommand_help_lists_the_options_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        call_command("kakiyo_webhooks", "list", "--help")
    help_text = capsys.readouterr().out
    for option in ("--settings", "--verbosity", "--traceback", "--api-url", "--json"):
        assert option in help_text


# -- help -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subcommand", "expected"),
    [
        ("verify", "Check that Kakiyo accepts KAKIYO['API_KEY']."),
        ("list", "not document publicly"),
        ("create", "--base-url URL"),
        ("delete", "The webhook's id"),
        ("test", "--data JSON"),
        ("example", "example payload"),
        ("events", "event types Kakiyo can send"),
    ],
)
def test_every_subcommand_has_help(
    capsys: pytest.CaptureFixture[str], subcommand: str, expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        call_command("kakiyo_webhooks", subcommand, "--help")
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert expected in help_text
