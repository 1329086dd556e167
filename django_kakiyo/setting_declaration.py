"""How one key of the ``KAKIYO`` settings dict is declared: :class:`Setting`.

The declarations themselves are :data:`django_kakiyo.conf.SETTINGS`; this is their form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import validators as v

__all__ = ["Setting"]


@dataclass(frozen=True)
class Setting:
    """One key of ``KAKIYO``: its default, what it means, and the rules its value follows.

    ``rules`` are ``(rule, check id)`` pairs, tried in order; the first rule that finds a
    problem names the system check that reports it. ``sensitive`` values are never echoed in
    a message.
    """

    name: str
    default: Any
    doc: str
    rules: tuple[tuple[v.Rule, str], ...] = ()
    hint: str = ""
    sensitive: bool = False

    def problem(self, value: Any) -> tuple[str, str] | None:
        """``(problem, check id)`` for the first rule ``value`` breaks, or None."""
        for rule, check_id in self.rules:
            found = rule(value)
            if found is not None:
                return found, check_id
        return None
