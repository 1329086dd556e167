"""``manage.py kakiyo_webhooks``: register this site with Kakiyo and look after the webhook.

One command with subcommands (``verify``, ``list``, ``create``, ``delete``, ``test``,
``example``, ``events``), all through :class:`django_kakiyo.kakiyo_api.KakiyoClient`, so setting
up a project is ``kakiyo_webhooks create --base-url https://crm.example.com`` rather than
clicks in Kakiyo's dashboard with a secret copied by hand.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from django_kakiyo.conf import kakiyo_settings
from django_kakiyo.exceptions import KakiyoAPIError, KakiyoConfigurationError
from django_kakiyo.kakiyo_api import KakiyoClient

from ..subcommands import subcommands

#: The name a webhook gets when ``create`` is not given ``--name``.
DEFAULT_WEBHOOK_NAME = "django-kakiyo"


class Command(BaseCommand):
    help = (
        "Manage this site's webhooks in Kakiyo through its REST API (KAKIYO['API_KEY']): "
        "verify the key, list, create and delete webhooks, send test events, show example "
        "payloads and the event types. 'kakiyo_webhooks SUBCOMMAND --help' for each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--api-url",
            metavar="URL",
            help="Kakiyo API base URL (default: KAKIYO['API_BASE_URL']).",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help="Seconds to wait for each answer (default: KAKIYO['API_TIMEOUT']).",
        )
        add = subcommands(parser, "kakiyo_webhooks")

        add("verify", "Check that Kakiyo accepts KAKIYO['API_KEY'].")

        listing = add(
            "list",
            "List the team's webhooks.",
            "Uses GET /webhooks, which Kakiyo does not document publicly.",
        )
        listing.add_argument("--json", action="store_true", help="Print JSON, not a table.")

        create = add(
            "create",
            "Register this site's webhook URL with Kakiyo.",
            "Without --secret a random secret is generated and printed once: add it to "
            "KAKIYO['WEBHOOK_SECRETS'] before events arrive, or they are refused (and Kakiyo "
            "disables a webhook after repeated failures).",
        )
        where = create.add_mutually_exclusive_group()
        where.add_argument(
            "--url", help="The full webhook URL Kakiyo should POST to (https://.../webhook/)."
        )
        where.add_argument(
            "--base-url",
            metavar="URL",
            help="This site's public root (https://crm.example.com); the webhook path is "
            "added from the URL named 'kakiyo-webhook'. Default: the current Site's domain "
            "when django.contrib.sites is installed.",
        )
        create.add_argument(
            "--name",
            default=DEFAULT_WEBHOOK_NAME,
            help=f"Label (default: {DEFAULT_WEBHOOK_NAME}).",
        )
        create.add_argument(
            "--event",
            dest="events",
            action="append",
            metavar="EVENT",
            help="Event type to subscribe to; repeat or comma-separate (default: '*', all).",
        )
        create.add_argument(
            "--secret",
            help="Signing secret to register (default: a new random one, printed once). "
            "Prefer the default: a secret on the command line lands in shell history.",
        )

        delete = add(
            "delete",
            "Delete a webhook: Kakiyo stops sending to it.",
            "Uses DELETE /webhooks/ID, which Kakiyo does not document publicly.",
        )
        delete.add_argument("id", help="The webhook's id (see 'list').")

        test = add(
            "test",
            "Ask Kakiyo to send a test event to the team's active webhooks.",
            "See 'example EVENT' for the payload Kakiyo uses for a type.",
        )
        test.add_argument("event", help="Event type, e.g. linkedin.message.received.")
        test.add_argument(
            "--data",
            metavar="JSON",
            help='The event\'s "data" as a JSON object, or @path to a JSON file (default: {}).',
        )

        example = add("example", "Show Kakiyo's example payload for an event type.")
        example.add_argument("event", help="Event type, e.g. prospect.qualified.")

        events = add("events", "List the event types Kakiyo can send.")
        events.add_argument("--json", action="store_true", help="Print JSON, not a table.")

    def handle(self, *args: Any, **options: Any) -> None:
        actions = {
            "verify": self.do_verify,
            "list": self.do_list,
            "create": self.do_create,
            "delete": self.do_delete,
            "test": self.do_test,
            "example": self.do_example,
            "events": self.do_events,
        }
        try:
            actions[options["subcommand"]](options)
        except KakiyoAPIError as error:
            hint = " Check KAKIYO['API_KEY']." if error.status == 401 else ""
            raise CommandError(f"Kakiyo API error: {str(error).rstrip('.')}.{hint}") from error
        except (KakiyoConfigurationError, ValueError) as error:
            # ValueError: the client refused an argument (an empty id or event type).
            raise CommandError(str(error)) from error

    # -- Subcommands ---------------------------------------------------------------------------

    def do_verify(self, options: dict[str, Any]) -> None:
        with self.client(options) as kakiyo:
            result = kakiyo.verify()
            where = kakiyo.base_url
        detail = result.get("message") or result.get("status") or "ok"
        self.stdout.write(self.style.SUCCESS(f"Kakiyo ({where}) accepts the API key: {detail}"))

    def do_list(self, options: dict[str, Any]) -> None:
        with self.client(options) as kakiyo:
            webhooks = kakiyo.list_webhooks()
        if options["json"]:
            self.write_json(webhooks)
        elif not webhooks:
            self.stdout.write("No webhooks.")
        else:
            rows = [
                [
                    str(hook.get("id", "")),
                    yes_no(hook.get("active")),
                    ",".join(map(str, hook.get("events") or [])),
                    str(hook.get("name", "")),
                    str(hook.get("url", "")),
                ]
                for hook in webhooks
            ]
            self.stdout.write(table(["ID", "ACTIVE", "EVENTS", "NAME", "URL"], rows))

    def do_create(self, options: dict[str, Any]) -> None:
        url = options["url"] or self.site_webhook_url(options["base_url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"The webhook URL must be an http(s) URL, not {url!r}.")
        if parts.scheme == "http":
            self.stderr.write(f"Warning: {url} is not HTTPS; Kakiyo expects an HTTPS endpoint.")
        events = [
            name.strip() for value in options["events"] or ["*"] for name in value.split(",")
        ]
        if not all(events):
            raise CommandError("--event must name event types (or '*').")
        secret = options["secret"]
        generated = secret is None
        if secret is None:
            secret = secrets.token_hex(32)
        elif secret not in configured_secrets():
            self.stderr.write(
                "Warning: --secret is not in KAKIYO['WEBHOOK_SECRETS'] (nor TEAM_SECRETS): "
                "deliveries signed with it are refused until it is."
            )

        with self.client(options) as kakiyo:
            webhook = kakiyo.create_webhook(options["name"], url, secret, events)
        # Whatever Kakiyo echoes, the secret is printed once, below, and only if we made it.
        self.write_json({key: value for key, value in webhook.items() if key != "secret"})
        if generated:
            self.stdout.write(
                f"\nWebhook secret (shown only this once): {secret}\n"
                "Add it to KAKIYO['WEBHOOK_SECRETS'] (for example through an environment "
                "variable) and deploy, or this site refuses the deliveries with 401."
            )

    def do_delete(self, options: dict[str, Any]) -> None:
        with self.client(options) as kakiyo:
            kakiyo.delete_webhook(options["id"])
        self.stdout.write(self.style.SUCCESS(f"Deleted webhook {options['id']}."))

    def do_test(self, options: dict[str, Any]) -> None:
        data = read_json_object(options["data"], "--data") if options["data"] else {}
        with self.client(options) as kakiyo:
            answer = kakiyo.test_webhook(options["event"], data)
        self.write_json(answer)

    def do_example(self, options: dict[str, Any]) -> None:
        with self.client(options) as kakiyo:
            self.write_json(kakiyo.example_payload(options["event"]))

    def do_events(self, options: dict[str, Any]) -> None:
        with self.client(options) as kakiyo:
            types = kakiyo.event_types()
        if options["json"]:
            self.write_json(types)
            return
        rows = [
            [str(t.get(key, "")) for key in ("id", "category", "name", "description")]
            for t in types
        ]
        self.stdout.write(table(["EVENT", "CATEGORY", "NAME", "DESCRIPTION"], rows))

    # -- Helpers -------------------------------------------------------------------------------

    def client(self, options: dict[str, Any]) -> KakiyoClient:
        """A client from the settings, with ``--api-url``/``--timeout`` checked as options."""
        api_url, timeout = options["api_url"], options["timeout"]
        if api_url is not None and not api_url.startswith(("http://", "https://")):
            raise CommandError(f"--api-url must be an http(s) URL, not {api_url!r}.")
        if timeout is not None and not timeout > 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        return KakiyoClient(base_url=api_url, timeout=timeout)

    def site_webhook_url(self, base_url: str | None) -> str:
        """This site's webhook URL: ``--base-url`` or the current Site, plus the routed path."""
        try:
            path = reverse("kakiyo-webhook")
        except NoReverseMatch as error:
            raise CommandError(
                "No URL is named 'kakiyo-webhook': include django_kakiyo.urls in your URLconf, "
                "or give --url."
            ) from error
        if base_url is None:
            base_url = current_site_root()
        return base_url.rstrip("/") + path

    def write_json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=2, ensure_ascii=False))


def current_site_root() -> str:
    """``https://<domain>`` of the current Site, when django.contrib.sites can tell it."""
    if not apps.is_installed("django.contrib.sites"):
        raise CommandError(
            "Give --url or --base-url (this site's public address): django.contrib.sites is "
            "not installed, so the command cannot know it."
        )
    from django.contrib.sites.models import Site

    try:
        domain = Site.objects.get_current().domain
    except (ImproperlyConfigured, ObjectDoesNotExist) as error:
        raise CommandError(f"No current Site ({error}); give --url or --base-url.") from error
    if not domain or domain == "example.com":
        raise CommandError(
            f"The current Site's domain is {domain!r}, Django's placeholder: set the real "
            "domain in the admin (Sites), or give --url or --base-url."
        )
    return f"https://{domain}"


def configured_secrets() -> set[str]:
    try:
        return set(kakiyo_settings.secret_teams())
    except KakiyoConfigurationError:
        return set()


def read_json_object(value: str, option: str) -> dict[str, Any]:
    """``value`` as a JSON object, or the JSON object in file ``@path``."""
    try:
        text = Path(value[1:]).read_text("utf-8") if value.startswith("@") else value
        data = json.loads(text)
    except (OSError, ValueError) as error:
        raise CommandError(f"{option} is not readable JSON: {error}") from error
    if not isinstance(data, dict):
        raise CommandError(f"{option} must be a JSON object.")
    return data


def yes_no(value: object) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else "?"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, one line per row under a header line."""
    widths = [
        max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)
    ]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )
