"""``manage.py kakiyo_requeue``: the sweeper, for projects that run no Celery beat."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_kakiyo.conf import CELERY, THREAD
from django_kakiyo.dispatch import processing_mode, processing_thread
from django_kakiyo.sweeper import sweep


class Command(BaseCommand):
    help = (
        "Enqueue again the Kakiyo events that were stored but never processed: received or "
        "queued events due more than --older-than seconds ago (the broker was down or lost "
        "the message), and claims older than KAKIYO['PROCESSING_TIMEOUT'] (a worker died); "
        "first, it imports this host's spool (KAKIYO['SPOOL_DIR']). Without a broker they "
        "are processed here, in this process. Run it from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Age past due before a waiting event counts as lost "
            "(default: KAKIYO['REQUEUE_AFTER']).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = options["older_than"]
        if older_than is not None and older_than < 0:
            raise CommandError("--older-than must be zero or more seconds.")
        mode = processing_mode()
        result = sweep(older_than)
        if mode == THREAD:
            # The processing thread dies with this command: wait for what it was handed.
            processing_thread.wait_until_idle(timeout=None)
        found, enqueued = result.found, result.enqueued
        verb = "enqueued" if mode == CELERY else "processed in-process"
        if result.imported:
            self.stdout.write(f"{result.imported} spooled delivery(ies) imported.")
        self.stdout.write(f"{found} stale event(s) found, {enqueued} {verb}.")
        if enqueued < found:
            raise CommandError(f"{found - enqueued} event(s) could not be {verb}; see the log.")
