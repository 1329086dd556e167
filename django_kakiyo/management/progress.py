"""A progress bar for long management commands: tqdm on a terminal, silent otherwise."""

from __future__ import annotations

from typing import Any

from django.core.management.base import OutputWrapper
from tqdm import tqdm


def progress_bar(stdout: OutputWrapper, total: int | None, unit: str) -> tqdm[Any]:
    """A bar drawn on the command's output when it is a terminal; quiet in cron and CI."""
    stream = getattr(stdout, "_out", stdout)
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    return tqdm(total=total, unit=unit, file=stream, disable=not interactive, leave=False)
