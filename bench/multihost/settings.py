"""Django settings of every host of the multi-host run (web, worker, beat, checks).

The example project (its URLs, middleware, Celery app) with the example CRM left out and the
run's recording receivers (``bench.multihost``) in. Each host's differences come from the
environment that ``bench/multihost/run.py`` gives it:

- ``MH_DATABASE_URL``, ``MH_BROKER_URL``: the db and broker hosts' addresses;
- ``MH_HOST``: this host's name, recorded with every processing;
- ``MH_SPOOL_DIR``: the web host's own spool (unset on worker hosts);
- ``MH_REQUEUE_AFTER``, ``MH_PROCESSING_TIMEOUT``, ``MH_SWEEP_INTERVAL``,
  ``MH_VISIBILITY_TIMEOUT``: seconds, shorter for ``--quick``;
- ``MH_RECEIVER_WORK``: seconds each processing takes in the receiver (``apps.py``).
"""

import os
from typing import Any

import dj_database_url

from bench.multihost import SECRET
from django_kakiyo.conf import DEFAULTS
from example_project.settings import *  # noqa: F403
from example_project.settings import INSTALLED_APPS

DEBUG = False
SECRET_KEY = "multihost-bench-not-secret"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if app != "example_project.crm"),
    "bench.multihost.apps.MultihostConfig",
]

DATABASES = {"default": dj_database_url.parse(os.environ["MH_DATABASE_URL"], conn_max_age=600)}
# Fail fast when the database is unreachable, so a delivery is spooled well inside Kakiyo's
# 10-second timeout (the README's advice).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": 3}

CELERY_BROKER_URL = os.environ["MH_BROKER_URL"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_DB_REUSE_MAX = 100
if CELERY_BROKER_URL.startswith("redis"):
    # A killed worker's unacknowledged messages come back after this long.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": float(os.environ.get("MH_VISIBILITY_TIMEOUT", "3600"))
    }
CELERY_BEAT_SCHEDULE = {
    "kakiyo-requeue-stale-events": {
        "task": "django_kakiyo.requeue_stale_events",
        "schedule": float(os.environ.get("MH_SWEEP_INTERVAL", "60")),
    },
}

_kakiyo: dict[str, Any] = {
    "WEBHOOK_SECRETS": [SECRET],
    "PROCESSING": "celery",
    "SPOOL_DIR": os.environ.get("MH_SPOOL_DIR") or None,
    "ORDERING": "prospect",
    "REQUEUE_AFTER": float(os.environ.get("MH_REQUEUE_AFTER", "300")),
    "PROCESSING_TIMEOUT": float(os.environ.get("MH_PROCESSING_TIMEOUT", "600")),
}
KAKIYO = _kakiyo
if "ORDERING" not in DEFAULTS:
    # ORDERING is being built on another branch; until it lands, it is an unknown key (W001).
    SILENCED_SYSTEM_CHECKS = ["django_kakiyo.W001"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(process)d %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django_kakiyo": {"handlers": ["console"], "level": "INFO"}},
}
