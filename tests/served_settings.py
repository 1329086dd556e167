"""Settings for the web servers the integration tests start: the embedded default (no broker,
so receivers run in a background thread of the web process), a SQLite file the test chose,
and receivers that report to Redis."""

import os

import dj_database_url

from example_project.settings import DATABASES as EXAMPLE_DATABASES
from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, KAKIYO

DATABASES = {"default": dj_database_url.parse(os.environ["KAKIYO_SERVED_DATABASE_URL"])}
# The example project's SQLite options, as bin/run-example serves it.
DATABASES["default"]["OPTIONS"] = dict(EXAMPLE_DATABASES["default"].get("OPTIONS", {}))
INSTALLED_APPS = [*INSTALLED_APPS, "tests.worker_receivers.apps.WorkerReceiversConfig"]
KAKIYO = {key: value for key, value in KAKIYO.items() if key != "PROCESSING"}
CELERY_BROKER_URL = None
SILENCED_SYSTEM_CHECKS: list[str] = []
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
