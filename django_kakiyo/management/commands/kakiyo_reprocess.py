"""``manage.py kakiyo_reprocess``: the earlier name of ``kakiyo_replay``, kept working."""

from __future__ import annotations

from django_kakiyo.management.commands.kakiyo_replay import Command as ReplayCommand


class Command(ReplayCommand):
    name = "kakiyo_reprocess"
    help = ReplayCommand.help + " (The same as kakiyo_replay: its earlier name.)"
