"""Exponential backoff with half jitter: how long to wait before trying again.

One formula for the two things that retry: an event whose receivers failed (``RETRY_BACKOFF``,
``RETRY_BACKOFF_MAX``) and the Kakiyo API client after a 429 or 5xx. Half of each wait is
random, so that many failures at once do not retry in lockstep.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempt``-th failure: ``base * 2**(attempt-1)``, at most
    ``cap``, of which a random half is jitter."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto
