"""The receivers' own record: one row per processing of an event, never updated or deleted.

Written by the receiver inside the transaction in which the app marks the event processed,
so a row exists exactly when that processing committed: an attempt that was rolled back (a
lost claim, a worker cut off before its commit) leaves none, and two committed processings of
one event leave two. No foreign key and no unique constraint: the table must be able to show a
double, and must not depend on the app's tables.
"""

from __future__ import annotations

from django.db import models


class Processing(models.Model):
    event_id = models.BigIntegerField()
    dedup_key = models.CharField(max_length=64)
    prospect = models.CharField(max_length=255)
    seq = models.BigIntegerField(null=True)
    host = models.CharField(max_length=32)
    pid = models.IntegerField()
    recorded_at = models.DateTimeField()

    objects: models.Manager[Processing] = models.Manager()

    def __str__(self) -> str:
        return f"event {self.event_id} on {self.host}/{self.pid}"
