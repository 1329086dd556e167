"""Each endpoint as this process last read it, so its URL still verifies with the database down.

Kakiyo disables a webhook after four failed attempts over about seven seconds. The settings
URL survives a database outage because its secrets are in the settings: a delivery is verified,
then spooled (202). An endpoint's secrets are in the database, so each process keeps a copy of
every endpoint a successful lookup found enabled (:func:`remember`), refreshed by each lookup
and dropped when a lookup finds the endpoint disabled or gone (:func:`forget`). During an
outage that copy stands in for the row (:func:`last_known`): its secrets verify the delivery,
which is then spooled with its endpoint.

What is kept is what verification needs, and the secrets stay encrypted: they are decrypted
at each verification, exactly as from the row, and the previous secret's grace is judged at
the time of the request. At most :data:`MAX_ENTRIES` endpoints are kept, the least recently
looked up dropped first. A forked child starts empty, with a new lock: it learns from its own
lookups.

The copy is only as fresh as this process's last lookup of that endpoint: a change made
elsewhere since (a rotation without grace, a disable, a delete) is seen at the next lookup
that reaches the database, not during an outage.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from .webhook_endpoints import WebhookEndpoint

__all__ = ["MAX_ENTRIES", "clear", "forget", "last_known", "remember"]

#: Endpoints kept per process; a deployment has a handful, so this bounds only a runaway.
MAX_ENTRIES = 1000


@dataclass(frozen=True)
class KnownEndpoint:
    """One enabled endpoint as a successful lookup found it; secrets as stored (encrypted)."""

    pk: int
    uuid: uuid.UUID
    name: str
    team_id: str
    unsigned: bool
    encrypted_secret: str
    encrypted_previous_secret: str
    previous_secret_expires_at: dt.datetime | None

    def __repr__(self) -> str:  # the tokens are encrypted, but no repr needs them
        return f"KnownEndpoint(pk={self.pk}, uuid={self.uuid}, name={self.name!r})"

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> KnownEndpoint:
        return cls(
            pk=endpoint.pk,
            uuid=endpoint.uuid,
            name=endpoint.name,
            team_id=endpoint.team_id,
            unsigned=endpoint.unsigned,
            encrypted_secret=endpoint.encrypted_secret,
            encrypted_previous_secret=endpoint.encrypted_previous_secret,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
        )

    def endpoint(self) -> WebhookEndpoint:
        """A fresh, unsaved instance carrying this copy (each caller its own)."""
        return WebhookEndpoint(
            pk=self.pk,
            uuid=self.uuid,
            name=self.name,
            team_id=self.team_id,
            enabled=True,
            unsigned=self.unsigned,
            encrypted_secret=self.encrypted_secret,
            encrypted_previous_secret=self.encrypted_previous_secret,
            previous_secret_expires_at=self.previous_secret_expires_at,
        )


class KnownEndpoints:
    """The copies, by UUID, least recently looked up first; safe across threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._known: OrderedDict[uuid.UUID, KnownEndpoint] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def remember(self, endpoint: WebhookEndpoint) -> None:
        known = KnownEndpoint.of(endpoint)
        with self._lock:
            self._known[known.uuid] = known
            self._known.move_to_end(known.uuid)
            while len(self._known) > self.max_entries:
                self._known.popitem(last=False)

    def forget(self, key: uuid.UUID) -> None:
        with self._lock:
            self._known.pop(key, None)

    def last_known(self, key: uuid.UUID) -> WebhookEndpoint | None:
        with self._lock:
            known = self._known.get(key)
        return None if known is None else known.endpoint()

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


known_endpoints = KnownEndpoints()


def remember(endpoint: WebhookEndpoint) -> None:
    """A lookup found ``endpoint`` enabled: keep (or refresh) its copy."""
    known_endpoints.remember(endpoint)


def forget(key: uuid.UUID) -> None:
    """A lookup found no enabled endpoint at ``key``: drop any copy."""
    known_endpoints.forget(key)


def last_known(key: uuid.UUID) -> WebhookEndpoint | None:
    """The endpoint at ``key`` as this process last found it enabled, or None."""
    return known_endpoints.last_known(key)


def clear() -> None:
    """Drop every copy."""
    known_endpoints.clear()
