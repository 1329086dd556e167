"""Settings for the example project, configured from the environment.

- ``KAKIYO_WEBHOOK_SECRETS``: comma-separated webhook secrets (a development secret is used
  when unset and ``DJANGO_DEBUG`` is on, so the demo runs out of the box).
- ``DATABASE_URL``: any database dj-database-url understands; a SQLite file by default.
- ``CELERY_BROKER_URL``: e.g. ``redis://127.0.0.1:6379/0``; unset means no broker.
- ``KAKIYO_SPOOL_DIR``: where deliveries wait while the database is down (``spool/``).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-insecure-key" if DEBUG else "")
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_kakiyo",
    "example_project.crm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
    )
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast when PostgreSQL is unreachable, so a delivery is spooled (or answered 503)
    # well inside Kakiyo's 10-second timeout.
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": 3}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has one writer at a time: wait for its lock instead of failing at once, and let
    # readers not block it (WAL).
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    if os.environ.get("CELERY_BROKER_URL"):
        # With a Celery worker, its pool processes and the web process write concurrently:
        # take the write lock up front, so a transaction waits for it instead of failing with
        # "database is locked" when it reads before it writes. Without a broker, receivers run
        # in a thread of the web process: there, the lock taken at BEGIN would be held while
        # receivers run, and the webhook's insert would wait for them.
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DEV_WEBHOOK_SECRET = "whsec_example_development_secret_0123456789"
_secrets = [
    s.strip() for s in os.environ.get("KAKIYO_WEBHOOK_SECRETS", "").split(",") if s.strip()
]

KAKIYO = {
    "WEBHOOK_SECRETS": _secrets or ([DEV_WEBHOOK_SECRET] if DEBUG else []),
    # Deliveries that arrive while the database is down wait here (see README, "Nothing lost").
    "SPOOL_DIR": os.environ.get("KAKIYO_SPOOL_DIR", str(BASE_DIR / "spool")),
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The sweeper: re-enqueue events a broker outage or a dead worker left behind.
CELERY_BEAT_SCHEDULE = {
    "kakiyo-requeue-stale-events": {
        "task": "django_kakiyo.requeue_stale_events",
        "schedule": 60.0,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_kakiyo": {"handlers": ["console"], "level": "INFO"}},
}
