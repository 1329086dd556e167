"""Figures for the printed summaries: percentiles, medians, ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def percentile(values: Iterable[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank; nan if empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else math.nan


def median(values: Iterable[float]) -> float:
    listed = list(values)
    return statistics.median(listed) if listed else math.nan


def ratio(ours: float, baseline: float, digits: int = 2) -> str:
    """``1.35x``; ``n/a`` when the baseline is 0."""
    return f"{ours / baseline:.{digits}f}x" if baseline else "n/a"
