"""Settings for the Celery worker the integration tests start: the test database, the
broker the test chose, quick retries, and receivers that report to Redis."""

import os

import dj_database_url

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, KAKIYO

DATABASES = {"default": dj_database_url.parse(os.environ["KAKIYO_WORKER_DATABASE_URL"])}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.worker_receivers.apps.WorkerReceiversConfig"]
CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
KAKIYO = {
    **KAKIYO,
    "PROCESSING": "celery",
    "MAX_ATTEMPTS": 3,
    "RETRY_BACKOFF": 0.5,
    "RETRY_BACKOFF_MAX": 2,
    "PROCESSING_TIMEOUT": float(os.environ.get("KAKIYO_TEST_PROCESSING_TIMEOUT", "600")),
    "CELERY_QUEUE": os.environ.get("KAKIYO_TEST_QUEUE") or None,
    "ORDERING": os.environ.get("KAKIYO_TEST_ORDERING") or None,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_kakiyo": {"handlers": ["console"], "level": "INFO"}},
}
