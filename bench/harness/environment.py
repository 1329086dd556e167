"""Where a benchmark runs: the repository, its results folder, Django set up in this process."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"  # git-ignored: logs, generated bodies, raw results

#: bench.settings plus the baseline view and its bare task (ingest, soak, flood).
INGEST_SETTINGS = "bench.ingest_settings"


def setup_django(settings_module: str = INGEST_SETTINGS, migrate: bool = True) -> ModuleType:
    """Configure Django in this process for ``settings_module``; create its PostgreSQL database
    when missing and migrate it. Returns the settings module."""
    import django

    from bench.harness.database import ensure_database

    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    module = importlib.import_module(settings_module)
    ensure_database(module.DATABASE_URL)
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    return module


def exit_on_sigterm() -> None:
    """Turn SIGTERM (and SIGINT, which background jobs ignore) into SystemExit, so that the
    servers' ``with`` blocks stop them when the bench is stopped."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def code_fingerprint() -> str:
    """HEAD and a hash of the app's working-tree sources: other people edit them meanwhile."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    digest = hashlib.sha256()
    for path in sorted((REPO / "django_kakiyo").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return f"HEAD {head}, django_kakiyo/*.py sha256 {digest.hexdigest()[:12]}"


def save_results(prefix: str, data: dict[str, Any], **dumps: Any) -> Path:
    """Write a run's raw results to bench/results/PREFIX-YYYYmmdd-HHMMSS.json."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(data, indent=2, **dumps))
    return out
