"""Settings for the gunicorn the monitoring tests start: the worker tests' (the test database,
the broker the test chose, Celery processing, receivers that report to Redis), plus a
monitoring token, and answers counted a second at a time as in production."""

import os

from tests.worker_settings import *  # noqa: F403
from tests.worker_settings import KAKIYO

KAKIYO = {
    **KAKIYO,
    "MONITORING_TOKEN": os.environ["KAKIYO_MONITORING_TOKEN"],
    "COUNT_ANSWERS_EVERY": 1,
}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
