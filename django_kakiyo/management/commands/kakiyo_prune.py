"""``manage.py kakiyo_prune``: delete old finished events and refused requests in batches."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_kakiyo.conf import kakiyo_settings
from django_kakiyo.management.progress import progress_bar
from django_kakiyo.retention import prune


class Command(BaseCommand):
    help = (
        "Delete processed and ignored Kakiyo events, and refused requests, older than --days "
        "(default KAKIYO['RETENTION']), in small batches so ingestion never waits on a lock. "
        "Failed, pending and invalid events are kept, and nothing younger than "
        "KAKIYO['REPLAY_WINDOW'] is deleted, so replays are still caught as duplicates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=float, help="Age in days (default: KAKIYO['RETENTION'])."
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows per delete (default 1000)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else kakiyo_settings.RETENTION
        if days is None:
            raise CommandError("Give --days, or set KAKIYO['RETENTION'].")
        if days < 0:
            raise CommandError("--days must be zero or more.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        with progress_bar(self.stdout, None, "rows") as bar:
            result = prune(
                days,
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                progress=bar.update,
            )
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(
            f"{verb} {result.events} event(s) and {result.rejected_requests} rejected "
            f"request(s) received before {result.cutoff:%Y-%m-%d %H:%M:%S %Z}."
        )
