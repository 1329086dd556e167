"""Settings for bench/answer_time.py: the example project as a user runs it with no broker.

No ``CELERY_BROKER_URL`` and no ``KAKIYO['PROCESSING']``: the app's default then runs the
receivers in a background thread of the web process, after the answer. The database is the
SQLite file ``DATABASE_URL`` names (the example project's SQLite options: WAL, a 20 s lock
timeout), the example CRM's receivers are left out and bench/slow_receiver.py's is in.
"""

import os

from bench.harness.environment import RESULTS
from example_project.settings import *  # noqa: F403
from example_project.settings import INSTALLED_APPS

DATABASE_URL = os.environ["DATABASE_URL"]  # set by bench/answer_time.py
INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if app != "example_project.crm"),
    "bench.slow_receiver.SlowReceiverConfig",
]
CELERY_BROKER_URL = None
KAKIYO = {
    "WEBHOOK_SECRETS": ["bench-secret-0123456789abcdef"],
    "SPOOL_DIR": str(RESULTS / "answer-time-spool"),
}
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
