"""Settings for the benchmarks: the example project on PostgreSQL and Redis, plus a receiver
and a baseline task that stamp the time they ran into Redis."""

import json
import os

import dj_database_url

from example_project.settings import *  # noqa: F403
from example_project.settings import INSTALLED_APPS

DATABASE_URL = os.environ.get(
    "KAKIYO_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kakiyo_bench"
)
# Persistent connections, as a production deployment would use.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
# The example CRM's receivers are left out: the clock measures the pipeline, not them.
INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if app != "example_project.crm"),
    "bench.stamps.StampsConfig",
]
CELERY_BROKER_URL = os.environ.get("KAKIYO_BENCH_BROKER_URL", "redis://127.0.0.1:6379/11")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
KAKIYO = {"WEBHOOK_SECRETS": ["bench-secret-0123456789abcdef"], "PROCESSING": "celery"}
# A benchmark may run a server with other KAKIYO values (JSON), e.g. bench/flood.py.
KAKIYO.update(json.loads(os.environ.get("KAKIYO_BENCH_KAKIYO", "{}")))
LOGGING = {"version": 1, "disable_existing_loggers": False}
DEBUG = False
ALLOWED_HOSTS = ["*"]
# Celery closes Django's database connections around every task unless this is set; reusing
# them saves a PostgreSQL connection per task (about 10 ms here), as a busy deployment would.
CELERY_DB_REUSE_MAX = 1000
