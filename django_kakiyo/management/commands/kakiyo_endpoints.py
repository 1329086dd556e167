"""``manage.py kakiyo_endpoints``: the webhook endpoints in the database, each its own URL and
secret. ``create`` and ``rotate`` print a secret once; nothing else ever prints one."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from django_kakiyo.endpoint_operations import (
    create_endpoint,
    delete_endpoint,
    expire_previous,
    reencrypt_secrets,
    rotate_secret,
    set_enabled,
)
from django_kakiyo.endpoint_sync import sync_endpoints
from django_kakiyo.exceptions import EndpointError, KakiyoAPIError, KakiyoConfigurationError
from django_kakiyo.kakiyo_api import KakiyoClient
from django_kakiyo.models import WebhookEndpoint
from django_kakiyo.secret_box import UndecryptableSecret

from ..subcommands import subcommands
from .kakiyo_webhooks import current_site_root, table, yes_no

ENDPOINT_HELP = "The endpoint: its id, its UUID or its name (see 'list')."


class Command(BaseCommand):
    help = (
        "Manage the Kakiyo webhook endpoints kept in the database, each with its own URL "
        "(webhook/<uuid>/) and secret: create, list, rotate a secret, end a rotation's "
        "grace, disable, enable, delete, and sync them with Kakiyo's webhooks. "
        "'kakiyo_endpoints SUBCOMMAND --help' for each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add = subcommands(parser, "kakiyo_endpoints")

        def endpoint_argument(sub: CommandParser) -> None:
            sub.add_argument("endpoint", metavar="ENDPOINT", help=ENDPOINT_HELP)

        def base_url_option(sub: CommandParser) -> None:
            sub.add_argument(
                "--base-url",
                metavar="URL",
                help="This site's public root (https://crm.example.com), to print the full "
                "URL. Default: the current Site's domain when django.contrib.sites is "
                "installed; otherwise only the path is printed.",
            )

        create = add(
            "create",
            "Create an endpoint; print its UUID, its URL and its secret (shown only once).",
            "Without --secret a random secret is generated.",
        )
        create.add_argument("--name", required=True, help="A unique name, e.g. 'crm team A'.")
        create.add_argument(
            "--team", default="", help="Accept only events of this Kakiyo team id."
        )
        secret = create.add_mutually_exclusive_group()
        secret.add_argument(
            "--secret",
            help="The secret Kakiyo's webhook signs with (default: a new random one). "
            "Prefer the default: a secret on the command line lands in shell history.",
        )
        secret.add_argument(
            "--unsigned",
            action="store_true",
            help="No secret: the unguessable URL is the only credential (for a Kakiyo "
            "webhook created without one). System check W008 warns about it.",
        )
        create.add_argument(
            "--events",
            nargs="+",
            metavar="EVENT",
            help="Event types the Kakiyo webhook subscribes to, for sync (default: '*').",
        )
        base_url_option(create)

        listing = add("list", "List the endpoints (never their secrets).")
        listing.add_argument("--json", action="store_true", help="Print JSON, not a table.")
        base_url_option(listing)

        rotate = add(
            "rotate",
            "Give an endpoint a new secret, printed once; the old one keeps working for the "
            "grace period.",
            "Then give Kakiyo the new secret ('sync' does it) and, once it signs with it, "
            "'expire-previous'.",
        )
        endpoint_argument(rotate)
        rotate.add_argument(
            "--secret", help="The new secret (default: a new random one, printed once)."
        )
        rotate.add_argument(
            "--grace",
            type=float,
            metavar="SECONDS",
            help="Seconds the old secret keeps working "
            "(default: KAKIYO['ENDPOINT_ROTATION_GRACE']; 0: it stops at once).",
        )
        expire = add("expire-previous", "End a rotation's grace: the old secret stops now.")
        endpoint_argument(expire)
        disable = add("disable", "Disable an endpoint: its URL answers 404.")
        endpoint_argument(disable)
        enable = add("enable", "Enable an endpoint again.")
        endpoint_argument(enable)
        delete = add("delete", "Delete an endpoint (its events are kept): its URL answers 404.")
        endpoint_argument(delete)
        add(
            "reencrypt",
            "Encrypt every stored secret again with the key that encrypts now.",
            "Run it after changing SECRET_KEY (the old one in SECRET_KEY_FALLBACKS) or "
            "KAKIYO['ENDPOINT_SECRET_KEYS'], before the old key is dropped.",
        )
        sync = add(
            "sync",
            "Make Kakiyo's webhooks match the endpoints (KAKIYO['API_KEY']): create those "
            "missing, update URL, events and, after a rotation, secret, re-enable those Kakiyo "
            "disabled; report drift.",
            "Uses Kakiyo's undocumented GET /webhooks and PUT /webhooks/ID.",
        )
        sync.add_argument(
            "endpoints", nargs="*", metavar="ENDPOINT", help="Only these (default: every one)."
        )
        sync.add_argument(
            "--dry-run", action="store_true", help="Say what would change; change nothing."
        )
        base_url_option(sync)
        sync.add_argument(
            "--api-url", metavar="URL", help="Kakiyo API base URL (default: API_BASE_URL)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = getattr(self, "do_" + options["subcommand"].replace("-", "_"))
        try:
            action(options)
        except (EndpointError, KakiyoConfigurationError) as error:
            raise CommandError(str(error)) from error
        except KakiyoAPIError as error:
            raise CommandError(f"Kakiyo API error: {str(error).rstrip('.')}.") from error

    # -- Subcommands ---------------------------------------------------------------------------

    @sensitive_variables("secret")
    def do_create(self, options: dict[str, Any]) -> None:
        endpoint, secret = create_endpoint(
            options["name"],
            team=options["team"],
            secret=options["secret"],
            events=options["events"],
            unsigned=options["unsigned"],
        )
        self.stdout.write(self.style.SUCCESS(f"Created endpoint {endpoint.name!r}."))
        self.stdout.write(f"ID:   {endpoint.pk}\nUUID: {endpoint.uuid}")
        self.stdout.write(f"URL:  {self.url_of(endpoint, options.get('base_url'))}")
        if secret is None:
            self.stdout.write(
                "Unsigned: anyone who knows this URL can deliver events to it "
                "(system check django_kakiyo.W008)."
            )
        else:
            self.write_secret(secret, "Give it to Kakiyo's webhook for this URL")

    def do_list(self, options: dict[str, Any]) -> None:
        endpoints = list(WebhookEndpoint.objects.all())
        described = [self.describe(e, options.get("base_url")) for e in endpoints]
        if options["json"]:
            self.stdout.write(json.dumps(described, indent=2, ensure_ascii=False))
        elif not described:
            self.stdout.write("No endpoints.")
        else:
            columns = ["id", "name", "enabled", "signed", "team", "events",
                       "previous_secret_until", "kakiyo_webhook_id", "url"]  # fmt: skip
            rows = [
                [yes_no(d[c]) if isinstance(d[c], bool) else str(d[c] or "") for c in columns]
                for d in described
            ]
            self.stdout.write(table([c.upper() for c in columns], rows))

    @sensitive_variables("secret")
    def do_rotate(self, options: dict[str, Any]) -> None:
        endpoint = self.endpoint(options)
        secret = rotate_secret(endpoint, options["secret"], options["grace"])
        until = endpoint.previous_secret_expires_at
        self.stdout.write(self.style.SUCCESS(f"Rotated the secret of {endpoint.name!r}."))
        self.stdout.write(
            f"The previous secret works until {until.isoformat()}."
            if until
            else "The previous secret no longer works."
        )
        self.write_secret(secret, "Give it to Kakiyo's webhook ('sync' does it)")

    def do_expire_previous(self, options: dict[str, Any]) -> None:
        endpoint = self.endpoint(options)
        if expire_previous(endpoint):
            self.stdout.write(f"The previous secret of {endpoint.name!r} no longer works.")
        else:
            self.stdout.write(f"{endpoint.name!r} had no previous secret still working.")

    def do_disable(self, options: dict[str, Any]) -> None:
        endpoint = self.endpoint(options)
        set_enabled(endpoint, False)
        self.stdout.write(f"Disabled {endpoint.name!r}: its URL answers 404.")

    def do_enable(self, options: dict[str, Any]) -> None:
        endpoint = self.endpoint(options)
        set_enabled(endpoint, True)
        self.stdout.write(f"Enabled {endpoint.name!r}.")

    def do_delete(self, options: dict[str, Any]) -> None:
        endpoint = self.endpoint(options)
        name = endpoint.name
        delete_endpoint(endpoint)
        self.stdout.write(f"Deleted {name!r}; the events it received are kept.")

    def do_reencrypt(self, options: dict[str, Any]) -> None:
        try:
            changed = reencrypt_secrets()
        except UndecryptableSecret as error:
            raise CommandError(
                f"{error}: put the old key back (SECRET_KEY_FALLBACKS or "
                "KAKIYO['ENDPOINT_SECRET_KEYS']) and run it again; nothing was changed."
            ) from error
        self.stdout.write(f"Encrypted again with the current key: {changed} endpoint(s).")

    def do_sync(self, options: dict[str, Any]) -> None:
        chosen = [self.endpoint({"endpoint": ref}) for ref in options["endpoints"]] or None
        base_url = options.get("base_url") or current_site_root()
        with KakiyoClient(base_url=options.get("api_url")) as kakiyo:
            report = sync_endpoints(kakiyo, base_url, chosen, dry_run=options["dry_run"])
        for line in report.done:
            self.stdout.write(line)
        for line in report.drift:
            self.stdout.write(self.style.WARNING(f"drift: {line}"))
        for line in report.failed:
            self.stderr.write(line)
        if report.failed:
            raise CommandError(f"{len(report.failed)} endpoint(s) could not be synced.")

    # -- Helpers -------------------------------------------------------------------------------

    def endpoint(self, options: dict[str, Any]) -> WebhookEndpoint:
        try:
            return WebhookEndpoint.objects.named_by(options["endpoint"])
        except WebhookEndpoint.DoesNotExist:
            reference = options["endpoint"]
            raise CommandError(f"No endpoint has the id, UUID or name {reference!r}.") from None

    def write_secret(self, secret: str, what_to_do: str) -> None:
        self.stdout.write(
            f"Secret (shown only this once): {secret}\n"
            f"{what_to_do}; it cannot be read back (it is stored encrypted)."
        )

    def url_of(self, endpoint: WebhookEndpoint, base_url: str | None) -> str:
        """The endpoint's full URL when this site's address is known, else its path."""
        try:
            path = reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])
        except NoReverseMatch:
            return "(no URL named 'kakiyo-endpoint-webhook': include django_kakiyo.urls)"
        if base_url is None:
            try:
                base_url = current_site_root()
            except CommandError:
                return path
        return base_url.rstrip("/") + path

    def describe(self, endpoint: WebhookEndpoint, base_url: str | None) -> dict[str, Any]:
        now = timezone.now()
        until = endpoint.previous_secret_expires_at
        return {
            "id": endpoint.pk,
            "name": endpoint.name,
            "uuid": str(endpoint.uuid),
            "enabled": endpoint.enabled,
            "signed": not endpoint.unsigned,
            "team": endpoint.team_id,
            "events": ",".join(map(str, endpoint.events or [])),
            "previous_secret_until": (
                until.isoformat() if until and endpoint.previous_secret_works(now) else None
            ),
            "kakiyo_webhook_id": endpoint.kakiyo_webhook_id,
            "last_sync": endpoint.sync_result,
            "url": self.url_of(endpoint, base_url),
        }
