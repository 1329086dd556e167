"""``manage.py kakiyo_endpoints``: each subcommand, and a secret printed only when made."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from django_kakiyo.models import WebhookEndpoint, WebhookEvent
from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db

GIVEN = "given-endpoint-secret-0123456789"


def run(*args: str) -> str:
    out = StringIO()
    call_command("kakiyo_endpoints", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def printed_secret(output: str) -> str:
    [secret] = re.findall(r"Secret \(shown only this once\): (\S+)", output)
    return secret


def deliver(client: Client, endpoint: WebhookEndpoint, secret: str, n: int = 0) -> int:
    body = json.dumps(make_payload("prospect.qualified", {"prospectId": f"p_{n}"})).encode()
    url = reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])
    headers = {"X-Kakiyo-Signature": compute_signature(body, secret)}
    return client.post(url, data=body, content_type="application/json", headers=headers)\
        .status_code  # fmt: skip


def test_create_prints_the_uuid_the_url_and_a_working_secret_once(client: Client) -> None:
    output = run("create", "--name", "crm", "--team", "team_test")
    endpoint = WebhookEndpoint.objects.get()
    assert str(endpoint.uuid) in output
    assert reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid]) in output
    secret = printed_secret(output)
    assert len(secret) == 64 and endpoint.team_id == "team_test"
    assert deliver(client, endpoint, secret) == 200
    assert WebhookEvent.objects.get().endpoint == endpoint


def test_create_prints_the_full_url_with_a_base_url() -> None:
    output = run("create", "--name", "crm", "--base-url", "https://crm.example.org/")
    endpoint = WebhookEndpoint.objects.get()
    assert f"https://crm.example.org/kakiyo/webhook/{endpoint.uuid}/" in output


def test_create_with_a_given_secret_and_events(client: Client) -> None:
    output = run("create", "--name", "crm", "--secret", GIVEN, "--events", "a.b", "c.d,e.f")
    assert printed_secret(output) == GIVEN
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["a.b", "c.d", "e.f"]
    assert deliver(client, endpoint, GIVEN) == 200


def test_create_unsigned_prints_no_secret() -> None:
    output = run("create", "--name", "open", "--unsigned")
    assert "Secret" not in output and "W008" in output
    assert WebhookEndpoint.objects.get().unsigned


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "crm", "--secret", SECRET],  # a settings secret
        ["--name", "crm", "--secret", "short"],
        ["--name", "12"],  # would read as an id
        ["--name", "crm", "--unsigned", "--secret", GIVEN],
    ],
)
def test_create_refuses_what_it_cannot_do(args: list[str]) -> None:
    with pytest.raises((CommandError, SystemExit)):
        run("create", *args)
    assert not WebhookEndpoint.objects.exists()


def test_create_refuses_a_name_taken() -> None:
    run("create", "--name", "crm")
    with pytest.raises(CommandError, match="already exists"):
        run("create", "--name", "crm")


def test_list_never_shows_a_secret() -> None:
    run("create", "--name", "crm", "--secret", GIVEN)
    run("rotate", "crm", "--secret", GIVEN + "-next")
    run("create", "--name", "open", "--unsigned")
    text, as_json = run("list"), run("list", "--json")
    assert "crm" in text and "open" in text
    listed = {e["name"]: e for e in json.loads(as_json)}
    assert listed["crm"]["signed"] is True and listed["open"]["signed"] is False
    assert listed["crm"]["previous_secret_until"]
    for output in (text, as_json):
        assert GIVEN not in output
        assert "gAAAA" not in output  # nor the ciphertext


def test_list_says_when_there_is_none() -> None:
    assert "No endpoints" in run("list")


def test_rotate_prints_the_new_secret_and_keeps_the_old_for_the_grace(client: Client) -> None:
    first = printed_secret(run("create", "--name", "crm"))
    endpoint = WebhookEndpoint.objects.get()
    output = run("rotate", str(endpoint.uuid), "--grace", "3600")
    second = printed_secret(output)
    assert second != first and "works until" in output
    assert deliver(client, endpoint, first, 1) == 200
    assert deliver(client, endpoint, second, 2) == 200
    assert "no longer works" in run("expire-previous", str(endpoint.pk))
    assert deliver(client, endpoint, first, 3) == 401
    assert "had no previous secret" in run("expire-previous", "crm")


def test_rotate_with_no_grace(client: Client) -> None:
    first = printed_secret(run("create", "--name", "crm"))
    endpoint = WebhookEndpoint.objects.get()
    assert "no longer works" in run("rotate", "crm", "--grace", "0")
    assert deliver(client, endpoint, first) == 401


def test_disable_enable_delete_by_id_uuid_or_name(client: Client) -> None:
    secret = printed_secret(run("create", "--name", "crm"))
    endpoint = WebhookEndpoint.objects.get()
    run("disable", str(endpoint.uuid))
    assert deliver(client, endpoint, secret, 1) == 404
    run("enable", str(endpoint.pk))
    assert deliver(client, endpoint, secret, 2) == 200
    run("delete", "crm")
    assert deliver(client, endpoint, secret, 3) == 404
    assert WebhookEvent.objects.get().endpoint is None  # kept, unattached


@pytest.mark.parametrize(
    "subcommand", ["rotate", "expire-previous", "disable", "enable", "delete"]
)
def test_an_unknown_endpoint_is_a_command_error(subcommand: str) -> None:
    with pytest.raises(CommandError, match="No endpoint"):
        run(subcommand, "nobody")


def test_rotating_an_unsigned_endpoint_is_refused() -> None:
    run("create", "--name", "open", "--unsigned")
    with pytest.raises(CommandError, match="unsigned"):
        run("rotate", "open")


def test_the_command_output_of_create_is_the_only_place_the_secret_appears(
    capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    output = run("create", "--name", "crm")
    secret = printed_secret(output)
    assert output.count(secret) == 1
    assert secret not in caplog.text
    assert secret not in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--name", "n" * 101], ["--name", "crm", "--team", "t" * 256]])
def test_create_refuses_values_over_a_columns_size(args: list[str]) -> None:
    with pytest.raises(CommandError, match="over"):
        run("create", *args)
    assert not WebhookEndpoint.objects.exists()


def test_reencrypt_lets_the_old_key_go(client: Client, settings: Any) -> None:
    secret = printed_secret(run("create", "--name", "crm"))
    rotated_from = printed_secret(run("create", "--name", "other"))
    run("rotate", "other", "--grace", "3600")
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "the-next-secret-key-" + "z" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert "2 endpoint(s)" in run("reencrypt")
    assert "0 endpoint(s)" in run("reencrypt")
    settings.SECRET_KEY_FALLBACKS = []  # the old key is gone
    assert deliver(client, WebhookEndpoint.objects.get(name="crm"), secret, 1) == 200
    other = WebhookEndpoint.objects.get(name="other")
    assert deliver(client, other, rotated_from, 2) == 200  # the previous secret too


def test_reencrypt_without_the_old_key_changes_nothing(settings: Any) -> None:
    run("create", "--name", "crm")
    before = WebhookEndpoint.objects.get().encrypted_secret
    settings.SECRET_KEY = "the-next-secret-key-" + "z" * 40
    with pytest.raises(CommandError, match="nothing was changed"):
        run("reencrypt")
    assert WebhookEndpoint.objects.get().encrypted_secret == before
