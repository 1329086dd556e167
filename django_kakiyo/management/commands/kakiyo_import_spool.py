"""``manage.py kakiyo_import_spool``: store the deliveries spooled while the database was down."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_kakiyo.spool import FAILED_DIR, SUFFIX, import_spool, spool_dir


class Command(BaseCommand):
    help = (
        "Import the Kakiyo deliveries that the webhook spooled to KAKIYO['SPOOL_DIR'] while "
        "the database was unavailable, exactly once, oldest first. Run it on each web host "
        "(cron), or rely on the sweeper task when beat runs on the same host."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = spool_dir()
        if directory is None:
            raise CommandError("KAKIYO['SPOOL_DIR'] is not set: there is no spool to import.")
        result = import_spool()
        if result.locked:
            raise CommandError(f"Another process is importing {directory}; try again later.")
        self.stdout.write(
            f"imported {result.imported}, duplicates {result.duplicates}, "
            f"unreadable {result.failed} (moved to {directory / FAILED_DIR})."
        )
        left = len(list(directory.glob(f"*{SUFFIX}")))
        if left:
            raise CommandError(f"{left} spooled deliveries left: is the database available?")
