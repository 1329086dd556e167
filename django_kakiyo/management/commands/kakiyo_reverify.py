"""``manage.py kakiyo_reverify``: verify refused requests again against the current secrets."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_kakiyo.envelope import parse_timestamp
from django_kakiyo.reverify import reverifiable, reverify, verify_again


class Command(BaseCommand):
    #: Recorded in each stored event's history, as ``command:<name>``.
    name = "kakiyo_reverify"
    help = (
        "After fixing KAKIYO['WEBHOOK_SECRETS'] (a botched rotation), verify again the refused "
        "requests that kept a well-formed signature and their whole body, and store each that "
        "now verifies as an event (deduplicated, processed like any other, recorded in its "
        "history). By default every such request; --id and --since narrow it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", type=int, action="append", dest="ids",
                            help="A rejected request's id.")  # fmt: skip
        parser.add_argument("--since", help="Refused at or after (ISO 8601).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Count what would verify now; store nothing.")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        rows = reverifiable()
        if options["ids"]:
            rows = rows.filter(pk__in=options["ids"])
        if options["since"]:
            since = parse_timestamp(options["since"])
            if since is None:
                raise CommandError(f"--since must be an ISO 8601 date and time, not "
                                   f"{options['since']!r}.")  # fmt: skip
            rows = rows.filter(received_at__gte=since)
        if options["dry_run"]:
            found = list(rows.order_by("pk"))
            passing = sum(1 for row in found if verify_again(row) is not None)
            self.stdout.write(f"{passing} of {len(found)} refused request(s) verify now.")
            return
        result = reverify(rows, by=f"command:{self.name}")
        self.stdout.write(
            f"stored {len(result.stored)} event(s), {len(result.duplicates)} duplicate(s) of "
            f"stored events; {len(result.unverified)} still do not verify."
        )
