"""The tables monitoring writes: tallies (counts and histograms) and the at-risk state.

Both are written by whichever process saw something happen (a web process answering, a
worker finishing an event) and read by whichever process is asked (``metrics/``, ``health/``,
the admin), so every process of every host tells the same numbers. Registered with the app
by :mod:`django_kakiyo.models`, which imports them.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _

#: The ``hour`` of the running totals (the metrics' counters), beside the hourly rows.
ALL_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Tally(models.Model):
    """An amount added up by many processes: one row per series, labels, hour and shard.

    A process adds to a random one of a few shards, so concurrent writers seldom wait on one
    row; readers sum the shards. ``hour`` is the start of a UTC hour (the stats page's rows)
    or :data:`ALL_TIME` (the running totals the metrics expose). The rows of closed hours are
    folded into shard 0, and hours older than the stats page's longest period are deleted,
    by the sweeper (:func:`django_kakiyo.tallies.compact`).
    """

    series = models.CharField(_("series"), max_length=64)
    labels = models.CharField(
        _("labels"), max_length=600, blank=True, help_text=_("JSON, keys sorted.")
    )
    hour = models.DateTimeField(_("hour"))
    shard = models.PositiveSmallIntegerField(_("shard"), default=0)
    value = models.FloatField(_("value"), default=0)

    class Meta:
        verbose_name = _("tally")
        verbose_name_plural = _("tallies")
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "series", "labels", "shard"], name="kakiyo_tally_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.series} {self.labels} {self.hour:%Y-%m-%d %H}h: {self.value:g}"


class DeliveryRisk(models.Model):
    """One way Kakiyo's deliveries may be failing, and since when (at most one row a kind).

    ``consecutive`` counts the failures of this kind since the last 2xx answer
    (``cleared_at``); the risk lasts while ``last_at`` is later than ``cleared_at``.
    """

    class Kind(models.TextChoices):
        ANSWERS = "answers", _("failed answers (5xx, or over 10 s)")
        SIGNATURES = "signatures", _("refused signatures")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, unique=True)
    consecutive = models.PositiveIntegerField(_("consecutive"), default=0)
    since = models.DateTimeField(_("since"), null=True, blank=True)
    last_at = models.DateTimeField(_("last at"), null=True, blank=True)
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("delivery risk")
        verbose_name_plural = _("delivery risks")

    def __str__(self) -> str:
        return f"{self.kind}: {self.consecutive}"

    @property
    def active(self) -> bool:
        """Failures of this kind since the last 2xx answer (its threshold aside)."""
        if self.last_at is None or not self.consecutive:
            return False
        return self.cleared_at is None or self.last_at > self.cleared_at
